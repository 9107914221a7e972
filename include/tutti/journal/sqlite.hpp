// tutti — a journal in an SQLite file: WAL mode, per-record or grouped commits, a versioned
// schema, and damaged or foreign files reported as errors (never re-initialised).
//
// Needs SQLite 3.26 or newer (Debian 12: libsqlite3-dev 3.40). Link `tutti::sqlite`.
#ifndef TUTTI_JOURNAL_SQLITE_HPP
#define TUTTI_JOURNAL_SQLITE_HPP

#include <sqlite3.h>  // the store

#include <algorithm>           // std::find: allowed statuses
#include <array>               // header bytes, run ids as 16 bytes
#include <chrono>              // group interval, busy timeout, wall-clock stamps
#include <condition_variable>  // the grouped-commit timer
#include <cstddef>             // std::byte
#include <cstdint>             // stored integers
#include <cstdio>              // reading a file's header before SQLite opens it
#include <filesystem>          // existence and size checks before opening
#include <initializer_list>    // bind results checked together
#include <memory>              // the connection behind a pointer: movable, stable for the timer
#include <mutex>               // one connection, many threads
#include <span>                // payload bytes, migration tables
#include <string>              // paths and messages
#include <string_view>         // borrowed text
#include <system_error>        // error codes
#include <thread>              // the grouped-commit timer
#include <utility>             // std::move
#include <vector>              // loaded records and lists

#include "../clock.hpp"
#include "../config.hpp"
#include "journal.hpp"

#if SQLITE_VERSION_NUMBER < 3026000
#  error \
      "tutti: <tutti/journal/sqlite.hpp> needs SQLite 3.26 or newer (sqlite3_prepare_v3, SQLITE_DBCONFIG_DEFENSIVE). Install a newer libsqlite3-dev."
#endif

TUTTI_BEGIN_NAMESPACE

/// "TUTT": the SQLite `application_id` (file header offset 68) that marks a file as a tutti
/// journal. A file without it is never used, never re-initialised.
inline constexpr std::int32_t sqlite_journal_application_id = 0x54555454;

/// The schema version this tutti writes. Older journals are migrated on open; newer ones are
/// refused with `journal_errc::unknown_schema`.
inline constexpr int sqlite_journal_schema_version = 5;

/// When an SQLite journal commits what `append` and `start` write.
enum class sqlite_commit : std::uint8_t {
  /// Each `start`/`append` is its own transaction, `synchronous=FULL`: the record is on disk
  /// (the WAL is fsynced) when the call returns. Survives a process crash and a power loss.
  per_record,
  /// Writes share one open transaction, committed after `group_records` records, when it is
  /// `group_interval` old, on `flush()`, on the journal's destruction, and at once on a
  /// `run_finished` record or any record that changes a run's status; `synchronous=NORMAL`.
  /// A process crash loses the uncommitted group (at most `group_records` records or
  /// `group_interval` of writes); a power loss or OS crash may also lose groups committed since
  /// the last WAL checkpoint. What is lost is always a suffix of the journal's write order:
  /// each run keeps a prefix of its records, never a record without the ones before it.
  grouped,
};

/// How `tutti::sqlite_journal::open` opens a journal.
struct sqlite_options {
  sqlite_commit commit = sqlite_commit::per_record;
  /// grouped: commit once this many records are in the open transaction (at least 1).
  std::uint32_t group_records = 64;
  /// grouped: commit a transaction at the latest this long after its first write (a timer
  /// thread does it); zero: no timer (commit only on count, `flush()`, run ends and status
  /// changes).
  std::chrono::milliseconds group_interval{50};
  /// Create a new journal when the file does not exist (or is empty: 0 bytes). An existing
  /// file that is not a tutti journal is never touched, whatever this says.
  bool create_if_missing = true;
  /// How long a write waits for another process's lock before failing with `io_error`.
  /// In grouped mode another process waits up to `group_interval` for this one's lock.
  std::chrono::milliseconds busy_timeout{5000};
  /// Run `verify()` while opening: a full read of the file (slow for large journals).
  bool check_on_open = false;
  /// The largest value (a step's output, a run's input, a message, a whole record) the journal
  /// stores, in bytes; a larger one fails its write with `journal_errc::too_big`. 0: SQLite's
  /// own limit (`SQLITE_LIMIT_LENGTH`, 1,000,000,000 bytes unless SQLite was built otherwise).
  /// A value above SQLite's limit is lowered to it.
  std::uint32_t max_value_bytes = 0;
  /// The clock leases are judged by. Every process sharing the file must read the same one:
  /// the default, the system clock (Unix time), is what processes on one machine share. A test
  /// may pass its manual clock (`tutti::any_clock{manual}`) to expire leases at will.
  any_clock lease_clock{detail::default_wall_clock()};
  /// The most queued runs `submit` accepts (then `journal_errc::queue_full`); 0: no bound.
  std::uint64_t max_queued = 0;
  /// per_record: each commit is fsynced (`synchronous=FULL`), so a record survives a power
  /// loss. False: `synchronous=NORMAL` — a record still survives any crash of the process
  /// (SIGKILL included) when `append` returns, but the last commits before a power loss or an
  /// OS crash may be lost (always a suffix); commits cost no fsync, about ten times faster
  /// here. grouped mode always uses NORMAL.
  bool power_safe = true;
};

namespace detail {

// ---- checksums: part of the file format since schema version 1, never change them ----

/// A 64-bit checksum of a record's fields, stored with the record: SQLite checks the structure
/// of its pages but not their content, so a damaged byte in a payload would otherwise be read
/// back silently. splitmix64 over 64-bit words (little-endian, zero-padded, each byte string
/// preceded by its length).
class sqlite_checksum {
 public:
  void add(std::uint64_t v) noexcept { h_ = mix(h_ ^ v); }
  void add(std::span<const std::byte> bytes) noexcept {
    add(static_cast<std::uint64_t>(bytes.size()));
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) add(load(bytes.data() + i, 8));
    if (i < bytes.size()) add(load(bytes.data() + i, bytes.size() - i));
  }
  void add_text(std::string_view text) noexcept {
    add(std::as_bytes(std::span<const char>(text.data(), text.size())));
  }
  [[nodiscard]] std::uint64_t value() const noexcept { return h_; }

 private:
  static std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  }
  static std::uint64_t load(const std::byte* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= std::to_integer<std::uint64_t>(p[k]) << (8 * k);
    return v;
  }
  std::uint64_t h_ = 0x5455545443484B31ULL;  // "TUTTCHK1"
};

struct sqlite_record_fields {
  std::uint64_t seq;
  std::uint8_t kind;
  std::string_view step;
  std::uint32_t attempt;
  bool ok;
  std::uint8_t outcome;
  std::span<const std::byte> payload;
  std::string_view error_category;
  int error_value;
  std::string_view message;
  std::int64_t time_ns;
  std::uint64_t epoch = 0;  // schema version 3; a record of epoch 0 sums as before
};

[[nodiscard]] inline std::uint64_t sqlite_record_checksum(const run_id& id,
                                                          const sqlite_record_fields& r) noexcept {
  sqlite_checksum c;
  c.add(id.hi);
  c.add(id.lo);
  c.add(r.seq);
  c.add(r.kind);
  c.add_text(r.step);
  c.add(r.attempt);
  c.add(r.ok ? 1U : 0U);
  c.add(r.outcome);
  c.add(r.payload);
  c.add_text(r.error_category);
  c.add(static_cast<std::uint64_t>(static_cast<std::int64_t>(r.error_value)));
  c.add_text(r.message);
  c.add(static_cast<std::uint64_t>(r.time_ns));
  if (r.epoch != 0) c.add(r.epoch);  // schema 3: records of versions 1 and 2 have epoch 0
  return c.value();
}

// ---- small SQLite helpers ----

struct sqlite_stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using sqlite_stmt_ptr = std::unique_ptr<sqlite3_stmt, sqlite_stmt_finalizer>;

struct sqlite_db_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using sqlite_db_ptr = std::unique_ptr<sqlite3, sqlite_db_closer>;

/// One use of a cached statement: reset and unbound when the use ends, however it ends
/// (bindings are SQLITE_STATIC views into the caller's data). `rebound`: every use binds every
/// parameter before its step, so the stale views are never read and unbinding is skipped (the
/// record insert: one call less per append).
class sqlite_use {
 public:
  explicit sqlite_use(sqlite3_stmt* s, bool rebound = false) noexcept : s_(s), rebound_(rebound) {}
  sqlite_use(const sqlite_use&) = delete;
  sqlite_use& operator=(const sqlite_use&) = delete;
  ~sqlite_use() {
    sqlite3_reset(s_);
    if (!rebound_) sqlite3_clear_bindings(s_);
  }
  [[nodiscard]] sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_;
  bool rebound_;
};

using sqlite_id_bytes = std::array<unsigned char, 16>;

/// A run id as stored: 16 bytes, big-endian `hi` then `lo` (so byte order is id order).
[[nodiscard]] inline sqlite_id_bytes sqlite_id_to_bytes(const run_id& id) noexcept {
  sqlite_id_bytes b{};
  for (std::size_t i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(id.hi >> (56 - 8 * i));
    b[8 + i] = static_cast<unsigned char>(id.lo >> (56 - 8 * i));
  }
  return b;
}

inline int sqlite_bind_text(sqlite3_stmt* s, int i, std::string_view t) noexcept {
  return sqlite3_bind_text64(s, i, t.empty() ? "" : t.data(), t.size(), SQLITE_STATIC, SQLITE_UTF8);
}
inline int sqlite_bind_blob(sqlite3_stmt* s, int i, std::span<const std::byte> b) noexcept {
  // A null pointer would bind NULL; "" with size 0 binds an empty blob.
  return sqlite3_bind_blob64(s, i, b.empty() ? static_cast<const void*>("") : b.data(), b.size(),
                             SQLITE_STATIC);
}
inline int sqlite_bind_id(sqlite3_stmt* s, int i, const sqlite_id_bytes& b) noexcept {
  return sqlite3_bind_blob(s, i, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
}

/// The first failure among the result codes of a statement's binds (SQLITE_OK: none). A bind
/// fails when a value is over SQLITE_LIMIT_LENGTH (SQLITE_TOOBIG), or on misuse.
[[nodiscard]] inline int sqlite_first_error(std::initializer_list<int> rcs) noexcept {
  for (const int rc : rcs)
    if (rc != SQLITE_OK) return rc;
  return SQLITE_OK;
}

[[nodiscard]] inline std::string sqlite_column_string(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  const int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}
[[nodiscard]] inline std::vector<std::byte> sqlite_column_bytes(sqlite3_stmt* s, int i) {
  const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(s, i));
  const int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::vector<std::byte>() : std::vector<std::byte>(p, p + n);
}
/// Reads a stored run id; false when the column is not 16 bytes.
[[nodiscard]] inline bool sqlite_column_id(sqlite3_stmt* s, int i, run_id& out) noexcept {
  const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(s, i));
  if (p == nullptr || sqlite3_column_bytes(s, i) != 16) return false;
  out = {};
  for (int k = 0; k < 8; ++k) {
    out.hi = (out.hi << 8) | p[k];
    out.lo = (out.lo << 8) | p[8 + k];
  }
  return true;
}

/// SQLite's result code as a journal error: damage is `corrupt`, a value over the size limit
/// `too_big`, everything else `io_error`.
[[nodiscard]] inline journal_errc sqlite_errc_of(int rc) noexcept {
  switch (rc & 0xFF) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return journal_errc::corrupt;
    case SQLITE_TOOBIG:
      return journal_errc::too_big;
    default:
      return journal_errc::io_error;
  }
}

/// For a failure while reading our own tables: SQLITE_ERROR there means "no such table/column",
/// i.e. the file is damaged or was not written by tutti; busy or I/O errors stay `io_error`.
[[nodiscard]] inline journal_errc sqlite_schema_errc_of(int rc) noexcept {
  return (rc & 0xFF) == SQLITE_ERROR ? journal_errc::corrupt : sqlite_errc_of(rc);
}

/// "database disk image is malformed (SQLite error 11: ...)".
[[nodiscard]] inline std::string sqlite_describe(sqlite3* db, int rc) {
  std::string out = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  out += " (SQLite result code ";
  out += std::to_string(rc);
  out += ')';
  return out;
}

