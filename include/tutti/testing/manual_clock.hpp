// tutti testing kit — a clock that only moves when told, for deterministic tests.
#ifndef TUTTI_TESTING_MANUAL_CLOCK_HPP
#define TUTTI_TESTING_MANUAL_CLOCK_HPP

#include <algorithm>   // the due wake-ups, in time order
#include <atomic>      // the current time, shared by threads
#include <cstddef>     // wake-up counts
#include <cstdint>     // wake-up tickets
#include <functional>  // what a wake-up calls
#include <iterator>    // std::make_move_iterator
#include <mutex>       // the pending wake-ups
#include <optional>    // the next wake-up, if any
#include <utility>     // std::move
#include <vector>      // the pending wake-ups

#include "../clock.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {

/**
 * A clock whose time moves only by `advance()` and `sleep_for()`: a sleep returns at once after
 * moving time forward, so a retry schedule of minutes runs in microseconds, the same every run.
 * Thread-safe (one atomic counter); it does not block a sleeping thread until another advances it.
 *
 * It also keeps **wake-ups** for asynchronous waits on virtual time (`tutti::async_sleep`, see
 * docs/async.md): `wake_at(t, fn)` calls `fn` once the clock reads `t` or later, from the thread
 * whose `advance()` or `sleep_for()` moves it there; `advance_to_next_wake()` jumps to the earliest
 * one. A clock with no pending wake-up pays one atomic load per move for them.
 */
class manual_clock {
 public:
  constexpr manual_clock() noexcept = default;
  explicit constexpr manual_clock(duration start) noexcept : now_(start.count()) {}

  [[nodiscard]] duration now() const noexcept { return duration{now_.load(std::memory_order_acquire)}; }
  /// Moves time forward by `d` and returns at once (after the wake-ups that came due).
  void sleep_for(duration d) {
    if (d.count() > 0) {
      now_.fetch_add(d.count());  // seq_cst: see wake_at
      slept_.fetch_add(d.count(), std::memory_order_relaxed);
      sleeps_.fetch_add(1, std::memory_order_relaxed);
      wake_due();
    }
  }
  /// Moves time forward by `d` (not counted as a sleep), then calls the wake-ups that came due.
  void advance(duration d) {
    now_.fetch_add(d.count());  // seq_cst: see wake_at
    wake_due();
  }

  // ---- wake-ups: asynchronous waits on virtual time ----

  /**
   * Calls `fn()` once the clock reads `at` or later: at once, on this thread, if it does already;
   * otherwise from the thread whose `advance()`, `sleep_for()` or `advance_to_next_wake()` moves
   * it there, after that move, in the order of their times (then of their calls to `wake_at`)
   * (from this thread when another moves it there while this call registers it). `fn` must not
   * throw. Returns a ticket for `cancel_wake`.
   */
  std::uint64_t wake_at(duration at, std::function<void()> fn) {
    std::unique_lock lock{m_};
    const std::uint64_t ticket = ++tickets_;
    if (now() >= at) {
      lock.unlock();
      fn();
      return ticket;
    }
    wakes_.push_back(wake{at, ticket, std::move(fn)});
    has_wakes_.store(true);  // seq_cst: see below
    lock.unlock();
    // A move of the clock on another thread between the check above and the store may have
    // looked for wake-ups before this one was there: look again. (Its fetch_add and load of
    // has_wakes_, and this store and load of the time, are sequentially consistent, so at least
    // one of the two threads sees the other's write.)
    if (now_.load() >= at.count()) wake_due();
    return ticket;
  }
  /// Removes a wake-up that has not been called; false when it was called (or is being called).
  bool cancel_wake(std::uint64_t ticket) {
    const std::lock_guard lock{m_};
    const auto it = std::find_if(wakes_.begin(), wakes_.end(),
                                 [ticket](const wake& w) { return w.ticket == ticket; });
    if (it == wakes_.end()) return false;
    wakes_.erase(it);
    has_wakes_.store(!wakes_.empty(), std::memory_order_release);
    return true;
  }
  /// The earliest pending wake-up's time; empty when none is pending.
  [[nodiscard]] std::optional<duration> next_wake() const {
    const std::lock_guard lock{m_};
    if (wakes_.empty()) return std::nullopt;
    return std::min_element(wakes_.begin(), wakes_.end(), earlier)->at;
  }
  /// How many wake-ups are pending.
  [[nodiscard]] std::size_t pending_wakes() const {
    const std::lock_guard lock{m_};
    return wakes_.size();
  }
  /// Moves the clock to the earliest pending wake-up (if that is later than now) and calls the
  /// wake-ups then due; false, with the clock unmoved, when none is pending.
  bool advance_to_next_wake() {
    const std::optional<duration> at = next_wake();
    if (!at) return false;
    const duration t = now();
    if (*at > t) advance(*at - t);
    else wake_due();
    return true;
  }
  /// Total time spent in `sleep_for`, and how many sleeps moved time.
  [[nodiscard]] duration slept() const noexcept { return duration{slept_.load(std::memory_order_relaxed)}; }
  [[nodiscard]] long sleeps() const noexcept { return sleeps_.load(std::memory_order_relaxed); }

 private:
  struct wake {
    duration at;
    std::uint64_t ticket;
    std::function<void()> fn;
  };
  static bool earlier(const wake& a, const wake& b) noexcept {
    return a.at != b.at ? a.at < b.at : a.ticket < b.ticket;
  }
  /// Calls the wake-ups due at the current time, earliest first, outside the lock (a wake-up
  /// may add or cancel others).
  void wake_due() {
    if (!has_wakes_.load()) return;  // seq_cst: see wake_at
    std::vector<wake> due;
    {
      const std::lock_guard lock{m_};
      const duration t = now();
      const auto later = std::stable_partition(wakes_.begin(), wakes_.end(),
                                               [t](const wake& w) { return w.at > t; });
      due.assign(std::make_move_iterator(later), std::make_move_iterator(wakes_.end()));
      wakes_.erase(later, wakes_.end());
      has_wakes_.store(!wakes_.empty(), std::memory_order_release);
    }
    std::sort(due.begin(), due.end(), earlier);
    for (wake& w : due) w.fn();
  }

  std::atomic<long long> now_{0};
  std::atomic<long long> slept_{0};
  std::atomic<long> sleeps_{0};
  mutable std::mutex m_;
  std::vector<wake> wakes_;
  std::uint64_t tickets_ = 0;
  std::atomic<bool> has_wakes_{false};
};

static_assert(tutti::clock<manual_clock>);

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_MANUAL_CLOCK_HPP
