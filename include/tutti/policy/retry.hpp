// tutti — retry: call the step again after a failure, waiting through the run's clock.
#ifndef TUTTI_POLICY_RETRY_HPP
#define TUTTI_POLICY_RETRY_HPP

#include <array>         // retry_except's codes
#include <cstddef>       // std::size_t
#include <cstdint>       // attempt counts
#include <new>           // results built in place
#include <stdexcept>     // std::invalid_argument for settings from configuration
#include <stop_token>    // the token a retry checks between attempts
#include <string_view>   // policy name
#include <system_error>  // error predicates
#include <type_traits>   // deduction guides

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../events.hpp"
#include "../policy.hpp"
#include "../report.hpp"
#include "backoff.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
[[noreturn]] inline void tutti_invalid_setting_max_attempts_must_be_at_least_1() {
  throw std::invalid_argument("tutti: max_attempts must be at least 1 (it counts the first call)");
}
[[noreturn]] inline void tutti_invalid_setting_retry_budget_must_be_positive() {
  throw std::invalid_argument("tutti: a retry time budget must be positive");
}
}  // namespace detail

namespace detail {
// Events of a retry, sent only when the run has an observer.
template <class Call>
void emit_retry_scheduled(Call& call, std::uint32_t attempt, const std::error_code& error,
                          duration wait) {
  if constexpr (observed<Call>()) {
    (void)attempt;  // the retry's own count; events carry the step's call count
    event e = make_event(event_kind::retry_scheduled, call.attempt());
    e.error = error;
    e.delay = wait;
    call.emit(e);
  } else {
    (void)call, (void)attempt, (void)error, (void)wait;
  }
}
template <class Call>
void emit_retries_exhausted(Call& call, std::uint32_t attempt, const std::error_code& error,
                            std::string_view why) {
  if constexpr (observed<Call>()) {
    (void)attempt;
    event e = make_event(event_kind::retries_exhausted, call.attempt());
    e.error = error;
    e.message = why;
    call.emit(e);
  } else {
    (void)call, (void)attempt, (void)error, (void)why;
  }
}
/// r = next(), with the result built in place when it holds nothing to destroy: a copy out of
/// the temporary the step just wrote reads it back with wide loads, a store-forwarding stall.
template <class R, class Next>
TUTTI_ALWAYS_INLINE void call_again(R& r, Next& next) {
  if constexpr (std::is_trivially_destructible_v<R> && std::is_same_v<decltype(next()), R>) {
    // The old result needs no destruction. If next() throws, r (invoke's local) is never read.
    ::new (static_cast<void*>(&r)) R(next());
  } else {
    r = next();
  }
}

/// A retry gives up when the step was asked to stop (the run's token, or a parallel group's
/// when another branch decided the group): the last failure stands, with a note.
template <class Call>
TUTTI_NOINLINE void stopped(Call& call, std::uint32_t attempt, const std::error_code& error) {
  call.mark(step_flag::gave_up_early);
  call.note("the step was asked to stop");
  emit_retries_exhausted(call, attempt, error, "the step was asked to stop");
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

/// The default retry predicate: every error except `circuit_open` and `cancelled` (retrying
/// them cannot help: the breaker rejects at once, and a cancelled run must stop).
struct retry_transient {
  [[nodiscard]] bool operator()(const std::error_code& ec) const noexcept {
    // One category compare, then the values: no error code is made per comparison.
    if (ec.category() != error_category()) return true;
    const auto code = static_cast<errc>(ec.value());
    return code != errc::circuit_open && code != errc::cancelled;
  }
};

/**
 * Retries what `retry_transient` retries, except the errors named as permanent:
 * `tutti::retry_except{payment_errc::card_declined, payment_errc::insufficient_funds}`.
 */
template <std::size_t N>
struct retry_except {
  std::array<std::error_code, N> permanent;
  template <class... E>
  constexpr explicit retry_except(E... codes) : permanent{std::error_code(codes)...} {}
  [[nodiscard]] bool operator()(const std::error_code& ec) const noexcept {
    for (const auto& p : permanent)
      if (ec == p) return false;
    return retry_transient{}(ec);
  }
};
template <class... E>
retry_except(E...) -> retry_except<sizeof...(E)>;

/// What a retry reports before each wait (see `retry::on_each_retry`).
struct retry_event {
  std::string_view step;     ///< the step's path
  std::uint32_t attempt;     ///< the attempt that failed (1-based)
  std::error_code error;     ///< its error
  duration delay;            ///< the wait before the next attempt
};

/// The default per-retry hook: does nothing and costs nothing.
struct no_retry_event {
  constexpr void operator()(const retry_event&) const noexcept {}
};

/**
 * Calls the step again after a failure, up to `max_attempts` calls in all (the first counts),
 * waiting `backoff.delay_before(n, ...)` through the run's clock before retry n. It returns the
 * last result at once when:
 * - the call succeeded, or the predicate says the error is not worth retrying;
 * - the attempts are used up;
 * - the wait would end past the deadline (the run's `run_options::deadline` or an enclosing
 *   `tutti::deadline`): no wait begins that cannot be followed by an attempt;
 * - the time budget (`within(d)`: time since the first attempt) would be exceeded.
 * The last two are marked in the report (`gave_up_early`) with a message that says why.
 * A step with a retry is *retriable*: it may stand after a saga's pivot.
 */
template <class Backoff = constant_backoff, class Predicate = retry_transient,
          class OnRetry = no_retry_event>
struct retry {
  static constexpr std::string_view policy_name = "retry";
  static constexpr bool makes_retriable = true;

  Backoff backoff{};
  max_attempts attempts{3};
  Predicate retry_on{};
  duration budget = duration::max();
  OnRetry on_retry{};

  constexpr retry() = default;
  constexpr explicit retry(max_attempts n) : attempts(n) {}
  constexpr retry(Backoff b, max_attempts n, Predicate p = {})
      : backoff(b), attempts(n), retry_on(p) {
    backoff.validate();
  }
  /// Retries only the errors `p` accepts, without waiting between attempts.
  constexpr retry(max_attempts n, Predicate p) : attempts(n), retry_on(p) {}
  constexpr retry(Backoff b, max_attempts n, Predicate p, duration total, OnRetry e)
      : backoff(b), attempts(n), retry_on(p), budget(total), on_retry(e) {
    backoff.validate();
    if (total.count() <= 0) detail::tutti_invalid_setting_retry_budget_must_be_positive();
  }

  /// The same retry, starting no attempt later than `total` after the first one began.
  [[nodiscard]] constexpr retry within(duration total) const {
    return retry(backoff, attempts, retry_on, total, on_retry);
  }
  /// The same retry, calling `hook(const retry_event&)` before each wait.
  template <class Hook>
  [[nodiscard]] constexpr retry<Backoff, Predicate, Hook> on_each_retry(Hook hook) const {
    return retry<Backoff, Predicate, Hook>(backoff, attempts, retry_on, budget, hook);
  }

  [[nodiscard]] constexpr policy_info info() const noexcept {
    duration waits{};
    for (std::uint32_t n = 1; n < attempts.value; ++n) waits = saturating_add(waits, backoff.max_delay_before(n));
    return {policy_name, attempts.value, waits, budget, Backoff::backoff_name};
  }

  template <class Next, class Call>
  // The return type is spelled out: clang 14 applies no named-return elision in functions with
  // a deduced return type.
  TUTTI_ALWAYS_INLINE auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    // The first attempt is the hot path. One named result at function scope, returned as it
    // is, so it is built in place (a copy right after the step wrote it costs a store-forwarding
    // stall); the retries, waits, deadlines and events are out of line.
    duration started{};
    if (budget != duration::max()) started = call.clock().now();
    auto r = next();
    if (TUTTI_UNLIKELY(!r.has_value())) retry_failed(r, next, call, started);
    return r;
  }

  template <class R, class Next, class Call>
  TUTTI_NOINLINE void retry_failed(R& r, Next& next, Call& call, duration started) const {
    // Looked up once: the stop token and the deadline a retry runs under are the same for all
    // its attempts (a policy inside it sets its own around one attempt and restores them).
    const std::stop_token& stop = call.stop_token();
    const bool unlimited = budget == duration::max() && call.deadline() == duration::max();
    duration previous{};
    for (std::uint32_t attempt = 1;; ++attempt) {
      // An error this retry does not retry ends it whatever the attempt: attempts were not
      // what ran out.
      if (!retry_on(r.assume_error())) return;
      if (attempt >= attempts.value) {
        detail::emit_retries_exhausted(call, attempt, r.assume_error(), {});
        return;
      }
      // A success that came too late and could not be undone has had its effect: never again.
      if (call.marked(step_flag::late_success_kept)) return;
      if (TUTTI_UNLIKELY(stop.stop_requested())) return detail::stopped(call, attempt, r.assume_error());
      const duration wait = backoff.delay_before(attempt, previous, [&call] { return call.random(); });
      // No wait, no deadline, no budget and nobody to tell: the next attempt follows at once
      // (the token was just checked and nothing ran since).
      if (!(quiet<Call>() && unlimited && wait.count() == 0)) {
        if (!wait_before_retry(attempt, r.assume_error(), wait, started, call)) return;
        if (stop.stop_requested()) return detail::stopped(call, attempt, r.assume_error());
      }
      previous = wait;
      call.clear_message();
      detail::call_again(r, next);
      if (r.has_value()) return;
    }
  }

  /// Checks the deadline and budget for a wait before retry `attempt + 1`, tells the observer
  /// and the hook, and waits; false when the retry must give up instead.
  template <class Call>
  TUTTI_NOINLINE bool wait_before_retry(std::uint32_t attempt, const std::error_code& error,
                                        duration wait, duration started, Call& call) const {
    const duration deadline = call.deadline();
    const bool budgeted = budget != duration::max();
    if (deadline != duration::max() || budgeted) {
      const duration now = call.clock().now();
      // Saturated: a clock near duration::max() must not overflow (the wait then ends "never").
      const duration wake = saturating_add(now, wait);
      if (deadline != duration::max() && wake > deadline) {  // ending at it: taken
        give_up(call, attempt, error, "the next attempt would start after the deadline");
        return false;
      }
      if (budgeted && (wake == duration::max() || wake - started > budget)) {
        give_up(call, attempt, error, "the retry's time budget would be exceeded");
        return false;
      }
    }
    detail::emit_retry_scheduled(call, attempt, error, wait);
    on_retry(retry_event{Call::path.view(), attempt, error, wait});
    if (wait.count() > 0) call.clock().sleep_for(wait);
    return true;
  }

 private:
  /// Whether nothing observes a retry's waits: no observer, no hook.
  template <class Call>
  static constexpr bool quiet() noexcept {
    return !detail::observed<Call>() && std::is_same_v<OnRetry, no_retry_event>;
  }

  template <class Call>
  static void give_up(Call& call, std::uint32_t attempt, const std::error_code& error,
                      std::string_view why) {
    call.mark(step_flag::gave_up_early);
    call.note(why);
    detail::emit_retries_exhausted(call, attempt, error, why);
  }
};

retry(max_attempts) -> retry<>;
template <class Backoff>
  requires(!std::is_same_v<Backoff, max_attempts>)
retry(Backoff, max_attempts) -> retry<Backoff>;
template <class Backoff, class Predicate>
  requires(!std::is_same_v<Backoff, max_attempts>)
retry(Backoff, max_attempts, Predicate) -> retry<Backoff, Predicate>;
template <class Predicate>
  requires std::is_invocable_r_v<bool, const Predicate&, const std::error_code&>
retry(max_attempts, Predicate) -> retry<constant_backoff, Predicate>;

/// Retries until the step succeeds (or fails with an error the predicate does not retry, or a
/// deadline stops it). Its worst-case number of calls is unbounded.
template <class Backoff = constant_backoff, class Predicate = retry_transient>
struct retry_forever {
  static constexpr std::string_view policy_name = "retry_forever";
  static constexpr bool makes_retriable = true;
  Backoff backoff{};
  Predicate retry_on{};