/// Runs one SQL text (no results wanted).
inline int sqlite_exec(sqlite3* db, const char* sql) noexcept {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

/// Reads the first column of the first row of `sql` as an integer; `found` false without a
/// row, `is_integer` false when the value is not an integer.
inline int sqlite_query_int(sqlite3* db, const char* sql, std::int64_t& out, bool* found = nullptr,
                            bool* is_integer = nullptr) noexcept {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  const sqlite_stmt_ptr s(raw);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(raw);
  if (found != nullptr) *found = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW) {
    if (is_integer != nullptr) *is_integer = sqlite3_column_type(raw, 0) == SQLITE_INTEGER;
    out = sqlite3_column_int64(raw, 0);
    return SQLITE_OK;
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

// ---- schema and migrations ----

/**
 * One schema migration: turns a journal at schema version `from` into version `from + 1`.
 * `apply` runs inside the runner's transaction; it returns an SQLite result code and, on
 * failure, may describe what failed in `error`.
 *
 * Adding schema version N+1: write `sqlite_migrate_N_to_N1` (ALTER TABLE / CREATE TABLE /
 * backfill, in SQL), append `{N, "...", &sqlite_migrate_N_to_N1}` to `sqlite_migrations`, set
 * `sqlite_journal_schema_version` to N+1, add the probe of version N to `sqlite_schema_probe`,
 * change the cached statements if the tables changed, and add a test that opens an older file
 * and reads it back.
 * Never edit a published step: files in the field have run it.
 */
struct sqlite_migration {
  int from;
  const char* what;
  int (*apply)(sqlite3* db, std::string& error);
};

/// Version 0 is the bootstrap every new journal gets first (application_id, the `meta` table
/// with schema_version 0); 0 → 1 creates the run and record tables.
inline int sqlite_migrate_0_to_1(sqlite3* db, std::string& error) {
  const int rc = sqlite_exec(db, R"sql(
CREATE TABLE runs(
  run_id      BLOB PRIMARY KEY NOT NULL,  -- 16 bytes, big-endian hi then lo
  workflow    TEXT NOT NULL,
  fingerprint INTEGER NOT NULL,           -- uint64 stored as its int64 bit pattern
  status      INTEGER NOT NULL,           -- tutti::run_status
  started_ms  INTEGER NOT NULL,           -- wall clock, Unix milliseconds
  updated_ms  INTEGER NOT NULL,
  records     INTEGER NOT NULL,           -- number of records; the last one's seq
  input       BLOB NOT NULL
);
CREATE TABLE records(
  run_id         BLOB NOT NULL,
  seq            INTEGER NOT NULL,        -- 1, 2, ... within the run
  kind           INTEGER NOT NULL,        -- tutti::record_kind
  step           TEXT NOT NULL,
  attempt        INTEGER NOT NULL,
  ok             INTEGER NOT NULL,
  outcome        INTEGER NOT NULL,
  payload        BLOB NOT NULL,
  error_category TEXT NOT NULL,
  error_value    INTEGER NOT NULL,
  message        TEXT NOT NULL,
  time_ns        INTEGER NOT NULL,
  checksum       INTEGER NOT NULL,        -- detail::sqlite_record_checksum, int64 bit pattern
  PRIMARY KEY(run_id, seq)
) WITHOUT ROWID;
CREATE INDEX runs_by_started  ON runs(started_ms);
CREATE INDEX runs_by_status   ON runs(status, started_ms);
CREATE INDEX runs_by_workflow ON runs(workflow, started_ms);
)sql");
  if (rc != SQLITE_OK) error = sqlite3_errmsg(db);
  return rc;
}

/**
 * 1 → 2: an append writes one row (its record) instead of reading and rewriting its run's row
 * too. Each record gets its wall-clock time (`records.unix_ms`); the run's row loses `records`
 * and `updated_ms` (a run's record count is its last record's `seq`, its update time that
 * record's `unix_ms`: one seek each) and `input` (the run_started record's payload, stored
 * twice), and becomes a WITHOUT ROWID table (one B-tree, not a table and an index on run_id).
 * Of its indexes, `runs_by_workflow` goes (a workflow filter scans `runs_by_started`, or
 * `runs_by_status` with a status) and `runs_by_status` leaves out succeeded runs (most runs; a
 * filter on succeeded scans `runs_by_started`): a run that starts and succeeds within one commit
 * writes three pages of the runs' B-trees, not five.
 * The backfill writes one or two rows per run, not every record: the run's last record gets the
 * run's `updated_ms`, its first (run_started) its `started_ms`, the others 0 (version 1 kept no
 * other times). Checksums are unchanged: they never covered times. SQL that SQLite 3.26 runs:
 * no `DROP COLUMN`, the runs table is rebuilt.
 */
inline int sqlite_migrate_1_to_2(sqlite3* db, std::string& error) {
  const int rc = sqlite_exec(db, R"sql(
ALTER TABLE records ADD COLUMN unix_ms INTEGER NOT NULL DEFAULT 0;
UPDATE records SET unix_ms = (SELECT r.started_ms FROM runs r WHERE r.run_id = records.run_id)
  WHERE (run_id, seq) IN (SELECT run_id, 1 FROM runs);
UPDATE records SET unix_ms = (SELECT r.updated_ms FROM runs r WHERE r.run_id = records.run_id)
  WHERE (run_id, seq) IN (SELECT run_id, records FROM runs);
CREATE TABLE runs_v2(
  run_id      BLOB PRIMARY KEY NOT NULL,  -- 16 bytes, big-endian hi then lo
  workflow    TEXT NOT NULL,
  fingerprint INTEGER NOT NULL,           -- uint64 stored as its int64 bit pattern
  status      INTEGER NOT NULL,           -- tutti::run_status
  started_ms  INTEGER NOT NULL            -- wall clock, Unix milliseconds
) WITHOUT ROWID;
INSERT INTO runs_v2(run_id, workflow, fingerprint, status, started_ms)
  SELECT run_id, workflow, fingerprint, status, started_ms FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_by_started  ON runs(started_ms);
CREATE INDEX runs_by_status   ON runs(status, started_ms) WHERE status <> 3;  -- not succeeded
)sql");
  if (rc != SQLITE_OK) error = sqlite3_errmsg(db);
  return rc;
}

/**
 * 2 → 3: owned runs and the queue. A run's row gets its owner, epoch (fencing token) and lease,
 * its record count (`last_seq`: a load checks it, so a missing tail is found), how often it was
 * recovered, and what `submit` recorded (dedup key, partition, priority, submission number and
 * time); each record gets the epoch of its writer (its checksum covers it when not 0, so the
 * records of older versions keep theirs). The `queue` table counts queued runs and numbers
 * submissions, and counts all runs (a listing that finds fewer is damage, not fewer runs). Runs
 * of older versions are unowned at epoch 0: any engine may claim them.
 */
inline int sqlite_migrate_2_to_3(sqlite3* db, std::string& error) {
  const int rc = sqlite_exec(db, R"sql(
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN dedup_key TEXT;
ALTER TABLE runs ADD COLUMN partition_key TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN exclusive INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN queue_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN queued_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET last_seq = coalesce((SELECT max(seq) FROM records WHERE records.run_id = runs.run_id), 0);
CREATE UNIQUE INDEX runs_by_dedup ON runs(workflow, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX runs_queued ON runs(workflow, priority DESC, queue_seq) WHERE status = 8;
CREATE INDEX runs_by_partition ON runs(partition_key, status, queue_seq) WHERE partition_key <> '';
CREATE INDEX runs_running ON runs(workflow, lease_until_ms) WHERE status = 1;
CREATE TABLE queue(id INTEGER PRIMARY KEY CHECK (id = 1), next_seq INTEGER NOT NULL,
                   depth INTEGER NOT NULL, runs INTEGER NOT NULL);
INSERT INTO queue(id, next_seq, depth, runs) VALUES (1, 0, 0, (SELECT count(*) FROM runs));
)sql");
  if (rc != SQLITE_OK) error = sqlite3_errmsg(db);
  return rc;
}
/// 3 → 4: workflow versions. A run's row gets the version of its workflow (`tutti::versioned`);
/// runs of older schemas are version 1.
inline int sqlite_migrate_3_to_4(sqlite3* db, std::string& error) {
  const int rc = sqlite_exec(db, "ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 1;");
  if (rc != SQLITE_OK) error = sqlite3_errmsg(db);
  return rc;
}

/**
 * 4 → 5: search. A run's row gets its business key (`tutti::keyed`) and the failure it ended on
 * (`tutti::failure_change_of`: the step a failed run's `run_finished` names, with the run's
 * error); each is indexed for `list`. Runs of older schemas have no key, and their `run_finished`
 * records name no step: for each run that ended failed (failed, compensated,
 * compensation_failed, resolved after such an end), the first failed `step_finished` after its
 * last `retry_requested` stands for it (the innermost step's path, where a newer run names the
 * workflow's own step).
 */
inline int sqlite_migrate_4_to_5(sqlite3* db, std::string& error) {
  const int rc = sqlite_exec(db, R"sql(
ALTER TABLE runs ADD COLUMN run_key TEXT;
ALTER TABLE runs ADD COLUMN failed_step TEXT;
ALTER TABLE runs ADD COLUMN error_category TEXT;
ALTER TABLE runs ADD COLUMN error_value INTEGER;
UPDATE runs SET (failed_step, error_category, error_value) =
  (SELECT c.step, c.error_category, c.error_value FROM records c
    WHERE c.run_id = runs.run_id AND c.kind = 4 AND c.ok = 0
      AND c.seq > coalesce((SELECT max(t.seq) FROM records t
                             WHERE t.run_id = runs.run_id AND t.kind = 10), 0)
    ORDER BY c.seq LIMIT 1)
 WHERE status IN (4, 5, 6, 7) AND EXISTS (SELECT 1 FROM records f
   WHERE f.run_id = runs.run_id AND f.kind = 7 AND f.outcome <> 0);
CREATE INDEX runs_by_key ON runs(run_key, started_ms) WHERE run_key IS NOT NULL;
CREATE INDEX runs_by_failed_step ON runs(failed_step, started_ms) WHERE failed_step IS NOT NULL;
CREATE INDEX runs_by_error ON runs(error_category, error_value, started_ms)
  WHERE error_category IS NOT NULL;
)sql");
  if (rc != SQLITE_OK) error = sqlite3_errmsg(db);
  return rc;
}

static_assert(static_cast<int>(record_kind::step_finished) == 4 &&
                  static_cast<int>(record_kind::run_finished) == 7 &&
                  static_cast<int>(record_kind::retry_requested) == 10,
              "tutti: the search migration (schema version 5) names record kinds by number");

static_assert(static_cast<int>(run_status::queued) == 8 &&
                  static_cast<int>(run_status::running) == 1 &&
                  static_cast<int>(run_status::paused) == 2,
              "tutti: the queue's SQL (schema version 3) names statuses by number");

static_assert(static_cast<int>(run_status::succeeded) == 3,
              "tutti: runs_by_status (schema version 2) leaves out status 3, succeeded");

/// Every migration, in order: `sqlite_migrations[v].from == v`.
inline constexpr sqlite_migration sqlite_migrations[] = {
    {0, "create the runs and records tables", &sqlite_migrate_0_to_1},
    {1, "records get their wall-clock time; runs lose records, updated_ms and input",
     &sqlite_migrate_1_to_2},
    {2, "owned runs (owner, epoch, lease), record counts, the queue", &sqlite_migrate_2_to_3},
    {3, "workflow versions", &sqlite_migrate_3_to_4},
    {4, "search: business keys and failures, indexed", &sqlite_migrate_4_to_5},
};

/**
 * SQL that reads nothing but fails to prepare unless the tables of schema version `v` (older
 * than the current one) are there: `open` runs it before it writes anything to an older journal
 * (switching to WAL mode, migrating), so a file whose tables do not match its version is
 * refused untouched. Null: nothing to check (version 0 is only the `meta` table, read already).
 * Adding a version: add the probe of the version it replaces.
 */
[[nodiscard]] inline const char* sqlite_schema_probe(int v) noexcept {
  switch (v) {
    case 1:
      return "SELECT run_id, workflow, fingerprint, status, started_ms, updated_ms, records, input "
             "FROM runs LIMIT 0; "
             "SELECT run_id, seq, kind, step, attempt, ok, outcome, payload, error_category, "
             "error_value, message, time_ns, checksum FROM records LIMIT 0;";
    case 2:
      return "SELECT run_id, workflow, fingerprint, status, started_ms FROM runs LIMIT 0; "
             "SELECT run_id, seq, kind, step, attempt, ok, outcome, payload, error_category, "
             "error_value, message, time_ns, checksum, unix_ms FROM records LIMIT 0;";
    case 3:
      return "SELECT run_id, workflow, fingerprint, status, started_ms, owner, epoch, lease_ms, "
             "lease_until_ms, last_seq, recoveries, dedup_key, partition_key, exclusive, priority, "
             "queue_seq, queued_ms FROM runs LIMIT 0; "
             "SELECT run_id, seq, kind, step, attempt, ok, outcome, payload, error_category, "
             "error_value, message, time_ns, checksum, unix_ms, epoch FROM records LIMIT 0; "
             "SELECT id, next_seq, depth, runs FROM queue LIMIT 0;";
    case 4:
      return "SELECT run_id, workflow, fingerprint, status, started_ms, owner, epoch, lease_ms, "
             "lease_until_ms, last_seq, recoveries, dedup_key, partition_key, exclusive, priority, "
             "queue_seq, queued_ms, version FROM runs LIMIT 0; "
             "SELECT run_id, seq, kind, step, attempt, ok, outcome, payload, error_category, "
             "error_value, message, time_ns, checksum, unix_ms, epoch FROM records LIMIT 0; "
             "SELECT id, next_seq, depth, runs FROM queue LIMIT 0;";
    default:
      return nullptr;
  }
}
static_assert(std::size(sqlite_migrations) == sqlite_journal_schema_version,
              "tutti: one migration per schema version");

/// The step that migrates from version `v`, or null.
[[nodiscard]] inline const sqlite_migration* sqlite_migrate_from(
    int v, std::span<const sqlite_migration> steps = sqlite_migrations) noexcept {
  for (const auto& s : steps)
    if (s.from == v) return &s;
  return nullptr;
}

/// Reads meta.schema_version; SQLite's result code, `found`/`is_integer` as sqlite_query_int.
inline int sqlite_read_schema_version(sqlite3* db, std::int64_t& version, bool& found,
                                      bool& is_integer) noexcept {
  return sqlite_query_int(db, "SELECT value FROM meta WHERE key = 'schema_version'", version,
                          &found, &is_integer);
}

/**
 * Brings a journal from its schema version up to `target`, one transaction per step (so a
 * crash leaves a whole version, and the next open goes on from there). Re-reads the version
 * inside each transaction: another process may have migrated meanwhile. Returns the version
 * reached; on failure the error and a message in `why`.
 */
inline result<int> sqlite_run_migrations(sqlite3* db, int target,
                                         std::span<const sqlite_migration> steps,
                                         std::string& why) {
  for (;;) {
    if (const int rc = sqlite_exec(db, "BEGIN IMMEDIATE"); rc != SQLITE_OK) {
      why = "cannot start a migration: " + sqlite_describe(db, rc);
      return make_error_code(sqlite_errc_of(rc));
    }
    std::int64_t v = 0;
    bool found = false;
    bool is_integer = false;
    const int rc = sqlite_read_schema_version(db, v, found, is_integer);
    const auto abandon = [&](journal_errc e, std::string text) -> result<int> {
      sqlite_exec(db, "ROLLBACK");
      why = std::move(text);
      return make_error_code(e);
    };
    if (rc != SQLITE_OK)
      return abandon(sqlite_errc_of(rc),
                     "cannot read the schema version: " + sqlite_describe(db, rc));
    if (!found || !is_integer || v < 0)
      return abandon(journal_errc::corrupt, "meta.schema_version is missing or not a number");
    if (v >= target) {
      sqlite_exec(db, "COMMIT");
      return static_cast<int>(v);
    }
    const sqlite_migration* step = sqlite_migrate_from(static_cast<int>(v), steps);
    if (step == nullptr)
      return abandon(journal_errc::unknown_schema,
                     "no migration from schema version " + std::to_string(v));
    std::string error;
    if (const int arc = step->apply(db, error); arc != SQLITE_OK)
      return abandon(sqlite_errc_of(arc), "migration " + std::to_string(v) + " -> " +
                                              std::to_string(v + 1) + " (" + step->what +
                                              ") failed: " + error);
    const std::string bump =
        "UPDATE meta SET value = " + std::to_string(v + 1) + " WHERE key = 'schema_version'";
    if (const int brc = sqlite_exec(db, bump.c_str()); brc != SQLITE_OK)
      return abandon(sqlite_errc_of(brc),
                     "cannot record the schema version: " + sqlite_describe(db, brc));
    if (const int crc = sqlite_exec(db, "COMMIT"); crc != SQLITE_OK)
      return abandon(sqlite_errc_of(crc), "cannot commit a migration: " + sqlite_describe(db, crc));
  }
}

/// Every run_status this tutti knows (those `to_string` names), found at compile time.
struct sqlite_known_statuses {
  std::array<run_status, 32> all{};
  std::size_t count = 0;
};
inline constexpr sqlite_known_statuses sqlite_statuses = [] {
  sqlite_known_statuses out;
  for (int s = 1; s < 32; ++s)
    if (to_string(static_cast<run_status>(s)) != "unknown")
      out.all[out.count++] = static_cast<run_status>(s);
  return out;
}();

/// Whether a record can change its run's status, from some status (probes `status_after` with
/// every status, so it follows journal.hpp if that changes).
[[nodiscard]] inline bool sqlite_may_change_status(const record_view& r) noexcept {
  for (std::size_t i = 0; i < sqlite_statuses.count; ++i)
    if (status_after(sqlite_statuses.all[i], r) != sqlite_statuses.all[i]) return true;
  return false;
}

/// Whether a stored number is a run_status this tutti knows.
[[nodiscard]] inline bool sqlite_valid_status(std::int64_t v) noexcept {
  return v >= 1 && v <= 255 && to_string(static_cast<run_status>(v)) != "unknown";
}

[[nodiscard]] inline std::string sqlite_run_name(const run_id& id) {
  const auto hex = id.hex();
  return {hex.data(), hex.size()};
}

/// "record 4 of run 0123… (step_finished of step 'charge')", for messages.
[[nodiscard]] inline std::string sqlite_record_name(const run_id& id, const sqlite_record_fields& r) {
  std::string out = "record " + std::to_string(r.seq) + " of run " + sqlite_run_name(id) + " (";
  out += to_string(static_cast<record_kind>(r.kind));
  if (!r.step.empty()) {
    out += " of step '";
    out += r.step;
    out += '\'';
  }
  out += ')';
  return out;
}

/// "its payload is 2000 bytes, its message 12 bytes, its step name 6 bytes", for messages.
[[nodiscard]] inline std::string sqlite_record_sizes(const sqlite_record_fields& r) {
  return "its payload is " + std::to_string(r.payload.size()) + " bytes, its message " +
         std::to_string(r.message.size()) + " bytes, its step name " +
         std::to_string(r.step.size()) + " bytes";
}

[[nodiscard]] inline std::string sqlite_tutti_version() {
  return std::to_string(TUTTI_VERSION_MAJOR) + '.' + std::to_string(TUTTI_VERSION_MINOR) + '.' +
         std::to_string(TUTTI_VERSION_PATCH);
}

[[nodiscard]] inline std::int64_t sqlite_now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- checks on the raw file, before SQLite reads (or recovers into) it ----

/// The first 100 bytes of an SQLite file, as far as tutti checks them.
struct sqlite_file_header {
  std::uint32_t page_size = 0;  // 512 .. 65536
  std::uint32_t change_counter = 0;
  std::uint32_t page_count = 0;  // valid when version_valid_for == change_counter
  std::uint32_t version_valid_for = 0;
  std::uint32_t application_id = 0;
};

/// Checks a file that exists and is not empty. `has_wal`/`has_hot_journal`: a non-empty -wal or
/// -journal file is next to it (its size may then legitimately lag; a hot journal means the
/// header itself may be mid-write, so nothing is checked). Empty: fine, else what is wrong.
[[nodiscard]] inline std::string sqlite_check_file(const std::string& path, std::uintmax_t size,
                                                   bool has_wal, bool has_hot_journal) {
  if (has_hot_journal) return {};  // SQLite rolls it back first; the SQL checks follow
  std::array<unsigned char, 100> h{};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "cannot be read";
  const std::size_t n = std::fread(h.data(), 1, h.size(), f);
  std::fclose(f);
  if (n < h.size())
    return "truncated: " + std::to_string(size) +
           " bytes, shorter than an SQLite header (100 bytes)";
  static constexpr char magic[] = "SQLite format 3";  // and its terminating zero: 16 bytes
  for (std::size_t i = 0; i < sizeof magic; ++i)
    if (h[i] != static_cast<unsigned char>(magic[i]))
      return "not an SQLite database (the first 16 bytes are not \"SQLite format 3\")";
  const auto be32 = [&](std::size_t at) {
    return (std::uint32_t{h[at]} << 24) | (std::uint32_t{h[at + 1]} << 16) |
           (std::uint32_t{h[at + 2]} << 8) | std::uint32_t{h[at + 3]};
  };
  sqlite_file_header hd;
  hd.page_size = (std::uint32_t{h[16]} << 8) | h[17];
  if (hd.page_size == 1) hd.page_size = 65536;
  hd.change_counter = be32(24);
  hd.page_count = be32(28);
  hd.version_valid_for = be32(92);
  hd.application_id = be32(68);
  if (hd.page_size < 512 || (hd.page_size & (hd.page_size - 1)) != 0)
    return "damaged SQLite header (page size " + std::to_string(hd.page_size) + ")";
  if (hd.application_id != static_cast<std::uint32_t>(sqlite_journal_application_id)) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08X", static_cast<unsigned>(hd.application_id));
    return std::string("an SQLite database but not a tutti journal (application_id ") + hex +
           ", a tutti journal has 0x54555454 \"TUTT\")";
  }
  if (has_wal) return {};
  if (size % hd.page_size != 0)
    return "truncated or damaged: " + std::to_string(size) + " bytes is not a whole number of " +
           std::to_string(hd.page_size) + "-byte pages";
  if (hd.version_valid_for == hd.change_counter && hd.page_count != 0 &&
      size < std::uintmax_t{hd.page_count} * hd.page_size)
    return "truncated: the header says " + std::to_string(hd.page_count) + " pages of " +
           std::to_string(hd.page_size) + " bytes but the file has " + std::to_string(size) +
           " bytes";
  return {};
}

[[nodiscard]] inline std::uintmax_t sqlite_size_or_zero(const std::string& path) noexcept {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

// ---- the connection and its state ----

/// Everything behind one `sqlite_journal`: at a stable address, so the timer thread can use it
/// while the journal object moves.
struct sqlite_journal_state {
  std::string path;
  sqlite_options options;
  sqlite_db_ptr db;  // first: destroyed last
  std::mutex mutex;  // guards everything below and the connection

  std::string last_error;

  // Cached statements (SQLITE_PREPARE_PERSISTENT), each reset after use.
  sqlite_stmt_ptr begin, begin_read, commit, rollback, insert_run, insert_record, select_head, update_run,
      update_progress,
      select_status, select_run, select_records, select_stranded, select_reclaimable,
      select_queued, select_dedup, count_run, select_run_count, select_has_records,
      select_queue, update_queue, select_purgeable, delete_records, delete_run, uncount_runs,
      select_census, set_failure, clear_failure;

  /// A run as this connection last read or wrote it: its last record's seq and its status.
  struct run_head {
    run_id id;
    std::int64_t seq = 0;  // the last record's seq (runs.last_seq)
    run_status status = run_status::running;
    std::uint64_t epoch = 0;
    std::string owner;
    std::int64_t lease_ms = 0;
    std::int64_t lease_until_ms = 0;
    std::uint32_t recoveries = 0;
    std::int64_t queued_ms = 0;  // when it was submitted (store clock); 0 if never queued
    std::uint32_t version = 1;   // the workflow's version
    bool failed = false;         // a failure stands (runs.failed_step is set)
    /// Grouped mode: the row's record count and lease are behind this head. An append inside
    /// an open group keeps them here only; the row is written once, before the group commits
    /// or before any other statement of this connection reads or writes runs' rows.
    bool dirty = false;
  };
  /// The heads of runs this connection has read or written, used only inside its own write
  /// transactions (which hold SQLite's write lock: nobody else writes meanwhile). Between two of
  /// its transactions another connection (another process, another journal object) may have
  /// appended, say an operator's `paused`: each write transaction therefore starts by comparing
  /// the pager's data version (`SQLITE_FCNTL_DATA_VERSION`: it changes whenever SQLite finds the
  /// file changed by someone else at the start of a transaction, and at each own commit) with
  /// the one this connection saw after its last commit, and forgets every head if they differ.
  /// A rollback forgets them too. So a head is always what the file says, read under the lock
  /// or written by this connection. At most `max_heads` runs (older ones are replaced).
  std::vector<run_head> heads;
  static constexpr std::size_t max_heads = 64;
  std::size_t next_replaced = 0;  // heads is full: the entry replaced next
  std::size_t last_head = 0;      // the entry found or added last (looked at first)
  bool in_write = false;          // a write transaction of this connection is open
  bool heads_known = false;       // heads_version is the data version heads hold for
  std::uint32_t heads_version = 0;

  // Grouped mode.
  bool in_group = false;
  std::uint32_t group_size = 0;
  std::chrono::steady_clock::time_point group_began{};
  std::error_code broken;  // a group was lost: writes fail until the journal is reopened
  bool stopping = false;
  bool timer_idle = false;  // the timer waits for the next group without a deadline
  std::condition_variable timer_cv;
  std::thread timer;

  sqlite_journal_state() = default;
  sqlite_journal_state(const sqlite_journal_state&) = delete;
  sqlite_journal_state& operator=(const sqlite_journal_state&) = delete;

  ~sqlite_journal_state() {
    if (timer.joinable()) {
      {
        const std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
      }
      timer_cv.notify_all();
      timer.join();
    }
    if (db == nullptr) return;
    if (in_group && (flush_progress().error || step_done(commit.get()) != SQLITE_OK) &&
        !sqlite3_get_autocommit(db.get()))
      step_done(rollback.get());
    for (auto* s : {&begin, &begin_read, &commit, &rollback, &insert_run, &insert_record, &select_head,
                    &update_run, &update_progress, &select_status, &select_run, &select_records, &select_stranded,
                    &select_reclaimable, &count_run, &select_run_count, &select_has_records,
                    &select_queued, &select_dedup, &select_queue, &update_queue})
      s->reset();
  }

  // -- errors: an error code for the caller, the whole story in last_error --

  std::error_code fail(journal_errc e, std::string_view what) {
    last_error = "tutti sqlite journal '";
    last_error += path;
    last_error += "': ";
    last_error += what;
    return make_error_code(e);
  }
  std::error_code fail_sqlite(int rc, std::string_view doing) {
    std::string what(doing);
    what += ": ";
    what += sqlite_describe(db.get(), rc);
    return fail(sqlite_errc_of(rc), what);
  }
  /// The largest value SQLite takes on this connection (SQLITE_LIMIT_LENGTH), in bytes.
  [[nodiscard]] std::int64_t value_limit() const noexcept {
    return sqlite3_limit(db.get(), SQLITE_LIMIT_LENGTH, -1);
  }
  /// `rc` from binding the values of `what` (a run, a record): a value over the size limit is
  /// `too_big`, with `detail` (which value, how large) and the limit; anything else `io_error`.
  std::error_code fail_bind(int rc, std::string_view what, std::string_view detail) {
    if ((rc & 0xFF) == SQLITE_TOOBIG)
      return fail(journal_errc::too_big,
                  std::string(what) + " is too big to store: " + std::string(detail) +
                      ", over the journal's limit of " + std::to_string(value_limit()) +
                      " bytes per value (SQLITE_LIMIT_LENGTH); nothing was written");
    return fail_sqlite(rc, "cannot bind the values of " + std::string(what));
  }

  // -- statements --

  int prepare(sqlite_stmt_ptr& out, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    out.reset(raw);
    return rc;
  }
  int prepare_all() {
    const std::pair<sqlite_stmt_ptr*, const char*> all[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&begin_read, "BEGIN DEFERRED"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&insert_run,
         "INSERT INTO runs(run_id, workflow, fingerprint, status, started_ms, last_seq, "
         "dedup_key, partition_key, exclusive, priority, queue_seq, queued_ms, version, run_key) "
         "VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"},
        {&insert_record,
         "INSERT INTO records(run_id, seq, kind, step, attempt, ok, outcome, payload, "
         "error_category, error_value, message, time_ns, checksum, unix_ms, epoch) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
        // The run's row as a write needs it: one seek.
        {&select_head,
         "SELECT status, last_seq, epoch, owner, lease_ms, lease_until_ms, recoveries, "
         "queued_ms, version, failed_step IS NOT NULL FROM runs WHERE run_id = ?1"},
        {&update_run,
         "UPDATE runs SET status = ?2, last_seq = ?3, epoch = ?4, owner = ?5, lease_ms = ?6, "
         "lease_until_ms = ?7, recoveries = ?8, version = ?9 WHERE run_id = ?1"},
        // An append that changes no status: no indexed column is set, so only the run's row is
        // written (SQLite rewrites the index entries of every column an UPDATE sets).
        {&update_progress, "UPDATE runs SET last_seq = ?2, lease_until_ms = ?3 WHERE run_id = ?1"},
        {&select_status, "SELECT status FROM runs WHERE run_id = ?1"},
        {&select_run,
         "SELECT workflow, fingerprint, status, started_ms, last_seq, owner, epoch, "
         "lease_until_ms, recoveries, partition_key, exclusive, priority, "
         "coalesce(dedup_key, ''), version, coalesce(run_key, ''), coalesce(failed_step, ''), "
         "coalesce(error_category, ''), coalesce(error_value, 0) FROM runs WHERE run_id = ?1"},
        {&select_records,
         "SELECT seq, kind, step, attempt, ok, outcome, payload, error_category, error_value, "
         "message, time_ns, checksum, unix_ms, epoch FROM records WHERE run_id = ?1 ORDER BY seq"},
        // Running runs of a workflow nobody holds: unowned ones have lease_until_ms 0, so one
        // range of the index runs_running, oldest expiry first (its cost does not grow with the
        // journal's history, nor with the runs other engines hold).
        {&select_stranded,
         "SELECT run_id FROM runs WHERE status = 1 AND workflow = ?1 AND lease_until_ms <= ?2 "
         "AND (?6 = 0 OR version <= ?6) ORDER BY lease_until_ms LIMIT ?3"},
        // Running runs held by a dead incarnation of the claimant's name (`reclaim`).
        {&select_reclaimable,
         "SELECT run_id FROM runs WHERE status = 1 AND workflow = ?1 AND lease_until_ms > ?2 "
         "AND substr(owner, 1, length(?4)) = ?4 AND owner <> ?5 "
         "AND (?6 = 0 OR version <= ?6) LIMIT ?3"},
        // The next queued run of a workflow (index runs_queued): by priority, then submission
        // order; a partition's oldest only, and an exclusive partition's only while none of it
        // is running or paused (index runs_by_partition).
        {&select_queued,
         "SELECT c.run_id FROM runs c WHERE c.status = 8 AND c.workflow = ?1 AND "
         "(?6 = 0 OR c.version <= ?6) AND "
         "(c.partition_key = '' OR (NOT EXISTS (SELECT 1 FROM runs p WHERE p.partition_key <> '' "
         "AND p.partition_key = c.partition_key AND p.status = 8 AND p.queue_seq < c.queue_seq "
         "AND p.workflow = c.workflow) "
         "AND (c.exclusive = 0 OR NOT EXISTS (SELECT 1 FROM runs p WHERE p.partition_key <> '' "
         "AND p.partition_key = c.partition_key AND p.status IN (1, 2) "
         "AND p.workflow = c.workflow)))) "
         "ORDER BY c.priority DESC, c.queue_seq LIMIT 1"},
        {&select_dedup, "SELECT run_id FROM runs WHERE workflow = ?1 AND dedup_key = ?2"},
        {&select_queue, "SELECT next_seq, depth FROM queue WHERE id = 1"},
        {&count_run, "UPDATE queue SET runs = runs + 1 WHERE id = 1"},
        {&select_run_count, "SELECT runs FROM queue WHERE id = 1"},
        {&select_has_records, "SELECT 1 FROM records WHERE run_id = ?1 LIMIT 1"},
        {&update_queue, "UPDATE queue SET next_seq = ?1, depth = ?2 WHERE id = 1"},
        // Retention (purge_ended): ended runs whose last record was written before ?1, oldest
        // first. A run that ended before ?1 started before it: one range of runs_by_started,
        // each run's status and last record read by key.
        {&select_purgeable,
         "SELECT r.run_id FROM runs r WHERE r.started_ms < ?1 AND r.status NOT IN (1, 2, 8) "
         "AND coalesce((SELECT c.unix_ms FROM records c WHERE c.run_id = r.run_id "
         "AND c.seq = r.last_seq), 0) < ?1 ORDER BY r.started_ms LIMIT ?2"},
        {&delete_records, "DELETE FROM records WHERE run_id = ?1"},
        {&delete_run, "DELETE FROM runs WHERE run_id = ?1"},
        {&uncount_runs, "UPDATE queue SET runs = runs - ?1 WHERE id = 1"},
        // The census: every status but succeeded from the partial index runs_by_status (it
        // holds status and started_ms: no table reads); succeeded runs are the rest of the
        // journal's run count.
        {&select_census,
         "SELECT status, count(*), min(started_ms) FROM runs WHERE status <> 3 GROUP BY status"},
        // A run's failure (tutti::failure_change_of): set by a failed run's end, cleared by a
        // retry or an end without a failed step. Written only by the records that change it.
        {&set_failure,
         "UPDATE runs SET failed_step = ?2, error_category = ?3, error_value = ?4 "
         "WHERE run_id = ?1"},
        {&clear_failure,
         "UPDATE runs SET failed_step = NULL, error_category = NULL, error_value = NULL "
         "WHERE run_id = ?1 AND failed_step IS NOT NULL"},
    };
    for (const auto& [stmt, sql] : all)
      if (const int rc = prepare(*stmt, sql); rc != SQLITE_OK) return rc;
    return SQLITE_OK;
  }
  static int step_done(sqlite3_stmt* s) noexcept {
    const sqlite_use use(s);
    const int rc = sqlite3_step(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }

  // -- writes --

  /// What a write body reports: its error (if any) and whether it had already changed the
  /// database when it failed.
  struct write_status {
    std::error_code error;
    bool partial = false;
  };

  /// `progress_only`: the body is an append, which reads and writes runs' rows only through
  /// `heads` (see run_head::dirty); any other body first has the open group's kept progress
  /// written.
  template <class Body>
  result<void> write(bool commit_now, Body&& body, bool progress_only = false) {
    if (broken) {
      fail(static_cast<journal_errc>(broken.value()),
           "an earlier grouped commit failed and its records were lost; this journal refuses "
           "writes until it is reopened (see the error reported then)");
      return broken;
    }
    if (options.commit == sqlite_commit::per_record) {
      if (const int rc = step_done(begin.get()); rc != SQLITE_OK)
        return fail_sqlite(rc, "cannot start a transaction");
      began_write();
      const write_status w = body();
      if (w.error) {
        if (!sqlite3_get_autocommit(db.get())) step_done(rollback.get());
        ended_write(false);
        return w.error;
      }
      if (const int rc = step_done(commit.get()); rc != SQLITE_OK) {
        const std::error_code e = fail_sqlite(rc, "cannot commit");
        if (!sqlite3_get_autocommit(db.get())) step_done(rollback.get());
        ended_write(false);
        return e;
      }
      ended_write(true);
      return outcome::success();
    }
    if (in_group && sqlite3_get_autocommit(db.get())) {
      // SQLite rolled the open group back on its own (an error in a statement between writes):
      // its records, and the progress kept in dirty heads, are gone.
      const std::error_code e =
          fail(journal_errc::io_error, "SQLite rolled back the open group of grouped commits");
      lose_group(e);
      return e;
    }
    if (!in_group) {
      if (const int rc = step_done(begin.get()); rc != SQLITE_OK)
        return fail_sqlite(rc, "cannot start a transaction");
      began_write();
      in_group = true;
      group_size = 0;
      group_began = std::chrono::steady_clock::now();
      if (timer_idle) timer_cv.notify_all();
    } else if (!progress_only || dirty_heads() + 1 >= max_heads) {
      if (const write_status f = flush_progress(); f.error) {
        lose_group(f.error);
        return f.error;
      }
    }
    const write_status w = body();
    if (w.error) {
      if (w.partial || sqlite3_get_autocommit(db.get())) lose_group(w.error);
      return w.error;
    }
    ++group_size;
    if (commit_now || group_size >= options.group_records) return commit_group();
    return outcome::success();
  }

  /// A grouped transaction failed half-way: roll it back and refuse writes from now on, so
  /// no run can go on writing after records that were lost (the journal stays a prefix).
  void lose_group(std::error_code e) {
    const std::uint32_t lost = group_size;
    if (!sqlite3_get_autocommit(db.get())) step_done(rollback.get());
    ended_write(false);
    in_group = false;
    group_size = 0;
    broken = e;
    last_error += "; the uncommitted group (" + std::to_string(lost) +
                  " earlier records) was rolled back and this journal refuses writes until it "
                  "is reopened";
  }

  result<void> commit_group() {
    if (!in_group) return outcome::success();
    if (const write_status f = flush_progress(); f.error) {
      lose_group(f.error);
      return f.error;
    }
    if (const int rc = step_done(commit.get()); rc != SQLITE_OK) {
      const std::error_code e = fail_sqlite(rc, "grouped commit failed");
      lose_group(e);
      return e;
    }
    ended_write(true);
    in_group = false;
    group_size = 0;
    return outcome::success();
  }

  /// The pager's data version (see `heads`); false if SQLite cannot say.
  [[nodiscard]] bool data_version(std::uint32_t& out) const noexcept {
    unsigned int v = 0;
    if (sqlite3_file_control(db.get(), "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK)
      return false;
    out = v;
    return true;
  }
  void forget_heads() noexcept {
    heads.clear();
    next_replaced = 0;
    last_head = 0;
    heads_known = false;
  }
  /// A write transaction began (the write lock is held): keep the heads only if nobody else
  /// changed the file since this connection's last commit.
  void began_write() noexcept {
    std::uint32_t v = 0;
    const bool known = data_version(v);
    if (!known || !heads_known || v != heads_version) forget_heads();
    heads_version = v;
    heads_known = known;
    in_write = true;
  }
  /// The write transaction ended: committed (the heads hold; remember the version the commit
  /// left) or rolled back (they may name records that are gone: forget them).
  void ended_write(bool committed) noexcept {
    in_write = false;
    if (!committed || !data_version(heads_version)) forget_heads();
  }

  /// Commits a group once it is `group_interval` old. While writes keep coming it polls once
  /// per interval, so a busy journal never signals it; after 20 idle intervals it sleeps until
  /// the next group starts (`timer_idle`: that write wakes it).
  void timer_loop() {
    std::unique_lock<std::mutex> lock(mutex);
    int idle_ticks = 0;
    while (!stopping) {
      if (in_group) {
        idle_ticks = 0;
        const auto deadline = group_began + options.group_interval;
        if (std::chrono::steady_clock::now() >= deadline) {
          (void)commit_group();  // a failure marks the journal broken: the next write says so
          continue;
        }
        timer_cv.wait_until(lock, deadline);
      } else if (idle_ticks < 20) {
        ++idle_ticks;
        timer_cv.wait_for(lock, options.group_interval);
      } else {
        timer_idle = true;
        timer_cv.wait(lock);
        timer_idle = false;
        idle_ticks = 0;
      }
    }
  }

  write_status insert_record_row(const sqlite_id_bytes& idb, const run_id& id,
                                 const sqlite_record_fields& r, std::int64_t unix_ms) {
    sqlite3_stmt* s = insert_record.get();
    const sqlite_use use(s, true);
    // Every bind is checked: a value SQLite refuses (over SQLITE_LIMIT_LENGTH) would otherwise
    // leave the previous record's value bound, and the INSERT would write the wrong record.
    const int brc = sqlite_first_error({
        sqlite_bind_id(s, 1, idb),
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(r.seq)),
        sqlite3_bind_int(s, 3, r.kind),
        sqlite_bind_text(s, 4, r.step),
        sqlite3_bind_int64(s, 5, r.attempt),
        sqlite3_bind_int(s, 6, r.ok ? 1 : 0),
        sqlite3_bind_int(s, 7, r.outcome),
        sqlite_bind_blob(s, 8, r.payload),
        sqlite_bind_text(s, 9, r.error_category),
        sqlite3_bind_int(s, 10, r.error_value),
        sqlite_bind_text(s, 11, r.message),
        sqlite3_bind_int64(s, 12, r.time_ns),
        sqlite3_bind_int64(s, 13, static_cast<sqlite3_int64>(sqlite_record_checksum(id, r))),
        sqlite3_bind_int64(s, 14, unix_ms),
        sqlite3_bind_int64(s, 15, static_cast<sqlite3_int64>(r.epoch)),
    });
    const std::string what = sqlite_record_name(id, r);
    if (brc != SQLITE_OK) return {fail_bind(brc, what, sqlite_record_sizes(r))};
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return {};
    // A failed INSERT changed nothing (SQLite undoes the statement); `partial` is the caller's.
    if ((rc & 0xFF) == SQLITE_TOOBIG)  // each value fits, the record as a whole does not
      return {fail_bind(rc, what, sqlite_record_sizes(r))};
    if ((rc & 0xFF) == SQLITE_CONSTRAINT)  // the run's records are not what they should be
      return {
          fail(journal_errc::corrupt, what + " already exists: " + sqlite_describe(db.get(), rc))};
    return {fail_sqlite(rc, "cannot write " + what)};
  }

  /// The run's head inside a write transaction of this connection, when known; else null.
  [[nodiscard]] run_head* cached_head(const run_id& id) noexcept {
    if (!in_write) return nullptr;
    if (last_head < heads.size() && heads[last_head].id == id) return &heads[last_head];
    for (std::size_t i = 0; i < heads.size(); ++i) {
      if (heads[i].id == id) {
        last_head = i;
        return &heads[i];
      }
    }
    return nullptr;
  }
  /// Keeps a run's head, read or written inside a write transaction (nothing outside one).
  void remember_head(const run_head& h) {
    if (!in_write) return;
    if (run_head* c = cached_head(h.id)) {
      *c = h;
      return;
    }
    if (heads.size() < max_heads) {
      if (heads.capacity() == 0) heads.reserve(max_heads);
      last_head = heads.size();
      heads.push_back(h);
      return;
    }
    // Full: replace a clean entry (a dirty one holds a row not written yet); none is left
    // clean only if the caller did not flush (the head is then not kept: heads are a cache).
    for (std::size_t tried = 0; heads[next_replaced].dirty; next_replaced = (next_replaced + 1) % max_heads)
      if (++tried > max_heads) return;
    last_head = next_replaced;
    heads[next_replaced] = h;
    next_replaced = (next_replaced + 1) % max_heads;
  }
  /// Grouped mode: keeps `h` as a dirty head (its row's progress written later, see
  /// run_head::dirty); false if it cannot be kept (the caller writes the row now).
  bool keep_progress(run_head& h) {
    h.dirty = true;
    remember_head(h);
    const run_head* c = cached_head(h.id);
    if (c != nullptr && c->dirty && c->seq == h.seq) return true;
    h.dirty = false;
    return false;
  }
  [[nodiscard]] std::size_t dirty_heads() const noexcept {
    std::size_t n = 0;
    for (const run_head& h : heads) n += h.dirty ? 1 : 0;
    return n;
  }
  /// Writes the progress the open group kept in dirty heads (see run_head::dirty).
  write_status flush_progress() {
    for (run_head& h : heads) {
      if (!h.dirty) continue;
      if (auto w = write_progress_row(h, sqlite_id_to_bytes(h.id)); w.error) return w;
      h.dirty = false;
    }
    return {};
  }
  /// Reads the run's row from the file (`run_not_found`; `corrupt` for a run without records
  /// or with an unknown status).
  result<run_head> read_head(const run_id& id, const sqlite_id_bytes& idb) {
    sqlite3_stmt* s = select_head.get();
    const sqlite_use use(s);
    if (const int brc = sqlite_bind_id(s, 1, idb); brc != SQLITE_OK)
      return fail_sqlite(brc, "cannot read a run");
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
      return fail(journal_errc::run_not_found, "no run " + sqlite_run_name(id));
    if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot read a run");
    const auto status = sqlite3_column_int64(s, 0);
    if (!sqlite_valid_status(status))
      return fail(journal_errc::corrupt, "run " + sqlite_run_name(id) + " has an unknown status " +
                                             std::to_string(status));
    if (sqlite3_column_int64(s, 1) < 1)
      return fail(journal_errc::corrupt,
                  "run " + sqlite_run_name(id) + " has no records: the file is damaged");
    run_head h;
    h.id = id;
    h.status = static_cast<run_status>(status);
    h.seq = sqlite3_column_int64(s, 1);
    h.epoch = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
    h.owner = sqlite_column_string(s, 3);
    h.lease_ms = sqlite3_column_int64(s, 4);
    h.lease_until_ms = sqlite3_column_int64(s, 5);
    h.recoveries = static_cast<std::uint32_t>(sqlite3_column_int64(s, 6));
    h.queued_ms = sqlite3_column_int64(s, 7);
    h.version = static_cast<std::uint32_t>(sqlite3_column_int64(s, 8));
    h.failed = sqlite3_column_int64(s, 9) != 0;
    return h;
  }
  /// The run's head inside a write transaction: cached, or read (and cached).
  result<run_head> head_of(const run_id& id, const sqlite_id_bytes& idb) {
    if (const run_head* c = cached_head(id)) return *c;
    auto h = read_head(id, idb);
    if (h) remember_head(h.value());
    return h;
  }
  /// Writes the run's record count and lease from `h` (and caches it): an append that changed
  /// neither its status nor its owner.
  write_status write_progress(const run_head& h, const sqlite_id_bytes& idb) {
    if (auto w = write_progress_row(h, idb); w.error) return w;
    remember_clean(h);
    return {};
  }
  /// Keeps `h` as the run's head, its row written.
  void remember_clean(const run_head& h) {
    remember_head(h);
    if (run_head* c = cached_head(h.id)) c->dirty = false;
  }
  write_status write_progress_row(const run_head& h, const sqlite_id_bytes& idb) {
    sqlite3_stmt* s = update_progress.get();
    const sqlite_use use(s, true);
    const int brc = sqlite_first_error({sqlite_bind_id(s, 1, idb), sqlite3_bind_int64(s, 2, h.seq),
                                        sqlite3_bind_int64(s, 3, h.lease_until_ms)});
    if (brc != SQLITE_OK)
      return {fail_sqlite(brc, "cannot update run " + sqlite_run_name(h.id)), true};
    if (const int rc = sqlite3_step(s); rc != SQLITE_DONE)
      return {fail_sqlite(rc, "cannot update run " + sqlite_run_name(h.id)), true};
    return {};
  }
  /// Writes the run's row from `h` (and caches it).
  write_status write_head(const run_head& h, const sqlite_id_bytes& idb) {
    sqlite3_stmt* s = update_run.get();
    const sqlite_use use(s, true);
    const int brc = sqlite_first_error({
        sqlite_bind_id(s, 1, idb),
        sqlite3_bind_int(s, 2, static_cast<int>(h.status)),
        sqlite3_bind_int64(s, 3, h.seq),
        sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(h.epoch)),
        sqlite_bind_text(s, 5, h.owner),
        sqlite3_bind_int64(s, 6, h.lease_ms),
        sqlite3_bind_int64(s, 7, h.lease_until_ms),
        sqlite3_bind_int64(s, 8, h.recoveries),
        sqlite3_bind_int64(s, 9, h.version),
    });
    if (brc != SQLITE_OK)
      return {fail_bind(brc, "run " + sqlite_run_name(h.id), "its owner's name is " +
                                                              std::to_string(h.owner.size()) +
                                                              " bytes"),
              true};
    if (const int rc = sqlite3_step(s); rc != SQLITE_DONE)
      return {fail_sqlite(rc, "cannot update run " + sqlite_run_name(h.id)), true};
    remember_clean(h);
    return {};
  }
  /// The queue's counters (next submission number, queued runs).
  result<std::pair<std::int64_t, std::int64_t>> read_queue() {
    sqlite3_stmt* s = select_queue.get();
    const sqlite_use use(s);
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
      if (rc == SQLITE_DONE) return fail(journal_errc::corrupt, "the queue's counters are missing");
      return fail_sqlite(rc, "cannot read the queue's counters");
    }
    return std::pair{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)};
  }
  write_status write_queue(std::int64_t next_seq, std::int64_t depth) {
    sqlite3_stmt* s = update_queue.get();
    const sqlite_use use(s, true);
    if (const int brc = sqlite_first_error(
            {sqlite3_bind_int64(s, 1, next_seq), sqlite3_bind_int64(s, 2, depth)});
        brc != SQLITE_OK)
      return {fail_sqlite(brc, "cannot update the queue's counters"), true};
    if (const int rc = sqlite3_step(s); rc != SQLITE_DONE)
      return {fail_sqlite(rc, "cannot update the queue's counters"), true};
    return {};
  }
  /// One queued run fewer (it was claimed or cancelled).
  write_status dequeued() {
    auto q = read_queue();
    if (!q) return {q.error(), true};
    return write_queue(q.value().first, q.value().second > 0 ? q.value().second - 1 : 0);
  }

  /// The lease clock's reading in milliseconds.
  [[nodiscard]] std::int64_t lease_now_ms() const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_clock.now()).count();
  }

  /// Appends `r` as the run's next record and writes the run's row as `h` says after it.
  write_status add_record(run_head& h, const sqlite_id_bytes& idb, const record_view& r) {
    const sqlite_record_fields f{static_cast<std::uint64_t>(h.seq + 1),
                                 static_cast<std::uint8_t>(r.kind),
                                 r.step,
                                 r.attempt,
                                 r.ok,
                                 r.outcome,
                                 r.payload,
                                 r.error_category,
                                 r.error_value,
                                 r.message,
                                 r.time_ns,
                                 r.epoch};
    if (auto w = insert_record_row(idb, h.id, f, sqlite_now_ms()); w.error) return w;
    // Only a change writes the row's failure: the head says whether one stands, so a run's
    // success costs no statement (a failed run's end costs one).
    if (const auto change = failure_change_of(r);
        change == failure_change::set || (change == failure_change::clear && h.failed)) {
      sqlite3_stmt* s = change == failure_change::set ? set_failure.get() : clear_failure.get();
      const sqlite_use use(s, true);
      int brc = sqlite_bind_id(s, 1, idb);
      if (change == failure_change::set && brc == SQLITE_OK)
        brc = sqlite_first_error({sqlite_bind_text(s, 2, r.step),
                                  sqlite_bind_text(s, 3, r.error_category),
                                  sqlite3_bind_int64(s, 4, r.error_value)});
      if (brc != SQLITE_OK)
        return {fail_sqlite(brc, "cannot record the failure of run " + sqlite_run_name(h.id)), true};
      if (const int rc = sqlite3_step(s); rc != SQLITE_DONE)
        return {fail_sqlite(rc, "cannot record the failure of run " + sqlite_run_name(h.id)), true};
      h.failed = change == failure_change::set;
    }
    h.seq += 1;
    h.status = status_after(h.status, r);
    if (r.kind == record_kind::step_finished || r.kind == record_kind::compensation_finished)
      h.recoveries = 0;  // the run moved on: earlier takeovers were no failed recovery
    if (ended(h.status)) {
      h.owner.clear();
      h.lease_until_ms = 0;
    }
    return {};
  }

  /// Claims the run whose head is `h` for `lease` (the caller checked that it may): a new
  /// epoch and a `claimed` record.
  result<run_claim> take(run_head& h, const sqlite_id_bytes& idb, const lease_request& lease,
                         std::int64_t now, std::string_view workflow) {
    run_claim c;
    c.id = h.id;
    c.workflow.assign(workflow);
    c.version = h.version;
    const record_view r = take_claim({h.owner, h.epoch, h.lease_ms, h.lease_until_ms, h.recoveries},
                                     h.status, h.queued_ms, lease, now, c);
    if (c.from_queue) {
      if (auto w = dequeued(); w.error) return w.error;
    }
    if (auto w = add_record(h, idb, r); w.error) return w.error;
    if (auto w = write_head(h, idb); w.error) return w.error;
    return c;
  }

  /// The workflow a run belongs to (for claims).
  result<std::string> workflow_of(const run_id& id, const sqlite_id_bytes& idb) {
    sqlite3_stmt* s = select_run.get();
    const sqlite_use use(s);
    if (const int brc = sqlite_bind_id(s, 1, idb); brc != SQLITE_OK)
      return fail_sqlite(brc, "cannot read a run");
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return fail(journal_errc::run_not_found, "no run " + sqlite_run_name(id));
    if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot read a run");
    return sqlite_column_string(s, 0);
  }

  /// Ids a query of one text parameter, one time and a limit returns.
  result<std::vector<run_id>> query_ids(sqlite3_stmt* s, std::string_view text, std::int64_t now,
                                        std::int64_t limit, const lease_request* lease,
                                        std::uint32_t max_version) {
    const sqlite_use use(s);
    int brc = sqlite_bind_text(s, 1, text);
    if (lease != nullptr && brc == SQLITE_OK)
      brc = sqlite_first_error({sqlite3_bind_int64(s, 2, now), sqlite3_bind_int64(s, 3, limit)});
    if (lease != nullptr && brc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 5)
      brc = sqlite_first_error(
          {sqlite_bind_text(s, 4, lease->reclaim), sqlite_bind_text(s, 5, lease->owner)});
    // ?6: the highest version claimed (0: any); ?4 and ?5 of a query without them bind nothing.
    if (brc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 6)
      brc = sqlite3_bind_int64(s, 6, max_version);
    if (brc != SQLITE_OK) return fail_sqlite(brc, "cannot look for runs to claim");
    std::vector<run_id> out;
    for (;;) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot look for runs to claim");
      run_id id;
      if (!sqlite_column_id(s, 0, id)) return fail(journal_errc::corrupt, "a run's id is damaged");
      out.push_back(id);
    }
    return out;
  }

  // -- reads --

  /**
   * `body()` (reads of several statements) on one snapshot of the file: in a read transaction of
   * its own, so that another connection's commit between two of the statements cannot make
   * them disagree (a run's row and its records, the run count and the listing) and pass for
   * damage. Inside an open transaction of this connection (a grouped write) it reads that one.
   */
  template <class Body>
  auto in_snapshot(Body&& body) -> decltype(body()) {
    const bool own = sqlite3_get_autocommit(db.get()) != 0;
    if (own) {
      if (const int rc = step_done(begin_read.get()); rc != SQLITE_OK)
        return fail_sqlite(rc, "cannot start a read transaction");
    } else if (const write_status f = flush_progress(); f.error) {
      lose_group(f.error);
      return f.error;
    }
    auto out = body();
    if (own && !sqlite3_get_autocommit(db.get())) step_done(rollback.get());  // nothing written
    return out;
  }

  /// Where the run stands: inside an open group (a write transaction of this connection) from
  /// `heads`, filling them; else one indexed read.
  result<run_status> status_of(const run_id& id) {
    if (const run_head* h = cached_head(id)) return h->status;
    const sqlite_id_bytes idb = sqlite_id_to_bytes(id);
    if (in_write) {
      auto h = head_of(id, idb);
      if (!h) return h.error();
      return h.value().status;
    }
    return read_status(id, idb);
  }

  result<run_status> read_status(const run_id& id, const sqlite_id_bytes& idb) {
    sqlite3_stmt* s = select_status.get();
    const sqlite_use use(s);
    if (const int brc = sqlite_bind_id(s, 1, idb); brc != SQLITE_OK)
      return fail_sqlite(brc, "cannot read a run's status");
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
      return fail(journal_errc::run_not_found, "no run " + sqlite_run_name(id));
    if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot read a run's status");
    const auto v = sqlite3_column_int64(s, 0);
    if (!sqlite_valid_status(v))
      return fail(journal_errc::corrupt, "a run has an unknown status " + std::to_string(v));
    return static_cast<run_status>(v);
  }

  /// owner, epoch, lease_until_ms, recoveries, partition_key, exclusive, priority, dedup_key
  /// from column `at` on.
  static void read_ownership(sqlite3_stmt* s, int at, run_summary& out) {
    out.owner = sqlite_column_string(s, at);
    out.epoch = static_cast<std::uint64_t>(sqlite3_column_int64(s, at + 1));
    out.lease_until_ms = sqlite3_column_int64(s, at + 2);
    out.recoveries = static_cast<std::uint32_t>(sqlite3_column_int64(s, at + 3));
    out.partition = sqlite_column_string(s, at + 4);
    out.exclusive = sqlite3_column_int64(s, at + 5) != 0;
    out.priority = static_cast<std::int32_t>(sqlite3_column_int64(s, at + 6));
    out.dedup_key = sqlite_column_string(s, at + 7);
  }
  /// The search columns (key, failed step, its error) from column `at` on, nulls as empty.
  static void read_search(sqlite3_stmt* s, int at, run_summary& out) {
    out.key = sqlite_column_string(s, at);
    out.failed_step = sqlite_column_string(s, at + 1);
    out.error_category = sqlite_column_string(s, at + 2);
    out.error_value = static_cast<int>(sqlite3_column_int64(s, at + 3));
  }

  result<stored_run> load(const run_id& id) {
    const sqlite_id_bytes idb = sqlite_id_to_bytes(id);
    stored_run out;
    out.summary.id = id;
    std::int64_t last_seq = 0;
    {
      sqlite3_stmt* s = select_run.get();
      const sqlite_use use(s);
      if (const int brc = sqlite_bind_id(s, 1, idb); brc != SQLITE_OK)
        return fail_sqlite(brc, "cannot read a run");
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) {
        // Records of a run whose row cannot be found: the table or its pages are damaged.
        sqlite3_stmt* r = select_has_records.get();
        const sqlite_use use_r(r);
        if (sqlite_bind_id(r, 1, idb) == SQLITE_OK && sqlite3_step(r) == SQLITE_ROW)
          return fail(journal_errc::corrupt, "run " + sqlite_run_name(id) +
                                                 " has records but no row: the file is damaged");
        return fail(journal_errc::run_not_found, "no run " + sqlite_run_name(id));
      }
      if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot read a run");
      out.summary.workflow = sqlite_column_string(s, 0);
      out.summary.fingerprint = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
      const auto status = sqlite3_column_int64(s, 2);
      if (!sqlite_valid_status(status))
        return fail(journal_errc::corrupt, "a run has an unknown status " + std::to_string(status));
      out.summary.status = static_cast<run_status>(status);
      out.summary.started_unix_ms = sqlite3_column_int64(s, 3);
      last_seq = sqlite3_column_int64(s, 4);
      read_ownership(s, 5, out.summary);
      out.summary.version = static_cast<std::uint32_t>(sqlite3_column_int64(s, 13));
      read_search(s, 14, out.summary);
    }
    sqlite3_stmt* s = select_records.get();
    const sqlite_use use(s);
    const std::string run_name = sqlite_run_name(id);
    if (const int brc = sqlite_bind_id(s, 1, idb); brc != SQLITE_OK)
      return fail_sqlite(brc, "cannot read the records of run " + run_name);
    for (;;) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot read the records of run " + run_name);
      stored_record r;
      r.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
      const auto kind = sqlite3_column_int64(s, 1);
      r.step = sqlite_column_string(s, 2);
      const auto attempt = sqlite3_column_int64(s, 3);
      const auto ok = sqlite3_column_int64(s, 4);
      const auto outcome_value = sqlite3_column_int64(s, 5);
      r.payload = sqlite_column_bytes(s, 6);
      r.error_category = sqlite_column_string(s, 7);
      const auto error_value = sqlite3_column_int64(s, 8);
      r.message = sqlite_column_string(s, 9);
      r.time_ns = sqlite3_column_int64(s, 10);
      const auto checksum = static_cast<std::uint64_t>(sqlite3_column_int64(s, 11));
      out.summary.updated_unix_ms = sqlite3_column_int64(s, 12);  // the last record's, in the end
      r.epoch = static_cast<std::uint64_t>(sqlite3_column_int64(s, 13));
      const std::string where = "record " + std::to_string(r.seq) + " of run " + run_name;
      if (r.seq != out.records.size() + 1)
        return fail(journal_errc::corrupt, where + " follows record " +
                                               std::to_string(out.records.size()) +
                                               ": records are missing");
      if (kind < 1 || kind > 255 || to_string(static_cast<record_kind>(kind)) == "unknown" ||
          attempt < 0 || attempt > 0xFFFFFFFFLL || (ok != 0 && ok != 1) || outcome_value < 0 ||
          outcome_value > 255 || error_value < INT32_MIN || error_value > INT32_MAX)
        return fail(journal_errc::corrupt, where + " has a field out of range");
      r.kind = static_cast<record_kind>(kind);
      r.attempt = static_cast<std::uint32_t>(attempt);
      r.ok = ok != 0;
      r.outcome = static_cast<std::uint8_t>(outcome_value);
      r.error_value = static_cast<int>(error_value);
      const sqlite_record_fields f{r.seq,         static_cast<std::uint8_t>(r.kind),
                                   r.step,        r.attempt,
                                   r.ok,          r.outcome,
                                   r.payload,     r.error_category,
                                   r.error_value, r.message,
                                   r.time_ns,     r.epoch};
      if (sqlite_record_checksum(id, f) != checksum)
        return fail(journal_errc::corrupt, where + " fails its checksum: the file is damaged");
      out.records.push_back(std::move(r));
    }
    out.summary.records = out.records.size();
    // The run's row says how many records it has: a missing tail (or records an index no
    // longer finds) is damage, never a shorter history.
    if (static_cast<std::int64_t>(out.records.size()) != last_seq)
      return fail(journal_errc::corrupt,
                  "run " + run_name + " has " + std::to_string(out.records.size()) +
                      " records where its row says " + std::to_string(last_seq) +
                      ": records are missing, the file is damaged");
    if (out.records.empty() || out.records.front().kind != record_kind::run_started)
      return fail(journal_errc::corrupt,
                  "run " + run_name + " does not start with its run_started record");
    out.input = out.records.front().payload;
    out.input_encoding = static_cast<payload_encoding>(out.records.front().outcome);
    return out;
  }

  result<std::vector<run_summary>> list(const run_filter& f) {
    // A run's update time and record count are its last record's (one seek each).
    std::string sql =
        "SELECT run_id, workflow, fingerprint, status, started_ms, "
        "coalesce((SELECT unix_ms FROM records WHERE records.run_id = runs.run_id "
        "AND records.seq = runs.last_seq), started_ms), last_seq, owner, epoch, lease_until_ms, "
        "recoveries, partition_key, exclusive, priority, coalesce(dedup_key, ''), version, "
        "coalesce(run_key, ''), coalesce(failed_step, ''), coalesce(error_category, ''), "
        "coalesce(error_value, 0) FROM runs";
    const char* glue = " WHERE ";
    const auto where = [&](const char* condition) {
      sql += glue;
      sql += condition;
      glue = " AND ";
    };
    // The status as a literal, and `status <> 3` spelled out for any other status than
    // succeeded: the planner then uses the partial index runs_by_status (which leaves out
    // succeeded runs); it does not infer `status <> 3` from `status = N` itself.
    // A search (key, failed step, error) drives the query through its own index, the first of
    // them given; the other conditions are written with a unary `+`, which keeps SQLite from
    // choosing their indexes instead (without statistics it cannot tell that one order's runs
    // are fewer than all failed ones).
    const bool searching = !f.key.empty() || !f.failed_step.empty() || !f.error_category.empty();
    const std::string status_is =
        !f.status ? std::string()
        : searching ? "+status = " + std::to_string(static_cast<int>(*f.status))
        : *f.status == run_status::succeeded
            ? std::string("status = 3")
            : "status = " + std::to_string(static_cast<int>(*f.status)) + " AND status <> 3";
    if (f.status) where(status_is.c_str());
    if (!f.workflow.empty()) where("workflow = ?");
    if (!f.workflow.empty() && f.version != 0) where("version = ?");
    // The time bounds stay plain: each search index holds started_ms after its column, so the
    // bounds narrow the search's own range.
    if (f.started_after_unix_ms != 0) where("started_ms >= ?");
    if (f.started_before_unix_ms != 0) where("started_ms < ?");
    // Each search column has an index of its own (runs_by_key, runs_by_failed_step,
    // runs_by_error: their rows in start order), partial on the column being set, which an
    // equality implies.
    if (!f.key.empty()) where("run_key = ?");
    if (!f.failed_step.empty()) where(f.key.empty() ? "failed_step = ?" : "+failed_step = ?");
    const bool error_drives = f.key.empty() && f.failed_step.empty();
    if (!f.error_category.empty()) where(error_drives ? "error_category = ?" : "+error_category = ?");
    if (!f.error_category.empty() && f.error_value)
      where(error_drives ? "error_value = ?" : "+error_value = ?");
    sql += " ORDER BY started_ms DESC, run_id ASC";
    if (f.limit != 0) sql += " LIMIT ?";
    sqlite3_stmt* raw = nullptr;
    const int prc = sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw, nullptr);
    const sqlite_stmt_ptr stmt(raw);
    if (prc != SQLITE_OK) return fail_sqlite(prc, "cannot list runs");
    int i = 0;
    int brc = SQLITE_OK;
    const auto bound = [&brc](int rc) {
      if (brc == SQLITE_OK) brc = rc;
    };
    if (!f.workflow.empty()) bound(sqlite_bind_text(raw, ++i, f.workflow));
    if (!f.workflow.empty() && f.version != 0) bound(sqlite3_bind_int64(raw, ++i, f.version));
    if (f.started_after_unix_ms != 0) bound(sqlite3_bind_int64(raw, ++i, f.started_after_unix_ms));
    if (f.started_before_unix_ms != 0)
      bound(sqlite3_bind_int64(raw, ++i, f.started_before_unix_ms));
    if (!f.key.empty()) bound(sqlite_bind_text(raw, ++i, f.key));
    if (!f.failed_step.empty()) bound(sqlite_bind_text(raw, ++i, f.failed_step));
    if (!f.error_category.empty()) bound(sqlite_bind_text(raw, ++i, f.error_category));
    if (!f.error_category.empty() && f.error_value)
      bound(sqlite3_bind_int64(raw, ++i, *f.error_value));
    if (f.limit != 0)
      bound(sqlite3_bind_int64(raw, ++i,
                               f.limit > static_cast<std::size_t>(INT64_MAX)
                                   ? INT64_MAX
                                   : static_cast<sqlite3_int64>(f.limit)));
    if (brc != SQLITE_OK) return fail_sqlite(brc, "cannot list runs (the filter's values)");
    std::vector<run_summary> out;
    for (;;) {
      const int rc = sqlite3_step(raw);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return fail_sqlite(rc, "cannot list runs");
      run_summary s;
      const auto status = sqlite3_column_int64(raw, 3);
      if (!sqlite_column_id(raw, 0, s.id) || !sqlite_valid_status(status))
        return fail(journal_errc::corrupt, "a run's id or status is damaged");
      s.workflow = sqlite_column_string(raw, 1);
      s.fingerprint = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 2));
      s.status = static_cast<run_status>(status);
      s.started_unix_ms = sqlite3_column_int64(raw, 4);
      s.updated_unix_ms = sqlite3_column_int64(raw, 5);
      s.records = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 6));
      read_ownership(raw, 7, s);
      s.version = static_cast<std::uint32_t>(sqlite3_column_int64(raw, 15));
      read_search(raw, 16, s);
      out.push_back(std::move(s));
    }
    // Unfiltered, the listing must find every run the journal counted: fewer is a damaged
    // table or index, never fewer runs.
    if (f.unfiltered()) {
      sqlite3_stmt* c = select_run_count.get();
      const sqlite_use use_c(c);
      if (const int rc = sqlite3_step(c); rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? fail(journal_errc::corrupt, "the run count is missing")
                                 : fail_sqlite(rc, "cannot read the run count");
      const auto counted = sqlite3_column_int64(c, 0);
      if (counted != static_cast<std::int64_t>(out.size()))
        return fail(journal_errc::corrupt,
                    "the journal counts " + std::to_string(counted) + " runs and its listing finds " +
                        std::to_string(out.size()) + ": the file is damaged");
    }
    return out;
  }

  /// Runs by status and the oldest waiting ones (see `sqlite_journal::census`).
  result<run_census> census() {
    run_census c;
    c.now_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    std::uint64_t others = 0;
    {
      sqlite3_stmt* raw = select_census.get();
      const sqlite_use use(raw);
      int rc = SQLITE_OK;
      while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        const auto status = sqlite3_column_int64(raw, 0);
        const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 1));
        if (status < 1 || status >= static_cast<std::int64_t>(c.runs.size()))
          return fail(journal_errc::corrupt,
                      "a run has the unknown status " + std::to_string(status));
        c.add(static_cast<run_status>(status), sqlite3_column_int64(raw, 2), n);
        others += n;
      }
      if (rc != SQLITE_DONE) return fail_sqlite(rc, "cannot count the runs by status");
    }
    sqlite3_stmt* raw = select_run_count.get();
    const sqlite_use use(raw);
    if (const int rc = sqlite3_step(raw); rc != SQLITE_ROW)
      return rc == SQLITE_DONE ? fail(journal_errc::corrupt, "the run count is missing")
                               : fail_sqlite(rc, "cannot read the run count");
    const auto counted = sqlite3_column_int64(raw, 0);
    if (counted < 0 || static_cast<std::uint64_t>(counted) < others)
      return fail(journal_errc::corrupt,
                  "the journal counts " + std::to_string(counted) + " runs and finds " +
                      std::to_string(others) + " that did not succeed: the file is damaged");
    c.runs[static_cast<std::size_t>(run_status::succeeded)] =
        static_cast<std::uint64_t>(counted) - others;
    return c;
  }

  /// SQLite's structural check, then every record read back and checked.
  result<void> verify(bool full) {
    {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(db.get(),
                                  full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)",
                                  -1, &raw, nullptr);
      const sqlite_stmt_ptr stmt(raw);
      if (rc != SQLITE_OK) return fail_sqlite(rc, "integrity check failed");
      std::string problems;
      while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        std::string line = sqlite_column_string(raw, 0);
        if (line == "ok") continue;
        for (char& c : line)
          if (c == '\n') c = ' ';
        if (!problems.empty()) problems += "; ";
        problems += line;
      }
      if (rc != SQLITE_DONE) return fail_sqlite(rc, "integrity check failed");
      if (!problems.empty())
        return fail(journal_errc::corrupt, "SQLite's integrity check: " + problems);
    }
    std::int64_t orphans = 0;
    if (const int rc = sqlite_query_int(
            db.get(), "SELECT count(*) FROM records WHERE run_id NOT IN (SELECT run_id FROM runs)",
            orphans);
        rc != SQLITE_OK)
      return fail_sqlite(rc, "cannot check the records");
    if (orphans != 0)
      return fail(journal_errc::corrupt,
                  std::to_string(orphans) + " records belong to no run: the file is damaged");
    auto runs = list(run_filter{});
    if (!runs) return runs.error();
    for (const auto& s : runs.value()) {
      auto r = load(s.id);
      if (!r) return r.error();
    }
    return outcome::success();
  }
};

}  // namespace detail

