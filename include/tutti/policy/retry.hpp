// tutti — retry: call the step again after a failure, waiting through the run's clock.
#ifndef TUTTI_POLICY_RETRY_HPP
#define TUTTI_POLICY_RETRY_HPP

#include <cstdint>       // attempt counts
#include <limits>        // retry_forever
#include <stdexcept>     // std::invalid_argument for settings from configuration
#include <string_view>   // policy name
#include <system_error>  // error predicates
#include <type_traits>   // deduction guides

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../policy.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
// Not constexpr on purpose: reached during constant evaluation, it stops compilation with its
// name in the diagnostic; reached at run time (a value from configuration), it throws.
[[noreturn]] inline void tutti_invalid_setting_max_attempts_must_be_at_least_1() {
  throw std::invalid_argument("tutti: max_attempts must be at least 1 (it counts the first call)");
}
[[noreturn]] inline void tutti_invalid_setting_delay_must_not_be_negative() {
  throw std::invalid_argument("tutti: a retry delay must not be negative");
}
}  // namespace detail

/**
 * How many times a retry calls the step in all, counting the first call: `max_attempts{3}` is
 * one call and at most two retries. Must be at least 1 (checked at compile time for constants,
 * by `std::invalid_argument` at construction for values from configuration).
 */
struct max_attempts {
  std::uint32_t value;
  constexpr explicit max_attempts(std::uint32_t n) : value(n) {
    if (n == 0) detail::tutti_invalid_setting_max_attempts_must_be_at_least_1();
  }
};

/// The same wait before every retry.
struct constant_backoff {
  duration delay{};
  constexpr constant_backoff() = default;
  constexpr explicit constant_backoff(duration d) : delay(d) {
    if (d.count() < 0) detail::tutti_invalid_setting_delay_must_not_be_negative();
  }
  /// Wait before retry number `retry` (1 = the first retry).
  [[nodiscard]] constexpr duration delay_before(std::uint32_t /*retry*/) const noexcept { return delay; }
};

/// The default retry predicate: every error except `circuit_open` and `cancelled`.
struct retry_transient {
  [[nodiscard]] bool operator()(const std::error_code& ec) const noexcept {
    return ec != errc::circuit_open && ec != errc::cancelled;
  }
};

/**
 * Calls the step again after a failure, up to `max_attempts` calls in all, waiting
 * `backoff.delay_before(n)` through the run's clock before retry n. Errors for which the
 * predicate says false are returned at once. A step with a retry is *retriable*: it may stand
 * after a saga's pivot.
 */
template <class Backoff = constant_backoff, class Predicate = retry_transient>
struct retry {
  static constexpr std::string_view policy_name = "retry";
  static constexpr bool makes_retriable = true;

  Backoff backoff{};
  max_attempts attempts{3};
  Predicate retry_on{};

  constexpr retry() = default;
  constexpr explicit retry(max_attempts n) : attempts(n) {}
  constexpr retry(Backoff b, max_attempts n, Predicate p = {})
      : backoff(b), attempts(n), retry_on(p) {}
  /// Retries only the errors `p` accepts, without waiting between attempts.
  constexpr retry(max_attempts n, Predicate p) : attempts(n), retry_on(p) {}

  template <class Next, class Call>
  auto invoke(Next&& next, Call& call) const {
    std::uint32_t attempt = 1;
    for (;;) {
      auto r = next();
      if (TUTTI_LIKELY(r.has_value()) || attempt >= attempts.value || !retry_on(r.error()))
        return r;
      call.clock().sleep_for(backoff.delay_before(attempt));
      ++attempt;
    }
  }
};

retry(max_attempts) -> retry<>;
template <class Backoff>
  requires(!std::is_same_v<Backoff, max_attempts>)
retry(Backoff, max_attempts) -> retry<Backoff>;
template <class Predicate>
  requires std::is_invocable_r_v<bool, const Predicate&, const std::error_code&>
retry(max_attempts, Predicate) -> retry<constant_backoff, Predicate>;
template <class Backoff, class Predicate>
retry(Backoff, max_attempts, Predicate) -> retry<Backoff, Predicate>;

/// Retries until the step succeeds (or fails with an error the predicate does not retry).
template <class Backoff = constant_backoff, class Predicate = retry_transient>
struct retry_forever {
  static constexpr std::string_view policy_name = "retry_forever";
  static constexpr bool makes_retriable = true;
  Backoff backoff{};
  Predicate retry_on{};

  template <class Next, class Call>
  auto invoke(Next&& next, Call& call) const {
    for (std::uint32_t attempt = 1;; ++attempt) {
      auto r = next();
      if (TUTTI_LIKELY(r.has_value()) || !retry_on(r.error())) return r;
      call.clock().sleep_for(backoff.delay_before(attempt));
    }
  }
};

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_RETRY_HPP
