// tutti — rate limiter: a lock-free token bucket refilled at fixed period boundaries.
#ifndef TUTTI_POLICY_RATE_LIMITER_HPP
#define TUTTI_POLICY_RATE_LIMITER_HPP

#include <atomic>       // the bucket is one atomic word; counters
#include <chrono>       // default period
#include <concepts>     // std::same_as
#include <cstdint>      // the packed state
#include <limits>       // saturation
#include <stdexcept>    // std::invalid_argument for settings from configuration
#include <string_view>  // policy name
#include <type_traits>  // clock checks, the poison overload for temporaries
#include <utility>      // std::declval

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../events.hpp"
#include "../policy.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
// Not constexpr on purpose: reached during constant evaluation, it stops compilation with its
// name in the diagnostic; reached at run time (a value from configuration), it throws.
[[noreturn]] inline void
tutti_invalid_setting_rate_limiter_tokens_per_period_must_be_1_to_1000000() {
  throw std::invalid_argument("tutti: rate limiter tokens_per_period must be 1 to 1000000");
}
[[noreturn]] inline void tutti_invalid_setting_rate_limiter_burst_must_be_1_to_1000000() {
  throw std::invalid_argument("tutti: rate limiter burst must be 1 to 1000000");
}
[[noreturn]] inline void tutti_invalid_setting_rate_limiter_period_must_be_at_least_1us() {
  throw std::invalid_argument("tutti: rate limiter period must be at least 1 microsecond");
}
[[noreturn]] inline void tutti_invalid_setting_rate_limiter_max_wait_must_not_be_negative() {
  throw std::invalid_argument("tutti: rate limiter max_wait must not be negative");
}

/// Largest tokens_per_period and burst: keeps the packed state and its arithmetic exact.
inline constexpr std::uint32_t max_rate_limiter_tokens = 1'000'000;

/// Proof that a rate_limiter_config's settings were checked: only the check can make one.
class rate_limiter_settings_checked {
  constexpr rate_limiter_settings_checked() noexcept = default;
  friend constexpr rate_limiter_settings_checked check_rate_limiter_settings(std::uint32_t,
                                                                             duration,
                                                                             std::uint32_t,
                                                                             duration);
};
constexpr rate_limiter_settings_checked check_rate_limiter_settings(std::uint32_t tokens_per_period,
                                                                    duration period,
                                                                    std::uint32_t burst,
                                                                    duration max_wait) {
  if (tokens_per_period == 0 || tokens_per_period > max_rate_limiter_tokens)
    tutti_invalid_setting_rate_limiter_tokens_per_period_must_be_1_to_1000000();
  if (period < std::chrono::microseconds{1})
    tutti_invalid_setting_rate_limiter_period_must_be_at_least_1us();
  if (burst == 0 || burst > max_rate_limiter_tokens)
    tutti_invalid_setting_rate_limiter_burst_must_be_1_to_1000000();
  if (max_wait.count() < 0) tutti_invalid_setting_rate_limiter_max_wait_must_not_be_negative();
  return {};
}

// The bucket in one 64-bit word: the index of the last period the bucket was refilled for
// (42 bits: 139 years of 1 us periods) and the token count (22 bits, biased; negative while
// tokens of future refills are reserved by waiting calls).
inline constexpr unsigned bucket_token_bits = 22;
inline constexpr std::int64_t bucket_token_bias = std::int64_t{1} << (bucket_token_bits - 1);
inline constexpr std::uint64_t bucket_token_mask = (std::uint64_t{1} << bucket_token_bits) - 1;
inline constexpr std::uint64_t bucket_max_cycle =
    (std::uint64_t{1} << (64 - bucket_token_bits)) - 1;
/// The deepest reservation of future tokens (stays inside the 22-bit field).
inline constexpr std::int64_t bucket_min_tokens = -2'000'000;

struct bucket {
  std::uint64_t cycle;
  std::int64_t tokens;
};
constexpr std::uint64_t pack(bucket b) noexcept {
  return (b.cycle << bucket_token_bits) | static_cast<std::uint64_t>(b.tokens + bucket_token_bias);
}
constexpr bucket unpack(std::uint64_t word) noexcept {
  return {word >> bucket_token_bits,
          static_cast<std::int64_t>(word & bucket_token_mask) - bucket_token_bias};
}
static_assert(unpack(pack({bucket_max_cycle, bucket_min_tokens})).tokens == bucket_min_tokens);
static_assert(unpack(pack({bucket_max_cycle, max_rate_limiter_tokens})).cycle == bucket_max_cycle);

