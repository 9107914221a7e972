// tutti — the journal: what a durable run writes before it moves on, and what a resume reads.
#ifndef TUTTI_JOURNAL_JOURNAL_HPP
#define TUTTI_JOURNAL_JOURNAL_HPP

#include <array>         // run_census
#include <cstddef>       // std::byte
#include <cstdint>       // record fields
#include <optional>      // filters
#include <span>          // payload bytes
#include <string>        // owned copies
#include <string_view>   // borrowed text
#include <chrono>        // lease durations
#include <system_error>  // journal_errc
#include <type_traits>   // std::is_error_code_enum
#include <vector>        // loaded records

#include "../config.hpp"
#include "../context.hpp"
#include "../result.hpp"
#include "serialize.hpp"  // payload_encoding

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
  fenced,                ///< the write carried an epoch that is no longer the run's: another
                         ///< engine (or an operator) took the run over; this engine must stop it
  owned,                 ///< the run is owned by another engine whose lease has not expired
  queue_full,            ///< the queue holds its configured maximum of queued runs
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
      case journal_errc::fenced: return "the run was taken over (its epoch moved on): this engine stopped it";
      case journal_errc::owned: return "the run is owned by another engine whose lease has not expired";
      case journal_errc::queue_full: return "the queue is full: the request was not recorded";
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
  run_started = 1,            ///< payload: the run's input (`outcome`: its payload_encoding)
  attempt_started = 2,        ///< a call of the step is about to be made (`step`, `attempt`)
  attempt_finished = 3,       ///< that call returned (`ok`, error fields)
  step_finished = 4,          ///< the step's final result; payload: its output when `ok`
                              ///< (`outcome`: its payload_encoding)
  compensation_started = 5,   ///< the step's compensation is about to run
  compensation_finished = 6,  ///< it ended (`ok`, error fields)
  run_finished = 7,           ///< `outcome`: a run_outcome as a number; a failed run's also
                              ///< names the step whose failure ended it (`step`: the workflow's
                              ///< own step, a group or nested workflow by its name) and the
                              ///< run's error
  paused = 8,                 ///< operator: no new step starts until `unpaused` (`ok` set: the
                              ///< run began paused, `workflow_version::paused`: a rerun being
                              ///< prepared, run only after that rerun's own `unpaused`)
  unpaused = 9,               ///< operator: the run may go on (`step` set: a rerun's own, see
                              ///< `rerun_run`: its copies are complete)
  retry_requested = 10,       ///< operator: run the failed step again on the next resume
  redrive_requested = 11,     ///< operator: run the failed compensations again on the next resume
  resolved = 12,              ///< operator: the run was settled by hand; never resumed
  claimed = 13,               ///< an engine claimed the run (`attempt`: 0; `message`: the owner;
                              ///< the record's epoch is the new one); `ok`: a takeover of an
                              ///< expired lease
  released = 14,              ///< the owner handed the run back (drain, pause) before its end
  dead_lettered = 15,         ///< parked after too many failed recoveries (`message`: why)
  revived = 16,               ///< operator: a dead-lettered run goes on where it stopped
  moved = 17,                 ///< operator: the run goes on as another version of its workflow
                              ///< (`attempt`: the new version; a dead-lettered run is revived)
  rerun_of = 18,              ///< operator: this run reruns another from a step (`message`: the
                              ///< other run's id in hex, `step`: the step; see `rerun_run`)
  rerun_as = 19,              ///< operator: this ended run was rerun as another (`message`: its
                              ///< id in hex, `step`: the step it reran from); a failed,
                              ///< compensation_failed or dead_lettered run becomes resolved (its
                              ///< rerun carries the work on: it is never continued)
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
    case record_kind::claimed: return "claimed";
    case record_kind::released: return "released";
    case record_kind::dead_lettered: return "dead_lettered";
    case record_kind::revived: return "revived";
    case record_kind::moved: return "moved";
    case record_kind::rerun_of: return "rerun_of";
    case record_kind::rerun_as: return "rerun_as";
  }
  return "unknown";
}

