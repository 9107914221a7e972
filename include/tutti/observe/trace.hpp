// tutti — the trace recorder: runs as Chrome trace-event JSON, for Perfetto and chrome://tracing.
#ifndef TUTTI_OBSERVE_TRACE_HPP
#define TUTTI_OBSERVE_TRACE_HPP

#include <algorithm>     // std::min: where a backoff ends
#include <cerrno>        // why save() could not open or write the file
#include <charconv>      // std::to_chars for numbers in the JSON
#include <cstddef>       // std::size_t
#include <cstdint>       // pids, tids, attempt numbers
#include <cstdio>        // std::FILE, write() and save()
#include <limits>        // no cap by default
#include <map>           // active runs, lanes by thread
#include <mutex>         // one recorder shared by concurrent runs
#include <set>           // interned workflow names and step paths
#include <string>        // copies of names and messages, the JSON text
#include <string_view>   // event fields
#include <system_error>  // std::error_code in events and save()
#include <thread>        // std::thread::id for per-thread lanes
#include <utility>       // std::pair keys
#include <vector>        // the records

#include "../config.hpp"
#include "../events.hpp"
#include "../result.hpp"   // save() and write(FILE*) report I/O errors as result<void>
#include "../version.hpp"  // the producer in the trace's metadata

TUTTI_BEGIN_NAMESPACE
namespace observe {

/// Which timeline row (a "thread" of the trace format) the events of a run go on.
enum class trace_lanes : std::uint8_t {
  per_run,     ///< default: each run on its own row, named "run <run id>" (and one more row,
               ///< "run <run id> thread <n>", per pool thread that ran branches of the run)
  per_thread,  ///< one row per OS thread that sent events, named "thread <n>" (compact for pools)
};

/// Settings of a `trace_recorder`; all optional: `trace_recorder rec{{.max_events = 100'000}}`.
struct trace_options {
  /// At most this many trace events are kept; later ones are dropped and counted (`dropped()`,
  /// and "dropped_events" in the trace's metadata). The end events of spans already open when
  /// the cap is reached are still kept, so that every recorded span is closed.
  std::size_t max_events = std::numeric_limits<std::size_t>::max();
  trace_lanes lanes = trace_lanes::per_run;
};

namespace detail {

/// Appends `s` as a JSON string literal (RFC 8259): quotes; `"` and `\` escaped; control
/// characters as \b \f \n \r \t or \u00XX. Bytes that are not well-formed UTF-8 become
/// U+FFFD, so any what() text yields valid JSON.
inline void append_json_string(std::string& out, std::string_view s) {
  constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          if (c < 0x20) {
            out.append("\\u00");
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++p;
      continue;
    }
    // Well-formed sequences (Unicode table 3-7): no overlongs, no surrogates, at most U+10FFFF.
    const auto left = static_cast<std::size_t>(end - p);
    const auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
      return i < left && p[i] >= lo && p[i] <= hi;
    };
    std::size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF)
      n = cont(1) ? 2 : 0;
    else if (c == 0xE0)
      n = cont(1, 0xA0) && cont(2) ? 3 : 0;
    else if (c == 0xED)
      n = cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    else if (c >= 0xE1 && c <= 0xEF)
      n = cont(1) && cont(2) ? 3 : 0;
    else if (c == 0xF0)
      n = cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    else if (c >= 0xF1 && c <= 0xF3)
      n = cont(1) && cont(2) && cont(3) ? 4 : 0;
    else if (c == 0xF4)
      n = cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    if (n == 0) {
      out.append("\\ufffd");
      ++p;
    } else {
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    }
  }
  out.push_back('"');
}

template <class Int>
void append_json_number(std::string& out, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// Nanoseconds as microseconds, exactly: "1500", "1500.25", "-0.001".
inline void append_json_microseconds(std::string& out, duration d) {
  const auto ns = d.count();
  // Unsigned magnitude: well defined for the most negative value too.
  const auto mag =
      ns < 0 ? 0ULL - static_cast<unsigned long long>(ns) : static_cast<unsigned long long>(ns);
  if (ns < 0) out.push_back('-');
  append_json_number(out, mag / 1000);
  auto frac = static_cast<unsigned>(mag % 1000);
  if (frac != 0) {
    char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                      static_cast<char>('0' + frac / 10 % 10), static_cast<char>('0' + frac % 10)};
    std::size_t len = 4;
    while (digits[len - 1] == '0') --len;
    out.append(digits, len);
  }
}

