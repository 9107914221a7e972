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
#include "../result.hpp"  // unit: the value of a step that returns nothing
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

/// Whether an attempt's success came after its deadline and could not be undone (a timeout
/// inside the retry marked it): it has had its effect, so it is never tried again. Only a
/// timeout error can carry the mark, so other outcomes do not read the step's records.
template <class R, class Call>
TUTTI_ALWAYS_INLINE bool late_success_kept(const R& r, const Call& call) {
  return !r.has_value() && r.assume_error() == errc::timeout &&
         call.marked(step_flag::late_success_kept);
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

/// No value is retried: the default of `retry_condition::on_value`.
struct no_value_retry {
  template <class T>
  constexpr bool operator()(const T&) const noexcept {
    return false;
  }
};
/// Nothing aborts a retry: the default of `retry_condition`'s abort conditions.
struct never_abort {
  template <class T>
  constexpr bool operator()(const T&) const noexcept {
    return false;
  }
};

/**
 * What a retry retries and when it stops, beyond the errors of a plain predicate; built by
 * `retry::retry_on_value`, `return_last_value`, `abort_on` and `abort_on_value`, and used by
 * the retry in place of its predicate:
 * - `on_error(const std::error_code&)`: the errors retried (the plain predicate);
 * - `on_value(const T&)`: the values retried (an HTTP-like response whose status says "try
 *   again"); when the attempts run out on such a value the step fails with
 *   `errc::retries_exhausted`, or returns it if `return_last_value`;
 * - `abort_error`, `abort_value`: an outcome the retry would retry but must not: the retry stops
 *   at once and the outcome stands (an error stays the step's error, a value is returned).
 */
template <class OnError = retry_transient, class OnValue = no_value_retry,
          class AbortError = never_abort, class AbortValue = never_abort>
struct retry_condition {
  [[no_unique_address]] OnError on_error{};
  [[no_unique_address]] OnValue on_value{};
  [[no_unique_address]] AbortError abort_error{};
  [[no_unique_address]] AbortValue abort_value{};
  bool return_last_value = false;

  /// As a plain predicate: whether an error is retried.
  [[nodiscard]] constexpr bool operator()(const std::error_code& ec) const { return on_error(ec); }
};

namespace detail {
// A step that returns nothing has result<unit> as its outcome.
template <class T>
inline constexpr bool no_value = std::is_void_v<T> || std::is_same_v<T, unit>;

template <class P>
inline constexpr bool is_retry_condition = false;
template <class E, class V, class AE, class AV>
inline constexpr bool is_retry_condition<retry_condition<E, V, AE, AV>> = true;

/// A plain predicate as a condition; a condition as it is.
template <class P>
constexpr auto as_condition(const P& p) {
  if constexpr (is_retry_condition<P>) return p;
  else return retry_condition<P>{p};
}
/// pred(r's value), r holding one: for retry_on_value (Abort false) and abort_on_value (Abort
/// true); false at compile time for the defaults.
template <bool Abort, class Pred, class R>
TUTTI_ALWAYS_INLINE bool value_matches(const Pred& pred, const R& r) {
  using T = typename R::value_type;
  if constexpr (std::is_same_v<Pred, no_value_retry> || std::is_same_v<Pred, never_abort>) {
    (void)pred, (void)r;
    return false;
  } else if constexpr (no_value<T>) {
    static_assert(Abort || always_false<R>,
                  "tutti: retry_on_value(pred) needs a step that returns a value; this step "
                  "returns tutti::result<void>. Retry on its errors instead.");
    static_assert(!Abort || always_false<R>,
                  "tutti: abort_on_value(pred) needs a step that returns a value; this step "
                  "returns tutti::result<void>. Use abort_on(pred) on its errors.");
    return false;
  } else {
    static_assert(Abort || std::is_invocable_r_v<bool, const Pred&, const T&>,
                  "tutti: retry_on_value(pred): pred must be callable as bool(const T&), T the "
                  "step's value type.");
    static_assert(!Abort || std::is_invocable_r_v<bool, const Pred&, const T&>,
                  "tutti: abort_on_value(pred): pred must be callable as bool(const T&), T the "
                  "step's value type.");
    return pred(r.assume_value());
  }
}

template <class C, class E, class V, class AE, class AV>
constexpr retry_condition<E, V, AE, AV> rebuild(const C& c, E e, V v, AE ae, AV av) {
  return {e, v, ae, av, c.return_last_value};
}
}  // namespace detail

/// What a retry reports before each wait (see `retry::on_each_retry`).
struct retry_event {
  std::string_view step;     ///< the step's path
  std::uint32_t attempt;     ///< the attempt that failed (1-based)
  std::error_code error;     ///< its error (none when it returned a value the retry retries)
  duration delay;            ///< the wait before the next attempt
};

/// The default per-retry hook: does nothing and costs nothing.
struct no_retry_event {
  constexpr void operator()(const retry_event&) const noexcept {}
};

// The message of a backoff without its upper bound (retry and retry_forever).
#define TUTTI_RETRY_BACKOFF_MESSAGE                                                             \
  "tutti: a retry's backoff must declare its upper bound: "                                     \
  "`constexpr tutti::duration max_delay_before(std::uint32_t n) const`, the longest wait "       \
  "before retry n (worst cases and deadline checks rely on it), besides "                        \
  "`static constexpr std::string_view backoff_name` and `constexpr void validate() const`. "     \
  "For a wait chosen from the outcome, tutti::outcome_backoff{max, delay} declares it."

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
  static_assert(bounded_backoff<Backoff>, TUTTI_RETRY_BACKOFF_MESSAGE);
  static constexpr bool has_condition = detail::is_retry_condition<Predicate>;

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

  /**
   * The same retry, also retrying the step's values that `pred(const T&)` accepts (T: the
   * step's value type). When the attempts run out on such a value, the step fails with
   * `errc::retries_exhausted`, unless `.return_last_value()`.
   */
  template <class Pred>
  [[nodiscard]] constexpr auto retry_on_value(Pred pred) const {
    const auto c = detail::as_condition(retry_on);
    return with(detail::rebuild(c, c.on_error, pred, c.abort_error, c.abort_value));
  }
  /// The same retry, returning the last value when its attempts run out on a value it retries.
  [[nodiscard]] constexpr auto return_last_value() const {
    auto c = detail::as_condition(retry_on);
    c.return_last_value = true;
    return with(c);
  }
  /// The same retry, stopping at once on an error it would retry that `pred(const
  /// std::error_code&)` accepts: the error stands (event `retries_exhausted`, `gave_up_early`).
  template <class Pred>
  [[nodiscard]] constexpr auto abort_on(Pred pred) const {
    const auto c = detail::as_condition(retry_on);
    return with(detail::rebuild(c, c.on_error, c.on_value, pred, c.abort_value));
  }
  /// The same retry, stopping at once on a value it would retry that `pred(const T&)` accepts:
  /// the value is returned (event `retries_exhausted`).
  template <class Pred>
  [[nodiscard]] constexpr auto abort_on_value(Pred pred) const {
    const auto c = detail::as_condition(retry_on);
    return with(detail::rebuild(c, c.on_error, c.on_value, c.abort_error, pred));
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
    if (TUTTI_UNLIKELY(!r.has_value() || value_retried(r))) retry_failed(r, next, call, started);
    return r;
  }

  template <class R, class Next, class Call>
  TUTTI_NOINLINE void retry_failed(R& r, Next& next, Call& call, duration started) const {
    loop_state s = begin_loop(call, started);
    while (plan_retry(r, call, s)) {
      if (s.waits && s.wait.count() > 0) call.clock().sleep_for(s.wait);
      if (!after_wait(r, call, s)) return;
      detail::call_again(r, next);
    }
  }

  // ---- the decisions of a retry, shared by the sync run (which sleeps on the clock) and the
  // async run (which waits on a timer): plan_retry, wait s.wait if s.waits, after_wait, call.

  /// Where a retry's loop stands.
  struct loop_state {
    const std::stop_token* stop;  // the same for all attempts (a policy inside sets its own
                                  // around one attempt and restores it)
    bool unlimited;               // no deadline and no time budget
    duration started;             // when the first attempt began (with a budget)
    std::uint32_t attempt = 1;    // the attempt whose outcome is being decided
    duration previous{};          // the wait before it
    duration wait{};              // the wait planned before the next one
    bool waits = false;           // whether that wait is taken (and told)
  };
  template <class Call>
  [[nodiscard]] loop_state begin_loop(Call& call, duration started) const {
    return loop_state{&call.stop_token(),
                      budget == duration::max() && call.deadline() == duration::max(), started};
  }
  /// Decides on the outcome `r` of attempt `s.attempt`: false when it stands (the retry is over,
  /// with its events, notes and marks); true to call again after `s.wait` (when `s.waits`).
  template <class R, class Call>
  TUTTI_ALWAYS_INLINE bool plan_retry(R& r, Call& call, loop_state& s) const {
    // An outcome this retry does not retry ends it whatever the attempt: attempts were not what
    // ran out.
    if (r.has_value()) {
      if (!value_retried(r)) return false;
    } else if (!retry_on(r.assume_error())) {
      return false;
    }
    if (aborted(r)) return stop_on_abort(r, call, s.attempt), false;
    if (s.attempt >= attempts.value) return exhausted(r, call, s.attempt), false;
    // A success that came too late and could not be undone has had its effect: never again.
    if (detail::late_success_kept(r, call)) return false;
    if (TUTTI_UNLIKELY(s.stop->stop_requested())) {
      detail::stopped(call, s.attempt, error_of(r));
      return ended_on_value(r), false;
    }
    s.wait = detail::backoff_wait(backoff, s.attempt, s.previous, [&call] { return call.random(); }, r);
    // No wait, no deadline, no budget and nobody to tell: the next attempt follows at once (the
    // token was just checked and nothing ran since).
    s.waits = !(quiet<Call>() && s.unlimited && s.wait.count() == 0);
    if (s.waits && !announce_retry(s.attempt, error_of(r), s.wait, s.started, call))
      return ended_on_value(r), false;
    return true;
  }
  /// After the wait planned by plan_retry: false when the run was asked to stop meanwhile (the
  /// outcome stands); true to call again now.
  template <class R, class Call>
  TUTTI_ALWAYS_INLINE bool after_wait(R& r, Call& call, loop_state& s) const {
    if (s.waits && s.stop->stop_requested()) {
      detail::stopped(call, s.attempt, error_of(r));
      return ended_on_value(r), false;
    }
    s.previous = s.wait;
    ++s.attempt;
    call.clear_message();
    return true;
  }

  /// Checks the deadline and budget for a wait before retry `attempt + 1`, and tells the
  /// observer and the hook; false when the retry must give up instead.
  template <class Call>
  TUTTI_NOINLINE bool announce_retry(std::uint32_t attempt, const std::error_code& error,
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
    return true;
  }
  /// A retry that gave up early (deadline, budget, stop) on a value it retries: the step fails
  /// with retries_exhausted, unless return_last_value (the message already says why).
  template <class R>
  void ended_on_value(R& r) const {
    if constexpr (has_condition) {
      if (r.has_value() && !retry_on.return_last_value) r = R(make_error_code(errc::retries_exhausted));
    } else {
      (void)r;
    }
  }
  /// Whether `r` holds a value this retry retries (false at compile time without retry_on_value).
  template <class R>
  TUTTI_ALWAYS_INLINE bool value_retried(const R& r) const {
    if constexpr (!has_condition) return false;
    else return r.has_value() && detail::value_matches<false>(retry_on.on_value, r);
  }

 private:
  template <class P>
  [[nodiscard]] constexpr retry<Backoff, P, OnRetry> with(P p) const {
    return retry<Backoff, P, OnRetry>(backoff, attempts, p, budget, on_retry);
  }

  /// Whether an abort condition stops the retry on `r` (an outcome it would retry).
  template <class R>
  TUTTI_ALWAYS_INLINE bool aborted(const R& r) const {
    if constexpr (!has_condition) return false;
    else if (!r.has_value()) return retry_on.abort_error(r.assume_error());
    else return detail::value_matches<true>(retry_on.abort_value, r);
  }
  /// The error of an outcome, none for a value.
  template <class R>
  static std::error_code error_of(const R& r) noexcept {
    return r.has_value() ? std::error_code{} : std::error_code(r.assume_error());
  }
  template <class R, class Call>
  TUTTI_NOINLINE void stop_on_abort(R& r, Call& call, std::uint32_t attempt) const {
    constexpr std::string_view why = "the retry was aborted: its abort condition matched";
    if (!r.has_value()) {
      call.mark(step_flag::gave_up_early);
      call.note(why);
    }
    detail::emit_retries_exhausted(call, attempt, error_of(r), why);
  }
  template <class R, class Call>
  void exhausted(R& r, Call& call, std::uint32_t attempt) const {
    if (!r.has_value()) {
      detail::emit_retries_exhausted(call, attempt, r.assume_error(), {});
    } else if constexpr (has_condition) {
      if (retry_on.return_last_value) {
        detail::emit_retries_exhausted(call, attempt, {},
                                       "attempts used up on values it retries; the last is returned");
      } else {
        constexpr std::string_view why =
            "attempts used up: every attempt returned a value the retry retries";
        call.note(why);
        r = R(make_error_code(errc::retries_exhausted));
        detail::emit_retries_exhausted(call, attempt, r.assume_error(), why);
      }
    }
  }
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
  static_assert(bounded_backoff<Backoff>, TUTTI_RETRY_BACKOFF_MESSAGE);
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
    loop_state s = begin_loop(call);
    while (plan_retry(r, call, s)) {
      if (s.waits && s.wait.count() > 0) call.clock().sleep_for(s.wait);
      if (!after_wait(r, call, s)) return;
      detail::call_again(r, next);
    }
  }

  // The decisions, shared with the async run: see retry.
  struct loop_state {
    const std::stop_token* stop;
    duration deadline;
    std::uint32_t attempt = 1;
    duration previous{};
    duration wait{};
    bool waits = false;
  };
  /// (`started` is unused: retry_forever has no time budget; the parameter matches retry's.)
  template <class Call>
  [[nodiscard]] loop_state begin_loop(Call& call, duration started = {}) const {
    (void)started;
    return loop_state{&call.stop_token(), call.deadline()};
  }
  /// retry_forever retries no value (as retry without retry_on_value).
  template <class R>
  static constexpr bool value_retried(const R&) noexcept {
    return false;
  }
  template <class R, class Call>
  TUTTI_ALWAYS_INLINE bool plan_retry(R& r, Call& call, loop_state& s) const {
    if (r.has_value() || !retry_on(r.assume_error())) return false;
    if (detail::late_success_kept(r, call)) return false;  // see retry::plan_retry
    if (TUTTI_UNLIKELY(s.stop->stop_requested()))
      return detail::stopped(call, s.attempt, r.assume_error()), false;
    s.wait = detail::backoff_wait(backoff, s.attempt, s.previous, [&call] { return call.random(); }, r);
    // As retry: with no wait, no deadline and no observer, the next attempt follows at once.
    s.waits = detail::observed<Call>() || s.wait.count() != 0 || s.deadline != duration::max();
    if (s.waits) {
      if (s.deadline != duration::max() && saturating_add(call.clock().now(), s.wait) > s.deadline) {
        call.mark(step_flag::gave_up_early);
        call.note("the next attempt would start after the deadline");
        detail::emit_retries_exhausted(call, s.attempt, r.assume_error(),
                                       "the next attempt would start after the deadline");
        return false;
      }
      detail::emit_retry_scheduled(call, s.attempt, r.assume_error(), s.wait);
    }
    return true;
  }
  template <class R, class Call>
  TUTTI_ALWAYS_INLINE bool after_wait(R& r, Call& call, loop_state& s) const {
    if (s.waits && s.stop->stop_requested())
      return detail::stopped(call, s.attempt, r.assume_error()), false;
    s.previous = s.wait;
    ++s.attempt;
    call.clear_message();
    return true;
  }
};

template <class Backoff>
retry_forever(Backoff) -> retry_forever<Backoff>;
template <class Backoff, class Predicate>
retry_forever(Backoff, Predicate) -> retry_forever<Backoff, Predicate>;

#undef TUTTI_RETRY_BACKOFF_MESSAGE

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_RETRY_HPP
