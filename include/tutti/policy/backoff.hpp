// tutti — how long a retry waits: constant, linear, exponential, full and decorrelated jitter,
// and a wait chosen from the failed attempt's outcome.
#ifndef TUTTI_POLICY_BACKOFF_HPP
#define TUTTI_POLICY_BACKOFF_HPP

#include <concepts>     // bounded_backoff
#include <cstdint>      // retry numbers, random words
#include <optional>     // an outcome's own wait, or none
#include <stdexcept>    // std::invalid_argument for settings from configuration
#include <string_view>  // names in descriptors
#include <type_traits>  // outcome_backoff's callable

#include "../clock.hpp"
#include "../config.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
// Not constexpr on purpose: reached during constant evaluation, they stop compilation with
// their name in the diagnostic; reached at run time (a value from configuration), they throw.
[[noreturn]] inline void tutti_invalid_setting_delay_must_not_be_negative() {
  throw std::invalid_argument("tutti: a retry delay must not be negative");
}
[[noreturn]] inline void tutti_invalid_setting_backoff_factor_must_be_at_least_1() {
  throw std::invalid_argument("tutti: an exponential backoff factor must be at least 1");
}
[[noreturn]] inline void tutti_invalid_setting_backoff_cap_below_first_delay() {
  throw std::invalid_argument("tutti: a backoff cap must not be below its first delay");
}
constexpr void check_delay(duration d) {
  if (d.count() < 0) tutti_invalid_setting_delay_must_not_be_negative();
}

/// Uniform in [lo, hi] from a 64-bit random word (53 bits of it, as a double would).
constexpr duration uniform(duration lo, duration hi, std::uint64_t word) noexcept {
  if (hi <= lo) return lo;
  const double unit = static_cast<double>(word >> 11) * 0x1.0p-53;
  return lo + duration{static_cast<duration::rep>(unit * static_cast<double>((hi - lo).count()))};
}

/// min(a * factor^n, cap) without overflow.
constexpr duration grow(duration first, double factor, std::uint32_t n, duration cap) noexcept {
  double v = static_cast<double>(first.count());
  const double limit = static_cast<double>(cap.count());
  for (std::uint32_t i = 0; i < n && v < limit; ++i) v *= factor;
  return v >= limit ? cap : duration{static_cast<duration::rep>(v)};
}
}  // namespace detail

/**
 * The same wait before every retry. `constant_backoff{}` waits nothing.
 * Backoffs answer `delay_before(n, previous, random)`: the wait before retry n (1 = the first
 * retry), given the previous wait and a source of random 64-bit words; and
 * `max_delay_before(n)`, its upper bound, used for compile-time worst cases.
 */
struct constant_backoff {
  static constexpr std::string_view backoff_name = "constant";
  duration delay{};
  constexpr constant_backoff() = default;
  constexpr explicit constant_backoff(duration d) : delay(d) { detail::check_delay(d); }
  constexpr void validate() const { detail::check_delay(delay); }
  template <class Random>
  [[nodiscard]] constexpr duration delay_before(std::uint32_t, duration, Random&&) const noexcept {
    return delay;
  }
  [[nodiscard]] constexpr duration max_delay_before(std::uint32_t) const noexcept { return delay; }
};

/// first, first + increment, first + 2 * increment, ... up to cap.
struct linear_backoff {
  static constexpr std::string_view backoff_name = "linear";
  duration first{};
  duration increment{};
  duration cap = duration::max();
  constexpr void validate() const {
    detail::check_delay(first);
    detail::check_delay(increment);
    if (cap < first) detail::tutti_invalid_setting_backoff_cap_below_first_delay();
  }
  template <class Random>
  [[nodiscard]] constexpr duration delay_before(std::uint32_t n, duration, Random&&) const noexcept {
    return max_delay_before(n);
  }
  [[nodiscard]] constexpr duration max_delay_before(std::uint32_t n) const noexcept {
    const auto steps = static_cast<duration::rep>(n == 0 ? 0 : n - 1);
    if (increment.count() != 0 && steps > (cap - first).count() / increment.count()) return cap;
    const duration d = first + increment * steps;
    return d < cap ? d : cap;
  }
};

/// first, first * factor, first * factor^2, ... up to cap: `exponential_backoff{.first = 50ms,
/// .cap = 2s}` doubles from 50 ms.
struct exponential_backoff {
  static constexpr std::string_view backoff_name = "exponential";
  duration first{};
  double factor = 2.0;
  duration cap = duration::max();
  constexpr void validate() const {
    detail::check_delay(first);
    if (!(factor >= 1.0)) detail::tutti_invalid_setting_backoff_factor_must_be_at_least_1();
    if (cap < first) detail::tutti_invalid_setting_backoff_cap_below_first_delay();
  }
  template <class Random>
  [[nodiscard]] constexpr duration delay_before(std::uint32_t n, duration, Random&&) const noexcept {
    return max_delay_before(n);
  }
  [[nodiscard]] constexpr duration max_delay_before(std::uint32_t n) const noexcept {
    return detail::grow(first, factor, n == 0 ? 0 : n - 1, cap);
  }
};

/// "Full jitter": a uniform wait between zero and what `Base` would wait. Spreads the retries of
/// many clients that failed together.
template <class Base = exponential_backoff>
struct full_jitter {
  static constexpr std::string_view backoff_name = "full_jitter";
  Base base{};
  constexpr void validate() const { base.validate(); }
  template <class Random>
  [[nodiscard]] constexpr duration delay_before(std::uint32_t n, duration prev, Random&& random) const {
    return detail::uniform(duration{0}, base.delay_before(n, prev, random), random());
  }
  [[nodiscard]] constexpr duration max_delay_before(std::uint32_t n) const noexcept {
    return base.max_delay_before(n);
  }
};
template <class Base>
full_jitter(Base) -> full_jitter<Base>;

