// tutti — the event model: what a run tells its observer, and the observer concept. A core
// concept (the engine and every policy emit events); the observers themselves live in observe/.
#ifndef TUTTI_EVENTS_HPP
#define TUTTI_EVENTS_HPP

#include <cstdint>       // compact fields
#include <string_view>   // names, paths, messages
#include <system_error>  // std::error_code
#include <tuple>         // observer fan-out
#include <type_traits>   // observer traits

#include "clock.hpp"
#include "config.hpp"
#include "context.hpp"
#include "policy/breaker_state.hpp"
#include "report.hpp"

TUTTI_BEGIN_NAMESPACE

/// What happened. Each event of a run carries the workflow's name, the run id and, for step
/// events, the step's path ("outer/inner" inside nested workflows).
enum class event_kind : std::uint8_t {
  run_started,             ///< before the first step
  run_finished,            ///< after the last step or the last compensation: `outcome`, `error`
  step_started,            ///< the engine is about to call the step (with its policies)
  step_succeeded,          ///< the step produced its value: `attempt` = calls made, `elapsed`
  step_failed,             ///< the step's failure ends the run: `error`, `message`, `attempt`
  attempt_started,         ///< one call of the step's callable (or of its compensation)
  attempt_succeeded,       ///< that call returned a value: `elapsed`
  attempt_failed,          ///< that call failed: `error`, `elapsed`
  retry_scheduled,         ///< a retry waits `delay` before the next attempt (after `attempt`)
  retries_exhausted,       ///< a retry stopped with a failure: attempts used up or no time left
  fallback_served,         ///< a fallback produced the step's value; `error` is what it covered
  breaker_state_changed,   ///< the step's breaker went `from` → `to` around this call
  breaker_rejected,        ///< the breaker refused the call (`errc::circuit_open`)
  bulkhead_rejected,       ///< the bulkhead was full (`errc::bulkhead_full`)
  rate_limited,            ///< the rate limiter refused the call (`errc::rate_limited`)
  timeout,                 ///< an attempt or the run's deadline ended past its limit
  compensation_started,    ///< the step's compensation is about to run
  compensation_succeeded,  ///< the step was undone: `elapsed`
  compensation_failed,     ///< undoing the step failed: `error`, `message`
  step_skipped,            ///< a conditional step's condition was false: not run (ends the step)
};

/// Number of event kinds (for tables indexed by kind).
inline constexpr std::size_t event_kind_count = 20;

/// Short snake_case name of an event kind, as logs and metrics print it.
[[nodiscard]] constexpr std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::run_started: return "run_started";
    case event_kind::run_finished: return "run_finished";
    case event_kind::step_started: return "step_started";
    case event_kind::step_succeeded: return "step_succeeded";
    case event_kind::step_failed: return "step_failed";
    case event_kind::attempt_started: return "attempt_started";
    case event_kind::attempt_succeeded: return "attempt_succeeded";
    case event_kind::attempt_failed: return "attempt_failed";
    case event_kind::retry_scheduled: return "retry_scheduled";
    case event_kind::retries_exhausted: return "retries_exhausted";
    case event_kind::fallback_served: return "fallback_served";
    case event_kind::breaker_state_changed: return "breaker_state_changed";
    case event_kind::breaker_rejected: return "breaker_rejected";
    case event_kind::bulkhead_rejected: return "bulkhead_rejected";
    case event_kind::rate_limited: return "rate_limited";
    case event_kind::timeout: return "timeout";
    case event_kind::compensation_started: return "compensation_started";
    case event_kind::compensation_succeeded: return "compensation_succeeded";
    case event_kind::compensation_failed: return "compensation_failed";
    case event_kind::step_skipped: return "step_skipped";
  }
  return "unknown";
}

/**
 * One event of a run. A value, passed by const reference to the observer: the string views
 * (names, paths, messages) are valid during the call only — copy what you keep.
 * Fields not listed for a kind are zero / empty.
 */