/// A record as the engine writes it: views, valid during the call to `append`.
struct record_view {
  record_kind kind = record_kind::run_started;
  std::string_view step;       ///< the step's path ("outer/inner"); empty for run records
  std::uint32_t attempt = 0;   ///< attempt_*: the attempt number (1-based)
  bool ok = false;             ///< *_finished: success
  std::uint8_t outcome = 0;    ///< run_finished: the run_outcome; run_started, step_finished:
                               ///< the payload's encoding (`payload_encoding`)
  std::span<const std::byte> payload;  ///< run_started: input; step_finished ok: the output
  std::string_view error_category;     ///< failures: the error's category name
  int error_value = 0;                 ///< failures: the error's value
  std::string_view message;            ///< failures: the message (an exception's what())
  std::int64_t time_ns = 0;            ///< the run clock's reading (0 when not read)
  /// The writer's epoch: the store refuses the record (`journal_errc::fenced`) unless it is the
  /// run's current epoch (0 for a run no engine ever claimed).
  std::uint64_t epoch = 0;
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
  std::uint64_t epoch = 0;  ///< the epoch of the engine (or command) that wrote it
};

/// A stored record as a view (its epoch left 0): for writing a record read from one journal
/// into another. Valid while `r` lives.
[[nodiscard]] inline record_view view_of(const stored_record& r) noexcept {
  record_view v;
  v.kind = r.kind;
  v.step = r.step;
  v.attempt = r.attempt;
  v.ok = r.ok;
  v.outcome = r.outcome;
  v.payload = r.payload;
  v.error_category = r.error_category;
  v.error_value = r.error_value;
  v.message = r.message;
  v.time_ns = r.time_ns;
  return v;
}

/// Where a run stands, as the journal keeps it (for listing and operator commands).
enum class run_status : std::uint8_t {
  running = 1,              ///< started, not finished (or crashed: resume it)
  paused = 2,               ///< paused by an operator
  succeeded = 3,
  failed = 4,               ///< failed, nothing undone (or the pivot had committed)
  compensated = 5,          ///< failed and undone
  compensation_failed = 6,  ///< failed and a compensation failed: needs attention
  resolved = 7,             ///< settled by hand
  queued = 8,               ///< submitted, waiting for a runner to claim it
  dead_lettered = 9,        ///< parked after too many failed recoveries: needs an operator
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
    case run_status::queued: return "queued";
    case run_status::dead_lettered: return "dead_lettered";
  }
  return "unknown";
}

/// One run as listed: its header and where it stands.
struct run_summary {
  run_id id;
  std::string workflow;
  std::uint32_t version = 1;  ///< the version of the workflow it runs on (`tutti::versioned`)
  std::uint64_t fingerprint = 0;
  run_status status = run_status::running;
  std::int64_t started_unix_ms = 0;  ///< wall-clock time the run was started (for listing)
  std::int64_t updated_unix_ms = 0;  ///< wall-clock time of its last record
  std::uint64_t records = 0;
  // Ownership: who holds the run, its epoch (fencing token) and until when (the store's clock,
  // Unix milliseconds for SQLite and PostgreSQL). `owner` is empty for a run nobody holds.
  std::string owner;
  std::uint64_t epoch = 0;
  std::int64_t lease_until_ms = 0;
  std::uint32_t recoveries = 0;  ///< takeovers since a step (or compensation) last finished
  // The queue: what `submit` was given.
  std::string partition;
  bool exclusive = false;
  std::int32_t priority = 0;
  std::string dedup_key;
  // Search: the run's business key (`tutti::keyed`; empty: none) and the failure it ended on —
  // the workflow's step whose failure ended the run (a group or a nested workflow by its own
  // name), with the run's error, as its `run_finished` record says. Empty for a run that has
  // not ended failed (running, queued, paused, succeeded, resolved before it ended, dead-
  // lettered), and again once an operator retries it.
  std::string key;
  std::string failed_step;
  std::string error_category;  ///< the failure's error category name ("tutti", "generic", ...)
  int error_value = 0;
};

