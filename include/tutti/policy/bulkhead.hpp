// tutti — bulkhead: at most N concurrent calls of whatever shares it, with a bounded wait.
#ifndef TUTTI_POLICY_BULKHEAD_HPP
#define TUTTI_POLICY_BULKHEAD_HPP

#include <atomic>       // slots in use and counters: the lock-free hot path
#include <chrono>       // poll intervals
#include <cstdint>      // counts
#include <stdexcept>    // std::invalid_argument for settings from configuration
#include <string_view>  // policy name
#include <type_traits>  // the poison overload for temporaries
#include <utility>      // std::exchange

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../events.hpp"
#include "../policy.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
// Not constexpr on purpose: reached during constant evaluation, it stops compilation with its
// name in the diagnostic; reached at run time (a value from configuration), it throws.
[[noreturn]] inline void tutti_invalid_setting_bulkhead_max_concurrent_must_be_at_least_1() {
  throw std::invalid_argument("tutti: bulkhead max_concurrent must be at least 1");
}
[[noreturn]] inline void tutti_invalid_setting_bulkhead_max_wait_must_not_be_negative() {
  throw std::invalid_argument("tutti: bulkhead max_wait must not be negative");
}

/// Proof that a bulkhead_config's settings were checked: only the check can make one.
class bulkhead_settings_checked {
  constexpr bulkhead_settings_checked() noexcept = default;
  friend constexpr bulkhead_settings_checked check_bulkhead_settings(std::uint32_t, duration);
};
constexpr bulkhead_settings_checked check_bulkhead_settings(std::uint32_t max_concurrent,
                                                            duration max_wait) {
  if (max_concurrent == 0) tutti_invalid_setting_bulkhead_max_concurrent_must_be_at_least_1();
  if (max_wait.count() < 0) tutti_invalid_setting_bulkhead_max_wait_must_not_be_negative();
  return {};
}
}  // namespace detail

/**
 * Settings of a bulkhead: `tutti::bulkhead_config{.max_concurrent = 10, .max_wait = 50ms}`.
 *
 * The settings are checked when the config is made: a constant config with a bad value does not
 * compile; a value from configuration throws `std::invalid_argument`.
 */
struct bulkhead_config {
  /// Calls allowed inside at once (at least 1). Default 25, as resilience4j.
  std::uint32_t max_concurrent = 25;
  /// How long a call may wait for a free slot before it is rejected (not negative). Default 0:
  /// reject at once. Measured on the run's clock; see bulkhead::acquire for the granularity.
  duration max_wait{0};
  /// Not a setting: checks the two above when the config is made.
  [[no_unique_address]] detail::bulkhead_settings_checked checked =
      detail::check_bulkhead_settings(max_concurrent, max_wait);
};

/**
 * A bulkhead lets at most `max_concurrent` calls in at once; others wait up to `max_wait` for a
 * slot, then are rejected. Everything that shares one bulkhead object shares its slots: one
 * step, several steps, several workflows, plain code calling `try_acquire()`.
 *
 * A slot is held by a `bulkhead::permit`, an RAII value: it is given back when the permit is
 * destroyed (or `release()`d), so a slot cannot be leaked by forgetting to release it.
 *
 * @code
 * tutti::bulkhead inventory{tutti::bulkhead_config{.max_concurrent = 8, .max_wait = 20ms}};
 * auto wf = tutti::workflow<"order">(tutti::step<"reserve">(reserve) | tutti::isolate(inventory));
 * if (auto p = inventory.try_acquire()) { ... }  // outside a workflow
 * @endcode
 *
 * Thread-safety: every member function may be called from any thread at once; taking and giving
 * back a slot is a compare-and-swap loop and a `fetch_sub` on one atomic, with no lock.
 * Lifetime: not copyable or movable; it must outlive every permit and every workflow that uses it
 * (policies keep a pointer to it). Usually a static, a member of a long-lived service object, or
 * a local of `main`.
 */
