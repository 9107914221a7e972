// tutti — a journal in PostgreSQL: several replicas of a service on one database claim, run and
// take over each other's runs. Link tutti::postgres (libpq); header-only apart from -lpq.
#ifndef TUTTI_JOURNAL_POSTGRES_HPP
#define TUTTI_JOURNAL_POSTGRES_HPP

#include <libpq-fe.h>

#include <algorithm>     // std::find
#include <array>         // parameter storage
#include <chrono>        // leases, back-off
#include <climits>       // INT_MAX
#include <cstddef>       // std::byte
#include <cstdint>       // fields
#include <cstdlib>       // std::strtol
#include <cstring>       // std::memcpy
#include <memory>        // state behind a pointer (move-only journal)
#include <mutex>         // one connection, one mutex
#include <optional>      // a test's lease clock
#include <span>          // payloads
#include <string>        // messages
#include <string_view>   // views
#include <system_error>  // errors
#include <type_traits>   // std::is_invocable_r_v
#include <utility>       // std::move
#include <vector>        // results

#include "../clock.hpp"
#include "../config.hpp"
#include "../version.hpp"
#include "journal.hpp"
#include "postgres_schema.hpp"

TUTTI_BEGIN_NAMESPACE

/// How `tutti::postgres_journal::open` connects and behaves.
struct postgres_options {
  /// The PostgreSQL schema (namespace) the journal's tables and functions live in; created if
  /// missing. Replicas that share runs use the same database and schema.
  std::string schema = "tutti";
  /// `synchronous_commit` of the journal's session. true (PostgreSQL's default): a write has
  /// reached the server's WAL on disk (and the synchronous standbys, if configured) when
  /// `append` returns. false: a server crash may lose the last writes (about 3 × the server's
  /// `wal_writer_delay`, always a suffix); a crash of the replica loses nothing. A lost write
  /// may be a claim: the same epoch can then be granted again to another engine, and fencing no
  /// longer tells the two apart (as after a failover to an asynchronous standby). Keep it on
  /// wherever a step's effect matters.
  bool synchronous_commit = true;
  /// How long a claim, a sweep or an operator command waits for a row lock another
  /// transaction holds before it fails with `io_error` (claims of queued rows never wait:
  /// SKIP LOCKED). 0: no limit (PostgreSQL's meaning).
  std::chrono::milliseconds lock_timeout{2000};
  /// The longest any one statement may run (`statement_timeout`); 0: no limit.
  std::chrono::milliseconds statement_timeout{30'000};
  /// After the connection is lost: the first wait before reconnecting, doubled after each
  /// failed attempt up to `reconnect_max`. Calls in between fail at once with `io_error`.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{2000};
  /// The most queued runs `submit` accepts (then `journal_errc::queue_full`); 0: no bound.
  /// With a bound, submissions of all replicas take turns (an advisory lock).
  std::uint64_t max_queued = 0;
  /// Create the schema's tables when missing; off: an empty schema gives `io_error`.
  bool create_if_missing = true;
  /// Unset (production): leases are judged by the database's clock (`clock_timestamp()`), the one clock
  /// all replicas share. A test may set its manual clock to expire leases at will; every
  /// replica of that test must then use the same clock.
  std::optional<any_clock> lease_clock{};
};

namespace detail {

struct pg_conn_closer {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct pg_result_clearer {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using pg_conn_ptr = std::unique_ptr<PGconn, pg_conn_closer>;
using pg_result_ptr = std::unique_ptr<PGresult, pg_result_clearer>;

/// Parameters of one statement, all in PostgreSQL's binary format (numbers big-endian, text
/// and bytea as their bytes, uuid as 16 bytes), except an array given as text.
class pg_params {
 public:
  static constexpr int capacity = 20;

  pg_params& i64(std::int64_t v) noexcept {
    auto& b = numbers_[static_cast<std::size_t>(n_)];
    for (int i = 0; i < 8; ++i)
      b[static_cast<std::size_t>(i)] = static_cast<char>(static_cast<std::uint64_t>(v) >> (56 - 8 * i));
    return put(b.data(), 8, 1);
  }
  pg_params& u64(std::uint64_t v) noexcept { return i64(static_cast<std::int64_t>(v)); }
  pg_params& boolean(bool v) noexcept {
    auto& b = numbers_[static_cast<std::size_t>(n_)];
    b[0] = v ? 1 : 0;
    return put(b.data(), 1, 1);
  }
  pg_params& id(const run_id& id) noexcept {
    auto& b = numbers_[static_cast<std::size_t>(n_)];
    for (int i = 0; i < 8; ++i) {
      b[static_cast<std::size_t>(i)] = static_cast<char>(id.hi >> (56 - 8 * i));
      b[static_cast<std::size_t>(8 + i)] = static_cast<char>(id.lo >> (56 - 8 * i));
    }
    return put(b.data(), 16, 1);
  }
  pg_params& bytes(std::span<const std::byte> v) noexcept {
    return put(v.empty() ? "" : reinterpret_cast<const char*>(v.data()), v.size(), 1);
  }
  pg_params& text(std::string_view v) noexcept {
    return put(v.empty() ? "" : v.data(), v.size(), 1);
  }
  /// A NUL-terminated value in text format (an array literal such as "{1,2}").
  pg_params& text_format(const std::string& v) noexcept { return put(v.c_str(), 0, 0); }
  pg_params& null() noexcept { return put(nullptr, 0, 1); }

  [[nodiscard]] int size() const noexcept { return n_; }
  [[nodiscard]] const char* const* values() const noexcept { return values_.data(); }
  [[nodiscard]] const int* lengths() const noexcept { return lengths_.data(); }
  [[nodiscard]] const int* formats() const noexcept { return formats_.data(); }
  /// A value longer than a statement parameter can be (libpq counts in int).
  [[nodiscard]] bool too_big() const noexcept { return too_big_; }