/**
 * A journal in an SQLite file (WAL mode). Satisfies `tutti::journal`.
 *
 * @code
 *   std::string why;
 *   auto j = tutti::sqlite_journal::open("runs.db", {.commit = tutti::sqlite_commit::grouped},
 * &why); if (!j) { fmt::print(stderr, "{}\n", why); return 1; }   // corrupt, unknown_schema,
 * io_error
 * @endcode
 *
 * Errors: every member returns a `journal_errc` (or `std::errc::invalid_argument` for bad
 * options); the full story (path, what was wrong, SQLite's own text) is in `open`'s `why` and,
 * afterwards, in `last_error_message()`.
 *
 * Thread-safety: every member may be called from any thread (one mutex around the connection).
 * Several processes may open the same file; their writes wait for each other up to
 * `busy_timeout`. Lifetime: move-only; the destructor commits an open group (use `flush()` to
 * see whether that commit worked) and closes the file. A moved-from journal may only be
 * destroyed or assigned to.
 */
class sqlite_journal {
 public:
  /**
   * Opens the journal at `path`, creating it if it does not exist (and
   * `options.create_if_missing`). A file that exists and is not a tutti journal (not an SQLite
   * file, truncated, damaged, another application's database) gives `journal_errc::corrupt`,
   * one from a newer tutti `journal_errc::unknown_schema`; such a file is never modified.
   * Older schema versions are migrated. On failure `*why` (when given) says what and why.
   */
  [[nodiscard]] static result<sqlite_journal> open(const std::string& path,
                                                   const sqlite_options& options = {},
                                                   std::string* why = nullptr) {
    auto state = std::make_unique<detail::sqlite_journal_state>();
    state->path = path;
    state->options = options;
    const std::error_code e = open_into(*state);
    if (e) {
      if (why != nullptr) *why = std::move(state->last_error);
      return e;
    }
    if (options.commit == sqlite_commit::grouped && options.group_interval.count() > 0) {
      detail::sqlite_journal_state* s = state.get();
      state->timer = std::thread([s] { s->timer_loop(); });
    }
    return sqlite_journal(std::move(state));
  }

