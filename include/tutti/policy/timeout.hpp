// tutti — time limits: per attempt (timeout) and for everything inside (deadline).
#ifndef TUTTI_POLICY_TIMEOUT_HPP
#define TUTTI_POLICY_TIMEOUT_HPP

#include <stdexcept>    // std::invalid_argument for settings from configuration
#include <string_view>  // policy names

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../policy.hpp"
#include "../report.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
[[noreturn]] inline void tutti_invalid_setting_time_limit_must_be_positive() {
  throw std::invalid_argument("tutti: a timeout or deadline must be positive");
}

/**
 * What timeout and deadline share. In-process calls cannot be pre-empted, so the limit is
 * cooperative: while the layer inside runs, `call_context::deadline` carries the limit (pass it
 * to your client), and a result that arrives after it is replaced by `errc::timeout`. A late
 * *success* of a compensable step is undone at once by the step's compensation, so that a
 * timed-out step leaves nothing behind; the report marks the step `timed_out`.
 */
template <class Derived>
struct time_limit {
  duration limit;

  constexpr explicit time_limit(duration d) : limit(d) {
    if (d.count() <= 0) tutti_invalid_setting_time_limit_must_be_positive();
  }

  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {Derived::policy_name, 1, duration{}, limit, {}};
  }

  template <class Next, class Call, class Self>
  auto invoke(Next&& next, Call& call, const Self& self) const {
    const duration start = call.clock().now();
    const duration mine = saturating_add(start, limit);
    const duration outer = call.deadline();
    const duration previous = call.set_attempt_deadline(mine < outer ? mine : outer);
    auto r = next();
    call.set_attempt_deadline(previous);
    if (TUTTI_LIKELY(call.clock().now() <= mine)) return r;

    call.mark(step_flag::timed_out);
    if (!r.has_value()) {
      call.note(Derived::late_failure_note);
      return decltype(r){make_error_code(errc::timeout)};
    }
    if constexpr (Self::compensable) {
      auto& late = r.value();
      const result<void> undone = self.compensate_late(late, call);
      if (undone.has_value()) {
        call.note("timed out: the result came after the deadline and was undone");
      } else {
        call.mark(step_flag::late_compensation_failed);
        call.note("timed out: the result came after the deadline and undoing it FAILED");
        call.run_state_shared()->compensation_failed = true;
      }
    } else {
      call.note("timed out: the result came after the deadline and was discarded");
    }
    return decltype(r){make_error_code(errc::timeout)};
  }
};
}  // namespace detail

/**
 * A limit on each call of the layer inside: `step | timeout{2s} | retry{...}` gives every
 * attempt two seconds. See detail::time_limit for what "limit" means in-process.
 */
struct timeout : detail::time_limit<timeout> {
  static constexpr std::string_view policy_name = "timeout";
  static constexpr std::string_view late_failure_note = "timed out: the attempt ended after its deadline";
  using time_limit::time_limit;
};

/**
 * A limit on everything inside it, all attempts and waits of an inner retry included:
 * `step | retry{...} | deadline{10s}`. A retry inside it starts no wait that would end past it.
 * Placed inside a retry it would restart with every attempt: that does not compile (wrap it in
 * `allow_inside_retry(...)` if it is meant).
 */
struct deadline : detail::time_limit<deadline> {
  static constexpr std::string_view policy_name = "deadline";
  static constexpr std::string_view late_failure_note = "deadline passed";
  using time_limit::time_limit;
};

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_TIMEOUT_HPP
