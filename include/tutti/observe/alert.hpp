// tutti — the alert hook: a callback on the events someone should hear about.
#ifndef TUTTI_OBSERVE_ALERT_HPP
#define TUTTI_OBSERVE_ALERT_HPP

#include <fmt/format.h>  // alert text

#include <algorithm>     // std::copy into fmt's output
#include <cstdint>       // alert kinds
#include <initializer_list>  // alert_kinds{...}
#include <iterator>      // std::back_inserter
#include <string>        // describe()
#include <string_view>   // names and messages
#include <system_error>  // std::error_code
#include <type_traits>   // callback shape
#include <utility>       // std::move

#include "../config.hpp"
#include "../context.hpp"
#include "../events.hpp"
#include "../policy/breaker_state.hpp"
#include "../report.hpp"

TUTTI_BEGIN_NAMESPACE
namespace observe {

/// Why an alert was raised.
enum class alert_kind : std::uint8_t {
  breaker_opened,           ///< a step's circuit breaker went to open (from closed or half-open)
  retries_exhausted,        ///< a retry gave up with a failure (a fallback may still cover it)
  compensation_failed,      ///< a step could not be undone: its effect stands, someone must look
  run_compensation_failed,  ///< a run ended `compensation_failed` (opt-in: one per run, after the
                            ///< compensation_failed alerts of its steps)
  journal_failed,   ///< a durable run stopped because its journal could not be written
                    ///< (`event::journal_failed`: not when fenced); from a runner
                    ///< (`tutti::alert_of`): a claim, a renewal, a purge or a census failed
  deadline_missed,  ///< a run ended with `errc::timeout` after its deadline
                    ///< (`run_options::deadline`) had passed (`event::deadline_missed`)
  run_paused,       ///< a runner found a paused run in the journal's census (`tutti::alert_of`)
  run_stuck,        ///< a runner found a running run nobody runs (`tutti::alert_of`)
};

/// "breaker_opened", "retries_exhausted", "compensation_failed", "run_compensation_failed",
/// "journal_failed", "deadline_missed", "run_paused" or "run_stuck".
[[nodiscard]] constexpr std::string_view to_string(alert_kind k) noexcept {
  switch (k) {
    case alert_kind::breaker_opened: return "breaker_opened";
    case alert_kind::retries_exhausted: return "retries_exhausted";
    case alert_kind::compensation_failed: return "compensation_failed";
    case alert_kind::run_compensation_failed: return "run_compensation_failed";
    case alert_kind::journal_failed: return "journal_failed";
    case alert_kind::deadline_missed: return "deadline_missed";
    case alert_kind::run_paused: return "run_paused";
    case alert_kind::run_stuck: return "run_stuck";
  }
  return "unknown";
}

/// A set of alert kinds. The default set has every kind but `run_compensation_failed`.
class alert_kinds {
 public:
  constexpr alert_kinds() noexcept = default;
  constexpr alert_kinds(std::initializer_list<alert_kind> kinds) noexcept : bits_(0) {
    for (const alert_kind k : kinds) bits_ |= bit(k);
  }
  [[nodiscard]] static constexpr alert_kinds all() noexcept {
    return {alert_kind::breaker_opened,  alert_kind::retries_exhausted,
            alert_kind::compensation_failed, alert_kind::run_compensation_failed,
            alert_kind::journal_failed,  alert_kind::deadline_missed,
            alert_kind::run_paused,      alert_kind::run_stuck};
  }
  [[nodiscard]] constexpr bool contains(alert_kind k) const noexcept { return (bits_ & bit(k)) != 0; }
  friend constexpr bool operator==(alert_kinds, alert_kinds) noexcept = default;