/// Who holds a run, at the store's time `now_ms`: nobody (`none`), an engine whose lease runs
/// (`live`), or an engine whose lease ran out (`expired`: it died or stalled).
enum class lease_state : std::uint8_t { none, live, expired };
[[nodiscard]] constexpr lease_state lease_state_of(const run_summary& s, std::int64_t now_ms) noexcept {
  if (s.owner.empty()) return lease_state::none;
  return s.lease_until_ms > now_ms ? lease_state::live : lease_state::expired;
}
/// Whether a run is stranded at `now_ms`: running, and held by nobody or by an expired lease —
/// no engine is running it; any engine (a runner, a resume) may claim it.
[[nodiscard]] constexpr bool stranded(const run_summary& s, std::int64_t now_ms) noexcept {
  return s.status == run_status::running && lease_state_of(s, now_ms) != lease_state::live;
}

/**
 * What a journal holds, counted by the journal itself (`journal.census()`): runs by status and
 * the oldest runs that wait — the same numbers for every replica that reads the journal, where
 * a runner's counters tell what one process did. Times are the journal's wall clock (Unix
 * milliseconds; the database's clock for PostgreSQL); a run's start is when it was started or
 * submitted.
 */
struct run_census {
  /// Runs per status, indexed by the status's value (`count(s)`); index 0 is unused.
  std::array<std::uint64_t, 10> runs{};
  std::int64_t now_unix_ms = 0;              ///< the journal's clock when it counted
  std::int64_t oldest_running_unix_ms = 0;   ///< the start of the oldest running run; 0: none
  std::int64_t oldest_queued_unix_ms = 0;    ///< the oldest queued run's submission; 0: none
  std::int64_t oldest_paused_unix_ms = 0;    ///< the start of the oldest paused run; 0: none

  [[nodiscard]] constexpr std::uint64_t count(run_status s) const noexcept {
    const auto i = static_cast<std::size_t>(s);
    return i < runs.size() ? runs[i] : 0;
  }
  [[nodiscard]] constexpr std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for (const std::uint64_t r : runs) n += r;
    return n;
  }
  /// How long the oldest running run has been going (0 when none runs).
  [[nodiscard]] constexpr std::chrono::milliseconds oldest_running_age() const noexcept {
    return age(oldest_running_unix_ms);
  }
  /// How long the oldest queued run has waited (0 when none is queued).
  [[nodiscard]] constexpr std::chrono::milliseconds oldest_queued_age() const noexcept {
    return age(oldest_queued_unix_ms);
  }
  /// How long ago the oldest paused run started (0 when none is paused).
  [[nodiscard]] constexpr std::chrono::milliseconds oldest_paused_age() const noexcept {
    return age(oldest_paused_unix_ms);
  }
  /// Counts `n` runs of status `s`, the oldest of them started at `started_unix_ms`.
  constexpr void add(run_status s, std::int64_t started_unix_ms, std::uint64_t n = 1) noexcept {
    const auto i = static_cast<std::size_t>(s);
    if (i >= runs.size() || n == 0) return;
    runs[i] += n;
    const auto older = [started_unix_ms](std::int64_t& oldest) {
      if (oldest == 0 || started_unix_ms < oldest) oldest = started_unix_ms;
    };
    if (s == run_status::running) older(oldest_running_unix_ms);
    else if (s == run_status::queued) older(oldest_queued_unix_ms);
    else if (s == run_status::paused) older(oldest_paused_unix_ms);
  }

 private:
  [[nodiscard]] constexpr std::chrono::milliseconds age(std::int64_t since) const noexcept {
    if (since == 0 || now_unix_ms <= since) return std::chrono::milliseconds{0};
    return std::chrono::milliseconds{now_unix_ms - since};
  }
};

/// A run as loaded for a resume or a `show`: header, input and every record in order.
struct stored_run {
  run_summary summary;
  std::vector<std::byte> input;
  payload_encoding input_encoding = payload_encoding::binary;  ///< how `input` is written
  std::vector<stored_record> records;
};

