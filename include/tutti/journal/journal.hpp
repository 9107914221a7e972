// tutti — the journal: what a durable run writes before it moves on, and what a resume reads.
#ifndef TUTTI_JOURNAL_JOURNAL_HPP
#define TUTTI_JOURNAL_JOURNAL_HPP

#include <cstddef>       // std::byte
#include <cstdint>       // record fields
#include <optional>      // filters
#include <span>          // payload bytes
#include <string>        // owned copies
#include <string_view>   // borrowed text
#include <system_error>  // journal_errc
#include <type_traits>   // std::is_error_code_enum
#include <vector>        // loaded records

#include "../config.hpp"
#include "../context.hpp"
#include "../result.hpp"

TUTTI_BEGIN_NAMESPACE

// ---- errors ---------------------------------------------------------------------------------

/// What can go wrong with a journal. Category name "tutti.journal".
enum class journal_errc : int {
  io_error = 1,          ///< the store could not be read or written (message: the store's text)
  corrupt,               ///< the file is not a journal or is damaged (truncated, garbage)
  unknown_schema,        ///< written by a newer tutti (schema version above what this one knows)
  fingerprint_mismatch,  ///< the journal's run was written by a different workflow shape
  run_not_found,         ///< no run with that id in the journal
  run_exists,            ///< a run with that id was already started
  not_resumable,         ///< the run has ended (or is paused) and no operator asked to go on
  invalid_command,       ///< an operator command that does not apply to the run's state
  serialization,         ///< a stored value could not be read back as its type
  too_big,               ///< a value (a step's output, a message) is larger than the store takes
};

namespace detail {
class journal_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "tutti.journal"; }
  [[nodiscard]] std::string message(int code) const override {
    switch (static_cast<journal_errc>(code)) {
      case journal_errc::io_error: return "the journal could not be read or written";
      case journal_errc::corrupt: return "the journal file is damaged or is not a tutti journal";
      case journal_errc::unknown_schema: return "the journal was written by a newer tutti (unknown schema version)";
      case journal_errc::fingerprint_mismatch: return "the journal's run belongs to a different workflow shape";
      case journal_errc::run_not_found: return "no run with this id in the journal";
      case journal_errc::run_exists: return "a run with this id is already in the journal";
      case journal_errc::not_resumable: return "the run has ended or is paused: nothing to resume";
      case journal_errc::invalid_command: return "the command does not apply to the run in its current state";
      case journal_errc::serialization: return "a stored value could not be read back";
      case journal_errc::too_big: return "a value is larger than the journal can store";
    }
    return "unknown journal error";
  }
};
}  // namespace detail

/// The category of `journal_errc`.
[[nodiscard]] inline const std::error_category& journal_category() noexcept {
  static const detail::journal_category_impl category;
  return category;
}
[[nodiscard]] inline std::error_code make_error_code(journal_errc e) noexcept {
  return {static_cast<int>(e), journal_category()};
}

TUTTI_END_NAMESPACE

template <>
struct std::is_error_code_enum<tutti::journal_errc> : std::true_type {};

TUTTI_BEGIN_NAMESPACE

// ---- records ----------------------------------------------------------------------------------

/// What one journal record says. Numbers are stored: never renumber.
enum class record_kind : std::uint8_t {
  run_started = 1,            ///< payload: the run's input
  attempt_started = 2,        ///< a call of the step is about to be made (`step`, `attempt`)
  attempt_finished = 3,       ///< that call returned (`ok`, error fields)
  step_finished = 4,          ///< the step's final result; payload: its output when `ok`
  compensation_started = 5,   ///< the step's compensation is about to run
  compensation_finished = 6,  ///< it ended (`ok`, error fields)
  run_finished = 7,           ///< `outcome`: a run_outcome as a number
  paused = 8,                 ///< operator: no new step starts until `unpaused`
  unpaused = 9,               ///< operator: the run may go on
  retry_requested = 10,       ///< operator: run the failed step again on the next resume
  redrive_requested = 11,     ///< operator: run the failed compensations again on the next resume
  resolved = 12,              ///< operator: the run was settled by hand; never resumed
};

/// "run_started", "attempt_started", ... (as the CLI prints them).
[[nodiscard]] constexpr std::string_view to_string(record_kind k) noexcept {
  switch (k) {
    case record_kind::run_started: return "run_started";
    case record_kind::attempt_started: return "attempt_started";
    case record_kind::attempt_finished: return "attempt_finished";
    case record_kind::step_finished: return "step_finished";
    case record_kind::compensation_started: return "compensation_started";
    case record_kind::compensation_finished: return "compensation_finished";
    case record_kind::run_finished: return "run_finished";
    case record_kind::paused: return "paused";
    case record_kind::unpaused: return "unpaused";
    case record_kind::retry_requested: return "retry_requested";
    case record_kind::redrive_requested: return "redrive_requested";
    case record_kind::resolved: return "resolved";
  }
  return "unknown";
}