 private:
  pg_params& put(const char* v, std::size_t len, int format) noexcept {
    const auto i = static_cast<std::size_t>(n_);
    if (len > static_cast<std::size_t>(INT_MAX)) too_big_ = true;
    values_[i] = v;
    lengths_[i] = len > static_cast<std::size_t>(INT_MAX) ? 0 : static_cast<int>(len);
    formats_[i] = format;
    ++n_;
    return *this;
  }
  int n_ = 0;
  bool too_big_ = false;
  std::array<const char*, capacity> values_{};
  std::array<int, capacity> lengths_{};
  std::array<int, capacity> formats_{};
  std::array<std::array<char, 16>, capacity> numbers_{};
};

/// Reads fields of a binary-format result.
struct pg_row {
  const PGresult* r;
  int row;
  [[nodiscard]] bool null(int col) const noexcept { return PQgetisnull(r, row, col) != 0; }
  [[nodiscard]] std::int64_t i64(int col) const noexcept {
    if (null(col)) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col));
    const int len = PQgetlength(r, row, col);
    std::uint64_t v = 0;
    for (int i = 0; i < len && i < 8; ++i) v = (v << 8) | p[i];
    if (len == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    if (len == 2) return static_cast<std::int16_t>(static_cast<std::uint16_t>(v));
    if (len == 1) return static_cast<std::int8_t>(static_cast<std::uint8_t>(v));
    return static_cast<std::int64_t>(v);
  }
  [[nodiscard]] bool boolean(int col) const noexcept { return i64(col) != 0; }
  [[nodiscard]] std::string text(int col) const {
    if (null(col)) return {};
    return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
  }
  [[nodiscard]] std::vector<std::byte> bytes(int col) const {
    if (null(col)) return {};
    const auto* p = reinterpret_cast<const std::byte*>(PQgetvalue(r, row, col));
    return {p, p + PQgetlength(r, row, col)};
  }
  [[nodiscard]] bool id(int col, run_id& out) const noexcept {
    if (null(col) || PQgetlength(r, row, col) != 16) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col));
    out = {};
    for (int i = 0; i < 8; ++i) {
      out.hi = (out.hi << 8) | p[i];
      out.lo = (out.lo << 8) | p[8 + i];
    }
    return true;
  }
};

inline std::string pg_run_name(const run_id& id) { return std::string(id.hex().view()); }

inline std::string pg_tutti_version() {
  return std::to_string(TUTTI_VERSION_MAJOR) + '.' + std::to_string(TUTTI_VERSION_MINOR) + '.' +
         std::to_string(TUTTI_VERSION_PATCH);
}

/// The journal's prepared statements: name and SQL (functions of the journal's schema, found
/// by the session's search_path).
struct pg_statement {
  const char* name;
  const char* sql;
};
inline constexpr pg_statement pg_statements[] = {
    {"tutti_start", "SELECT * FROM start_run($1::uuid, $2::text, $3::bigint, $4::bytea, $5::text, "
                    "$6::bigint, $7::bigint, $8::bigint, $9::text, $10::bigint, $11::boolean)"},
    {"tutti_submit", "SELECT * FROM submit_run($1::uuid, $2::text, $3::bigint, $4::bytea, "
                     "$5::text, $6::text, $7::boolean, $8::bigint, $9::bigint, $10::bigint, "
                     "$11::bigint, $12::text, $13::bigint)"},
    {"tutti_claim", "SELECT * FROM claim_run($1::uuid, $2::text, $3::bigint, $4::text, $5::text, "
                    "$6::bigint)"},
    {"tutti_claim_next", "SELECT * FROM claim_next($1::text, $2::bigint, $3::text, $4::bigint, "
                         "$5::text, $6::text, $7::bigint, $8::bigint)"},
    {"tutti_append",
     "SELECT append_record($1::uuid, $2::bigint, $3::bigint, $4::text, $5::bigint, $6::boolean, "
     "$7::bigint, $8::bytea, $9::text, $10::bigint, $11::bytea, $12::bigint, $13::bigint, "
     "$14::boolean, $15::bigint)"},
    {"tutti_renew", "SELECT renew_lease($1::uuid, $2::bigint, $3::bigint)"},
    {"tutti_release", "SELECT release_run($1::uuid, $2::bigint, $3::bigint)"},
    {"tutti_command",
     "SELECT run_command($1::uuid, $2::bigint, $3::text, $4::bigint, $5::boolean, $6::bigint, "
     "$7::bytea, $8::text, $9::bigint, $10::bytea, $11::bigint, $12::bigint, $13::bigint[], "
     "$14::boolean, $15::text, $16::bigint)"},
    {"tutti_status", "SELECT status FROM runs WHERE run_id = $1::uuid"},
    {"tutti_run",
     "SELECT workflow, fingerprint, status, started_ms, last_seq, owner, epoch, lease_until_ms, "
     "recoveries, partition_key, exclusive, priority, coalesce(dedup_key, ''), updated_ms, "
     "version, coalesce(run_key, ''), coalesce(failed_step, ''), coalesce(error_category, ''), "
     "coalesce(error_value, 0) FROM runs WHERE run_id = $1::uuid"},
    {"tutti_records",
     "SELECT seq, kind, step, attempt, ok, outcome, payload, error_category, error_value, "
     "message, time_ns, epoch FROM records WHERE run_id = $1::uuid ORDER BY seq"},
    {"tutti_depth", "SELECT count(*) FROM runs WHERE status = 8"},
    // The census: a row per status, and one (status 0) that carries the database's clock.
    {"tutti_census",
     "SELECT status::bigint, count(*)::bigint, min(started_ms)::bigint, now_ms($1::bigint) "
     "FROM runs GROUP BY status UNION ALL SELECT 0::bigint, 0::bigint, 0::bigint, "
     "now_ms($1::bigint)"},
    {"tutti_sweep", "SELECT sweep_expired($1::bigint, $2::text, $3::text, $4::bigint)"},
    {"tutti_purge", "SELECT purge_ended($1::bigint, $2::bigint)"},
};

/// The columns of a claim as the claim functions return them.
inline bool pg_read_claim(const pg_row& row, run_claim& c) {
  if (!row.id(0, c.id)) return false;
  c.workflow = row.text(1);
  c.epoch = static_cast<std::uint64_t>(row.i64(2));
  c.lease_until_ms = row.i64(3);
  c.takeover = row.boolean(4);
  c.from_queue = row.boolean(5);
  c.recoveries = static_cast<std::uint32_t>(row.i64(6));
  c.queued_ms = row.i64(7);
  c.version = static_cast<std::uint32_t>(row.i64(8));
  return true;
}

/// The connection, its state and the last failure. Every member runs under `mutex`.
struct pg_state {
  std::string conninfo;
  postgres_options options;
  pg_conn_ptr conn;
  std::mutex mutex;
  std::string last_error;
  bool ready = false;  // connected, session set up, statements prepared
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
  std::uint64_t reconnects = 0;
  std::string lock_timeout_text;

  std::error_code fail(journal_errc e, std::string what) {
    last_error = "tutti postgres journal (schema '" + options.schema + "'): " + std::move(what);
    return make_error_code(e);
  }

  [[nodiscard]] std::optional<std::int64_t> test_now() const {
    if (!options.lease_clock) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_clock->now())
        .count();
  }
  pg_params& now_param(pg_params& p) const {
    if (auto t = test_now()) return p.i64(*t);
    return p.null();
  }

