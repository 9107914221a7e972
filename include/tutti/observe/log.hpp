// tutti — the logger observer: one readable line per event, to a FILE* or a callback.
#ifndef TUTTI_OBSERVE_LOG_HPP
#define TUTTI_OBSERVE_LOG_HPP

#include <fmt/format.h>  // lines are formatted into a stack buffer

#include <array>             // run id digits
#include <cstdint>           // levels, the kind mask
#include <cstdio>            // std::FILE, std::fwrite
#include <functional>        // the callback sink (called once per written line)
#include <initializer_list>  // event_kinds{...}
#include <iterator>          // std::back_inserter
#include <string>            // std::error_code::message()
#include <string_view>       // lines
#include <system_error>      // error codes in lines
#include <type_traits>       // callback shapes
#include <utility>           // std::move

#include "../clock.hpp"
#include "../config.hpp"
#include "../context.hpp"  // run ids
#include "../events.hpp"
#include "../report.hpp"   // run outcomes

TUTTI_BEGIN_NAMESPACE
namespace observe {

/// How much an event matters, for filtering (`log_options::min_level`) and for sinks that map
/// levels to their own (syslog, spdlog).
enum class log_level : std::uint8_t {
  debug,    ///< the normal course of a run: starts, attempts that succeed
  info,     ///< results: a step or a run succeeded, a compensation succeeded, a breaker closed
  warning,  ///< something went wrong and was handled: a failed attempt, a retry, a fallback,
            ///< a rejection, a timeout, a breaker that opened
  error,    ///< a failure that stands: a step or a run failed, retries exhausted, a
            ///< compensation failed
};

/// "debug", "info", "warning" or "error".
[[nodiscard]] constexpr std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "unknown";
}

/// The level of an event. Everything at `warning` or above is a failure or a degradation.
[[nodiscard]] constexpr log_level level_of(const event& e) noexcept {
  switch (e.kind) {
    case event_kind::run_started:
    case event_kind::step_started:
    case event_kind::attempt_started:
    case event_kind::attempt_succeeded:
    case event_kind::compensation_started: return log_level::debug;
    case event_kind::step_succeeded:
    case event_kind::step_skipped:
    case event_kind::compensation_succeeded: return log_level::info;
    case event_kind::run_finished:
      return e.outcome == run_outcome::succeeded ? log_level::info : log_level::error;
    case event_kind::breaker_state_changed:
      return e.to == breaker_state::open || e.to == breaker_state::isolated ? log_level::warning
                                                                              : log_level::info;
    case event_kind::attempt_failed:
    case event_kind::retry_scheduled:
    case event_kind::fallback_served:
    case event_kind::breaker_rejected:
    case event_kind::bulkhead_rejected:
    case event_kind::rate_limited:
    case event_kind::timeout: return log_level::warning;
    case event_kind::step_failed:
    case event_kind::retries_exhausted:
    case event_kind::compensation_failed: return log_level::error;
  }
  return log_level::error;
}

/// A set of event kinds: `event_kinds::all()`, `event_kinds{event_kind::step_failed, ...}`,
/// combined with `|` and `without()`.
class event_kinds {
 public:
  constexpr event_kinds() noexcept = default;
  constexpr event_kinds(std::initializer_list<event_kind> kinds) noexcept {
    for (const event_kind k : kinds) bits_ |= bit(k);
  }
  /// Every kind.
  [[nodiscard]] static constexpr event_kinds all() noexcept {
    event_kinds s;
    s.bits_ = (std::uint32_t{1} << event_kind_count) - 1;
    return s;
  }
  [[nodiscard]] constexpr bool contains(event_kind k) const noexcept { return (bits_ & bit(k)) != 0; }
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  /// This set without the kinds of `other`.
  [[nodiscard]] constexpr event_kinds without(event_kinds other) const noexcept {
    event_kinds s;
    s.bits_ = bits_ & ~other.bits_;
    return s;
  }
  friend constexpr event_kinds operator|(event_kinds a, event_kinds b) noexcept {
    event_kinds s;
    s.bits_ = a.bits_ | b.bits_;
    return s;
  }
  friend constexpr bool operator==(event_kinds, event_kinds) noexcept = default;