/// A record as the engine writes it: views, valid during the call to `append`.
struct record_view {
  record_kind kind = record_kind::run_started;
  std::string_view step;       ///< the step's path ("outer/inner"); empty for run records
  std::uint32_t attempt = 0;   ///< attempt_*: the attempt number (1-based)
  bool ok = false;             ///< *_finished: success
  std::uint8_t outcome = 0;    ///< run_finished: the run_outcome
  std::span<const std::byte> payload;  ///< run_started: input; step_finished ok: the output
  std::string_view error_category;     ///< failures: the error's category name
  int error_value = 0;                 ///< failures: the error's value
  std::string_view message;            ///< failures: the message (an exception's what())
  std::int64_t time_ns = 0;            ///< the run clock's reading (0 when not read)
};

/// A record as a journal returns it: owned.
struct stored_record {
  std::uint64_t seq = 0;  ///< order within the run, from 1
  record_kind kind = record_kind::run_started;
  std::string step;
  std::uint32_t attempt = 0;
  bool ok = false;
  std::uint8_t outcome = 0;
  std::vector<std::byte> payload;
  std::string error_category;
  int error_value = 0;
  std::string message;
  std::int64_t time_ns = 0;
};

/// Where a run stands, as the journal keeps it (for listing and operator commands).
enum class run_status : std::uint8_t {
  running = 1,              ///< started, not finished (or crashed: resume it)
  paused = 2,               ///< paused by an operator
  succeeded = 3,
  failed = 4,               ///< failed, nothing undone (or the pivot had committed)
  compensated = 5,          ///< failed and undone
  compensation_failed = 6,  ///< failed and a compensation failed: needs attention
  resolved = 7,             ///< settled by hand
};

[[nodiscard]] constexpr std::string_view to_string(run_status s) noexcept {
  switch (s) {
    case run_status::running: return "running";
    case run_status::paused: return "paused";
    case run_status::succeeded: return "succeeded";
    case run_status::failed: return "failed";
    case run_status::compensated: return "compensated";
    case run_status::compensation_failed: return "compensation_failed";
    case run_status::resolved: return "resolved";
  }
  return "unknown";
}

/// One run as listed: its header and where it stands.
struct run_summary {
  run_id id;
  std::string workflow;
  std::uint64_t fingerprint = 0;
  run_status status = run_status::running;
  std::int64_t started_unix_ms = 0;  ///< wall-clock time the run was started (for listing)
  std::int64_t updated_unix_ms = 0;  ///< wall-clock time of its last record
  std::uint64_t records = 0;
};

/// A run as loaded for a resume or a `show`: header, input and every record in order.
struct stored_run {
  run_summary summary;
  std::vector<std::byte> input;
  std::vector<stored_record> records;
};

/// Which runs `list` returns; empty fields match everything.
struct run_filter {
  std::optional<run_status> status;
  std::string workflow;               ///< exact name; empty: any
  std::int64_t started_after_unix_ms = 0;
  std::int64_t started_before_unix_ms = 0;  ///< 0: no upper bound
  std::size_t limit = 0;                    ///< 0: no limit
};

/**
 * A journal: where durable runs write what they do (write-ahead: `append` returns once the
 * record is as durable as the journal promises) and where resumes and operators read it.
 * Backends: `tutti::memory_journal` (`<tutti/journal/memory.hpp>`, for tests) and
 * `tutti::sqlite_journal` (`<tutti/journal/sqlite.hpp>`). All members are thread-safe; runs
 * with different ids may write concurrently.
 *
 * - `start(id, workflow, fingerprint, input)`: a new run (`run_exists` if the id is taken).
 * - `append(id, record)`: one record, after the run's earlier ones; also keeps the run's status
 *   (run_finished → its outcome; paused / unpaused / resolved / retry_requested /
 *   redrive_requested → running, paused or resolved).
 * - `load(id)`: the run's header, input and records in order (`run_not_found`).
 * - `list(filter)`: summaries, newest first.
 * - `status(id)`: where the run stands (cheap: read before each step of a journaled run, so a
 *   pause by an operator stops the run before its next step).
 */
template <class J>
concept journal = requires(J& j, const run_id& id, std::string_view text, std::uint64_t fp,
                           std::span<const std::byte> bytes, const record_view& rec,
                           const run_filter& filter) {
  { j.start(id, text, fp, bytes) } -> std::same_as<result<void>>;
  { j.append(id, rec) } -> std::same_as<result<void>>;
  { j.load(id) } -> std::same_as<result<stored_run>>;
  { j.list(filter) } -> std::same_as<result<std::vector<run_summary>>>;
  { j.status(id) } -> std::same_as<result<run_status>>;
};

/// The status a run_finished record with outcome `o` (a run_outcome number) leaves.
[[nodiscard]] constexpr run_status status_after_outcome(std::uint8_t o) noexcept {
  switch (o) {
    case 0: return run_status::succeeded;
    case 1: return run_status::failed;
    case 2: return run_status::compensated;
    case 3: return run_status::compensation_failed;
    default: return run_status::failed;
  }
}

/// The status a record leaves the run in, given the status before it.
[[nodiscard]] constexpr run_status status_after(run_status before, const record_view& r) noexcept {
  switch (r.kind) {
    case record_kind::run_finished: return status_after_outcome(r.outcome);
    case record_kind::paused: return run_status::paused;
    case record_kind::unpaused:
    case record_kind::retry_requested:
    case record_kind::redrive_requested: return run_status::running;
    case record_kind::resolved: return run_status::resolved;
    default: return before;
  }
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_JOURNAL_HPP