class bulkhead {
 public:
  /**
   * One slot of a bulkhead, or nothing (when the bulkhead was full). Converts to `true` when it
   * holds a slot. Move-only; the slot is given back by the destructor or by `release()`.
   */
  class [[nodiscard]] permit {
   public:
    /// An empty permit: holds no slot.
    constexpr permit() noexcept = default;
    permit(permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    permit& operator=(permit&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { release(); }

    /// Whether this permit holds a slot.
    [[nodiscard]] explicit operator bool() const noexcept { return owner_ != nullptr; }
    /// Gives the slot back now (nothing if empty); the permit becomes empty.
    void release() noexcept {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->give_back();
    }

   private:
    friend class bulkhead;
    constexpr explicit permit(bulkhead* owner) noexcept : owner_(owner) {}
    bulkhead* owner_ = nullptr;
  };

  /// A waiting call first rechecks for a free slot after this long ...
  static constexpr duration first_poll = std::chrono::microseconds{100};
  /// ... then after intervals doubling up to this long.
  static constexpr duration max_poll = std::chrono::milliseconds{1};

  /// Checks the settings again (a config's fields may have been changed after it was made).
  constexpr explicit bulkhead(const bulkhead_config& cfg = {})
      : max_(cfg.max_concurrent), max_wait_(cfg.max_wait) {
    (void)detail::check_bulkhead_settings(cfg.max_concurrent, cfg.max_wait);
  }
  bulkhead(const bulkhead&) = delete;
  bulkhead& operator=(const bulkhead&) = delete;

  /// Takes a free slot if there is one, without waiting; an empty permit otherwise.
  [[nodiscard]] permit try_acquire() noexcept {
    if (TUTTI_LIKELY(take())) {
      accepted_.fetch_add(1, std::memory_order_relaxed);
      return permit{this};
    }
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return permit{};
  }

  /**
   * Takes a free slot, waiting up to `max_wait` on `clock` for one; an empty permit when none
   * came free in time. The clock is read only when the bulkhead is full.
   *
   * A waiting call sleeps on the clock and rechecks: after `first_poll` (0.1 ms), then at
   * intervals doubling up to `max_poll` (1 ms), the last sleep shortened so that a call that
   * gets no slot is rejected when exactly `max_wait` has passed on the clock (on a manual clock:
   * after exactly `max_wait` of its time). So a freed slot is noticed up to 1 ms late, and
   * waiting calls are not served in arrival order: a new call may take a slot before a waiter.
   */
  template <tutti::clock C>
  [[nodiscard]] permit acquire(C& clock, duration max_wait) {
    if (TUTTI_LIKELY(take())) {
      accepted_.fetch_add(1, std::memory_order_relaxed);
      return permit{this};
    }
    if (max_wait.count() > 0) {
      wait_state w{clock.now()};
      for (duration d = next_sleep(w, w.start, max_wait); d.count() > 0;
           d = next_sleep(w, clock.now(), max_wait)) {
        clock.sleep_for(d);
        if (permit p = poll()) return p;
      }
    }
    count_rejected();
    return permit{};
  }

  // The decisions of a wait for a slot, shared by acquire() (which sleeps on the clock) and an
  // async run (which waits on a timer): poll, then sleep next_sleep(), until it is 0.

  /// A waiting call's progress: when it began, and its next polling interval.
  struct wait_state {
    duration start;
    duration interval = first_poll;
  };
  /// How long a waiting call sleeps before it polls again, `now` being the clock's time; 0 when
  /// its `max_wait` has passed (it is then rejected: count_rejected()).
  [[nodiscard]] static duration next_sleep(wait_state& w, duration now, duration max_wait) noexcept {
    const duration waited = now - w.start;
    if (waited >= max_wait) return duration{0};
    const duration left = max_wait - waited;
    const duration d = w.interval < left ? w.interval : left;
    w.interval = w.interval * 2 < max_poll ? w.interval * 2 : max_poll;
    return d;
  }
  /// Takes a free slot if there is one (counted as accepted); an empty permit, counted as
  /// nothing, otherwise.
  [[nodiscard]] permit poll() noexcept {
    if (!take()) return permit{};
    accepted_.fetch_add(1, std::memory_order_relaxed);
    return permit{this};
  }
  /// Counts a call that got no slot.
  void count_rejected() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }

  /// The same, waiting up to the bulkhead's own `max_wait`.
  template <tutti::clock C>
  [[nodiscard]] permit acquire(C& clock) {
    return acquire(clock, max_wait_);
  }
  /// The same, on the steady clock.
  [[nodiscard]] permit acquire() { return acquire(detail::default_clock(), max_wait_); }

  /// Slots held now (a snapshot: other threads may change it at once).
  [[nodiscard]] std::uint32_t in_use() const noexcept {
    return in_use_.load(std::memory_order_relaxed);
  }
  /// Free slots now (a snapshot).
  [[nodiscard]] std::uint32_t available() const noexcept { return max_ - in_use(); }
  /// Permits granted since construction.
  [[nodiscard]] std::uint64_t accepted() const noexcept {
    return accepted_.load(std::memory_order_relaxed);
  }
  /// Calls turned away (after their wait, if any) since construction.
  [[nodiscard]] std::uint64_t rejected() const noexcept {
    return rejected_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] constexpr std::uint32_t max_concurrent() const noexcept { return max_; }
  [[nodiscard]] constexpr duration max_wait() const noexcept { return max_wait_; }

 private:
  // Never lets the count pass max_: no transient overshoot that would turn others away.
  bool take() noexcept {
    std::uint32_t n = in_use_.load(std::memory_order_relaxed);
    do {
      if (n >= max_) return false;
    } while (!in_use_.compare_exchange_weak(n, n + 1, std::memory_order_acquire,
                                            std::memory_order_relaxed));
    return true;
  }
  // Release pairs with take's acquire: what one holder did happens before the next one's call.
  void give_back() noexcept { in_use_.fetch_sub(1, std::memory_order_release); }

  std::atomic<std::uint32_t> in_use_{0};
  std::uint32_t max_;
  duration max_wait_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

/**
 * The policy `tutti::isolate(b)` makes: each call of the wrapped step takes a slot of `b` (waiting
 * up to `b.max_wait()` on the run's clock) and gives it back when the call returns. A call that
 * gets no slot is not made: it fails with `errc::bulkhead_full` (no exception, no allocation).
 */
class bulkhead_policy {
 public:
  static constexpr std::string_view policy_name = "bulkhead";

  constexpr explicit bulkhead_policy(bulkhead& b) noexcept : bulkhead_(&b) {}

  template <class Next, class Call>
  auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    const bulkhead::permit slot = bulkhead_->acquire(call.clock());
    if (TUTTI_UNLIKELY(!slot)) return rejected(call);
    return next();
  }
  /// A call that got no slot: `bulkhead_full`, with its event.
  template <class Call>
  static std::error_code rejected(Call& call) {
    if constexpr (detail::observed<Call>()) {
      event e = make_event(event_kind::bulkhead_rejected);
      e.error = make_error_code(errc::bulkhead_full);
      call.emit(e);
    } else {
      (void)call;
    }
    return make_error_code(errc::bulkhead_full);
  }

  /// The bulkhead this policy uses.
  [[nodiscard]] constexpr bulkhead& target() const noexcept { return *bulkhead_; }
  /// The longest a call waits for a slot (the bulkhead's `max_wait`), for tutti::max_delay.
  [[nodiscard]] constexpr duration worst_case_wait() const noexcept { return bulkhead_->max_wait(); }

 private:
  bulkhead* bulkhead_;
};

/**
 * `step | tutti::isolate(b)`: at most `b.max_concurrent()` calls of the step (and of everything
 * else sharing `b`) run at once; see bulkhead_policy. Named for what a bulkhead does: it isolates
 * a dependency so that its slowness cannot take every thread of the caller with it.
 * `b` is kept by reference and must outlive the workflow.
 */
[[nodiscard]] constexpr bulkhead_policy isolate(bulkhead& b) noexcept { return bulkhead_policy{b}; }

/// Poison: a temporary bulkhead would be destroyed while the workflow still points to it.
template <class B>
  requires std::is_same_v<std::remove_cv_t<B>, bulkhead>
void isolate(B&&) {
  static_assert(detail::always_false<B>,
                "tutti: isolate(bulkhead) keeps a reference to the bulkhead, so it cannot be a "
                "temporary. Declare the bulkhead as a named object that outlives the workflow "
                "(a static, a member, a local of main) and pass that.");
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_BULKHEAD_HPP