  sqlite_journal(sqlite_journal&&) noexcept = default;
  sqlite_journal& operator=(sqlite_journal&&) noexcept = default;
  ~sqlite_journal() = default;

  /// A new run, unclaimed (epoch 0): its header and its run_started record (payload: `input`).
  /// `run_exists` if the id is taken. Engines use the overload with a lease.
  result<void> start(const run_id& id, std::string_view workflow, const workflow_version& version,
                     std::span<const std::byte> input) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    // Committed at once in grouped mode too: a run whose steps may already have acted must be
    // findable by resume_all after a crash of this process.
    return s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
      return insert_run(id, workflow, version, input, run_status::running, {}, 0, 0).status;
    });
  }

  /// A new run claimed by `lease` (epoch 1): its header, its run_started and claimed records.
  result<run_claim> start(const run_id& id, std::string_view workflow,
                          const workflow_version& version, std::span<const std::byte> input,
                          const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    result<run_claim> out{journal_errc::io_error};
    auto w = s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
      auto ins = insert_run(id, workflow, version, input, run_status::running, {}, 0, 0);
      if (ins.status.error) return ins.status;
      out = s_->take(ins.head, ins.idb, lease, s_->lease_now_ms(), workflow);
      if (!out) return {out.error(), true};
      if (version.paused) {
        record_view p;
        p.kind = record_kind::paused;
        p.ok = true;  // began paused
        p.epoch = out.value().epoch;
        if (auto w = s_->add_record(ins.head, ins.idb, p); w.error) return {w.error, true};
        if (auto w = s_->write_head(ins.head, ins.idb); w.error) return {w.error, true};
      }
      return {};
    });
    if (!w) return w.error();
    return out;
  }

  /// A queued run (see `tutti::journal`). Committed at once in per-record mode; in grouped mode
  /// with the group (other processes see it within `group_interval`).
  result<submitted> submit(std::string_view workflow, const workflow_version& version,
                           std::span<const std::byte> input, const submit_options& o) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    submitted out;
    auto w = s_->write(false, [&]() -> detail::sqlite_journal_state::write_status {
      if (!o.dedup_key.empty()) {
        sqlite3_stmt* s = s_->select_dedup.get();
        const detail::sqlite_use use(s);
        if (const int brc = detail::sqlite_first_error({detail::sqlite_bind_text(s, 1, workflow),
                                                        detail::sqlite_bind_text(s, 2, o.dedup_key)});
            brc != SQLITE_OK)
          return {s_->fail_bind(brc, "a submission", "its dedup key is " +
                                                         std::to_string(o.dedup_key.size()) +
                                                         " bytes")};
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
          if (!detail::sqlite_column_id(s, 0, out.id))
            return {s_->fail(journal_errc::corrupt, "a run's id is damaged")};
          out.created = false;
          return {};
        }
        if (rc != SQLITE_DONE) return {s_->fail_sqlite(rc, "cannot look up a dedup key")};
      }
      auto q = s_->read_queue();
      if (!q) return {q.error()};
      const auto [next_seq, depth] = q.value();
      if (s_->options.max_queued != 0 &&
          static_cast<std::uint64_t>(depth) >= s_->options.max_queued)
        return {s_->fail(journal_errc::queue_full,
                         "the queue holds " + std::to_string(depth) +
                             " runs, its maximum (sqlite_options::max_queued): the request was "
                             "not recorded")};
      out.id = o.id.empty() ? run_id::generate() : o.id;
      out.created = true;
      auto ins = insert_run(out.id, workflow, version, input, run_status::queued, o,
                            next_seq + 1, s_->lease_now_ms());
      if (ins.status.error) return ins.status;
      if (auto qw = s_->write_queue(next_seq + 1, depth + 1); qw.error) return qw;
      return {};
    });
    if (!w) return w.error();
    return out;
  }

  /// Claims run `id` (see `tutti::journal`): `owned`, `not_resumable`, `run_not_found`.
  result<run_claim> claim(const run_id& id, const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    result<run_claim> out{journal_errc::io_error};
    auto w = s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
      const detail::sqlite_id_bytes idb = detail::sqlite_id_to_bytes(id);
      auto h = s_->head_of(id, idb);
      if (!h) return {h.error()};
      detail::sqlite_journal_state::run_head head = h.value();
      if (head.status != run_status::running && head.status != run_status::queued)
        return {s_->fail(journal_errc::not_resumable,
                         "run " + detail::sqlite_run_name(id) + " is " +
                             std::string(to_string(head.status)) + ": nothing to claim")};
      const std::int64_t now = s_->lease_now_ms();
      if (!claimable(head.owner, head.lease_until_ms, now, lease))
        return {s_->fail(journal_errc::owned, "run " + detail::sqlite_run_name(id) +
                                                  " is held by '" + head.owner + "' for " +
                                                  std::to_string(head.lease_until_ms - now) +
                                                  " ms more")};
      auto wf = s_->workflow_of(id, idb);
      if (!wf) return {wf.error()};
      out = s_->take(head, idb, lease, now, wf.value());
      if (!out) return {out.error(), true};
      return {};
    });
    if (!w) return w.error();
    return out;
  }

  /// Claims up to `max` runs of `workflow` (see `tutti::journal`), in one transaction.
  result<std::vector<run_claim>> claim_next(std::string_view workflow, std::size_t max,
                                            const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::vector<run_claim> out;
    if (max == 0) return out;
    auto w = s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
      const std::int64_t now = s_->lease_now_ms();
      const auto claim_one = [&](const run_id& id) -> detail::sqlite_journal_state::write_status {
        const detail::sqlite_id_bytes idb = detail::sqlite_id_to_bytes(id);
        auto h = s_->head_of(id, idb);
        if (!h) return {h.error(), !out.empty()};
        detail::sqlite_journal_state::run_head head = h.value();
        auto c = s_->take(head, idb, lease, now, workflow);
        if (!c) return {c.error(), true};
        out.push_back(std::move(c.value()));
        return {};
      };
      auto stranded = s_->query_ids(s_->select_stranded.get(), workflow, now,
                                    static_cast<std::int64_t>(max), &lease, lease.max_version);
      if (!stranded) return {stranded.error()};
      for (const run_id& id : stranded.value())
        if (auto c = claim_one(id); c.error) return c;
      if (!lease.reclaim.empty() && out.size() < max) {
        auto mine = s_->query_ids(s_->select_reclaimable.get(), workflow, now,
                                  static_cast<std::int64_t>(max - out.size()), &lease,
                                  lease.max_version);
        if (!mine) return {mine.error(), !out.empty()};
        for (const run_id& id : mine.value())
          if (auto c = claim_one(id); c.error) return c;
      }
      while (out.size() < max) {
        auto next = s_->query_ids(s_->select_queued.get(), workflow, 0, 0, nullptr,
                                  lease.max_version);
        if (!next) return {next.error(), !out.empty()};
        if (next.value().empty()) break;
        if (auto c = claim_one(next.value().front()); c.error) return c;
      }
      return {};
    });
    if (!w) return w.error();
    return out;
  }

  /// The lease of the holder of `epoch` again from now; `fenced` if it is no longer the run's
  /// (or the run was released: nobody holds it).
  result<std::int64_t> renew(const run_id& id, std::uint64_t epoch) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::int64_t until = 0;
    auto w = s_->write(false, [&]() -> detail::sqlite_journal_state::write_status {
      const detail::sqlite_id_bytes idb = detail::sqlite_id_to_bytes(id);
      auto h = fenced_head(id, idb, epoch);
      if (!h) return {h.error()};
      detail::sqlite_journal_state::run_head head = h.value();
      if (head.owner.empty())  // released: the holder of `epoch` let it go
        return {s_->fail(journal_errc::fenced, "run " + detail::sqlite_run_name(id) +
                                                   " was released at epoch " +
                                                   std::to_string(epoch) + ": nobody holds it")};
      head.lease_until_ms = until = s_->lease_now_ms() + head.lease_ms;
      return s_->write_head(head, idb);
    });
    if (!w) return w.error();
    return until;
  }

  /// Hands the run back (unowned, where it stands): a `released` record; `fenced` if `epoch` is
  /// no longer the run's.
  result<void> release(const run_id& id, std::uint64_t epoch) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
      const detail::sqlite_id_bytes idb = detail::sqlite_id_to_bytes(id);
      auto h = fenced_head(id, idb, epoch);
      if (!h) return {h.error()};
      detail::sqlite_journal_state::run_head head = h.value();
      record_view r;
      r.kind = record_kind::released;
      r.epoch = epoch;
      const std::string owner = head.owner;
      r.message = owner;
      if (auto a = s_->add_record(head, idb, r); a.error) return a;
      head.owner.clear();
      head.lease_until_ms = 0;
      if (auto u = s_->write_head(head, idb); u.error) return u;
      return {};
    });
  }

  /// One record after the run's earlier ones, with the wall-clock time, if `rec.epoch` is the
  /// run's epoch and the run has not ended (else `fenced`, nothing written); the run's row
  /// (record count, status, lease) is updated in the same transaction: every write renews the
  /// lease. `run_not_found` if no such run.
  ///
  /// Two writes (the record, the run's row) and, in the common case, no read: the run's row as
  /// this connection last read or wrote it is used while nobody else has written to the file
  /// since (`detail::sqlite_journal_state::heads`).
  result<void> append(const run_id& id, const record_view& rec) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    // Grouped mode commits at once what other processes must see: a run's end and any record
    // that can change a status.
    const bool commit_now =
        rec.kind == record_kind::run_finished || detail::sqlite_may_change_status(rec);
    return s_->write(commit_now, [&]() -> detail::sqlite_journal_state::write_status {
      const detail::sqlite_id_bytes idb = detail::sqlite_id_to_bytes(id);
      auto h = fenced_head(id, idb, rec.epoch);
      if (!h) return {h.error()};
      detail::sqlite_journal_state::run_head head = h.value();
      const run_status before = head.status;
      const bool owned = !head.owner.empty();
      const std::uint32_t recoveries = head.recoveries;
      if (auto a = s_->add_record(head, idb, rec); a.error) return a;
      if (!head.owner.empty()) head.lease_until_ms = s_->lease_now_ms() + head.lease_ms;
      const bool same_row = head.status == before && head.owner.empty() == !owned &&
                            head.recoveries == recoveries;
      // Grouped: the row's progress is written once per group (run_head::dirty).
      if (same_row && !commit_now && s_->options.commit == sqlite_commit::grouped &&
          s_->keep_progress(head))
        return {};
      if (auto u = same_row ? s_->write_progress(head, idb) : s_->write_head(head, idb); u.error)
        return u;
      return {};
    }, true);
  }

  /// An operator's record (see `tutti::journal`): written only if the run's status is one of
  /// `allowed` (else `invalid_command`); `fence` raises the epoch and clears the owner.
  result<run_status> command(const run_id& id, const record_view& rec,
                             std::span<const run_status> allowed, bool fence) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    run_status after = run_status::running;
    auto w = s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
      const detail::sqlite_id_bytes idb = detail::sqlite_id_to_bytes(id);
      auto h = s_->head_of(id, idb);
      if (!h) return {h.error()};
      detail::sqlite_journal_state::run_head head = h.value();
      const run_status before = head.status;
      if (std::find(allowed.begin(), allowed.end(), before) == allowed.end())
        return {s_->fail(journal_errc::invalid_command,
                         "run " + detail::sqlite_run_name(id) + " is " +
                             std::string(to_string(before)) + ": " +
                             std::string(to_string(rec.kind)) + " does not apply")};
      if (fence) {
        ++head.epoch;
        head.owner.clear();
        head.lease_until_ms = 0;
      }
      record_view r = rec;
      r.epoch = head.epoch;
      if (auto a = s_->add_record(head, idb, r); a.error) return a;
      if (r.kind == record_kind::moved) head.version = r.attempt;
      if (before == run_status::dead_lettered && head.status == run_status::running)
        head.recoveries = 0;
      if (auto u = s_->write_head(head, idb); u.error) return u;
      if (before == run_status::queued && head.status != run_status::queued)
        if (auto d = s_->dequeued(); d.error) return d;
      after = head.status;
      return {};
    });
    if (!w) return w.error();
    return after;
  }

  /// The time leases are judged by (`sqlite_options::lease_clock`: Unix milliseconds unless a
  /// test set another clock): compare with `run_summary::lease_until_ms`
  /// (`tutti::lease_state_of`).
  [[nodiscard]] std::int64_t lease_now_ms() const noexcept { return s_->lease_now_ms(); }

  /// How many runs are queued (submitted, not claimed).
  [[nodiscard]] result<std::uint64_t> queue_depth() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    auto q = s_->read_queue();
    if (!q) return q.error();
    return static_cast<std::uint64_t>(q.value().second);
  }

  /// The run's header, input and records in order (`run_not_found`). Each record's checksum is
  /// checked: a damaged record gives `corrupt`, never wrong data.
  [[nodiscard]] result<stored_run> load(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->in_snapshot([&] { return s_->load(id); });
  }

  /// Summaries, newest first (ties: by id).
  [[nodiscard]] result<std::vector<run_summary>> list(const run_filter& filter) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->in_snapshot([&] { return s_->list(filter); });
  }

  /**
   * Runs by status and the oldest running, queued and paused ones (`run_census`), in one read
   * snapshot: the statuses other than `succeeded` from an index that holds only those runs,
   * `succeeded` as the rest of the journal's run count. Its cost grows with the runs that did
   * not succeed (retention bounds those too), not with the succeeded ones: 0.25 ms with 2,000
   * of them beside 10,000 succeeded runs, 0.31 ms beside 1,000,000 (`BM_sqlite_census`).
   */
  [[nodiscard]] result<run_census> census() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->in_snapshot([&] { return s_->census(); });
  }

  /// Where the run stands: one indexed read; within an open group (grouped mode), what this
  /// journal read or wrote under the group's write lock (nobody else can write meanwhile).
  [[nodiscard]] result<run_status> status(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->status_of(id);
  }

  /// grouped: commits the open transaction now. per_record: nothing to do. An error here (or
  /// from a timer commit before it) means the group's records were lost.
  result<void> flush() {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    if (s_->broken) {
      s_->fail(static_cast<journal_errc>(s_->broken.value()),
               "an earlier grouped commit failed and its records were lost");
      return s_->broken;
    }
    return s_->commit_group();
  }

  /**
   * Retention: deletes ended runs (succeeded, failed, compensated, compensation_failed,
   * resolved, dead_lettered) whose last record was written before `before_unix_ms` (wall
   * clock), with their records, oldest first: `batch` runs per write transaction, each committed
   * before the next begins (other writers — this process's engines, other processes — go on in
   * between), until a batch finds fewer than `batch` or `max_batches` batches ran (0: no limit).
   * Returns how many runs it deleted; `batch` 0 deletes nothing. The pages freed are reused by
   * later runs: a journal with retention stays at the size its live runs need. A purged run's
   * dedup key is forgotten (a submit with it makes a new run). In grouped mode the open group is
   * committed with the first batch.
   */
  result<std::uint64_t> purge_ended(std::int64_t before_unix_ms, std::size_t batch = 500,
                                    std::size_t max_batches = 0) {
    std::uint64_t total = 0;
    if (batch == 0) return total;
    const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(batch, INT32_MAX));
    for (std::size_t round = 0; max_batches == 0 || round < max_batches; ++round) {
      const std::lock_guard<std::mutex> lock(s_->mutex);
      std::int64_t n = 0;
      auto w = s_->write(true, [&]() -> detail::sqlite_journal_state::write_status {
        std::vector<detail::sqlite_id_bytes> ids;
        {
          sqlite3_stmt* q = s_->select_purgeable.get();
          const detail::sqlite_use use(q);
          const int brc = detail::sqlite_first_error(
              {sqlite3_bind_int64(q, 1, before_unix_ms), sqlite3_bind_int64(q, 2, limit)});
          if (brc != SQLITE_OK) return {s_->fail_sqlite(brc, "cannot look for runs to purge")};
          for (;;) {
            const int rc = sqlite3_step(q);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) return {s_->fail_sqlite(rc, "cannot look for runs to purge")};
            run_id id;
            if (!detail::sqlite_column_id(q, 0, id))
              return {s_->fail(journal_errc::corrupt, "a run's id is damaged")};
            ids.push_back(detail::sqlite_id_to_bytes(id));
          }
        }
        for (const detail::sqlite_id_bytes& idb : ids) {
          for (sqlite3_stmt* d : {s_->delete_records.get(), s_->delete_run.get()}) {
            const detail::sqlite_use use(d);
            int rc = detail::sqlite_bind_id(d, 1, idb);
            if (rc == SQLITE_OK) rc = sqlite3_step(d);
            if (rc != SQLITE_DONE)
              return {s_->fail_sqlite(rc == SQLITE_OK ? SQLITE_ERROR : rc, "cannot purge a run"),
                      true};
          }
        }
        n = static_cast<std::int64_t>(ids.size());
        if (n != 0) {
          const detail::sqlite_use use(s_->uncount_runs.get());
          int rc = sqlite3_bind_int64(s_->uncount_runs.get(), 1, n);
          if (rc == SQLITE_OK) rc = sqlite3_step(s_->uncount_runs.get());
          if (rc != SQLITE_DONE)
            return {s_->fail_sqlite(rc == SQLITE_OK ? SQLITE_ERROR : rc, "cannot purge a run"),
                    true};
        }
        return {};
      });
      if (!w) return w.error();
      if (n != 0) s_->forget_heads();  // the rows of purged runs are gone
      total += static_cast<std::uint64_t>(n);
      if (n < limit) break;
    }
    return total;
  }

  /// Reads the whole file: SQLite's structural check (`full`: `integrity_check`, else
  /// `quick_check`), then every run's records with their checksums. `corrupt` with the first
  /// problem found.
  [[nodiscard]] result<void> verify(bool full = false) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->in_snapshot([&] { return s_->verify(full); });
  }

  /// The message of the most recent failure of this journal (any thread): the path, what was
  /// wrong and SQLite's own text. Empty if nothing failed.
  [[nodiscard]] std::string last_error_message() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->last_error;
  }

  /// The path it was opened with.
  [[nodiscard]] const std::string& path() const noexcept { return s_->path; }
  /// The options it was opened with.
  [[nodiscard]] const sqlite_options& options() const noexcept { return s_->options; }

 private:
  explicit sqlite_journal(std::unique_ptr<detail::sqlite_journal_state> s) noexcept
      : s_(std::move(s)) {}

  struct inserted {
    detail::sqlite_journal_state::write_status status;
    detail::sqlite_journal_state::run_head head;
    detail::sqlite_id_bytes idb{};
  };
  /// Inside a write: a run's row and its run_started record.
  inserted insert_run(const run_id& id, std::string_view workflow, const workflow_version& version,
                      std::span<const std::byte> input, run_status status,
                      const submit_options& o, std::int64_t queue_seq, std::int64_t queued_ms) {
    inserted out;
    out.idb = detail::sqlite_id_to_bytes(id);
    const std::int64_t now = detail::sqlite_now_ms();
    {
      sqlite3_stmt* s = s_->insert_run.get();
      const detail::sqlite_use use(s, true);
      if (const int brc = detail::sqlite_first_error({
              detail::sqlite_bind_id(s, 1, out.idb),
              detail::sqlite_bind_text(s, 2, workflow),
              sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(version.fingerprint)),
              sqlite3_bind_int(s, 4, static_cast<int>(status)),
              sqlite3_bind_int64(s, 5, now),
              o.dedup_key.empty() ? sqlite3_bind_null(s, 6)
                                  : detail::sqlite_bind_text(s, 6, o.dedup_key),
              detail::sqlite_bind_text(s, 7, o.partition),
              sqlite3_bind_int(s, 8, o.exclusive && !o.partition.empty() ? 1 : 0),
              sqlite3_bind_int(s, 9, o.priority),
              sqlite3_bind_int64(s, 10, queue_seq),
              sqlite3_bind_int64(s, 11, queued_ms),
              sqlite3_bind_int64(s, 12, version.version),
              version.key.empty() ? sqlite3_bind_null(s, 13)
                                  : detail::sqlite_bind_text(s, 13, version.key),
          });
          brc != SQLITE_OK) {
        out.status = {s_->fail_bind(brc, "run " + detail::sqlite_run_name(id),
                                    "its workflow name is " + std::to_string(workflow.size()) +
                                        " bytes, its partition " +
                                        std::to_string(o.partition.size()) + " bytes, its key " +
                                        std::to_string(version.key.size()) + " bytes")};
        return out;
      }
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        out.status = {s_->fail(journal_errc::run_exists,
                               "run " + detail::sqlite_run_name(id) + " already exists")};
        return out;
      }
      if (rc != SQLITE_DONE) {
        out.status = {s_->fail_sqlite(rc, "cannot start a run")};
        return out;
      }
    }
    const detail::sqlite_record_fields f{
        1, static_cast<std::uint8_t>(record_kind::run_started), {}, 0, false,
        static_cast<std::uint8_t>(version.input_encoding), input, {}, 0, {}, 0};
    out.status = s_->insert_record_row(out.idb, id, f, now);
    if (out.status.error) {
      out.status.partial = true;  // the run's row is written
      return out;
    }
    if (const int rc = detail::sqlite_journal_state::step_done(s_->count_run.get());
        rc != SQLITE_OK) {
      out.status = {s_->fail_sqlite(rc, "cannot count run " + detail::sqlite_run_name(id)), true};
      return out;
    }
    out.head.id = id;
    out.head.seq = 1;
    out.head.status = status;
    out.head.queued_ms = queued_ms;
    out.head.version = version.version;
    s_->remember_head(out.head);
    return out;
  }

  /// Inside a write: the run's head if `epoch` is its epoch and it has not ended; else
  /// `fenced` (with who holds it now).
  result<detail::sqlite_journal_state::run_head> fenced_head(const run_id& id,
                                                             const detail::sqlite_id_bytes& idb,
                                                             std::uint64_t epoch) {
    auto h = s_->head_of(id, idb);
    if (!h) return h.error();
    const auto& head = h.value();
    if (head.epoch != epoch || ended(head.status))
      return s_->fail(journal_errc::fenced,
                      "run " + detail::sqlite_run_name(id) + " refused a write of epoch " +
                          std::to_string(epoch) + ": it is at epoch " +
                          std::to_string(head.epoch) + " and " +
                          std::string(to_string(head.status)) +
                          (head.owner.empty() ? std::string() : ", held by '" + head.owner + "'"));
    return h;
  }


  /// Everything `open` does with the connection; on failure the message is in
  /// `st.last_error`.
  static std::error_code open_into(detail::sqlite_journal_state& st) {
    namespace fs = std::filesystem;
    const sqlite_options& o = st.options;
    if (st.path.empty() || (o.commit == sqlite_commit::grouped && o.group_records == 0) ||
        o.busy_timeout.count() < 0 || o.group_interval.count() < 0) {
      st.last_error = "tutti sqlite journal '" + st.path +
                      "': invalid options (empty path, group_records 0 or a negative duration)";
      return std::make_error_code(std::errc::invalid_argument);
    }
    if (sqlite3_libversion_number() < 3026000)
      return st.fail(journal_errc::io_error, std::string("SQLite ") + sqlite3_libversion() +
                                                 " is too old: tutti needs 3.26 or newer");
    if (sqlite3_threadsafe() == 0)
      return st.fail(journal_errc::io_error, "SQLite was built without thread support");

    // 1. The file as bytes, before SQLite reads it (and before it could recover into it).
    std::error_code ec;
    const fs::file_status fst = fs::status(st.path, ec);
    const bool exists = fst.type() != fs::file_type::not_found;
    if (ec && exists)
      return st.fail(journal_errc::io_error, "cannot be inspected: " + ec.message());
    bool creatable = false;
    if (!exists) {
      if (!o.create_if_missing)
        return st.fail(journal_errc::io_error, "does not exist (and create_if_missing is off)");
      creatable = true;
    } else {
      if (!fs::is_regular_file(fst))
        return st.fail(journal_errc::io_error, "is not a regular file");
      const std::uintmax_t size = fs::file_size(st.path, ec);
      if (ec) return st.fail(journal_errc::io_error, "cannot be inspected: " + ec.message());
      const bool has_wal = detail::sqlite_size_or_zero(st.path + "-wal") != 0;
      const bool has_hot_journal = detail::sqlite_size_or_zero(st.path + "-journal") != 0;
      if (size == 0) {
        if (has_wal)
          return st.fail(journal_errc::corrupt,
                         "is empty (0 bytes) but its -wal file is not: refusing to create a "
                         "journal over what may be left of one");
        if (!o.create_if_missing)
          return st.fail(journal_errc::corrupt,
                         "is empty (0 bytes), not a journal (create_if_missing is off)");
        creatable = true;
      } else if (std::string what =
                     detail::sqlite_check_file(st.path, size, has_wal, has_hot_journal);
                 !what.empty()) {
        return st.fail(journal_errc::corrupt, what);
      }
    }

    // 2. Open. Without SQLITE_OPEN_CREATE unless the file was missing: SQLite never makes a
    // new file where we decided there was one.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;  // our own mutex
    if (!exists) flags |= SQLITE_OPEN_CREATE;
#ifdef SQLITE_OPEN_EXRESCODE
    flags |= SQLITE_OPEN_EXRESCODE;
#endif
    sqlite3* raw = nullptr;
    const int orc = sqlite3_open_v2(st.path.c_str(), &raw, flags, nullptr);
    st.db.reset(raw);
    if (orc != SQLITE_OK) return st.fail_sqlite(orc, "cannot be opened");
    sqlite3* db = raw;
    sqlite3_extended_result_codes(db, 1);
    const auto ms = o.busy_timeout.count();
    sqlite3_busy_timeout(db, ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms));
    if (o.max_value_bytes != 0)  // SQLite lowers a value above its own hard limit to it
      sqlite3_limit(db, SQLITE_LIMIT_LENGTH,
                    o.max_value_bytes > INT32_MAX ? INT32_MAX
                                                  : static_cast<int>(o.max_value_bytes));
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    detail::sqlite_exec(db, "PRAGMA cell_size_check = ON");  // catch damaged pages early
    detail::sqlite_exec(db, "PRAGMA trusted_schema = OFF");

    // 3. Is it ours? Reading the header is where SQLite finds garbage ("not a database").
    std::int64_t app_id = 0;
    if (const int rc = detail::sqlite_query_int(db, "PRAGMA application_id", app_id);
        rc != SQLITE_OK)
      return st.fail_sqlite(rc, "is not a readable SQLite database");
    std::int64_t objects = 0;
    if (const int rc = detail::sqlite_query_int(db, "SELECT count(*) FROM sqlite_master", objects);
        rc != SQLITE_OK)
      return st.fail_sqlite(rc, "is not a readable SQLite database");
    if (app_id == 0 && objects == 0) {
      if (!creatable)
        return st.fail(journal_errc::corrupt,
                       "an empty SQLite database that is not a tutti journal (no application_id): "
                       "refusing to initialise an existing file");
      if (std::error_code e = bootstrap(st); e) return e;
    } else if (app_id != sqlite_journal_application_id) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08X", static_cast<unsigned>(app_id));
      return st.fail(journal_errc::corrupt,
                     std::string("an SQLite database but not a tutti journal (application_id ") +
                         hex + ", a tutti journal has 0x54555454 \"TUTT\")");
    }

    // 4. Which version? Refuse newer ones before anything writes.
    std::int64_t version = 0;
    bool found = false;
    bool is_integer = false;
    if (const int rc = detail::sqlite_read_schema_version(db, version, found, is_integer);
        rc != SQLITE_OK)
      return st.fail(detail::sqlite_schema_errc_of(rc),
                     "has tutti's application_id but no readable schema version: " +
                         detail::sqlite_describe(db, rc));
    if (!found || !is_integer || version < 0)
      return st.fail(journal_errc::corrupt,
                     "has tutti's application_id but meta.schema_version is missing or not a "
                     "number");
    if (version > sqlite_journal_schema_version)
      return st.fail(journal_errc::unknown_schema,
                     "has schema version " + std::to_string(version) + "; this tutti (" +
                         detail::sqlite_tutti_version() + ") reads schema versions up to " +
                         std::to_string(sqlite_journal_schema_version) +
                         ": open it with a newer tutti");

    // 5. A journal at the current version is checked before anything writes to it: the
    // statements double as a schema check (a missing table or column fails to prepare).
    const auto check_tables = [&]() -> std::error_code {
      if (const int rc = st.prepare_all(); rc != SQLITE_OK)
        return st.fail(detail::sqlite_schema_errc_of(rc),
                       "its tables do not match schema version " +
                           std::to_string(sqlite_journal_schema_version) + ": " +
                           detail::sqlite_describe(db, rc));
      if (o.check_on_open) {
        if (auto r = st.verify(false); !r) return r.error();
      }
      return {};
    };
    if (version == sqlite_journal_schema_version) {
      if (std::error_code e = check_tables(); e) return e;
    } else if (const char* probe = detail::sqlite_schema_probe(static_cast<int>(version))) {
      // An older journal is migrated below (writes): first its tables must be what its version
      // says, or the file is not touched.
      if (const int rc = detail::sqlite_exec(db, probe); rc != SQLITE_OK)
        return st.fail(detail::sqlite_schema_errc_of(rc),
                       "its tables do not match schema version " + std::to_string(version) + ": " +
                           detail::sqlite_describe(db, rc));
    }

    // 6. WAL and durability; then migrations of older versions (writes: the file is ours).
    {
      sqlite3_stmt* mraw = nullptr;
      int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &mraw, nullptr);
      const detail::sqlite_stmt_ptr mode(mraw);
      std::string got;
      if (rc == SQLITE_OK && (rc = sqlite3_step(mraw)) == SQLITE_ROW) {
        got = detail::sqlite_column_string(mraw, 0);
        rc = SQLITE_OK;
      }
      if (rc != SQLITE_OK) return st.fail_sqlite(rc, "cannot switch to WAL mode");
      if (got != "wal")
        return st.fail(journal_errc::io_error,
                       "cannot use WAL mode (journal_mode is '" + got +
                           "'; WAL needs a local file system with shared memory)");
    }
    detail::sqlite_exec(db, o.commit == sqlite_commit::per_record && o.power_safe
                                ? "PRAGMA synchronous = FULL"
                                : "PRAGMA synchronous = NORMAL");
    if (version < sqlite_journal_schema_version) {
      std::string why;
      auto reached = detail::sqlite_run_migrations(db, sqlite_journal_schema_version,
                                                   detail::sqlite_migrations, why);
      if (!reached) return st.fail(static_cast<journal_errc>(reached.error().value()), why);
      if (reached.value() != sqlite_journal_schema_version)
        return st.fail(journal_errc::unknown_schema,
                       "has schema version " + std::to_string(reached.value()) +
                           " after migrating; this tutti reads up to " +
                           std::to_string(sqlite_journal_schema_version));
      if (std::error_code e = check_tables(); e) return e;
    }
    return {};
  }

  /// A new journal at schema version 0: application_id and the meta table, in one transaction
  /// in rollback-journal mode, so that the application_id is in the main file from the start
  /// (not only in a WAL) and a crash leaves either an empty file or a version-0 journal.
  static std::error_code bootstrap(detail::sqlite_journal_state& st) {
    sqlite3* db = st.db.get();
    if (const int rc = detail::sqlite_exec(db, "BEGIN IMMEDIATE"); rc != SQLITE_OK)
      return st.fail_sqlite(rc, "cannot create the journal");
    std::int64_t objects = 0;
    std::int64_t app_id = 0;
    int rc = detail::sqlite_query_int(db, "SELECT count(*) FROM sqlite_master", objects);
    if (rc == SQLITE_OK) rc = detail::sqlite_query_int(db, "PRAGMA application_id", app_id);
    if (rc == SQLITE_OK && (objects != 0 || app_id != 0)) {
      // Another process created it meanwhile: check it like any existing file.
      detail::sqlite_exec(db, "ROLLBACK");
      if (app_id != sqlite_journal_application_id)
        return st.fail(journal_errc::corrupt, "was created meanwhile by something else");
      return {};
    }
    const std::string sql =
        "PRAGMA application_id = " + std::to_string(sqlite_journal_application_id) +
        ";\nCREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;\n"
        "INSERT INTO meta(key, value) VALUES ('schema_version', 0), ('created_by', 'tutti " +
        detail::sqlite_tutti_version() + "'), ('created_unix_ms', " +
        std::to_string(detail::sqlite_now_ms()) + ");";
    if (rc == SQLITE_OK) rc = detail::sqlite_exec(db, sql.c_str());
    if (rc == SQLITE_OK) rc = detail::sqlite_exec(db, "COMMIT");
    if (rc != SQLITE_OK) {
      const std::error_code e = st.fail_sqlite(rc, "cannot create the journal");
      if (!sqlite3_get_autocommit(db)) detail::sqlite_exec(db, "ROLLBACK");
      return e;
    }
    return {};
  }

  std::unique_ptr<detail::sqlite_journal_state> s_;
};

static_assert(journal<sqlite_journal>);

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_SQLITE_HPP