struct event {
  event_kind kind = event_kind::run_started;
  bool compensation = false;      ///< attempt and retry events of a compensation (not of the step)
  std::uint32_t attempt = 0;      ///< attempt_* / retry_*: the attempt (1-based); step_*: calls made
  run_outcome outcome = run_outcome::succeeded;  ///< run_finished
  breaker_state from = breaker_state::closed;    ///< breaker_state_changed
  breaker_state to = breaker_state::closed;      ///< breaker_state_changed; breaker_rejected: state
  std::string_view workflow;      ///< the name of the workflow that was run (the outermost)
  /// The step's path; for run_finished of a failed run, the step whose failure ended it;
  /// empty for other run events.
  std::string_view step;
  std::string_view message;       ///< a failure's message (an exception's what()), when there is one
  run_id run;                     ///< the run's id
  std::error_code error;          ///< failures, retries, fallbacks, rejections, run_finished
  /// The run clock's reading at the event when the observer asks for time (`wants_time`);
  /// zero otherwise.
  duration time{};
  /// retry_scheduled: the wait; breaker_rejected: the breaker's retry-after hint.
  duration delay{};
  /// *_succeeded / *_failed / run_finished: time since the matching start, when timed.
  duration elapsed{};
  /// run_finished: the run ended with `errc::timeout` because its own deadline
  /// (`run_options::deadline`) had passed — a missed deadline, not a step's own timeout.
  bool deadline_missed = false;
  /// run_finished of a durable run: its journal could not be written (a full disk, a lost
  /// connection), so it stopped; false when the store refused the write because another engine
  /// or an operator took the run (fenced).
  bool journal_failed = false;
};

/// An event of kind `k` (and attempt number `attempt`), every other field empty.
[[nodiscard]] inline event make_event(event_kind k, std::uint32_t attempt = 0) noexcept {
  event e;
  e.kind = k;
  e.attempt = attempt;
  return e;
}

/**
 * An observer receives every event of the runs it is attached to:
 * `wf.run(input, opts, clock, observer)`. It is a template parameter of the run: with none (or
 * `null_observer`) no event is built and the run compiles to the same code as before.
 *
 * An observer may declare `static constexpr bool wants_time = true;` to get the run clock's
 * reading in `event::time` (one clock read per event) and `elapsed` on end events. `on_event`
 * is called on the thread running the step; one observer shared by concurrent runs must be
 * thread-safe. It must not throw (an exception propagates out of `run()`).
 */
template <class O>
concept observer = requires(O& o, const event& e) { o.on_event(e); };

/// No observer: the default. Runs with it build no events.
struct null_observer {
  static constexpr bool enabled = false;
  static constexpr bool wants_time = false;
  constexpr void on_event(const event& /*e*/) const noexcept {}
};

namespace detail {
template <class O>
constexpr bool observer_enabled() noexcept {
  if constexpr (requires { O::enabled; }) return O::enabled;
  else return true;
}
template <class O>
constexpr bool observer_wants_time() noexcept {
  if constexpr (requires { O::wants_time; }) return O::wants_time;
  else return false;
}

/// Whether a call (what steps and policies receive) has an observer; a call type without the
/// member has none. Policies emit events under `if constexpr (detail::observed<Call>())`.
template <class Call>
constexpr bool observed() noexcept {
  if constexpr (requires { Call::observed; }) return Call::observed;
  else return false;
}

/// Whether the run's observer is a journal's hooks (`<tutti/journal/durable.hpp>`).
template <class O>
constexpr bool journaled() noexcept {
  if constexpr (requires { O::journaled; }) return O::journaled;
  else return false;
}

/// How the engine holds its observer and the name of the workflow that was run (for events):
/// a pointer and the name, or nothing at all for a switched-off observer (which is never used,
/// nor created).
template <class O, bool = observer_enabled<O>()>
struct observer_ref {
  O* ptr;
  std::string_view workflow;
  constexpr observer_ref(O& o, std::string_view name) noexcept : ptr(&o), workflow(name) {}
  [[nodiscard]] constexpr O& get() const noexcept { return *ptr; }
};
template <class O>
struct observer_ref<O, false> {
  constexpr observer_ref(O& /*o*/, std::string_view /*name*/) noexcept {}
};
}  // namespace detail

/// Several observers as one: each event goes to each of them, in order. Holds references.
template <class... O>
class observer_set {
 public:
  static constexpr bool enabled = (detail::observer_enabled<O>() || ...);
  static constexpr bool wants_time = (detail::observer_wants_time<O>() || ...);

  constexpr explicit observer_set(O&... observers) noexcept : observers_(observers...) {}
  void on_event(const event& e) const {
    std::apply([&e](auto&... o) { (o.on_event(e), ...); }, observers_);
  }

 private:
  std::tuple<O&...> observers_;
};

/// `tutti::observe_all(logger, metrics, trace)`: one observer that feeds each of them.
template <observer... O>
[[nodiscard]] constexpr observer_set<O...> observe_all(O&... observers) noexcept {
  return observer_set<O...>(observers...);
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_EVENTS_HPP