/// a * b for non-negative values, saturating at the largest int64.
constexpr std::int64_t mul_sat(std::int64_t a, std::int64_t b) noexcept {
  if (a != 0 && b > std::numeric_limits<std::int64_t>::max() / a)
    return std::numeric_limits<std::int64_t>::max();
  return a * b;
}
}  // namespace detail

/**
 * Settings of a rate limiter:
 * `tutti::rate_limiter_config{.tokens_per_period = 100, .period = 1s, .burst = 20, .max_wait =
 * 50ms}`.
 *
 * The bucket holds at most `burst` tokens and starts full. At every `period` boundary counted from
 * the limiter's construction (t0 + period, t0 + 2 period, ...), `tokens_per_period` tokens are
 * added, up to `burst`. A call takes one token. So over any time t from construction at most
 * `burst + tokens_per_period * floor(t / period)` calls are let through.
 *
 * The settings are checked when the config is made: a constant config with a bad value does not
 * compile; a value from configuration throws `std::invalid_argument`.
 */
struct rate_limiter_config {
  /// Tokens added at each period boundary (1 to 1000000). Default 10.
  std::uint32_t tokens_per_period = 10;
  /// Time between refills (at least 1 microsecond). Default 1 s.
  duration period = std::chrono::seconds{1};
  /// Capacity of the bucket, hence the largest burst (1 to 1000000). Default: tokens_per_period.
  std::uint32_t burst = tokens_per_period;
  /// How long a call may wait for a token (not negative). Default 0: reject at once.
  duration max_wait{0};
  /// Not a setting: checks the four above when the config is made.
  [[no_unique_address]] detail::rate_limiter_settings_checked checked =
      detail::check_rate_limiter_settings(tokens_per_period, period, burst, max_wait);
};

/**
 * A token bucket shared by everything that calls it, refilled at fixed period boundaries and
 * read through a clock (`tutti::steady_clock` unless given one; tests pass a manual clock).
 *
 * A call that finds no token may *reserve* one from a refill due within its `max_wait`: the token
 * is taken at once (the count goes below zero) and the call waits until that refill, then
 * proceeds. Reservations are served in the order they were made and never let more calls through
 * than the bucket's schedule allows. A call whose token would come later than `max_wait` is
 * rejected at once, without waiting.
 *
 * @code
 * tutti::rate_limiter partner_api{tutti::rate_limiter_config{.tokens_per_period = 50, .period =
 * 1s}}; auto wf = tutti::workflow<"sync">(tutti::step<"push">(push) |
 * tutti::throttle(partner_api)); if (partner_api.try_acquire()) { ... }  // outside a workflow
 * @endcode
 *
 * Thread-safety: every member function may be called from any thread at once. The whole bucket is
 * one atomic 64-bit word (last refill period and token count) updated by a compare-and-swap loop:
 * no lock, no allocation. Lifetime: not copyable or movable; it must outlive every workflow that
 * uses it (policies keep a pointer), and its clock must outlive it.
 */