/// Which runs `list` returns; empty fields match everything.
struct run_filter {
  std::optional<run_status> status;
  std::string workflow;               ///< exact name; empty: any
  std::uint32_t version = 0;          ///< with a workflow: that version only; 0: any
  std::int64_t started_after_unix_ms = 0;
  std::int64_t started_before_unix_ms = 0;  ///< 0: no upper bound
  std::size_t limit = 0;                    ///< 0: no limit
  std::string key;                          ///< exact business key; empty: any
  std::string failed_step;                  ///< the step a failed run ended at, exactly; empty: any
  std::string error_category;               ///< the failure's error category; empty: any
  std::optional<int> error_value;           ///< with `error_category`: that value only

  /// Whether the filter lets every run through (no condition, no limit).
  [[nodiscard]] bool unfiltered() const noexcept {
    return !status && workflow.empty() && started_after_unix_ms == 0 &&
           started_before_unix_ms == 0 && limit == 0 && key.empty() && failed_step.empty() &&
           error_category.empty();
  }
  /// Whether run `s` meets every condition (the limit aside).
  [[nodiscard]] bool matches(const run_summary& s) const noexcept {
    if (status && s.status != *status) return false;
    if (!workflow.empty() && s.workflow != workflow) return false;
    if (!workflow.empty() && version != 0 && s.version != version) return false;
    if (s.started_unix_ms < started_after_unix_ms) return false;
    if (started_before_unix_ms != 0 && s.started_unix_ms >= started_before_unix_ms) return false;
    if (!key.empty() && s.key != key) return false;
    if (!failed_step.empty() && s.failed_step != failed_step) return false;
    if (!error_category.empty() &&
        (s.error_category != error_category || (error_value && s.error_value != *error_value)))
      return false;
    return true;
  }
};

// ---- ownership and the queue ------------------------------------------------------------