 private:
  static constexpr std::uint8_t bit(alert_kind k) noexcept {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
  }
  std::uint8_t bits_ = 0b1111'0111;  // all but run_compensation_failed (8 kinds: 8 bits)
};

/**
 * What the alert callback receives. The string views are valid during the call only: copy what
 * you keep (or queue). `text()` / fmt give a one-line description.
 */
struct alert {
  alert_kind kind;
  std::string_view workflow;  ///< the (outermost) workflow's name
  std::string_view step;      ///< the step's path; run_compensation_failed: the failed step
  run_id run;                 ///< the run
  std::error_code error;      ///< the failure (the last attempt's error, the compensation's error)
  std::string_view message;   ///< its message (an exception's what()), when there is one
  std::uint32_t attempt = 0;  ///< retries_exhausted: attempts made
  breaker_state from = breaker_state::closed;  ///< breaker_opened: the state it left
  bool compensation = false;  ///< retries_exhausted of a compensation's retry
};

/// Appends the one-line description of `a`, e.g.
/// "payment 3f2a…  transfer: circuit breaker opened (was closed): bank down [payment:6]".
inline void format_alert(fmt::memory_buffer& out, const alert& a) {
  const auto it = std::back_inserter(out);
  // A runner's alert about the journal itself names no workflow and no run.
  if (!a.workflow.empty()) fmt::format_to(it, "{} ", a.workflow);
  if (a.run != run_id{}) {
    const auto hex = a.run.hex();
    fmt::format_to(it, "{}  ", std::string_view{hex.data(), hex.size()});
  } else if (!a.workflow.empty()) {
    out.push_back(' ');
  }
  if (!a.step.empty()) fmt::format_to(it, "{}: ", a.step);
  switch (a.kind) {
    case alert_kind::breaker_opened:
      fmt::format_to(it, "circuit breaker opened (was {})", to_string(a.from));
      break;
    case alert_kind::retries_exhausted:
      fmt::format_to(it, "{}retries exhausted", a.compensation ? "compensation " : "");
      if (a.attempt > 0) fmt::format_to(it, " after {} attempts", a.attempt);
      break;
    case alert_kind::compensation_failed: out.append(std::string_view{"compensation FAILED"}); break;
    case alert_kind::run_compensation_failed:
      out.append(std::string_view{"run failed here and could not be fully undone"});
      break;
    case alert_kind::journal_failed: out.append(std::string_view{"journal FAILED"}); break;
    case alert_kind::deadline_missed: out.append(std::string_view{"deadline missed"}); break;
    case alert_kind::run_paused: out.append(std::string_view{"run paused"}); break;
    case alert_kind::run_stuck: out.append(std::string_view{"run stuck"}); break;
  }
  if (a.error)
    fmt::format_to(it, ": {} [{}:{}]", a.error.message(), a.error.category().name(), a.error.value());
  if (!a.message.empty()) fmt::format_to(it, "{}{}", a.error ? "; " : ": ", a.message);
}

/// The one-line description of `a` (see `format_alert`).
[[nodiscard]] inline std::string describe(const alert& a) {
  fmt::memory_buffer b;
  format_alert(b, a);
  return fmt::to_string(b);
}

/**
 * An observer that calls `callback(const tutti::observe::alert&)` when a step's circuit breaker
 * opens, a retry gives up with a failure, a compensation fails, a durable run stops because its
 * journal could not be written, or a run misses its deadline (and, when asked, when a run ends
 * `compensation_failed`). A runner's own alerts — journal failures, paused and stuck runs — come
 * from its events: `tutti::alert_of(runner_event)` (<tutti/runner.hpp>) gives the same struct,
 * for the same callback:
 *
 *     tutti::observe::alert_hook alerts{[&](const tutti::observe::alert& a) {
 *       pager.send(tutti::observe::describe(a));
 *     }};
 *     auto observers = tutti::observe_all(log, metrics, alerts);
 *     wf.run(input, {}, clock, observers);
 *
 * Every other event costs one compare and a return, inlined: no call, no clock read (it does
 * not ask for time). The callback runs on the thread of the step, inside the run: keep it short
 * (queue the alert, do not send it from there) and thread-safe when runs are concurrent. An
 * exception from it propagates out of `run()`.
 */
template <class F>
  requires std::is_invocable_v<F&, const alert&>
class alert_hook {
 public:
  static constexpr bool wants_time = false;

  constexpr explicit alert_hook(F callback, alert_kinds kinds = {}) noexcept(
      std::is_nothrow_move_constructible_v<F>)
      : callback_(std::move(callback)), kinds_(kinds) {}

  TUTTI_ALWAYS_INLINE void on_event(const event& e) {
    // The four kinds in one mask test: the common case is a single branch.
    constexpr std::uint32_t interesting =
        (1u << static_cast<unsigned>(event_kind::breaker_state_changed)) |
        (1u << static_cast<unsigned>(event_kind::retries_exhausted)) |
        (1u << static_cast<unsigned>(event_kind::compensation_failed)) |
        (1u << static_cast<unsigned>(event_kind::run_finished));
    if (TUTTI_LIKELY(((1u << static_cast<unsigned>(e.kind)) & interesting) == 0)) return;
    raise(e);
  }

  [[nodiscard]] alert_kinds kinds() const noexcept { return kinds_; }
  [[nodiscard]] F& callback() noexcept { return callback_; }

 private:
  TUTTI_NOINLINE void raise(const event& e) {
    alert a{};
    switch (e.kind) {
      case event_kind::breaker_state_changed:
        if (e.to != breaker_state::open) return;
        a.kind = alert_kind::breaker_opened;
        break;
      case event_kind::retries_exhausted: a.kind = alert_kind::retries_exhausted; break;
      case event_kind::compensation_failed: a.kind = alert_kind::compensation_failed; break;
      case event_kind::run_finished:
        if (e.journal_failed) {
          a.kind = alert_kind::journal_failed;
        } else if (e.outcome == run_outcome::compensation_failed) {
          a.kind = alert_kind::run_compensation_failed;
          // The compensations failed after a missed deadline: both are said.
          if (e.deadline_missed && kinds_.contains(alert_kind::deadline_missed)) {
            if (kinds_.contains(a.kind)) send(a, e);
            a.kind = alert_kind::deadline_missed;
          }
        } else if (e.deadline_missed) {
          a.kind = alert_kind::deadline_missed;
        } else {
          return;
        }
        break;
      default: return;
    }
    if (!kinds_.contains(a.kind)) return;
    send(a, e);
  }

  void send(alert& a, const event& e) {
    a.workflow = e.workflow;
    a.step = e.step;
    a.run = e.run;
    // A journal failure is said as such, whatever error the step it stopped before shows.
    a.error = a.kind == alert_kind::journal_failed ? make_error_code(errc::journal_failed) : e.error;
    a.message = e.message;
    a.attempt = e.attempt;
    a.from = e.from;
    a.compensation = e.compensation;
    callback_(static_cast<const alert&>(a));
  }

  [[no_unique_address]] F callback_;
  alert_kinds kinds_;
};

template <class F>
alert_hook(F) -> alert_hook<F>;
template <class F>
alert_hook(F, alert_kinds) -> alert_hook<F>;

}  // namespace observe
TUTTI_END_NAMESPACE

/// An alert as one line: `fmt::print("{}\n", a)` (see `tutti::observe::format_alert`).
template <>
struct fmt::formatter<tutti::observe::alert> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Ctx>
  auto format(const tutti::observe::alert& a, Ctx& ctx) const {
    fmt::memory_buffer buf;
    tutti::observe::format_alert(buf, a);
    return std::copy(buf.begin(), buf.end(), ctx.out());
  }
};

#endif  // TUTTI_OBSERVE_ALERT_HPP