 private:
  static constexpr std::uint32_t bit(event_kind k) noexcept {
    return std::uint32_t{1} << static_cast<unsigned>(k);
  }
  std::uint32_t bits_ = 0;
};
static_assert(event_kind_count <= 32, "tutti: event_kinds holds at most 32 kinds in one word.");

/// What the logger writes, and how. Every field has a default: name only what you change.
struct log_options {
  log_level min_level = log_level::debug;      ///< events below this level are not written
  event_kinds kinds = event_kinds::all();      ///< and neither are events of other kinds
  bool elapsed = true;      ///< "(12.3 ms)" after end events (timed loggers only)
  bool timestamp = false;   ///< start each line with the run clock's reading, in seconds
  bool level = false;       ///< start each line with the level ("warning ")
  /// Hex digits of the run id written (1..32). Fewer than 32 write its *last* digits: the
  /// first 16 are a per-thread base shared by every run of a thread, the last 16 a per-run counter.
  std::uint8_t run_id_digits = 32;
};

/// Failures and degradations only (`log_level::warning` and above): failed attempts, retries,
/// fallbacks, rejections, timeouts, breakers opening, failed steps, runs and compensations.
inline constexpr log_options only_failures{.min_level = log_level::warning};

namespace detail {
/// Appends user text (messages, names) keeping the line one line: control characters become
/// escapes (`\n`, `\r`, `\t`, `\x01`), a backslash `\\`.
inline void append_text(fmt::memory_buffer& out, std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') out.append(std::string_view{"\\\\"});
    else if (c == '\n') out.append(std::string_view{"\\n"});
    else if (c == '\r') out.append(std::string_view{"\\r"});
    else if (c == '\t') out.append(std::string_view{"\\t"});
    else if (u < 0x20 || u == 0x7F) fmt::format_to(std::back_inserter(out), "\\x{:02x}", u);
    else out.push_back(c);
  }
}
inline void append_error(fmt::memory_buffer& out, const std::error_code& ec) {
  const std::string text = ec.message();  // the one allocation of a failure line (beyond SSO)
  out.append(std::string_view{text});
  fmt::format_to(std::back_inserter(out), " [{}:{}]", ec.category().name(), ec.value());
}
/// ": <error>[; <message>]" when there is an error or a message.
inline void append_failure(fmt::memory_buffer& out, const event& e) {
  if (e.error) {
    out.append(std::string_view{": "});
    append_error(out, e.error);
    if (!e.message.empty()) {
      out.append(std::string_view{"; "});
      append_text(out, e.message);
    }
  } else if (!e.message.empty()) {
    out.append(std::string_view{": "});
    append_text(out, e.message);
  }
}
/// "850 ns", "12.3 us", "4.0 ms", "2.50 s": the unit changes at each factor of 1000.
inline void append_duration(fmt::memory_buffer& out, duration d) {
  const auto ns = d.count();
  const auto it = std::back_inserter(out);
  if (ns < 1'000) fmt::format_to(it, "{} ns", ns);
  else if (ns < 1'000'000) fmt::format_to(it, "{:.1f} us", static_cast<double>(ns) / 1e3);
  else if (ns < 1'000'000'000) fmt::format_to(it, "{:.1f} ms", static_cast<double>(ns) / 1e6);
  else fmt::format_to(it, "{:.2f} s", static_cast<double>(ns) / 1e9);
}
[[nodiscard]] constexpr bool end_event(event_kind k) noexcept {
  switch (k) {
    case event_kind::run_finished:
    case event_kind::step_succeeded:
    case event_kind::step_skipped:
    case event_kind::step_failed:
    case event_kind::attempt_succeeded:
    case event_kind::attempt_failed:
    case event_kind::compensation_succeeded:
    case event_kind::compensation_failed: return true;
    default: return false;
  }
}
}  // namespace detail

/**
 * Appends the line of `e` (without a newline) to `out`, as the logger writes it:
 *
 *     payment 3f2a…  transfer  attempt 2 failed: the bank rejected the transfer [payment:6] (12.3 ms)
 *
 * workflow, run id, step path (for step events), then what happened; a failed run names its
 * failed step: `payment 3f2a…  run failed, compensated at transfer: … (48.1 ms)`. For your own sinks
 * (spdlog, a ring buffer): `fmt::memory_buffer b; tutti::observe::format_event(b, e);`.
 */
inline void format_event(fmt::memory_buffer& out, const event& e, const log_options& opts = {}) {
  const auto it = std::back_inserter(out);
  if (opts.level) {
    out.append(to_string(level_of(e)));
    out.push_back(' ');
  }
  if (opts.timestamp) fmt::format_to(it, "{:.6f} ", static_cast<double>(e.time.count()) / 1e9);
  out.append(e.workflow.empty() ? std::string_view{"-"} : e.workflow);
  out.push_back(' ');
  const auto hex = e.run.hex();
  const std::size_t digits = opts.run_id_digits > 32 ? 32 : opts.run_id_digits;
  out.append(std::string_view{hex.data() + (32 - digits), digits});
  out.append(std::string_view{"  "});
  // run_finished names the failed step in its text, not in the step column
  if (!e.step.empty() && e.kind != event_kind::run_finished) {
    out.append(e.step);
    out.append(std::string_view{"  "});
  }
  const std::string_view who = e.compensation ? std::string_view{"compensation attempt "}
                                              : std::string_view{"attempt "};
  switch (e.kind) {
    case event_kind::run_started: out.append(std::string_view{"run started"}); break;
    case event_kind::run_finished:
      out.append(std::string_view{"run "});
      out.append(to_string(e.outcome));
      if (e.outcome != run_outcome::succeeded) {
        if (!e.step.empty()) {
          out.append(std::string_view{" at "});
          out.append(e.step);
        }
        detail::append_failure(out, e);
      }
      break;
    case event_kind::step_started: out.append(std::string_view{"started"}); break;
    case event_kind::step_skipped: out.append(std::string_view{"skipped (condition false)"}); break;
    case event_kind::step_succeeded:
      out.append(std::string_view{"succeeded"});
      if (e.attempt > 1) fmt::format_to(it, " after {} attempts", e.attempt);
      break;
    case event_kind::step_failed:
      out.append(std::string_view{"FAILED"});
      if (e.attempt > 1) fmt::format_to(it, " after {} attempts", e.attempt);
      detail::append_failure(out, e);
      break;
    case event_kind::attempt_started:
      out.append(who);
      fmt::format_to(it, "{} started", e.attempt);
      break;
    case event_kind::attempt_succeeded:
      out.append(who);
      fmt::format_to(it, "{} succeeded", e.attempt);
      break;
    case event_kind::attempt_failed:
      out.append(who);
      fmt::format_to(it, "{} failed", e.attempt);
      detail::append_failure(out, e);
      break;
    case event_kind::retry_scheduled:
      out.append(e.compensation ? std::string_view{"compensation retry in "}
                                : std::string_view{"retry in "});
      detail::append_duration(out, e.delay);
      fmt::format_to(it, " after attempt {}", e.attempt);
      detail::append_failure(out, e);
      break;
    case event_kind::retries_exhausted:
      out.append(e.compensation ? std::string_view{"compensation retries exhausted"}
                                : std::string_view{"retries exhausted"});
      if (e.attempt > 0) fmt::format_to(it, " after {} attempts", e.attempt);
      detail::append_failure(out, e);
      break;
    case event_kind::fallback_served:
      out.append(std::string_view{"fallback served"});
      if (e.error) {
        out.append(std::string_view{", covering: "});
        detail::append_error(out, e.error);
      }
      break;
    case event_kind::breaker_state_changed:
      fmt::format_to(it, "circuit breaker {} -> {}", to_string(e.from), to_string(e.to));
      break;
    case event_kind::breaker_rejected:
      fmt::format_to(it, "rejected by the circuit breaker ({}", to_string(e.to));
      if (e.delay.count() > 0) {
        out.append(std::string_view{", retry after "});
        detail::append_duration(out, e.delay);
      }
      out.push_back(')');
      break;
    case event_kind::bulkhead_rejected: out.append(std::string_view{"rejected by the bulkhead (full)"}); break;
    case event_kind::rate_limited: out.append(std::string_view{"rejected by the rate limiter"}); break;
    case event_kind::timeout:
      out.append(std::string_view{"timed out"});
      if (e.attempt > 0) fmt::format_to(it, " (attempt {})", e.attempt);
      if (!e.message.empty()) {
        out.append(std::string_view{": "});
        detail::append_text(out, e.message);
      }
      break;
    case event_kind::compensation_started: out.append(std::string_view{"compensation started"}); break;
    case event_kind::compensation_succeeded: out.append(std::string_view{"compensated"}); break;
    case event_kind::compensation_failed:
      out.append(std::string_view{"compensation FAILED"});
      detail::append_failure(out, e);
      break;
  }
  if (opts.elapsed && detail::end_event(e.kind)) {
    out.append(std::string_view{" ("});
    detail::append_duration(out, e.elapsed);
    out.push_back(')');
  }
}

/**
 * An observer that writes one readable line per event (see `format_event`) to a `FILE*`
 * (default: stderr) or hands it to a callback `void(std::string_view line)` or
 * `void(log_level, std::string_view line)`:
 *
 *     tutti::observe::logger log;                                   // everything, to stderr
 *     tutti::observe::logger errors{stdout, tutti::observe::only_failures};
 *     tutti::observe::logger mine{[](std::string_view line) { my_log(line); }};
 *     wf.run(input, {}, clock, log);
 *
 * Filtered events (level, kinds) cost a table look-up and a compare; a written line is
 * formatted into a stack buffer (`fmt::memory_buffer`, 500 bytes inline: no allocation unless
 * the line is longer; the text of an error code, `std::error_code::message()`, allocates when it
 * is long) and written with one `fwrite` — stdio locks the stream per call, so lines of
 * concurrent runs never interleave — or one call of the callback, which must then be
 * thread-safe. The FILE* is not flushed (stderr is unbuffered). A line whose formatting or
 * callback throws is dropped: logging never breaks a run.
 *
 * `basic_logger<true>` (`logger`) asks for time (`wants_time`): one clock read per event of the
 * run, and the elapsed time of end events in the line; `untimed_logger` does not.
 */
template <bool WantsTime>
class basic_logger {
 public:
  static constexpr bool wants_time = WantsTime;
  /// A callback sink: the level of the line and the line, without a newline.
  using sink = std::function<void(log_level, std::string_view)>;

  /// Every event, to stderr.
  basic_logger() noexcept : basic_logger(stderr) {}
  /// To `out`, which must stay open while the logger is used.
  explicit basic_logger(std::FILE* out, const log_options& opts = {}) noexcept
      : file_(out), opts_(adjust(opts)) {}
  /// To stderr, filtered.
  explicit basic_logger(const log_options& opts) noexcept : basic_logger(stderr, opts) {}
  /// To a callback taking `(std::string_view line)` or `(log_level, std::string_view line)`.
  template <class F>
    requires(!std::is_convertible_v<F, std::FILE*> &&
             (std::is_invocable_v<F&, std::string_view> ||
              std::is_invocable_v<F&, log_level, std::string_view>))
  explicit basic_logger(F callback, const log_options& opts = {})
      : sink_(wrap(std::move(callback))), opts_(adjust(opts)) {}

  /// Whether `e` passes the filters (level and kinds).
  [[nodiscard]] bool writes(const event& e) const noexcept {
    return opts_.kinds.contains(e.kind) && level_of(e) >= opts_.min_level;
  }

  void on_event(const event& e) const noexcept {
    if (!writes(e)) return;
    try {
      fmt::memory_buffer line;
      format_event(line, e, opts_);
      if (sink_) {
        sink_(level_of(e), std::string_view{line.data(), line.size()});
      } else if (file_ != nullptr) {
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), file_);
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): a log line is never worth a failed run
    }
  }

  [[nodiscard]] const log_options& options() const noexcept { return opts_; }

 private:
  static log_options adjust(log_options o) noexcept {
    if constexpr (!WantsTime) o.elapsed = false;  // never timed: "(0 ns)" would mislead
    return o;
  }
  template <class F>
  static sink wrap(F f) {
    if constexpr (std::is_invocable_v<F&, log_level, std::string_view>) {
      return sink{std::move(f)};
    } else {
      return sink{[g = std::move(f)](log_level, std::string_view line) mutable { g(line); }};
    }
  }

  std::FILE* file_ = nullptr;
  sink sink_;
  log_options opts_;
};

/// The logger: timed (elapsed times in the lines, one clock read per event).
using logger = basic_logger<true>;
/// A logger that asks for no time: no clock reads, no elapsed times in the lines.
using untimed_logger = basic_logger<false>;

}  // namespace observe
TUTTI_END_NAMESPACE

#endif  // TUTTI_OBSERVE_LOG_HPP
