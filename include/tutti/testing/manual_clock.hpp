// tutti testing kit — a clock that only moves when told, for deterministic tests.
#ifndef TUTTI_TESTING_MANUAL_CLOCK_HPP
#define TUTTI_TESTING_MANUAL_CLOCK_HPP

#include <atomic>  // the current time, shared by threads

#include "../clock.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {

/**
 * A clock whose time moves only by `advance()` and `sleep_for()`: a sleep returns at once after
 * moving time forward, so a retry schedule of minutes runs in microseconds, the same every run.
 * Thread-safe (one atomic counter); it does not block a sleeping thread until another advances it.
 */
class manual_clock {
 public:
  constexpr manual_clock() noexcept = default;
  explicit constexpr manual_clock(duration start) noexcept : now_(start.count()) {}

  [[nodiscard]] duration now() const noexcept { return duration{now_.load(std::memory_order_acquire)}; }
  /// Moves time forward by `d` and returns at once.
  void sleep_for(duration d) noexcept {
    if (d.count() > 0) {
      now_.fetch_add(d.count(), std::memory_order_acq_rel);
      slept_.fetch_add(d.count(), std::memory_order_relaxed);
      sleeps_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  /// Moves time forward by `d` (not counted as a sleep).
  void advance(duration d) noexcept { now_.fetch_add(d.count(), std::memory_order_acq_rel); }
  /// Total time spent in `sleep_for`, and how many sleeps moved time.
  [[nodiscard]] duration slept() const noexcept { return duration{slept_.load(std::memory_order_relaxed)}; }
  [[nodiscard]] long sleeps() const noexcept { return sleeps_.load(std::memory_order_relaxed); }

 private:
  std::atomic<long long> now_{0};
  std::atomic<long long> slept_{0};
  std::atomic<long> sleeps_{0};
};

static_assert(tutti::clock<manual_clock>);

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_MANUAL_CLOCK_HPP