  /// The error of a failed statement as a journal_errc; the message says what and why.
  std::error_code fail_result(const PGresult* r, std::string_view doing) {
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state != nullptr ? state : "";
    std::string text;
    if (code.size() == 5 && code[0] == 'T' && code[1] == 'T') {
      const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
      text = primary != nullptr ? primary : "";
      journal_errc e = journal_errc::io_error;
      if (code == "TT404") e = journal_errc::run_not_found;
      else if (code == "TT409") e = journal_errc::not_resumable;
      else if (code == "TT410") e = journal_errc::run_exists;
      else if (code == "TT412") e = journal_errc::fenced;
      else if (code == "TT423") e = journal_errc::owned;
      else if (code == "TT400") e = journal_errc::invalid_command;
      else if (code == "TT503") e = journal_errc::queue_full;
      else if (code == "TT500") e = journal_errc::corrupt;
      return fail(e, text);
    }
    text = r != nullptr ? PQresultErrorMessage(r) : "";
    if (text.empty() && conn) text = PQerrorMessage(conn.get());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    const bool lost = !conn || PQstatus(conn.get()) != CONNECTION_OK;
    if (lost) {
      ready = false;
      schedule_reconnect();
      return fail(journal_errc::io_error,
                  std::string("lost the connection to PostgreSQL while it tried to ") +
                      std::string(doing) +
                      " (a write may or may not have been committed; a resume reads what was): " +
                      text);
    }
    // program_limit_exceeded (54000) is a value over PostgreSQL's limits (1 GB a field).
    if (code == "54000")
      return fail(journal_errc::too_big, "cannot " + std::string(doing) + ": " + text);
    return fail(journal_errc::io_error,
                "cannot " + std::string(doing) + " (SQLSTATE " + code + "): " + text);
  }

  void schedule_reconnect() {
    backoff = backoff.count() == 0 ? options.reconnect_min
                                   : std::min(backoff * 2, options.reconnect_max);
    next_attempt = std::chrono::steady_clock::now() + backoff;
  }

  /// Runs one SQL text (several statements allowed), no parameters, no result rows wanted.
  std::error_code exec(const char* sql, std::string_view doing) {
    const pg_result_ptr r(PQexec(conn.get(), sql));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return fail_result(r.get(), doing);
    return {};
  }