template <tutti::clock Clock = steady_clock>
class rate_limiter {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
                "tutti: the rate limiter needs lock-free 64-bit atomics.");

 public:
  using clock_type = Clock;
  /// Whether reading the clock can throw (it cannot for tutti's clocks).
  static constexpr bool nothrow_now = noexcept(std::declval<Clock&>().now());

  /// What `reserve` decided: granted or not, and how long the caller must wait before it acts.
  struct reservation {
    bool granted;
    /// Granted: the wait until the reserved tokens' refill (0 if they were there).
    /// Refused: when enough tokens would have been there (`duration::max()`: never, n > burst).
    duration wait;
    [[nodiscard]] constexpr explicit operator bool() const noexcept { return granted; }
  };

  /// A limiter on the steady clock.
  explicit rate_limiter(const rate_limiter_config& cfg = {})
    requires std::same_as<Clock, steady_clock>
      : rate_limiter(cfg, detail::default_clock()) {}
  /// A limiter reading time from `clock`, which must outlive it. Period boundaries are counted
  /// from `clock.now()` at construction.
  rate_limiter(const rate_limiter_config& cfg, Clock& clock)
      : clock_(&clock),
        per_(cfg.tokens_per_period),
        burst_(cfg.burst),
        period_(cfg.period),
        max_wait_(cfg.max_wait) {
    (void)detail::check_rate_limiter_settings(cfg.tokens_per_period, cfg.period, cfg.burst,
                                              cfg.max_wait);
    epoch_ = clock_->now();
    state_.store(detail::pack({0, static_cast<std::int64_t>(burst_)}), std::memory_order_relaxed);
  }
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  /// Takes `n` tokens if they are there now; never waits. `try_acquire(0)` is true.
  [[nodiscard]] bool try_acquire(std::uint32_t n = 1) noexcept(nothrow_now) {
    return reserve(n, duration{0}).granted;
  }

  /**
   * Takes `n` tokens now, or reserves them from a refill due within `max_wait`. When granted, the
   * caller must wait `wait` (on the limiter's clock) before it acts; the tokens are its own
   * whether or not it waits. Refused: nothing was taken.
   */
  [[nodiscard]] reservation reserve(std::uint32_t n, duration max_wait) noexcept(nothrow_now) {
    if (n == 0) return {true, duration{0}};
    if (n > burst_) {  // can never be satisfied
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return {false, duration::max()};
    }
    const duration now = clock_->now();
    const std::uint64_t now_cycle = cycle_of(now);
    std::uint64_t word = state_.load(std::memory_order_relaxed);
    for (;;) {
      detail::bucket b = refilled(word, now_cycle);
      duration wait{0};
      b.tokens -= n;
      if (b.tokens < 0) {
        wait = wait_until(b.cycle, b.tokens + n, n, now);
        if (wait > max_wait || b.tokens < detail::bucket_min_tokens) {
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return {false, wait};
        }
      }
      // Relaxed is enough: the word is the whole state, and its read-modify-writes are ordered.
      if (state_.compare_exchange_weak(word, detail::pack(b), std::memory_order_relaxed)) {
        accepted_.fetch_add(1, std::memory_order_relaxed);
        if (wait.count() > 0) delayed_.fetch_add(1, std::memory_order_relaxed);
        return {true, wait};
      }
    }
  }

  /**
   * Takes `n` tokens, waiting up to the limiter's `max_wait` for them by sleeping on its clock.
   * False, without waiting, when they would not come in time.
   */
  [[nodiscard]] bool acquire(std::uint32_t n = 1) {
    const reservation r = reserve(n, max_wait_);
    if (r.granted && r.wait.count() > 0) clock_->sleep_for(r.wait);
    return r.granted;
  }

  /// How long until `n` tokens would be there for a new call: 0 if now, `duration::max()` if
  /// never (n > burst). A snapshot: other threads may take them first.
  [[nodiscard]] duration time_until_available(std::uint32_t n = 1) const noexcept(nothrow_now) {
    if (n == 0) return duration{0};
    if (n > burst_) return duration::max();
    const duration now = clock_->now();
    const detail::bucket b = refilled(state_.load(std::memory_order_relaxed), cycle_of(now));
    return b.tokens >= n ? duration{0} : wait_until(b.cycle, b.tokens, n, now);
  }
  /// Tokens in the bucket now (0 while future tokens are reserved). A snapshot.
  [[nodiscard]] std::uint32_t available() const noexcept(nothrow_now) {
    const detail::bucket b =
        refilled(state_.load(std::memory_order_relaxed), cycle_of(clock_->now()));
    return b.tokens > 0 ? static_cast<std::uint32_t>(b.tokens) : 0U;
  }

  /// Calls granted (with or without a wait) since construction.
  [[nodiscard]] std::uint64_t accepted() const noexcept {
    return accepted_.load(std::memory_order_relaxed);
  }
  /// Calls refused since construction.
  [[nodiscard]] std::uint64_t rejected() const noexcept {
    return rejected_.load(std::memory_order_relaxed);
  }
  /// Granted calls that had to wait for a refill (a subset of accepted).
  [[nodiscard]] std::uint64_t delayed() const noexcept {
    return delayed_.load(std::memory_order_relaxed);
  }

  [[nodiscard]] std::uint32_t tokens_per_period() const noexcept { return per_; }
  [[nodiscard]] duration period() const noexcept { return period_; }
  [[nodiscard]] std::uint32_t burst() const noexcept { return burst_; }
  [[nodiscard]] duration max_wait() const noexcept { return max_wait_; }
  [[nodiscard]] Clock& clock() const noexcept { return *clock_; }

 private:
  // Index of the period `now` falls in, counted from construction.
  [[nodiscard]] std::uint64_t cycle_of(duration now) const noexcept {
    const std::int64_t since = (now - epoch_).count();
    if (since <= 0) return 0;
    const auto cycle = static_cast<std::uint64_t>(since / period_.count());
    return cycle < detail::bucket_max_cycle ? cycle : detail::bucket_max_cycle;
  }
  // The bucket as of period `now_cycle`: the refills due since its last one, capped at burst.
  // A thread that read the clock a little earlier than the last writer keeps the later period.
  [[nodiscard]] detail::bucket refilled(std::uint64_t word,
                                        std::uint64_t now_cycle) const noexcept {
    detail::bucket b = detail::unpack(word);
    if (now_cycle > b.cycle) {
      // (2^42 periods) * 10^6 tokens < 2^63: no overflow.
      const std::int64_t added = static_cast<std::int64_t>(now_cycle - b.cycle) * per_;
      b.tokens = b.tokens + added < burst_ ? b.tokens + added : static_cast<std::int64_t>(burst_);
      b.cycle = now_cycle;
    }
    return b;
  }
  // Time from `now` until refills after period `cycle` bring `tokens` up to `n` (> tokens).
  [[nodiscard]] duration wait_until(std::uint64_t cycle, std::int64_t tokens, std::uint32_t n,
                                    duration now) const noexcept {
    const std::int64_t refills = (n - tokens + per_ - 1) / per_;
    const std::int64_t due = detail::mul_sat(static_cast<std::int64_t>(cycle) + refills,
                                             period_.count());  // since epoch
    const std::int64_t since = (now - epoch_).count();
    if (due == std::numeric_limits<std::int64_t>::max()) return duration::max();
    return duration{due > since ? due - since : 0};
  }

  std::atomic<std::uint64_t> state_{0};
  Clock* clock_;
  std::uint32_t per_;
  std::uint32_t burst_;
  duration period_;
  duration max_wait_;
  duration epoch_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> delayed_{0};
};