/// Who claims a run, and for how long the claim holds without a write or a heartbeat.
struct lease_request {
  std::string_view owner{};  ///< who claims ("name#incarnation"): shown by list and show
  std::chrono::milliseconds lease{30'000};
  /// Non-empty: a run held by an owner whose name starts with this, other than `owner` — an
  /// earlier incarnation of this engine, which died — may be claimed before its lease expires.
  /// Sound only if no two live engines share the name (`durable_options::name`).
  std::string_view reclaim{};
  /// `claim_next` only: runs of a version up to this one (0: any). A runner claims no run of a
  /// newer version than it hosts: it leaves them to the replicas that run them.
  std::uint32_t max_version = 0;
};

/// Whether `lease` may claim a run that `owner` holds until `lease_until_ms` (store clock `now`).
[[nodiscard]] constexpr bool claimable(std::string_view owner, std::int64_t lease_until_ms,
                                       std::int64_t now, const lease_request& lease) noexcept {
  if (owner.empty() || lease_until_ms <= now) return true;
  return !lease.reclaim.empty() && owner != lease.owner &&
         owner.substr(0, lease.reclaim.size()) == lease.reclaim;
}

/// A claim the store granted: the run, the claimant's epoch (its fencing token) and the end of
/// its lease on the store's clock.
struct run_claim {
  run_id id;
  std::string workflow;
  std::uint32_t version = 1;    ///< the version of the workflow the run runs on
  std::uint64_t epoch = 0;
  std::int64_t lease_until_ms = 0;
  bool takeover = false;        ///< an expired lease of another engine was taken over
  bool from_queue = false;      ///< the run was queued (it has not begun)
  std::uint32_t recoveries = 0; ///< takeovers since a step last finished (this one included)
  std::int64_t queued_ms = 0;   ///< how long it waited in the queue (from_queue), store clock
};

/// What a run records of the workflow that starts it, besides its name: its version (1 unless
/// the workflow is `tutti::versioned`), the fingerprint of its shape (`fingerprint_of`), the
/// run's business key (`tutti::keyed`: taken from its input; empty: none) and how its input is
/// written (its run_started record's `outcome`). A bare fingerprint converts: version 1, no
/// key, binary input. `paused`: for `rerun_run`, which prepares a run so — `start` with a lease
/// only (`start` without one and `submit` ignore it) begins the run paused, in the same
/// transaction (a `paused` record with `ok` set after its `claimed` one). Such a run is run
/// only after an `unpaused` record that names a step, which `rerun_run` writes once its copies
/// are complete; an operator's unpause does not make it runnable (engines park it).
struct workflow_version {
  std::uint64_t fingerprint = 0;
  std::uint32_t version = 1;
  std::string_view key{};  ///< valid during the call that is given it
  payload_encoding input_encoding = payload_encoding::binary;
  bool paused = false;
  constexpr workflow_version(std::uint64_t fp, std::uint32_t v = 1,  // NOLINT(google-explicit-constructor)
                             std::string_view k = {}) noexcept
      : fingerprint(fp), version(v), key(k) {}
};

/// How `submit` records a request.
struct submit_options {
  run_id id{};                   ///< empty: a new id
  /// Non-empty: a second submit of the same workflow with the same key returns the first run
  /// (`submitted::created` false) and records nothing.
  std::string_view dedup_key{};
  /// Runs of one partition are claimed in the order they were submitted.
  std::string_view partition{};
  /// With a partition: no run of it is claimed while another of it is running or paused.
  bool exclusive = false;
  std::int32_t priority = 0;   ///< higher first (within a partition, submission order wins)
};

/// What `submit` did: the run's id, and whether this call created it (false: deduplicated).
struct submitted {
  run_id id;
  bool created = false;
};

/**
 * A journal: where durable runs write what they do (write-ahead: `append` returns once the
 * record is as durable as the journal promises), where requests wait (`submit`), and where
 * engines claim runs, resumes read them and operators steer them.
 * Backends: `tutti::memory_journal` (`<tutti/journal/memory.hpp>`, for tests),
 * `tutti::sqlite_journal` (`<tutti/journal/sqlite.hpp>`, one machine) and
 * `tutti::postgres_journal` (`<tutti/journal/postgres.hpp>`, replicas on several machines). All members are thread-safe, each one
 * short transaction of the store.
 *
 * Ownership: a run has an owner, an epoch and a lease (on the store's clock). A claim (`start`,
 * `claim`, `claim_next`) raises the epoch by one; every `append`, `renew` and `release` carries
 * the writer's epoch and is refused with `journal_errc::fenced` unless it is the run's current
 * one and the run has not ended. A write renews the lease.
 *
 * - `start(id, workflow, version, input, lease)`: a new run, claimed (`run_exists`); `version`
 *   is a `workflow_version` (the workflow's version and fingerprint).
 * - `submit(workflow, version, input, options)`: a queued run (`queue_full`; dedup per
 *   workflow name, whatever the version).
 * - `claim(id, lease)`: one run that is queued or running and not held by a live lease
 *   (`owned` if it is; `not_resumable` if it ended or is paused).
 * - `claim_next(workflow, max, lease)`: up to `max` runs of the workflow (of a version up to
 *   `lease.max_version`): expired or unowned running ones first, then queued ones by priority,
 *   FIFO within a partition.
 * - `renew(id, epoch)`: the lease again from now (a heartbeat; `fenced` once the run was
 *   released: nobody holds it); `release(id, epoch)`: hand the run back unowned (it stays where
 *   it stands).
 * - `append(id, record)`: one record, after the run's earlier ones, fenced; also keeps the run's
 *   status (`tutti::status_after`).
 * - `command(id, record, allowed, fence)`: an operator's record, written only if the run's
 *   status is one of `allowed`, in the same transaction; `fence` also raises the epoch and
 *   clears the owner, so the engine running it is refused at its next write. A `moved` record
 *   also sets the run's version to its `attempt`.
 * - `load(id)`, `list(filter)`, `status(id)`: reads.
 */
template <class J>
concept journal = requires(J& j, const run_id& id, std::string_view text, std::uint64_t fp,
                           const workflow_version& wv,
                           std::span<const std::byte> bytes, const record_view& rec,
                           const run_filter& filter, const lease_request& lease,
                           const submit_options& sub, std::span<const run_status> allowed) {
  { j.start(id, text, wv, bytes, lease) } -> std::same_as<result<run_claim>>;
  { j.submit(text, wv, bytes, sub) } -> std::same_as<result<submitted>>;
  { j.claim(id, lease) } -> std::same_as<result<run_claim>>;
  { j.claim_next(text, std::size_t{1}, lease) } -> std::same_as<result<std::vector<run_claim>>>;
  { j.renew(id, fp) } -> std::same_as<result<std::int64_t>>;
  { j.release(id, fp) } -> std::same_as<result<void>>;
  { j.append(id, rec) } -> std::same_as<result<void>>;
  { j.command(id, rec, allowed, true) } -> std::same_as<result<run_status>>;
  { j.load(id) } -> std::same_as<result<stored_run>>;
  { j.list(filter) } -> std::same_as<result<std::vector<run_summary>>>;
  { j.status(id) } -> std::same_as<result<run_status>>;
};

namespace detail {
/// A run's ownership fields as a journal keeps them, by reference (for `take_claim`).
struct owned_fields {
  std::string& owner;
  std::uint64_t& epoch;
  std::int64_t& lease_ms;
  std::int64_t& lease_until_ms;
  std::uint32_t& recoveries;
};
/**
 * A claim of a run in status `status` (queued since `queued_at` when queued) by `lease` at
 * store time `now`, for a journal's implementation (the caller checked that it may): raises
 * the epoch, sets owner and lease, counts a takeover. Fills `c` and returns the `claimed`
 * record to append (its message views `lease.owner`).
 */
inline record_view take_claim(owned_fields f, run_status status, std::int64_t queued_at,
                              const lease_request& lease, std::int64_t now, run_claim& c) {
  c.takeover = !f.owner.empty();  // its owner did not hand it back: its lease expired
  c.from_queue = status == run_status::queued;
  if (c.takeover) ++f.recoveries;
  if (c.from_queue) c.queued_ms = now - queued_at;
  ++f.epoch;
  f.owner.assign(lease.owner);
  f.lease_ms = lease.lease.count();
  f.lease_until_ms = now + f.lease_ms;
  c.epoch = f.epoch;
  c.lease_until_ms = f.lease_until_ms;
  c.recoveries = f.recoveries;
  record_view r;
  r.kind = record_kind::claimed;
  r.ok = c.takeover;
  r.message = lease.owner;
  r.epoch = f.epoch;
  return r;
}
}  // namespace detail

/// Whether a run in status `s` has ended (nothing may be appended by an engine).
[[nodiscard]] constexpr bool ended(run_status s) noexcept {
  switch (s) {
    case run_status::running:
    case run_status::paused:
    case run_status::queued: return false;
    default: return true;
  }
}

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

/// What a record does to a run's failure (`run_summary::failed_step` and its error).
enum class failure_change : std::uint8_t {
  none,
  set,    ///< the run ended failed at a step: `r.step` and its error become the run's failure
  clear,  ///< an operator's retry, or a run's end without a failed step: no failure stands
};
[[nodiscard]] constexpr failure_change failure_change_of(const record_view& r) noexcept {
  if (r.kind == record_kind::run_finished)
    return r.outcome != 0 && !r.step.empty() ? failure_change::set : failure_change::clear;
  if (r.kind == record_kind::retry_requested) return failure_change::clear;
  return failure_change::none;
}
/// Applies record `r` to the failure fields of `s` (journals that keep them in memory).
inline void apply_failure(run_summary& s, const record_view& r) {
  switch (failure_change_of(r)) {
    case failure_change::set:
      s.failed_step.assign(r.step);
      s.error_category.assign(r.error_category);
      s.error_value = r.error_value;
      break;
    case failure_change::clear:
      s.failed_step.clear();
      s.error_category.clear();
      s.error_value = 0;
      break;
    case failure_change::none: break;
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
    case record_kind::dead_lettered: return run_status::dead_lettered;
    case record_kind::revived: return run_status::running;
    case record_kind::moved: return before == run_status::dead_lettered ? run_status::running : before;
    case record_kind::rerun_as:  // a run an operator could still continue is settled by its rerun
      return before == run_status::failed || before == run_status::compensation_failed ||
                     before == run_status::dead_lettered
                 ? run_status::resolved
                 : before;
    case record_kind::claimed: return before == run_status::queued ? run_status::running : before;
    default: return before;
  }
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_JOURNAL_HPP