  /// Connects (or reconnects, not before the back-off allows), sets up the session and
  /// prepares the statements.
  std::error_code connect() {
    if (ready && conn && PQstatus(conn.get()) == CONNECTION_OK) return {};
    const auto now = std::chrono::steady_clock::now();
    if (conn && now < next_attempt)
      return fail(journal_errc::io_error,
                  "not connected to PostgreSQL: reconnecting in " +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         next_attempt - now)
                                         .count()) +
                      " ms (the last failure: " + last_failure_text() + ")");
    const bool again = static_cast<bool>(conn);
    conn.reset(PQconnectdb(conninfo.c_str()));
    if (!conn) return fail(journal_errc::io_error, "cannot allocate a PostgreSQL connection");
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      std::string text = PQerrorMessage(conn.get());
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      schedule_reconnect();
      return fail(journal_errc::io_error, "cannot connect to PostgreSQL: " + text);
    }
    if (PQserverVersion(conn.get()) < 140000) {
      const int v = PQserverVersion(conn.get());
      conn.reset();
      return fail(journal_errc::io_error, "PostgreSQL " + std::to_string(v / 10000) +
                                              " is too old: tutti needs 14 or newer");
    }
    if (again) ++reconnects;
    if (auto e = set_up(); e) {
      // Connected, but the session could not be set up (a timeout on the schema's lock, a newer
      // schema): the next attempt waits for the back-off, as after a failed connect.
      ready = false;
      schedule_reconnect();
      return e;
    }
    ready = true;
    backoff = std::chrono::milliseconds{0};
    return {};
  }

  /// The session's settings, the schema (created or migrated) and the prepared statements.
  std::error_code set_up() {
    char* quoted = PQescapeIdentifier(conn.get(), options.schema.c_str(), options.schema.size());
    if (quoted == nullptr) return fail_result(nullptr, "quote the schema name");
    const std::string schema_ident = quoted;
    PQfreemem(quoted);
    const std::string session =
        "SET search_path = " + schema_ident + ", pg_catalog; SET synchronous_commit = " +
        (options.synchronous_commit ? "on" : "off") +
        "; SET statement_timeout = " + std::to_string(options.statement_timeout.count()) +
        "; SET application_name = " + quoted_literal("tutti:" + options.schema.substr(0, 56)) +
        "; SET client_min_messages = warning";
    if (auto e = exec(session.c_str(), "set up the session"); e) return e;
    if (auto e = migrate(schema_ident); e) return e;
    for (const auto& s : pg_statements) {
      const pg_result_ptr r(PQprepare(conn.get(), s.name, s.sql, 0, nullptr));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        auto e = fail_result(r.get(), std::string("prepare ") + s.name);
        if (e == journal_errc::io_error && PQstatus(conn.get()) == CONNECTION_OK)
          return fail(journal_errc::unknown_schema,
                      std::string("the schema's functions do not match version ") +
                          std::to_string(postgres_journal_schema_version) + ": " + last_error);
        return e;
      }
    }
    return {};
  }

  /// Drops the connection (a later call reconnects, after the back-off): for a session left in
  /// a state this journal cannot use (inside a transaction or a pipeline after an exception).
  void drop() noexcept {
    ready = false;
    schedule_reconnect();
  }

  /// `text` as an SQL string literal of this connection.
  std::string quoted_literal(const std::string& text) {
    char* q = PQescapeLiteral(conn.get(), text.c_str(), text.size());
    if (q == nullptr) return "'tutti'";
    std::string out = q;
    PQfreemem(q);
    return out;
  }

  [[nodiscard]] std::string last_failure_text() const {
    const auto at = last_error.find("): ");
    return at == std::string::npos ? last_error : last_error.substr(at + 3);
  }

  /// Creates or migrates the schema: one transaction (all steps land, or none), under an
  /// advisory lock, so that replicas starting together neither race nor migrate twice. A newer schema than this
  /// tutti knows is refused before anything is written.
  std::error_code migrate(const std::string& schema_ident) {
    if (auto e = exec("BEGIN", "begin the schema check"); e) return e;
    const auto abandon = [&](std::error_code e) {
      if (conn && PQstatus(conn.get()) == CONNECTION_OK) {
        const pg_result_ptr r(PQexec(conn.get(), "ROLLBACK"));
      }
      return e;
    };
    const std::string lock =
        "SELECT pg_advisory_xact_lock(hashtextextended('tutti.schema:' || $1, 0))";
    {
      pg_params p;
      p.text(options.schema);
      const pg_result_ptr r(PQexecParams(conn.get(), lock.c_str(), 1, nullptr, p.values(),
                                         p.lengths(), p.formats(), 1));
      if (PQresultStatus(r.get()) != PGRES_TUPLES_OK)
        return abandon(fail_result(r.get(), "lock the schema for its check"));
    }
    bool migrated = false;
    for (;;) {
      pg_params p;
      p.text(options.schema);
      const pg_result_ptr has(PQexecParams(
          conn.get(), "SELECT 1 WHERE to_regclass(quote_ident($1::text) || '.meta') IS NOT NULL",
          1, nullptr, p.values(), p.lengths(), p.formats(), 0));
      if (PQresultStatus(has.get()) != PGRES_TUPLES_OK)
        return abandon(fail_result(has.get(), "look for the journal's tables"));
      const bool exists = PQntuples(has.get()) == 1;
      const pg_result_ptr r(
          exists ? PQexec(conn.get(), ("SELECT value FROM " + schema_ident +
                                       ".meta WHERE key = 'schema_version'")
                                          .c_str())
                 : nullptr);
      if (exists && PQresultStatus(r.get()) != PGRES_TUPLES_OK)
        return abandon(fail_result(r.get(), "read the schema version"));
      if (exists && PQntuples(r.get()) == 0)
        return abandon(fail(journal_errc::corrupt,
                            "has a meta table without a schema_version: not a tutti journal"));
      if (!exists) {  // no meta table: a new journal
        if (!options.create_if_missing)
          return abandon(fail(journal_errc::io_error,
                              "has no tutti journal (and create_if_missing is off)"));
        const std::string create = "CREATE SCHEMA IF NOT EXISTS " + schema_ident + "; " +
                                   pg_bootstrap_sql +
                                   " INSERT INTO meta(key, value) VALUES ('created_by', 'tutti " +
                                   pg_tutti_version() + "')";
        if (auto e = exec(create.c_str(), "create the journal"); e) return abandon(e);
        continue;
      }
      const std::string text = PQgetvalue(r.get(), 0, 0);
      char* end = nullptr;
      const long version = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || end == nullptr || *end != '\0' || version < 0)
        return abandon(fail(journal_errc::corrupt,
                            "its schema_version '" + text + "' is not a number"));
      if (version > postgres_journal_schema_version)
        return abandon(fail(journal_errc::unknown_schema,
                            "has schema version " + std::to_string(version) + "; this tutti (" +
                                pg_tutti_version() +
                                ") reads schema versions up to " +
                                std::to_string(postgres_journal_schema_version) +
                                ": use a newer tutti"));
      if (version == postgres_journal_schema_version) break;
      migrated = true;
      const pg_migration* step = nullptr;
      for (const auto& m : pg_migrations)
        if (m.from == version) step = &m;
      if (step == nullptr)
        return abandon(fail(journal_errc::unknown_schema,
                            "no migration from schema version " + std::to_string(version)));
      if (auto e = exec(step->sql, "migrate the schema from version " + std::to_string(version));
          e)
        return abandon(e);
      const std::string bump = "UPDATE " + schema_ident + ".meta SET value = '" +
                               std::to_string(version + 1) + "' WHERE key = 'schema_version'";
      if (auto e = exec(bump.c_str(), "record the schema version"); e) return abandon(e);
    }
    // The session's search_path again: set before another session created the schema, it may
    // still resolve names without it (PostgreSQL recomputes the path lazily).
    const std::string path = "SET search_path = " + schema_ident + ", pg_catalog";
    if (auto e = exec(path.c_str(), "set the search path"); e) return abandon(e);
    if (migrated) {
      if (auto e = exec(pg_drop_functions_sql, "drop the journal's earlier functions"); e)
        return abandon(e);
      if (auto e = exec(pg_functions_sql, "create the journal's functions"); e) return abandon(e);
    }
    return exec("COMMIT", "commit the schema");
  }

  /// Runs prepared statement `name` with `p`; binary results. On failure the error (and the
  /// connection's state) is handled here.
  result<pg_result_ptr> run(const char* name, const pg_params& p, std::string_view doing) {
    return run(name, p, [doing] { return std::string(doing); });
  }
  /// The same, with what it does as a callable: the text is built only if it fails.
  template <class Describe>
    requires std::is_invocable_r_v<std::string, Describe>
  result<pg_result_ptr> run(const char* name, const pg_params& p, Describe&& doing) {
    if (auto e = connect(); e) return e;
    if (p.too_big())
      return fail(journal_errc::too_big, "cannot " + doing() + ": a value is larger than 2 GiB");
    pg_result_ptr r(PQexecPrepared(conn.get(), name, p.size(), p.values(), p.lengths(),
                                   p.formats(), 1));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return fail_result(r.get(), doing());
    return r;
  }

  /// Runs `sql` with `p` (not prepared); binary results.
  result<pg_result_ptr> run_sql(const std::string& sql, const pg_params& p,
                                std::string_view doing) {
    if (auto e = connect(); e) return e;
    pg_result_ptr r(PQexecParams(conn.get(), sql.c_str(), p.size(), nullptr, p.values(),
                                 p.lengths(), p.formats(), 1));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return fail_result(r.get(), doing);
    return r;
  }

  /// Claims as the claim functions return them.
  result<std::vector<run_claim>> claims(const PGresult* r) {
    std::vector<run_claim> out;
    const int n = PQntuples(r);
    if (n > 0 && PQnfields(r) != 9)
      return fail(journal_errc::corrupt, "a claim returned an unexpected row");
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      run_claim c;
      if (!pg_read_claim(pg_row{r, i}, c))
        return fail(journal_errc::corrupt, "a claimed run's id is damaged");
      out.push_back(std::move(c));
    }
    return out;
  }

  static bool valid_status(std::int64_t s) noexcept {
    return s >= 1 && s <= 9;
  }
};

/// The status a record leaves whatever the status before it; nullopt when it keeps it.
inline std::optional<run_status> pg_status_set_by(const record_view& r) noexcept {
  const run_status a = status_after(run_status::running, r);
  const run_status b = status_after(run_status::paused, r);
  if (a == b) return a;
  return std::nullopt;
}

/// The record's fields as statement parameters, after the run id (and epoch), in the order of
/// append_record and run_command: kind .. time_ns.
inline void pg_record_params(pg_params& p, const record_view& r) {
  p.i64(static_cast<std::int64_t>(r.kind))
      .text(r.step)
      .i64(r.attempt)
      .boolean(r.ok)
      .i64(r.outcome);
  if (r.payload.empty() && r.kind != record_kind::step_finished)
    p.null();
  else
    p.bytes(r.payload);
  p.text(r.error_category).i64(r.error_value);
  if (r.message.empty())
    p.null();
  else
    p.bytes(std::as_bytes(std::span<const char>(r.message.data(), r.message.size())));
  p.i64(r.time_ns);
}

}  // namespace detail