  constexpr retry_forever() = default;
  constexpr explicit retry_forever(Backoff b, Predicate p = {}) : backoff(b), retry_on(p) {
    backoff.validate();
  }

  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {policy_name, 0, duration::max(), duration::max(), Backoff::backoff_name};
  }

  template <class Next, class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    auto r = next();  // built in place: see retry::invoke
    if (TUTTI_UNLIKELY(!r.has_value())) retry_failed(r, next, call);
    return r;
  }

  template <class R, class Next, class Call>
  TUTTI_NOINLINE void retry_failed(R& r, Next& next, Call& call) const {
    const std::stop_token& stop = call.stop_token();  // once: see retry::retry_failed
    const duration deadline = call.deadline();
    duration previous{};
    for (std::uint32_t attempt = 1;; ++attempt) {
      if (r.has_value() || !retry_on(r.assume_error())) return;
      if (call.marked(step_flag::late_success_kept)) return;  // see retry::retry_failed
      if (TUTTI_UNLIKELY(stop.stop_requested())) return detail::stopped(call, attempt, r.assume_error());
      const duration wait = backoff.delay_before(attempt, previous, [&call] { return call.random(); });
      // As retry: with no wait, no deadline and no observer, the next attempt follows at once.
      if (detail::observed<Call>() || wait.count() != 0 || deadline != duration::max()) {
        if (deadline != duration::max() && saturating_add(call.clock().now(), wait) > deadline) {
          call.mark(step_flag::gave_up_early);
          call.note("the next attempt would start after the deadline");
          detail::emit_retries_exhausted(call, attempt, r.assume_error(),
                                         "the next attempt would start after the deadline");
          return;
        }
        detail::emit_retry_scheduled(call, attempt, r.assume_error(), wait);
        if (wait.count() > 0) call.clock().sleep_for(wait);
        if (stop.stop_requested()) return detail::stopped(call, attempt, r.assume_error());
      }
      previous = wait;
      call.clear_message();
      detail::call_again(r, next);
    }
  }
};

template <class Backoff>
retry_forever(Backoff) -> retry_forever<Backoff>;
template <class Backoff, class Predicate>
retry_forever(Backoff, Predicate) -> retry_forever<Backoff, Predicate>;

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_RETRY_HPP