rate_limiter(const rate_limiter_config&)->rate_limiter<steady_clock>;
template <tutti::clock C>
rate_limiter(const rate_limiter_config&, C&) -> rate_limiter<C>;

/**
 * The policy `tutti::throttle(limiter)` makes: each call of the wrapped step takes a token. With
 * none there, the call waits on the run's clock for a refill due within the limiter's
 * `max_wait`, or, if none is due in time, is not made: it fails with `errc::rate_limited` at once
 * (no exception, no allocation). The limiter must use the run's clock type.
 */
template <class Clock>
class rate_limiter_policy {
 public:
  static constexpr std::string_view policy_name = "rate_limiter";

  constexpr explicit rate_limiter_policy(rate_limiter<Clock>& limiter) noexcept
      : limiter_(&limiter) {}

  template <class Next, class Call>
  auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(call.clock())>, Clock>,
                  "tutti: throttle(limiter): the limiter reads a different clock type than the "
                  "run. Give the limiter the run's clock: "
                  "tutti::rate_limiter limiter{config, clock}; and wf.run(input, options, clock).");
    const auto r = limiter_->reserve(1, limiter_->max_wait());
    if (TUTTI_UNLIKELY(!r.granted)) return rejected(call);
    if (TUTTI_UNLIKELY(r.wait.count() > 0)) call.clock().sleep_for(r.wait);
    return next();
  }
  /// A call that got no token: `rate_limited`, with its event.
  template <class Call>
  static std::error_code rejected(Call& call) {
    if constexpr (detail::observed<Call>()) {
      event e = make_event(event_kind::rate_limited);
      e.error = make_error_code(errc::rate_limited);
      call.emit(e);
    } else {
      (void)call;
    }
    return make_error_code(errc::rate_limited);
  }

  /// The limiter this policy uses.
  [[nodiscard]] constexpr rate_limiter<Clock>& target() const noexcept { return *limiter_; }
  /// The longest a call waits for a token (the limiter's `max_wait`), for tutti::max_delay.
  [[nodiscard]] duration worst_case_wait() const noexcept { return limiter_->max_wait(); }

 private:
  rate_limiter<Clock>* limiter_;
};

/**
 * `step | tutti::throttle(limiter)`: calls of the step (and of everything else sharing
 * `limiter`) are let through at the limiter's rate; see rate_limiter_policy. `limiter` is kept by
 * reference and must outlive the workflow.
 */
template <class Clock>
[[nodiscard]] constexpr rate_limiter_policy<Clock> throttle(rate_limiter<Clock>& limiter) noexcept {
  return rate_limiter_policy<Clock>{limiter};
}

namespace detail {
template <class T>
inline constexpr bool is_rate_limiter_v = false;
template <class C>
inline constexpr bool is_rate_limiter_v<rate_limiter<C>> = true;
}  // namespace detail

/// Poison: a temporary limiter would be destroyed while the workflow still points to it.
template <class L>
  requires detail::is_rate_limiter_v<std::remove_cv_t<L>>
void throttle(L&&) {
  static_assert(detail::always_false<L>,
                "tutti: throttle(limiter) keeps a reference to the rate limiter, so it cannot be a "
                "temporary. Declare the limiter as a named object that outlives the workflow "
                "(a static, a member, a local of main) and pass that.");
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_RATE_LIMITER_HPP