/**
 * A journal in PostgreSQL (14 or newer; tested with 15). Satisfies `tutti::journal`, with the
 * same ownership, queue and fencing as `sqlite_journal`, for replicas on several machines:
 *
 * - every call is one statement calling one of the schema's functions: one round trip and one
 *   short transaction, never open while a step runs;
 * - claims lock rows with `FOR UPDATE SKIP LOCKED` (replicas never wait for each other's
 *   claims; `lock_timeout` bounds the rest);
 * - leases are judged on the database's clock (`clock_timestamp()`), never a replica's;
 * - every write is an `UPDATE ... WHERE run_id = $1 AND epoch = $2` that must touch the run's
 *   row, in the same transaction as the record (fenced under READ COMMITTED too); a record is
 *   written once (`ON CONFLICT DO NOTHING`; a conflict is reported as `corrupt`, never an
 *   overwrite).
 *
 * @code
 *   std::string why;
 *   auto j = tutti::postgres_journal::open("host=db dbname=orders", {}, &why);
 *   if (!j) { fmt::print(stderr, "{}\n", why); return 1; }
 * @endcode
 *
 * Connection loss: the failed call returns `io_error` (saying that a write may or may not have
 * been committed); later calls reconnect, waiting `reconnect_min` doubling to `reconnect_max`
 * between attempts and failing at once in between. Nothing is retried behind the caller's back.
 *
 * Thread-safety: every member may be called from any thread (one connection, one mutex).
 * Move-only; a moved-from journal may only be destroyed or assigned to.
 */
class postgres_journal {
 public:
  /// Connects with libpq's `conninfo` ("host=... dbname=..." or a URI), creates or migrates
  /// the schema. Failure: `io_error` (cannot connect), `unknown_schema` (a newer tutti's),
  /// `corrupt`; `*why` says what and why.
  [[nodiscard]] static result<postgres_journal> open(const std::string& conninfo,
                                                     const postgres_options& options = {},
                                                     std::string* why = nullptr) {
    auto st = std::make_unique<detail::pg_state>();
    st->conninfo = conninfo;
    st->options = options;
    st->lock_timeout_text = std::to_string(options.lock_timeout.count()) + "ms";
    if (options.schema.empty() || options.lock_timeout.count() < 0 ||
        options.statement_timeout.count() < 0 || options.reconnect_min.count() <= 0 ||
        options.reconnect_max < options.reconnect_min) {
      if (why != nullptr)
        *why = "tutti postgres journal: invalid options (empty schema, a negative timeout or "
               "reconnect_min not in (0, reconnect_max])";
      return std::make_error_code(std::errc::invalid_argument);
    }
    const std::lock_guard<std::mutex> lock(st->mutex);
    if (auto e = st->connect(); e) {
      if (why != nullptr) *why = st->last_error;
      return e;
    }
    return postgres_journal(std::move(st));
  }

  postgres_journal(postgres_journal&&) noexcept = default;
  postgres_journal& operator=(postgres_journal&&) noexcept = default;
  ~postgres_journal() = default;