/// "Decorrelated jitter": each wait is uniform between `first` and three times the previous
/// wait, capped: `min(cap, uniform(first, 3 * previous))`.
struct decorrelated_jitter {
  static constexpr std::string_view backoff_name = "decorrelated_jitter";
  duration first{};
  duration cap = duration::max();
  constexpr void validate() const {
    detail::check_delay(first);
    if (cap < first) detail::tutti_invalid_setting_backoff_cap_below_first_delay();
  }
  template <class Random>
  [[nodiscard]] constexpr duration delay_before(std::uint32_t, duration prev, Random&& random) const {
    const duration base = prev < first ? first : prev;
    const duration hi = base > cap / 3 ? cap : base * 3;
    const duration d = detail::uniform(first, hi, random());
    return d < cap ? d : cap;
  }
  [[nodiscard]] constexpr duration max_delay_before(std::uint32_t n) const noexcept {
    return detail::grow(first, 3.0, n, cap);
  }
};

/**
 * What every backoff declares besides its waits: a name, a check of its settings, and
 * `max_delay_before(n)`, the longest it may wait before retry n. Worst cases
 * (`tutti::max_delay`, `policy_info`) are computed from it, and a retry never waits longer.
 */
template <class B>
concept bounded_backoff = requires(const B& b, std::uint32_t n) {
  { B::backoff_name } -> std::convertible_to<std::string_view>;
  b.validate();
  { b.max_delay_before(n) } -> std::same_as<duration>;
};

/**
 * A wait chosen from the outcome of the attempt that failed, such as a service's Retry-After
 * hint or an open breaker's `retry_after()`: `delay(n, outcome)` (n: the retry number, from 1;
 * outcome: the step's `tutti::result<T>`, an error or a value the retry retries) returns a
 * duration, or `std::nullopt` to wait what `otherwise` would. Every wait is clamped to
 * `[0, max]`: `max` is the declared upper bound, and comes first, so no outcome-aware backoff
 * exists without one.
 *
 * @code
 * tutti::outcome_backoff{30s, [](std::uint32_t, const tutti::result<response>& r)
 *                                 -> std::optional<tutti::duration> {
 *   if (r.has_value() && r.value().retry_after) return *r.value().retry_after;
 *   return std::nullopt;  // exponential, below
 * }, tutti::exponential_backoff{.first = 100ms}}
 * @endcode
 * `delay` is called on the run's thread, once per retry; it must not throw.
 */
template <class Delay, class Otherwise = constant_backoff>
struct outcome_backoff {
  static constexpr std::string_view backoff_name = "outcome";
  duration max;
  Delay delay;
  Otherwise otherwise{};

  constexpr outcome_backoff(duration upper_bound, Delay d, Otherwise o = {})
      : max(upper_bound), delay(d), otherwise(o) {
    validate();
  }
  /// Poison: an outcome-aware backoff without its upper bound.
  template <class F>
    requires(!std::is_convertible_v<F, duration>)
  constexpr explicit outcome_backoff(F f) : max{}, delay(f) {
    static_assert(detail::always_false<F>,
                  "tutti: an outcome_backoff needs its upper bound first: "
                  "tutti::outcome_backoff{30s, delay}. Worst cases and deadline checks rely on it; "
                  "every wait is clamped to it.");
  }
  constexpr void validate() const {
    detail::check_delay(max);
    otherwise.validate();
  }
  template <class Random, class Outcome>
  [[nodiscard]] constexpr duration delay_before(std::uint32_t n, duration prev, Random&& random,
                                                const Outcome& outcome) const {
    static_assert(std::is_invocable_r_v<std::optional<duration>, const Delay&, std::uint32_t,
                                        const Outcome&>,
                  "tutti: an outcome_backoff's delay is called as delay(std::uint32_t retry, "
                  "const tutti::result<T>& outcome) with the step's result type, and returns "
                  "std::optional<tutti::duration> (std::nullopt: wait what `otherwise` would).");
    const std::optional<duration> own = delay(n, outcome);
    const duration d = own ? *own : otherwise.delay_before(n, prev, random);
    return d.count() < 0 ? duration{} : d < max ? d : max;
  }
  [[nodiscard]] constexpr duration max_delay_before(std::uint32_t) const noexcept { return max; }
};
template <class Delay>
outcome_backoff(duration, Delay) -> outcome_backoff<Delay>;
template <class F>
  requires(!std::is_convertible_v<F, duration>)
outcome_backoff(F) -> outcome_backoff<F>;
template <class Delay, class Otherwise>
outcome_backoff(duration, Delay, Otherwise) -> outcome_backoff<Delay, Otherwise>;

namespace detail {
/// The wait before retry `n` after `outcome`: an outcome-aware backoff sees it, and its wait is
/// clamped to its declared bound whatever it returns; other backoffs do not.
template <class Backoff, class Random, class Outcome>
constexpr duration backoff_wait(const Backoff& b, std::uint32_t n, duration prev, Random&& random,
                                const Outcome& outcome) {
  if constexpr (requires { b.delay_before(n, prev, random, outcome); }) {
    const duration d = b.delay_before(n, prev, random, outcome);
    const duration bound = b.max_delay_before(n);
    return d.count() < 0 ? duration{} : d < bound ? d : bound;
  } else {
    return b.delay_before(n, prev, random);
  }
}
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_BACKOFF_HPP