/// "message [category:value]", as tutti::describe (without fmt).
inline void append_json_error(std::string& out, const std::error_code& ec) {
  std::string text = ec.message();
  text += " [";
  text += ec.category().name();
  text += ':';
  append_json_number(text, ec.value());
  text += ']';
  append_json_string(out, text);
}

enum class trace_span : std::uint8_t { run, step, attempt, compensation, backoff };

/// One trace event as recorded: the event's fields the JSON needs, its strings copied.
struct trace_record {
  duration ts{};
  duration delay{};                   // backoff: the planned wait; breaker_rejected: retry-after
  const std::string* name = nullptr;  // interned: the step path, or the workflow for run spans
  const std::string* step = nullptr;  // run_finished: the step whose failure ended the run
  std::string message;                // the failure's message, when there is one
  std::error_code error;
  run_id run;
  std::uint32_t lane = 0;
  std::uint32_t attempt = 0;
  event_kind kind = event_kind::run_started;  // the event (not meaningful for a closing end)
  trace_span span = trace_span::run;          // 'B' and 'E'
  char ph = 'i';                              // 'B', 'E' or 'i'
  bool compensation = false;
  bool closing = false;     // an end the recorder made: a backoff's, or an unfinished span's
  bool unfinished = false;  // ... because the span's own end never came
  run_outcome outcome = run_outcome::succeeded;
  breaker_state from = breaker_state::closed;
  breaker_state to = breaker_state::closed;
};

}  // namespace detail

/**
 * An observer that records runs and writes them as Chrome trace-event JSON, which Perfetto
 * (https://ui.perfetto.dev) and chrome://tracing open as a timeline:
 *
 *     tutti::observe::trace_recorder trace;
 *     auto run = wf.run(order, {}, clock, trace);
 *     if (auto saved = trace.save("checkout.trace.json"); !saved) { ... saved.error() ... }
 *
 * Layout: one process per workflow (named after it), one row ("thread") per run by default or
 * per OS thread (`trace_lanes`). The run is a span named after the workflow; inside it each step
 * is a span named by its path ("outer/inner" inside nested workflows, nested in "outer"), each
 * call of the step an "attempt <n>" span, each retry wait a "backoff" span from the retry's
 * decision for its delay (cut short if the run's next event comes sooner); compensations are
 * "compensate <path>" spans with their attempts (category "compensation"). Fallbacks, breaker
 * state changes and rejections, bulkhead and rate limiter rejections, timeouts and exhausted
 * retries are instant events named after their `event_kind`; a skipped conditional step is a
 * step span with `"result": "skipped"`. Only "B"/"E" pairs and instants are written (no "X"
 * events, which viewers nest less reliably among "B"/"E" pairs). Time stamps are the run clock's
 * readings in microseconds, exact to the nanosecond.
 *
 * Parallel groups: the branches of a group that run on other threads (a `thread_pool`) send
 * their events from those threads, interleaved. The recorder keeps the open spans of a run per
 * thread, so each thread's spans nest on a row of their own: per run, the run's row holds what
 * ran on the run's own thread (the group's span, branches the waiting thread ran itself,
 * compensations) and each other thread that ran branches of the run gets a row named
 * "run <id> thread <n>"; per thread, branch spans go on the row of the thread that ran them.
 * The run's end closes whatever is still open on all of its rows.
 *
 * Every span the output begins, it ends, properly nested per row: a span still open when the
 * trace is written (a run in progress) or whose end event never came is closed by an end event
 * with `"unfinished": true` at the last time seen for its run.
 *
 * Thread safety: `on_event`, `write`, `save` and the other members may be called from any
 * threads; a mutex serialises them (a `write` in progress delays the events of running runs).
 * Strings are copied during `on_event`; nothing refers to the workflow or the run afterwards.
 */
class trace_recorder {
 public:
  /// Ask the engine for the run clock's reading in every event.
  static constexpr bool wants_time = true;

  trace_recorder() = default;
  explicit trace_recorder(const trace_options& options) : options_(options) {}
  trace_recorder(const trace_recorder&) = delete;
  trace_recorder& operator=(const trace_recorder&) = delete;