  /// A new run, unclaimed (epoch 0). `run_exists` if the id is taken.
  result<void> start(const run_id& id, std::string_view workflow, const workflow_version& version,
                     std::span<const std::byte> input) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.id(id).text(workflow).u64(version.fingerprint).bytes(input).null().i64(0);
    s_->now_param(p);
    p.i64(version.version);
    key_param(p, version.key);
    p.i64(static_cast<std::int64_t>(version.input_encoding)).boolean(version.paused);
    auto r = s_->run("tutti_start", p, "start run " + detail::pg_run_name(id));
    if (!r) return r.error();
    return outcome::success();
  }

  /// A new run claimed by `lease` (epoch 1): its row, run_started and claimed records.
  result<run_claim> start(const run_id& id, std::string_view workflow,
                          const workflow_version& version, std::span<const std::byte> input,
                          const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.id(id).text(workflow).u64(version.fingerprint).bytes(input).text(lease.owner).i64(
        lease.lease.count());
    s_->now_param(p);
    p.i64(version.version);
    key_param(p, version.key);
    p.i64(static_cast<std::int64_t>(version.input_encoding)).boolean(version.paused);
    auto r = s_->run("tutti_start", p, "start run " + detail::pg_run_name(id));
    if (!r) return r.error();
    auto c = s_->claims(r.value().get());
    if (!c) return c.error();
    if (c.value().size() != 1)
      return s_->fail(journal_errc::corrupt, "starting run " + detail::pg_run_name(id) +
                                                 " returned no claim");
    return std::move(c.value().front());
  }

  /// A queued run (see `tutti::journal`); `queue_full` with a bound; a dedup key returns the
  /// first run.
  result<submitted> submit(std::string_view workflow, const workflow_version& version,
                           std::span<const std::byte> input, const submit_options& o) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    const run_id id = o.id.empty() ? run_id::generate() : o.id;
    p.id(id).text(workflow).u64(version.fingerprint).bytes(input);
    if (o.dedup_key.empty())
      p.null();
    else
      p.text(o.dedup_key);
    p.text(o.partition).boolean(o.exclusive).i64(o.priority).u64(s_->options.max_queued);
    s_->now_param(p);
    p.i64(version.version);
    key_param(p, version.key);
    p.i64(static_cast<std::int64_t>(version.input_encoding));
    auto r = s_->run("tutti_submit", p, "submit a run of " + std::string(workflow));
    if (!r) return r.error();
    const PGresult* res = r.value().get();
    submitted out;
    if (PQntuples(res) != 1 || !detail::pg_row{res, 0}.id(0, out.id))
      return s_->fail(journal_errc::corrupt, "a submission returned no run");
    out.created = detail::pg_row{res, 0}.boolean(1);
    return out;
  }

  /// Claims run `id`: `owned`, `not_resumable`, `run_not_found`.
  result<run_claim> claim(const run_id& id, const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.id(id).text(lease.owner).i64(lease.lease.count()).text(lease.reclaim).text(
        s_->lock_timeout_text);
    s_->now_param(p);
    auto r = s_->run("tutti_claim", p, "claim run " + detail::pg_run_name(id));
    if (!r) return r.error();
    auto c = s_->claims(r.value().get());
    if (!c) return c.error();
    if (c.value().size() != 1)
      return s_->fail(journal_errc::corrupt,
                      "claiming run " + detail::pg_run_name(id) + " returned no claim");
    return std::move(c.value().front());
  }

  /// Claims up to `max` runs of `workflow` in one transaction (see `tutti::journal`).
  result<std::vector<run_claim>> claim_next(std::string_view workflow, std::size_t max,
                                            const lease_request& lease) {
    if (max == 0) return std::vector<run_claim>{};
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.text(workflow)
        .i64(max > static_cast<std::size_t>(INT32_MAX) ? INT32_MAX : static_cast<std::int64_t>(max))
        .text(lease.owner)
        .i64(lease.lease.count())
        .text(lease.reclaim)
        .text(s_->lock_timeout_text);
    s_->now_param(p);
    p.i64(lease.max_version);
    auto r = s_->run("tutti_claim_next", p, "claim runs of " + std::string(workflow));
    if (!r) return r.error();
    return s_->claims(r.value().get());
  }

  /// The lease of the holder of `epoch` again from now; `fenced` if it is no longer the run's
  /// (or the run was released: nobody holds it).
  result<std::int64_t> renew(const run_id& id, std::uint64_t epoch) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.id(id).u64(epoch);
    s_->now_param(p);
    auto r = s_->run("tutti_renew", p, "renew the lease of run " + detail::pg_run_name(id));
    if (!r) return r.error();
    if (PQntuples(r.value().get()) != 1)
      return s_->fail(journal_errc::corrupt, "a renewal returned no lease");
    return detail::pg_row{r.value().get(), 0}.i64(0);
  }

  /// Hands the run back (unowned, where it stands): a `released` record; `fenced` if `epoch`
  /// is no longer the run's.
  result<void> release(const run_id& id, std::uint64_t epoch) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.id(id).u64(epoch);
    s_->now_param(p);
    auto r = s_->run("tutti_release", p, "release run " + detail::pg_run_name(id));
    if (!r) return r.error();
    return outcome::success();
  }

  /// One record after the run's earlier ones if `rec.epoch` is the run's epoch and the run has
  /// not ended (else `fenced`, nothing written); the run's row (record count, status, lease)
  /// in the same transaction: one round trip.
  result<void> append(const run_id& id, const record_view& rec) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    append_params(p, id, rec);
    auto r = s_->run("tutti_append", p, [&] {
      return "append a " + std::string(to_string(rec.kind)) + " record to run " +
             detail::pg_run_name(id);
    });
    if (!r) return r.error();
    return outcome::success();
  }

  /**
   * Several records of one run in one transaction and one round trip (libpq's pipeline mode:
   * the calls of `append_record` in one implicit transaction), all or none: each is fenced and
   * numbered as `append` does it. A durable run writes an attempt's end with the record after
   * it this way (`tutti::durable_workflow` uses it when a journal has it).
   */
  result<void> append_batch(const run_id& id, std::span<const record_view> records) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    if (records.empty()) return outcome::success();
    if (auto e = s_->connect(); e) return e;
    PGconn* c = s_->conn.get();
    const auto doing = [&] {
      return "append " + std::to_string(records.size()) + " records to run " +
             detail::pg_run_name(id);
    };
    std::vector<detail::pg_params> params(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      append_params(params[i], id, records[i]);
      if (params[i].too_big())
        return s_->fail(journal_errc::too_big, "cannot " + doing() + ": a value is larger than 2 GiB");
    }
    if (PQenterPipelineMode(c) != 1) return s_->fail_result(nullptr, doing());
    // From here on the session is in pipeline mode: an exception (no memory for a message)
    // must not leave it there for the next call.
    struct pipeline_guard {
      detail::pg_state* st;
      bool done = false;
      ~pipeline_guard() {
        if (!done) st->drop();
      }
    } guard{s_.get()};
    bool sent = true;
    for (const detail::pg_params& p : params) {
      if (PQsendQueryPrepared(c, "tutti_append", p.size(), p.values(), p.lengths(), p.formats(),
                              1) != 1) {
        sent = false;
        break;
      }
    }
    if (!sent || PQpipelineSync(c) != 1) {
      // Nothing was committed (no Sync reached the server): the session is dropped.
      const std::string what = PQerrorMessage(c);
      s_->drop();
      guard.done = true;
      return s_->fail(journal_errc::io_error, "cannot " + doing() + ": " + what);
    }
    // One result (and a NULL) per call, then the Sync's: the first failure is the answer; the
    // calls after it were skipped and the implicit transaction rolled back.
    std::error_code first;
    int nulls = 0;  // in a row: one ends each call's results; more means libpq has nothing left
    for (;;) {
      PGresult* raw = PQgetResult(c);
      if (raw == nullptr) {
        if (PQstatus(c) != CONNECTION_OK || ++nulls > 1) break;
        continue;  // the end of one call's results
      }
      nulls = 0;
      const detail::pg_result_ptr r(raw);
      const auto st = PQresultStatus(raw);
      if (st == PGRES_PIPELINE_SYNC) break;
      if (st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED && !first)
        first = s_->fail_result(raw, doing());
    }
    if (PQstatus(c) != CONNECTION_OK || PQexitPipelineMode(c) != 1) {
      if (s_->ready) s_->drop();  // (fail_result saw a lost connection already)
      guard.done = true;
      if (!first)
        first = s_->fail(journal_errc::io_error,
                         "lost the connection to PostgreSQL (or its pipeline) while it tried to " +
                             doing() +
                             " (the records may or may not have been committed: a resume reads "
                             "what was)");
      return first;
    }
    guard.done = true;
    if (first) return first;
    return outcome::success();
  }

  /// An operator's record: written only if the run's status is one of `allowed` (else
  /// `invalid_command`); `fence` raises the epoch and clears the owner.
  result<run_status> command(const run_id& id, const record_view& rec,
                             std::span<const run_status> allowed, bool fence) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::string list = "{";
    for (const run_status s : allowed) {
      if (list.size() > 1) list += ',';
      list += std::to_string(static_cast<int>(s));
    }
    list += '}';
    detail::pg_params p;
    p.id(id);
    detail::pg_record_params(p, rec);
    if (auto s = detail::pg_status_set_by(rec))
      p.i64(static_cast<std::int64_t>(*s));
    else
      p.null();
    p.text_format(list).boolean(fence).text(s_->lock_timeout_text);
    s_->now_param(p);
    auto r = s_->run("tutti_command", p,
                     std::string(to_string(rec.kind)) + " run " + detail::pg_run_name(id));
    if (!r) return r.error();
    const auto v = detail::pg_row{r.value().get(), 0}.i64(0);
    if (PQntuples(r.value().get()) != 1 || !detail::pg_state::valid_status(v))
      return s_->fail(journal_errc::corrupt, "a command returned no status");
    return static_cast<run_status>(v);
  }

  /// Where the run stands (`run_not_found`).
  [[nodiscard]] result<run_status> status(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.id(id);
    auto r = s_->run("tutti_status", p, "read the status of run " + detail::pg_run_name(id));
    if (!r) return r.error();
    if (PQntuples(r.value().get()) == 0)
      return s_->fail(journal_errc::run_not_found, "no run " + detail::pg_run_name(id));
    const auto v = detail::pg_row{r.value().get(), 0}.i64(0);
    if (!detail::pg_state::valid_status(v))
      return s_->fail(journal_errc::corrupt, "run " + detail::pg_run_name(id) +
                                                 " has an unknown status " + std::to_string(v));
    return static_cast<run_status>(v);
  }

  /// The run's header, input and records in order, read in one snapshot (REPEATABLE READ):
  /// `run_not_found`; `corrupt` if its records do not match its row.
  [[nodiscard]] result<stored_run> load(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    if (auto e = s_->connect(); e) return e;
    if (auto e = s_->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin a read"); e)
      return e;
    // An exception (no memory for a big run) must not leave the session in the transaction.
    struct read_guard {
      detail::pg_state* st;
      bool done = false;
      ~read_guard() {
        if (!done) st->drop();
      }
    } guard{s_.get()};
    auto out = load_in_snapshot(id);
    guard.done = true;
    if (s_->conn && PQstatus(s_->conn.get()) == CONNECTION_OK) {
      if (auto e = s_->exec("COMMIT", "end a read"); e) {
        if (PQtransactionStatus(s_->conn.get()) != PQTRANS_IDLE) s_->drop();
        if (out) return e;
      }
    }
    return out;
  }

  /// Summaries, newest first (ties: by id).
  [[nodiscard]] result<std::vector<run_summary>> list(const run_filter& f) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::string sql =
        "SELECT run_id, workflow, fingerprint, status, started_ms, updated_ms, last_seq, owner, "
        "epoch, lease_until_ms, recoveries, partition_key, exclusive, priority, "
        "coalesce(dedup_key, ''), version, coalesce(run_key, ''), coalesce(failed_step, ''), "
        "coalesce(error_category, ''), coalesce(error_value, 0) FROM runs";
    detail::pg_params p;
    const char* glue = " WHERE ";
    int n = 0;
    const auto where = [&](const std::string& condition) {
      sql += glue;
      sql += condition;
      glue = " AND ";
    };
    if (f.status) {
      where("status = $" + std::to_string(++n) + "::bigint");
      p.i64(static_cast<std::int64_t>(*f.status));
    }
    if (!f.workflow.empty()) {
      where("workflow = $" + std::to_string(++n) + "::text");
      p.text(f.workflow);
      if (f.version != 0) {
        where("version = $" + std::to_string(++n) + "::bigint");
        p.i64(f.version);
      }
    }
    if (f.started_after_unix_ms != 0) {
      where("started_ms >= $" + std::to_string(++n) + "::bigint");
      p.i64(f.started_after_unix_ms);
    }
    if (f.started_before_unix_ms != 0) {
      where("started_ms < $" + std::to_string(++n) + "::bigint");
      p.i64(f.started_before_unix_ms);
    }
    // Each search column has an index of its own in start order (runs_by_key,
    // runs_by_failed_step, runs_by_error), partial on the column being set.
    if (!f.key.empty()) {
      where("run_key = $" + std::to_string(++n) + "::text");
      p.text(f.key);
    }
    if (!f.failed_step.empty()) {
      where("failed_step = $" + std::to_string(++n) + "::text");
      p.text(f.failed_step);
    }
    if (!f.error_category.empty()) {
      where("error_category = $" + std::to_string(++n) + "::text");
      p.text(f.error_category);
      if (f.error_value) {
        where("error_value = $" + std::to_string(++n) + "::bigint");
        p.i64(*f.error_value);
      }
    }
    sql += " ORDER BY started_ms DESC, run_id ASC";
    if (f.limit != 0) {
      sql += " LIMIT $" + std::to_string(++n) + "::bigint";
      p.i64(f.limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX
                                                         : static_cast<std::int64_t>(f.limit));
    }
    auto r = s_->run_sql(sql, p, "list runs");
    if (!r) return r.error();
    const PGresult* res = r.value().get();
    std::vector<run_summary> out;
    out.reserve(static_cast<std::size_t>(PQntuples(res)));
    for (int i = 0; i < PQntuples(res); ++i) {
      const detail::pg_row row{res, i};
      run_summary s;
      const auto status = row.i64(3);
      if (!row.id(0, s.id) || !detail::pg_state::valid_status(status))
        return s_->fail(journal_errc::corrupt, "a run's id or status is damaged");
      s.workflow = row.text(1);
      s.fingerprint = static_cast<std::uint64_t>(row.i64(2));
      s.status = static_cast<run_status>(status);
      s.started_unix_ms = row.i64(4);
      s.updated_unix_ms = row.i64(5);
      s.records = static_cast<std::uint64_t>(row.i64(6));
      read_ownership(row, 7, s);
      s.version = static_cast<std::uint32_t>(row.i64(15));
      read_search(row, 16, s);
      out.push_back(std::move(s));
    }
    return out;
  }

  /// How many runs are queued (submitted, not claimed).
  [[nodiscard]] result<std::uint64_t> queue_depth() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    auto r = s_->run("tutti_depth", p, "count the queued runs");
    if (!r) return r.error();
    return static_cast<std::uint64_t>(detail::pg_row{r.value().get(), 0}.i64(0));
  }

  /**
   * Runs by status and the oldest running, queued and paused ones (`run_census`), on the
   * database's clock, in one statement. It reads the whole `runs` table (a sequential scan:
   * measured at a quarter of a second per million runs on a 2-core machine); a runner takes one
   * every `runner_options::census_every` (a minute by default).
   */
  [[nodiscard]] result<run_census> census() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    s_->now_param(p);
    auto r = s_->run("tutti_census", p, "count the runs by status");
    if (!r) return r.error();
    run_census c;
    const PGresult* res = r.value().get();
    for (int i = 0, n = PQntuples(res); i < n; ++i) {
      const detail::pg_row row{res, i};
      const std::int64_t status = row.i64(0);
      if (status == 0) {
        c.now_unix_ms = row.i64(3);
        continue;
      }
      if (status < 0 || status >= static_cast<std::int64_t>(c.runs.size()))
        return s_->fail(journal_errc::corrupt, "a run has the unknown status " + std::to_string(status));
      c.add(static_cast<run_status>(status), row.i64(2), static_cast<std::uint64_t>(row.i64(1)));
    }
    return c;
  }

  /**
   * Returns up to `limit` running runs whose leases expired (on the database's clock) to the
   * claimable set: unowned (still `running`), their epoch raised (their engines are fenced at
   * once, before any replica claims them), a `released` record saying whose lease expired, and
   * one more recovery (as `tutti::runner` counts them for dead-lettering); the next claim of
   * such a run is reported as a takeover. Any replica may sweep; none
   * needs to be a leader: a row another replica holds is skipped, and a row is swept only if
   * its epoch is still the one read. `by` is shown in the record. Returns how many.
   */
  result<std::uint64_t> sweep(std::size_t limit = 100, std::string_view by = "sweep") {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    detail::pg_params p;
    p.i64(static_cast<std::int64_t>(std::min<std::size_t>(limit, INT32_MAX)))
        .text(by)
        .text(s_->lock_timeout_text);
    s_->now_param(p);
    auto r = s_->run("tutti_sweep", p, "sweep expired leases");
    if (!r) return r.error();
    return static_cast<std::uint64_t>(detail::pg_row{r.value().get(), 0}.i64(0));
  }

  /**
   * Retention: deletes ended runs (succeeded, failed, compensated, compensation_failed,
   * resolved, dead_lettered) last written before `before_unix_ms`, with their records, `batch`
   * runs per transaction (short transactions: replicas keep writing meanwhile; rows another
   * transaction holds are skipped), in no particular order, until a batch finds fewer than
   * `batch` or `max_batches` ran (0: no limit). Returns how many.
   */
  result<std::uint64_t> purge_ended(std::int64_t before_unix_ms, std::size_t batch = 500,
                                    std::size_t max_batches = 0) {
    std::uint64_t total = 0;
    for (std::size_t round = 0; max_batches == 0 || round < max_batches; ++round) {
      const std::lock_guard<std::mutex> lock(s_->mutex);
      detail::pg_params p;
      p.i64(before_unix_ms).i64(static_cast<std::int64_t>(std::min<std::size_t>(batch, INT32_MAX)));
      auto r = s_->run("tutti_purge", p, "purge ended runs");
      if (!r) return r.error();
      const auto n = detail::pg_row{r.value().get(), 0}.i64(0);
      total += static_cast<std::uint64_t>(n);
      // A short batch: nothing more is due (or the rest is locked by a writer: the next purge).
      if (batch == 0 || static_cast<std::uint64_t>(n) < batch) return total;
    }
    return total;
  }

  /// The message of the most recent failure (any thread): what was wrong and PostgreSQL's own
  /// text. Empty if nothing failed.
  [[nodiscard]] std::string last_error_message() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->last_error;
  }

  /// How many times the connection was re-established after a loss.
  [[nodiscard]] std::uint64_t reconnects() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->reconnects;
  }

  /// The options it was opened with.
  [[nodiscard]] const postgres_options& options() const noexcept { return s_->options; }

 private:
  explicit postgres_journal(std::unique_ptr<detail::pg_state> s) noexcept : s_(std::move(s)) {}

  /// The parameters of `append_record` for `rec`.
  void append_params(detail::pg_params& p, const run_id& id, const record_view& rec) const {
    p.id(id).u64(rec.epoch);
    detail::pg_record_params(p, rec);
    if (auto s = detail::pg_status_set_by(rec))
      p.i64(static_cast<std::int64_t>(*s));
    else
      p.null();
    p.boolean(rec.kind == record_kind::step_finished ||
              rec.kind == record_kind::compensation_finished);
    s_->now_param(p);
  }

  static void read_ownership(const detail::pg_row& row, int at, run_summary& out) {
    out.owner = row.text(at);
    out.epoch = static_cast<std::uint64_t>(row.i64(at + 1));
    out.lease_until_ms = row.i64(at + 2);
    out.recoveries = static_cast<std::uint32_t>(row.i64(at + 3));
    out.partition = row.text(at + 4);
    out.exclusive = row.boolean(at + 5);
    out.priority = static_cast<std::int32_t>(row.i64(at + 6));
    out.dedup_key = row.text(at + 7);
  }
  /// The search columns (key, failed step, its error) from column `at` on.
  static void read_search(const detail::pg_row& row, int at, run_summary& out) {
    out.key = row.text(at);
    out.failed_step = row.text(at + 1);
    out.error_category = row.text(at + 2);
    out.error_value = static_cast<int>(row.i64(at + 3));
  }
  /// A run's business key: NULL when it has none.
  static void key_param(detail::pg_params& p, std::string_view key) {
    if (key.empty())
      p.null();
    else
      p.text(key);
  }

  result<stored_run> load_in_snapshot(const run_id& id) const {
    const std::string name = detail::pg_run_name(id);
    stored_run out;
    out.summary.id = id;
    std::int64_t last_seq = 0;
    {
      detail::pg_params p;
      p.id(id);
      auto r = s_->run("tutti_run", p, "read run " + name);
      if (!r) return r.error();
      const PGresult* res = r.value().get();
      if (PQntuples(res) == 0) return s_->fail(journal_errc::run_not_found, "no run " + name);
      const detail::pg_row row{res, 0};
      out.summary.workflow = row.text(0);
      out.summary.fingerprint = static_cast<std::uint64_t>(row.i64(1));
      const auto status = row.i64(2);
      if (!detail::pg_state::valid_status(status))
        return s_->fail(journal_errc::corrupt,
                        "run " + name + " has an unknown status " + std::to_string(status));
      out.summary.status = static_cast<run_status>(status);
      out.summary.started_unix_ms = row.i64(3);
      last_seq = row.i64(4);
      read_ownership(row, 5, out.summary);
      out.summary.updated_unix_ms = row.i64(13);
      out.summary.version = static_cast<std::uint32_t>(row.i64(14));
      read_search(row, 15, out.summary);
    }
    detail::pg_params p;
    p.id(id);
    auto r = s_->run("tutti_records", p, "read the records of run " + name);
    if (!r) return r.error();
    const PGresult* res = r.value().get();
    const int n = PQntuples(res);
    out.records.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const detail::pg_row row{res, i};
      stored_record rec;
      rec.seq = static_cast<std::uint64_t>(row.i64(0));
      const auto kind = row.i64(1);
      rec.step = row.text(2);
      const auto attempt = row.i64(3);
      rec.ok = row.boolean(4);
      const auto outcome_value = row.i64(5);
      rec.payload = row.bytes(6);
      rec.error_category = row.text(7);
      const auto error_value = row.i64(8);
      const auto message = row.bytes(9);
      rec.message.assign(reinterpret_cast<const char*>(message.data()), message.size());
      rec.time_ns = row.i64(10);
      rec.epoch = static_cast<std::uint64_t>(row.i64(11));
      const std::string where = "record " + std::to_string(rec.seq) + " of run " + name;
      if (rec.seq != out.records.size() + 1)
        return s_->fail(journal_errc::corrupt,
                        where + " follows record " + std::to_string(out.records.size()) +
                            ": records are missing");
      if (kind < 1 || kind > 255 || to_string(static_cast<record_kind>(kind)) == "unknown" ||
          attempt < 0 || attempt > 0xFFFFFFFFLL || outcome_value < 0 || outcome_value > 255 ||
          error_value < INT32_MIN || error_value > INT32_MAX)
        return s_->fail(journal_errc::corrupt, where + " has a field out of range");
      rec.kind = static_cast<record_kind>(kind);
      rec.attempt = static_cast<std::uint32_t>(attempt);
      rec.outcome = static_cast<std::uint8_t>(outcome_value);
      rec.error_value = static_cast<int>(error_value);
      out.records.push_back(std::move(rec));
    }
    out.summary.records = out.records.size();
    if (static_cast<std::int64_t>(out.records.size()) != last_seq)
      return s_->fail(journal_errc::corrupt,
                      "run " + name + " has " + std::to_string(out.records.size()) +
                          " records where its row says " + std::to_string(last_seq) +
                          ": records are missing");
    if (out.records.empty() || out.records.front().kind != record_kind::run_started)
      return s_->fail(journal_errc::corrupt,
                      "run " + name + " does not start with its run_started record");
    out.input = out.records.front().payload;
    out.input_encoding = static_cast<payload_encoding>(out.records.front().outcome);
    return out;
  }

  std::unique_ptr<detail::pg_state> s_;
};

static_assert(journal<postgres_journal>);

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_POSTGRES_HPP