  /// Records one event (the observer entry point). Never throws: an event that cannot be
  /// recorded (the cap, out of memory) is counted in `dropped()`.
  void on_event(const event& e) noexcept {
    std::unique_lock lock(mutex_, std::defer_lock);
    try {
      lock.lock();
      record(e);
    } catch (...) {
      if (lock.owns_lock()) ++dropped_;
    }
  }

  /// Trace events recorded so far (begin, end and instant events; no metadata).
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return records_.size();
  }
  /// Events not recorded because of `max_events` (or memory).
  [[nodiscard]] std::size_t dropped() const {
    const std::lock_guard lock(mutex_);
    return dropped_;
  }
  [[nodiscard]] const trace_options& options() const noexcept { return options_; }

  /// Forgets what was recorded (and the dropped count). Runs in progress keep recording; the
  /// ends of their spans that began before `clear()` are then not written.
  void clear() {
    const std::lock_guard lock(mutex_);
    records_.clear();
    dropped_ = 0;
    lanes_.clear();
    lane_by_thread_.clear();
    processes_.clear();
    for (auto& [id, run] : runs_)
      for (strand& st : run.strands) {
        st.lane = no_lane;
        for (auto& s : st.stack) s.recorded = false;
      }
  }

  /// Appends the trace's JSON to `out`.
  void write(std::string& out) const {
    const std::lock_guard lock(mutex_);
    write_json(out, [](std::string&) { return true; });
  }
  /// The trace as JSON text.
  [[nodiscard]] std::string to_json() const {
    std::string out;
    write(out);
    return out;
  }
  /// Writes the trace's JSON to `file` (in pieces of about 64 KiB). Never throws on I/O errors:
  /// they are returned.
  result<void> write(std::FILE* file) const {
    if (file == nullptr) return std::make_error_code(std::errc::invalid_argument);
    std::string buf;
    bool failed = false;
    errno = 0;
    {
      const std::lock_guard lock(mutex_);
      write_json(buf, [&](std::string& b) {
        if (!failed && !b.empty() && std::fwrite(b.data(), 1, b.size(), file) != b.size())
          failed = true;
        b.clear();
        return !failed;
      });
    }
    if (failed || std::fflush(file) != 0 || std::ferror(file) != 0) return last_io_error();
    return outcome::success();
  }
  /// Writes the trace to the file at `path` (created or truncated). Never throws on I/O errors:
  /// a file that cannot be opened or written is returned as the error (errno's code).
  result<void> save(const std::string& path) const {
    errno = 0;
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return last_io_error();
    auto written = write(file);
    const bool closed = std::fclose(file) == 0;
    if (!written) return written;
    if (!closed) return last_io_error();
    return outcome::success();
  }

 private:
  static constexpr std::uint32_t no_lane = std::numeric_limits<std::uint32_t>::max();

  struct open_span {
    detail::trace_span span;
    const std::string* name;  // interned
    std::uint32_t attempt;
    bool compensation;
    bool recorded;   // false: its begin was dropped, so its end is dropped too
    duration until;  // backoff: when the planned wait ends
  };
  // The open spans of one run on one thread, and the row they go on. Events of one thread are
  // properly nested (a thread runs a branch to its end before it takes the next), so each strand
  // has its own stack; strands of one run on several threads interleave freely.
  struct strand {
    std::thread::id thread;
    std::uint32_t lane = no_lane;  // assigned when its first event is recorded
    std::vector<open_span> stack;
  };
  struct run_state {
    const std::string* workflow = nullptr;
    // The first: the thread of the run's first event (the run's own thread, which started it);
    // then one per other thread that sent events of the run (branches of parallel groups on a
    // pool), in the order they came. Kept until the run finishes: a thread that runs several
    // branches of the run puts them all on its one row.
    std::vector<strand> strands;
    duration last{};  // the latest time seen in its events, on any thread
  };
  struct lane {
    std::uint32_t pid;
    std::uint32_t tid;
    std::string label;
  };

  static std::error_code last_io_error() {
    const int err = errno;
    return err != 0 ? std::error_code(err, std::generic_category())
                    : std::make_error_code(std::errc::io_error);
  }

  const std::string* intern(std::string_view s) {
    auto it = names_.find(s);
    if (it == names_.end()) it = names_.emplace(s).first;
    return &*it;
  }

  [[nodiscard]] bool room() const noexcept { return records_.size() < options_.max_events; }

  std::uint32_t thread_number(std::thread::id thread) {
    return thread_numbers_
        .try_emplace(thread, static_cast<std::uint32_t>(thread_numbers_.size() + 1))
        .first->second;
  }

  // The row of a strand: per run, the run's row for its own thread and a row of its own for each
  // other thread ("run <id> thread <n>"); per thread, the row of the strand's thread.
  std::uint32_t lane_of(run_state& rs, strand& st, const run_id& id) {
    if (st.lane != no_lane) return st.lane;
    std::uint32_t pid = 0;
    while (pid < processes_.size() && processes_[pid] != rs.workflow) ++pid;
    if (pid == processes_.size()) processes_.push_back(rs.workflow);
    ++pid;  // pids count from 1
    if (options_.lanes == trace_lanes::per_run) {
      const auto hex = id.hex();
      std::string label = "run " + std::string(hex.data(), hex.size());
      if (&st != &rs.strands.front()) {
        label += " thread ";
        detail::append_json_number(label, thread_number(st.thread));
      }
      lanes_.push_back({pid, static_cast<std::uint32_t>(lanes_.size() + 1), std::move(label)});
      st.lane = static_cast<std::uint32_t>(lanes_.size() - 1);
      return st.lane;
    }
    const std::uint32_t tid = thread_number(st.thread);
    const auto found = lane_by_thread_.find({pid, tid});
    if (found != lane_by_thread_.end()) return st.lane = found->second;
    std::string label = "thread ";
    detail::append_json_number(label, tid);
    lanes_.push_back({pid, tid, std::move(label)});
    try {
      lane_by_thread_.emplace(std::pair{pid, tid}, static_cast<std::uint32_t>(lanes_.size() - 1));
    } catch (...) {
      lanes_.pop_back();
      throw;
    }
    return st.lane = static_cast<std::uint32_t>(lanes_.size() - 1);
  }

  // Appends a record for `e` (its strings copied); the caller fills in the span and the name.
  detail::trace_record& push(run_state& rs, strand& st, const event& e, char ph) {
    const std::uint32_t lane = lane_of(rs, st, e.run);
    detail::trace_record& r = records_.emplace_back();
    r.ts = e.time;
    r.lane = lane;
    r.run = e.run;
    r.kind = e.kind;
    r.ph = ph;
    r.compensation = e.compensation;
    r.attempt = e.attempt;
    r.error = e.error;
    r.outcome = e.outcome;
    r.from = e.from;
    r.to = e.to;
    r.delay = e.delay;
    try {
      if (!e.message.empty()) r.message.assign(e.message);
    } catch (...) {
      records_.pop_back();
      throw;
    }
    return r;
  }

  void begin(run_state& rs, strand& st, const event& e, detail::trace_span span,
             const std::string* name, duration until = {}) {
    // Grow first, so that the push_back below cannot throw once the record exists.
    if (st.stack.size() == st.stack.capacity())
      st.stack.reserve(st.stack.empty() ? 8 : 2 * st.stack.size());
    open_span s{span, name, e.attempt, e.compensation, false, until};
    if (room()) {
      detail::trace_record& r = push(rs, st, e, 'B');
      r.span = span;
      r.name = name;
      s.recorded = true;
    } else {
      ++dropped_;
    }
    st.stack.push_back(s);
  }

  // Ends the innermost open span with an end the recorder makes (not from an event of its own):
  // kept over the cap too, since its begin is in the trace.
  void close_top(run_state& rs, strand& st, duration at, const run_id& id, bool unfinished) {
    const open_span s = st.stack.back();
    if (s.recorded) {
      event closing;
      closing.time = at;
      closing.run = id;
      closing.attempt = s.attempt;
      closing.compensation = s.compensation;
      detail::trace_record& r = push(rs, st, closing, 'E');
      r.span = s.span;
      r.name = s.name;
      r.closing = true;
      r.unfinished = unfinished;
    }
    st.stack.pop_back();
  }

  // Ends the innermost open span that matches; spans opened inside it and never ended are
  // closed first. An end with no matching begin is kept as an instant event.
  void end(run_state& rs, strand& st, const event& e, detail::trace_span span,
           const std::string* name, const std::string* step) {
    std::size_t i = st.stack.size();
    while (i > 0) {
      const open_span& s = st.stack[i - 1];
      // Attempts of a step and of its compensation share the path: the flag tells them apart.
      if (s.span == span && (span == detail::trace_span::run ||
                             (s.name == name && (span != detail::trace_span::attempt ||
                                                 s.compensation == e.compensation))))
        break;
      --i;
    }
    if (i == 0) return instant(rs, st, e, step);
    while (st.stack.size() > i) close_top(rs, st, e.time, e.run, true);
    if (st.stack.back().recorded) {  // kept over the cap too: its begin is in the trace
      detail::trace_record& r = push(rs, st, e, 'E');
      r.span = span;
      r.name = name;
      if (span == detail::trace_span::run && !step->empty()) r.step = step;
    } else {
      ++dropped_;
    }
    st.stack.pop_back();
  }

  void instant(run_state& rs, strand& st, const event& e, const std::string* step) {
    if (!room()) {
      ++dropped_;
      return;
    }
    push(rs, st, e, 'i').name = step;
  }

  // Closes every span of a run, on each of its threads' rows (at the last time seen for the run),
  // and forgets the run.
  void finish(const run_id& id) {
    const auto it = runs_.find(id);
    if (it == runs_.end()) return;
    run_state& rs = it->second;
    for (strand& st : rs.strands)
      while (!st.stack.empty()) close_top(rs, st, rs.last, id, true);
    runs_.erase(it);
  }

  // The strand of the calling thread in a run (made on the thread's first event of the run).
  // The run's end goes to the strand that holds the run's span, whichever thread reports it.
  strand& strand_of(run_state& rs, const event& e) {
    if (e.kind == event_kind::run_finished) {
      for (strand& st : rs.strands)
        if (!st.stack.empty() && st.stack.front().span == detail::trace_span::run) return st;
    }
    const std::thread::id self = std::this_thread::get_id();
    for (strand& st : rs.strands)
      if (st.thread == self) return st;
    rs.strands.push_back(strand{self, no_lane, {}});
    return rs.strands.back();
  }

  void record(const event& e) {
    using detail::trace_span;
    if (e.kind == event_kind::run_started) finish(e.run);  // the same id again: a new run
    const auto [it, fresh] = runs_.try_emplace(e.run);
    run_state& rs = it->second;
    if (fresh) {
      try {
        rs.workflow = intern(e.workflow);
        rs.strands.reserve(1);
      } catch (...) {
        runs_.erase(it);
        throw;
      }
    }
    strand& st = strand_of(rs, e);
    if (e.time > rs.last) rs.last = e.time;
    const std::string* step = intern(e.step);
    // A backoff wait ends when its delay is over, or at the next event of its thread if that
    // comes sooner (a clock whose sleep returned early): time never goes back on a row.
    if (!st.stack.empty() && st.stack.back().span == trace_span::backoff)
      close_top(rs, st, std::min(st.stack.back().until, e.time), e.run, false);
    switch (e.kind) {
      case event_kind::run_started:
        begin(rs, st, e, trace_span::run, rs.workflow);
        break;
      case event_kind::run_finished:
        end(rs, st, e, trace_span::run, rs.workflow, step);
        finish(e.run);  // and whatever is still open on the run's other rows
        break;
      case event_kind::step_started:
        begin(rs, st, e, trace_span::step, step);
        break;
      case event_kind::step_succeeded:
      case event_kind::step_skipped:
      case event_kind::step_failed:
        end(rs, st, e, trace_span::step, step, step);
        break;
      case event_kind::attempt_started:
        begin(rs, st, e, trace_span::attempt, step);
        break;
      case event_kind::attempt_succeeded:
      case event_kind::attempt_failed:
        end(rs, st, e, trace_span::attempt, step, step);
        break;
      case event_kind::compensation_started:
        begin(rs, st, e, trace_span::compensation, step);
        break;
      case event_kind::compensation_succeeded:
      case event_kind::compensation_failed:
        end(rs, st, e, trace_span::compensation, step, step);
        break;
      case event_kind::retry_scheduled:
        begin(rs, st, e, trace_span::backoff, step,
              e.time > duration::zero() && e.delay > duration::max() - e.time ? duration::max()
                                                                              : e.time + e.delay);
        break;
      default:
        instant(rs, st, e, step);
        break;
    }
  }

  // --- writing ---------------------------------------------------------------------------------

  static void append_key(std::string& out, std::string_view key) {
    out.push_back(',');
    detail::append_json_string(out, key);
    out.push_back(':');
  }
  static void append_failure(std::string& out, const detail::trace_record& r) {
    if (r.error) {
      append_key(out, "error");
      detail::append_json_error(out, r.error);
    }
    if (!r.message.empty()) {
      append_key(out, "message");
      detail::append_json_string(out, r.message);
    }
  }
  static void append_result(std::string& out, const detail::trace_record& r) {
    const bool failed = r.kind == event_kind::step_failed || r.kind == event_kind::attempt_failed ||
                        r.kind == event_kind::compensation_failed;
    append_key(out, "result");
    detail::append_json_string(out, failed                               ? "failed"
                                    : r.kind == event_kind::step_skipped ? "skipped"
                                                                         : "succeeded");
  }

  static std::string_view category(const detail::trace_record& r) noexcept {
    using detail::trace_span;
    if (r.ph == 'i') return "policy";
    if (r.compensation) return "compensation";
    switch (r.span) {
      case trace_span::run:
        return "run";
      case trace_span::step:
        return "step";
      case trace_span::attempt:
        return "attempt";
      case trace_span::compensation:
        return "compensation";
      case trace_span::backoff:
        return "retry";
    }
    return "tutti";
  }

  static void append_name(std::string& out, const detail::trace_record& r) {
    using detail::trace_span;
    const std::string_view name =
        r.name != nullptr ? std::string_view(*r.name) : std::string_view{};
    if (r.ph == 'i') return detail::append_json_string(out, to_string(r.kind));
    switch (r.span) {
      case trace_span::run:
      case trace_span::step:
        return detail::append_json_string(out, name);
      case trace_span::attempt: {
        std::string text = "attempt ";
        detail::append_json_number(text, r.attempt);
        return detail::append_json_string(out, text);
      }
      case trace_span::compensation:
        return detail::append_json_string(out, "compensate " + std::string(name));
      case trace_span::backoff:
        return detail::append_json_string(out, "backoff");
    }
  }

  // The arguments of one event, each key preceded by a comma (the caller drops the first).
  static void append_args(std::string& out, const detail::trace_record& r) {
    using detail::trace_span;
    const std::string_view path =
        r.name != nullptr ? std::string_view(*r.name) : std::string_view{};
    if (r.unfinished) {
      append_key(out, "unfinished");
      out.append("true");
      return;
    }
    if (r.closing) return;  // a backoff's end: its begin has the arguments
    if (r.ph == 'i') {
      if (!path.empty()) {
        append_key(out, "step");
        detail::append_json_string(out, path);
      }
      if (r.attempt != 0) {
        append_key(out, "attempt");
        detail::append_json_number(out, r.attempt);
      }
      if (r.compensation) {
        append_key(out, "compensation");
        out.append("true");
      }
      if (r.kind == event_kind::breaker_state_changed) {
        append_key(out, "from");
        detail::append_json_string(out, to_string(r.from));
        append_key(out, "to");
        detail::append_json_string(out, to_string(r.to));
      }
      if (r.kind == event_kind::breaker_rejected) {
        append_key(out, "state");
        detail::append_json_string(out, to_string(r.to));
        append_key(out, "retry_after_us");
        detail::append_json_microseconds(out, r.delay);
      }
      append_failure(out, r);
      return;
    }
    switch (r.span) {
      case trace_span::run:
        if (r.ph == 'B') {
          const auto hex = r.run.hex();
          append_key(out, "run");
          detail::append_json_string(out, std::string_view(hex.data(), hex.size()));
        } else {
          append_key(out, "outcome");
          detail::append_json_string(out, to_string(r.outcome));
          if (r.step != nullptr) {
            append_key(out, "failed_step");
            detail::append_json_string(out, *r.step);
          }
          append_failure(out, r);
        }
        return;
      case trace_span::step:
        if (r.ph == 'E') {
          append_result(out, r);
          append_key(out, "attempts");
          detail::append_json_number(out, r.attempt);
          append_failure(out, r);
        }
        return;
      case trace_span::attempt:
        append_key(out, "attempt");
        detail::append_json_number(out, r.attempt);
        if (r.ph == 'E') {
          append_result(out, r);
          append_failure(out, r);
        }
        return;
      case trace_span::compensation:
        append_key(out, "step");
        detail::append_json_string(out, path);
        if (r.ph == 'E') {
          append_result(out, r);
          append_failure(out, r);
        }
        return;
      case trace_span::backoff:
        append_key(out, "step");
        detail::append_json_string(out, path);
        append_key(out, "after_attempt");
        detail::append_json_number(out, r.attempt);
        append_key(out, "delay_us");
        detail::append_json_microseconds(out, r.delay);
        append_failure(out, r);
        return;
    }
  }

  void append_event(std::string& out, const detail::trace_record& r) const {
    const lane& l = lanes_[r.lane];
    out.append("{\"name\":");
    append_name(out, r);
    out.append(",\"cat\":");
    detail::append_json_string(out, category(r));
    out.append(",\"ph\":\"");
    out.push_back(r.ph);
    out.append("\",\"ts\":");
    detail::append_json_microseconds(out, r.ts);
    if (r.ph == 'i') out.append(",\"s\":\"t\"");
    out.append(",\"pid\":");
    detail::append_json_number(out, l.pid);
    out.append(",\"tid\":");
    detail::append_json_number(out, l.tid);
    out.append(",\"args\":{");
    const std::size_t args_at = out.size();
    append_args(out, r);
    if (out.size() > args_at) out.erase(args_at, 1);  // the first key's comma
    out.append("}}");
  }

  // Writes the whole trace into `out`, calling `flush(out)` now and then (it may empty `out`;
  // it returns false to stop).
  template <class Flush>
  void write_json(std::string& out, Flush flush) const {
    constexpr std::size_t chunk = 64 * 1024;
    bool first = true;
    const auto next = [&] {
      out.append(first ? "\n" : ",\n");
      first = false;
    };
    out.append("{\"traceEvents\":[");
    for (std::size_t p = 0; p < processes_.size(); ++p) {
      next();
      out.append("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":");
      detail::append_json_number(out, p + 1);
      out.append(",\"args\":{\"name\":");
      detail::append_json_string(out,
                                 processes_[p] != nullptr ? std::string_view(*processes_[p]) : "");
      out.append("}}");
    }
    for (const lane& l : lanes_) {
      next();
      out.append("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":");
      detail::append_json_number(out, l.pid);
      out.append(",\"tid\":");
      detail::append_json_number(out, l.tid);
      out.append(",\"args\":{\"name\":");
      detail::append_json_string(out, l.label);
      out.append("}}");
    }
    for (const detail::trace_record& r : records_) {
      next();
      append_event(out, r);
      if (out.size() >= chunk && !flush(out)) return;
    }
    // Spans still open (runs in progress): closed at the last time seen for their run.
    for (const auto& [id, rs] : runs_) {
      for (const strand& st : rs.strands) {
        for (std::size_t i = st.stack.size(); i-- > 0;) {
          const open_span& s = st.stack[i];
          if (!s.recorded || st.lane == no_lane) continue;
          detail::trace_record r;
          r.ts = rs.last;
          r.lane = st.lane;
          r.run = id;
          r.ph = 'E';
          r.span = s.span;
          r.name = s.name;
          r.attempt = s.attempt;
          r.compensation = s.compensation;
          r.closing = r.unfinished = true;
          next();
          append_event(out, r);
        }
      }
    }
    out.append("\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"tutti ");
    detail::append_json_number(out, TUTTI_VERSION_MAJOR);
    out.push_back('.');
    detail::append_json_number(out, TUTTI_VERSION_MINOR);
    out.push_back('.');
    detail::append_json_number(out, TUTTI_VERSION_PATCH);
    out.append("\",\"recorded_events\":");
    detail::append_json_number(out, records_.size());
    out.append(",\"dropped_events\":");
    detail::append_json_number(out, dropped_);
    out.append("}}\n");
    flush(out);
  }

  trace_options options_{};
  mutable std::mutex mutex_;
  std::vector<detail::trace_record> records_;
  std::size_t dropped_ = 0;
  std::set<std::string, std::less<>> names_;   // stable addresses: records point into it
  std::vector<const std::string*> processes_;  // pid - 1 -> workflow name
  std::vector<lane> lanes_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> lane_by_thread_;  // (pid, tid)
  std::map<std::thread::id, std::uint32_t> thread_numbers_;
  std::map<run_id, run_state> runs_;  // runs in progress
};

static_assert(observer<trace_recorder>);

}  // namespace observe
TUTTI_END_NAMESPACE

#endif  // TUTTI_OBSERVE_TRACE_HPP
