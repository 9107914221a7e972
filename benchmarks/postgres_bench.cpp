// PostgreSQL journal benchmarks (tutti::postgres_journal, <tutti/journal/postgres.hpp>): what a
// durable step's writes cost against raw libpq INSERTs of the same bytes, runs per second through
// the queue with 1, 2 and 4 replicas (each its own runner and connection), and how long a dead
// replica's run waits for a takeover.
//
// They need a server: libpq's conninfo in TUTTI_PG_CONNINFO (unset: every benchmark is skipped
// with an error). scripts/lib.sh starts one: `source scripts/lib.sh && start_postgres DIR` (fsync
// off, as the tests use it) or `TUTTI_PG_FSYNC=on start_postgres DIR` (fsync and full-page writes
// on: what a commit costs on this disk). Each benchmark (each repetition and argument) creates its
// own schema, "bench_<pid>_<name>", and drops it (DROP SCHEMA ... CASCADE) at its end. All
// journals use postgres_options' defaults: synchronous_commit on (a write is on the server's
// disk, unless the server runs with fsync off, when `append` returns).
//
// - BM_journal_postgres_step: one iteration = the journal writes of one durable step of a run the
//   benchmark holds (claimed at epoch 1), as tutti::durable_workflow writes them: `append` of
//   attempt_started (committed before the step is called), then `append_batch` of
//   attempt_finished (ok) and step_finished (ok, a 64-byte output) (one pipeline: one round
//   trip, one commit). 3 records, 2 round trips, 2 commits; each record is a call of the
//   function append_record (the run's row updated under the epoch fence and the record
//   inserted, in one transaction). A new run (`journal.start` with a lease, not timed:
//   PauseTiming) every 16 steps, steps named "s01".."s16".
// - BM_postgres_raw_insert: the floor, in the same binary and the same run of it. One iteration
//   = 3 prepared INSERTs through libpq directly (binary parameters, session synchronous_commit
//   as the journal's) with the same commit points: the first alone (autocommit), the other two
//   in one pipeline (one implicit transaction): 2 round trips, 2 commits; of the same records'
//   fields (run uuid, seq, kind, step text, attempt, ok, outcome, payload bytea NULL or 64 bytes,
//   error category, error value, message, time_ns, unix_ms, epoch) into a plain table with a
//   primary key (run_id, seq) shaped like the journal's `records`; nothing else (no run row, no
//   fence). A new uuid every 16 steps, as above.
//   The goal: BM_journal_postgres_step <= 1.3x BM_postgres_raw_insert (ratio of the two results'
//   times, read from one run of this binary against one server).
//   Both count 1 item (a step) per iteration; `records` is the rate of records written.
// - BM_runner_postgres/replicas:R: end-to-end runs per second of a 4-step durable workflow
//   (tutti::workflow of 4 tutti::step "a".."d", each adds 1 to an int; a run writes 15 records)
//   through the queue. Batches of `batch` runs (KeepRunningBatch; one iteration = one run): the
//   batch is submitted (not timed), then R independent tutti::runner objects, each with its own
//   tutti::postgres_journal (its own connection), its own 1-thread tutti::thread_pool and
//   `host<int>(flow4, 1)` (one run at a time per replica: a journal has one connection, so a
//   replica's runs would take turns on it anyway), poll 10 ms, are started and run the batch.
//   Time (manual, real) = from just before the runners start to the batch's last `finished`
//   event; then (not timed) the runners stop and the queue is checked empty with no run running.
//   items_per_second = runs/s. Counters, sampled just before and after each batch's runners
//   ran (so including their start and stop, a few ms a batch):
//     server_us_per_run: CPU time (user + system) of this server's processes per run: the
//       postmaster (found as the parent of the benchmark's own backend, pg_backend_pid()) and
//       all its children (backends, WAL writer, checkpointer, autovacuum workers...), from
//       /proc/<pid>/stat utime + stime, plus the postmaster's cutime + cstime (children that
//       exited meanwhile). Only for a server on this machine; otherwise -1. (Not "all processes
//       named postgres:": a second server on the machine is not counted.)
//     server_cores: that CPU time / wall time (cores the server kept busy on average);
//     client_us_per_run: CPU time of this process (runners, pools; getrusage) per run;
//     machine_busy: the fraction of all cores busy (/proc/stat, all processes) meanwhile.
// - BM_takeover_postgres: takeover time, as BM_takeover_sqlite (runner_bench.cpp) measures it.
//   Replica A "dies" right after its last write: a run started and claimed by A (`journal.start`
//   with A's lease, 200 ms, through A's own connection) is never written again. Replica B (a
//   tutti::runner with its own journal, poll 10 ms, already running) takes it over once the lease
//   expired on the database's clock. Time (manual, real) = from just before A's start to B's
//   claim of the run: its `took_over` event (also when B's sweep, runner_options::sweep_every,
//   default 1 s, returned the expired run unowned just before B's claim took it: a swept run's
//   next claim is a takeover; `resumed` is counted too, and should stay 0). The goal is lease +
//   one poll interval (210 ms). Counters `took_over` and `resumed`: how many of each; `swept`:
//   B's stats().swept. A random pause (0
//   to 2 polls, not timed) before each puts A's death at a random point of B's poll cycle.
//
//   tutti_bench_postgres --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#ifndef TUTTI_BENCH_NO_POSTGRES

#  include <sys/resource.h>
#  include <unistd.h>

#  include <algorithm>
#  include <array>
#  include <chrono>
#  include <condition_variable>
#  include <cstddef>
#  include <cstdint>
#  include <cstdlib>
#  include <filesystem>
#  include <fstream>
#  include <memory>
#  include <mutex>
#  include <random>
#  include <sstream>
#  include <string>
#  include <string_view>
#  include <system_error>
#  include <thread>
#  include <type_traits>
#  include <vector>

#  include <libpq-fe.h>

#  include <tutti/executor.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/postgres.hpp>
#  include <tutti/runner.hpp>
#  include <tutti/tutti.hpp>

namespace {

using namespace std::chrono_literals;
using tutti::from;
using tutti::step;

// ---- shared -------------------------------------------------------------------------------------

// 4 trivial steps: the result is the input + 4.
const auto flow4 =
    tutti::workflow<"pg_runner4">(step<"a">([](int x) noexcept { return x + 1; }),
                                  step<"b">([](from<"a", int> x) noexcept { return *x + 1; }),
                                  step<"c">([](from<"b", int> x) noexcept { return *x + 1; }),
                                  step<"d">([](from<"c", int> x) noexcept { return *x + 1; }));
using flow4_type = std::remove_cvref_t<decltype(flow4)>;
constexpr std::string_view workflow_name = "pg_runner4";
constexpr int steps_per_run = 4;

// BM_journal_postgres_step and BM_postgres_raw_insert: a new run every 16 steps; 64-byte outputs.
constexpr int steps_per_step_run = 16;
constexpr std::size_t output_bytes = 64;
constexpr std::array<const char*, steps_per_step_run> step_names = {
    "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08",
    "s09", "s10", "s11", "s12", "s13", "s14", "s15", "s16"};
// BM_runner_postgres: runs per batch, runs per repetition (2 batches).
constexpr std::int64_t batch = 400;
constexpr std::int64_t runs_per_rep = 2 * batch;

/// libpq's conninfo from TUTTI_PG_CONNINFO; empty (and the benchmark skipped) when unset.
std::string conninfo_or_skip(benchmark::State& state) {
  const char* c = std::getenv("TUTTI_PG_CONNINFO");
  if (c == nullptr || *c == '\0') {
    state.SkipWithError("TUTTI_PG_CONNINFO is not set: no PostgreSQL server");
    return {};
  }
  return c;
}

struct pg_conn_closer {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct pg_result_clearer {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, pg_conn_closer>;
using result_ptr = std::unique_ptr<PGresult, pg_result_clearer>;

/// A libpq connection; null (and `why` set) on failure.
conn_ptr connect(const std::string& conninfo, std::string& why) {
  conn_ptr c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    why = "cannot connect to PostgreSQL: " + std::string(c ? PQerrorMessage(c.get()) : "no memory");
    return nullptr;
  }
  return c;
}

/// Runs `sql` (no parameters); false (and `why` set) on failure.
bool exec(PGconn* c, const std::string& sql, std::string& why) {
  const result_ptr r(PQexec(c, sql.c_str()));
  const auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return true;
  why = sql.substr(0, 60) + ": " + PQerrorMessage(c);
  return false;
}

std::string quoted(PGconn* c, const std::string& name) {
  char* q = PQescapeIdentifier(c, name.c_str(), name.size());
  if (q == nullptr) return {};
  std::string out = q;
  PQfreemem(q);
  return out;
}

/**
 * A benchmark's own schema, "bench_<pid>_<name>": dropped (if a crashed run left it) when made
 * and dropped (DROP SCHEMA ... CASCADE, through a connection of its own) when destroyed. Declare
 * it before the journals that use it: they must be closed first.
 */
class bench_schema {
 public:
  bench_schema(benchmark::State& state, std::string_view name)
      : conninfo_(conninfo_or_skip(state)),
        name_("bench_" + std::to_string(::getpid()) + "_" + std::string(name)) {
    if (conninfo_.empty()) return;
    std::string why;
    if (!drop(why)) {
      state.SkipWithError(why.c_str());
      conninfo_.clear();
    }
  }
  bench_schema(const bench_schema&) = delete;
  bench_schema& operator=(const bench_schema&) = delete;
  ~bench_schema() {
    std::string why;
    if (!conninfo_.empty()) (void)drop(why);
  }

  /// False when the benchmark was skipped (no server, or it cannot be reached).
  [[nodiscard]] bool ok() const noexcept { return !conninfo_.empty(); }
  [[nodiscard]] const std::string& conninfo() const noexcept { return conninfo_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// The journal's options for this schema (postgres_options' defaults otherwise).
  [[nodiscard]] tutti::postgres_options options() const {
    tutti::postgres_options o;
    o.schema = name_;
    return o;
  }

 private:
  bool drop(std::string& why) const {
    const conn_ptr c = connect(conninfo_, why);
    if (!c) return false;
    return exec(c.get(),
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " +
                    quoted(c.get(), name_) + " CASCADE",
                why);
  }

  std::string conninfo_;
  std::string name_;
};

/// Opens a journal on `schema`; an error (and the benchmark skipped) on failure.
tutti::result<tutti::postgres_journal> open_journal(benchmark::State& state,
                                                    const bench_schema& schema) {
  std::string why;
  auto j = tutti::postgres_journal::open(schema.conninfo(), schema.options(), &why);
  if (!j) state.SkipWithError(why.c_str());
  return j;
}

/// The output of a step in BM_journal_postgres_step and BM_postgres_raw_insert.
const std::array<std::byte, output_bytes>& output() {
  static const std::array<std::byte, output_bytes> bytes = [] {
    std::array<std::byte, output_bytes> b{};
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::byte>(i * 7 + 1);
    return b;
  }();
  return bytes;
}

void set_step_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.counters["records"] = benchmark::Counter(static_cast<double>(state.iterations()) * 3.0,
                                                 benchmark::Counter::kIsRate);
}

// ---- 1. a step's writes: the journal against raw INSERTs --------------------------------------

void BM_journal_postgres_step(benchmark::State& state) {
  const bench_schema schema(state, "journal_step");
  if (!schema.ok()) return;
  auto opened = open_journal(state, schema);
  if (!opened) return;
  auto& j = opened.value();
  const tutti::lease_request lease{"bench-step#1", 30s, {}};
  const std::vector<std::byte> input = tutti::to_bytes(1000);
  tutti::run_id id{};
  std::uint64_t epoch = 0;
  const auto new_run = [&] {
    id = tutti::run_id::generate();
    auto c = j.start(id, workflow_name, 0, input, lease);
    if (!c) return false;
    epoch = c.value().epoch;
    return true;
  };
  if (!new_run()) {
    state.SkipWithError(j.last_error_message().c_str());
    return;
  }
  tutti::record_view started, attempted, finished;
  started.kind = tutti::record_kind::attempt_started;
  attempted.kind = tutti::record_kind::attempt_finished;
  finished.kind = tutti::record_kind::step_finished;
  for (auto* r : {&started, &attempted, &finished}) r->attempt = 1;
  attempted.ok = finished.ok = true;
  finished.payload = output();
  int in_run = 0;
  std::int64_t t = 1;
  for (auto _ : state) {
    if (in_run == steps_per_step_run) {
      state.PauseTiming();
      const bool ok = new_run();
      state.ResumeTiming();
      if (!ok) {
        state.SkipWithError(j.last_error_message().c_str());
        break;
      }
      in_run = 0;
    }
    const std::string_view name = step_names[static_cast<std::size_t>(in_run++)];
    for (auto* r : {&started, &attempted, &finished}) {
      r->step = name;
      r->epoch = epoch;
      r->time_ns = t++;
    }
    // As a durable run writes a step: its start (committed before the call), then the
    // attempt's end and the step's end together (one transaction, one round trip).
    bool ok = static_cast<bool>(j.append(id, started));
    const tutti::record_view ends[] = {attempted, finished};
    ok = ok && j.append_batch(id, ends);
    if (!ok) {
      state.SkipWithError(j.last_error_message().c_str());
      break;
    }
  }
  {  // check once: the last run's records are there, in order, with the output
    auto loaded = j.load(id);
    if (!loaded || loaded.value().records.size() != 2 + 3 * static_cast<std::size_t>(in_run) ||
        (in_run > 0 && loaded.value().records.back().payload.size() != output_bytes))
      state.SkipWithError(("the records did not read back: " + j.last_error_message()).c_str());
  }
  set_step_counters(state);
}
BENCHMARK(BM_journal_postgres_step)->UseRealTime();

/// A record's parameters in PostgreSQL's binary format, for the raw INSERT.
class raw_params {
 public:
  static constexpr int count = 14;
  raw_params& uuid(const tutti::run_id& id) {
    for (int i = 0; i < 8; ++i) {
      uuid_[static_cast<std::size_t>(i)] = static_cast<char>(id.hi >> (56 - 8 * i));
      uuid_[static_cast<std::size_t>(8 + i)] = static_cast<char>(id.lo >> (56 - 8 * i));
    }
    return put(uuid_.data(), 16);
  }
  raw_params& i64(std::int64_t v) {
    auto& b = numbers_[static_cast<std::size_t>(n_)];
    for (int i = 0; i < 8; ++i)
      b[static_cast<std::size_t>(i)] =
          static_cast<char>(static_cast<std::uint64_t>(v) >> (56 - 8 * i));
    return put(b.data(), 8);
  }
  raw_params& boolean(bool v) {
    auto& b = numbers_[static_cast<std::size_t>(n_)];
    b[0] = v ? 1 : 0;
    return put(b.data(), 1);
  }
  raw_params& bytes(const void* p, std::size_t len) {
    return put(len == 0 ? "" : static_cast<const char*>(p), len);
  }
  raw_params& null() { return put(nullptr, 0); }
  void clear() noexcept { n_ = 0; }

  [[nodiscard]] const char* const* values() const noexcept { return values_.data(); }
  [[nodiscard]] const int* lengths() const noexcept { return lengths_.data(); }
  [[nodiscard]] const int* formats() const noexcept { return formats_.data(); }

 private:
  raw_params& put(const char* v, std::size_t len) {
    const auto i = static_cast<std::size_t>(n_++);
    values_[i] = v;
    lengths_[i] = static_cast<int>(len);
    formats_[i] = 1;
    return *this;
  }
  int n_ = 0;
  std::array<char, 16> uuid_{};
  std::array<const char*, count> values_{};
  std::array<int, count> lengths_{};
  std::array<int, count> formats_{};
  std::array<std::array<char, 8>, count> numbers_{};
};

void BM_postgres_raw_insert(benchmark::State& state) {
  const bench_schema schema(state, "raw_insert");
  if (!schema.ok()) return;
  std::string why;
  const conn_ptr c = connect(schema.conninfo(), why);
  if (!c) {
    state.SkipWithError(why.c_str());
    return;
  }
  const std::string s = quoted(c.get(), schema.name());
  const bool sync = schema.options().synchronous_commit;  // the journal's session setting
  if (!exec(c.get(),
            "SET client_min_messages = warning; SET synchronous_commit = " +
                std::string(sync ? "on" : "off") + "; CREATE SCHEMA " + s + "; CREATE TABLE " + s +
                ".records(run_id uuid NOT NULL, seq bigint NOT NULL, kind bigint NOT NULL, "
                "step text NOT NULL, attempt bigint NOT NULL, ok boolean NOT NULL, "
                "outcome bigint NOT NULL, payload bytea, error_category text NOT NULL, "
                "error_value bigint NOT NULL, message bytea, time_ns bigint NOT NULL, "
                "unix_ms bigint NOT NULL, epoch bigint NOT NULL, PRIMARY KEY (run_id, seq))",
            why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  const std::string insert =
      "INSERT INTO " + s +
      ".records(run_id, seq, kind, step, attempt, ok, outcome, payload, error_category, "
      "error_value, message, time_ns, unix_ms, epoch) VALUES ($1::uuid, $2::bigint, $3::bigint, "
      "$4::text, $5::bigint, $6::boolean, $7::bigint, $8::bytea, $9::text, $10::bigint, "
      "$11::bytea, $12::bigint, $13::bigint, $14::bigint)";
  {
    const result_ptr r(
        PQprepare(c.get(), "raw_insert", insert.c_str(), raw_params::count, nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      state.SkipWithError(("prepare: " + std::string(PQerrorMessage(c.get()))).c_str());
      return;
    }
  }
  const std::int64_t unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  struct record {
    tutti::record_kind kind;
    bool ok;
    bool payload;
  };
  constexpr std::array<record, 3> records = {
      record{tutti::record_kind::attempt_started, false, false},
      record{tutti::record_kind::attempt_finished, true, false},
      record{tutti::record_kind::step_finished, true, true}};
  raw_params p;
  tutti::run_id id = tutti::run_id::generate();
  std::int64_t seq = 2;  // as in a claimed run: run_started and claimed come first
  int in_run = 0;
  std::int64_t t = 1;
  bool failed = false;
  for (auto _ : state) {
    if (in_run == steps_per_step_run) {
      id = tutti::run_id::generate();
      seq = 2;
      in_run = 0;
    }
    const std::string_view name = step_names[static_cast<std::size_t>(in_run++)];
    // The same commit points as the journal's: the first record alone, the other two in one
    // implicit transaction (pipeline mode: one round trip, one commit).
    for (std::size_t k = 0; k < records.size(); ++k) {
      const record& r = records[k];
      p.clear();
      p.uuid(id).i64(++seq).i64(static_cast<std::int64_t>(r.kind)).bytes(name.data(), name.size());
      p.i64(1).boolean(r.ok).i64(0);
      if (r.payload)
        p.bytes(output().data(), output().size());
      else
        p.null();
      p.bytes("", 0).i64(0).null().i64(t++).i64(unix_ms).i64(1);
      if (k == 0) {
        const result_ptr res(PQexecPrepared(c.get(), "raw_insert", raw_params::count, p.values(),
                                            p.lengths(), p.formats(), 1));
        if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
          state.SkipWithError(("insert: " + std::string(PQerrorMessage(c.get()))).c_str());
          failed = true;
          break;
        }
        continue;
      }
      if (k == 1 && PQenterPipelineMode(c.get()) != 1) failed = true;
      if (!failed && PQsendQueryPrepared(c.get(), "raw_insert", raw_params::count, p.values(),
                                         p.lengths(), p.formats(), 1) != 1)
        failed = true;
      if (failed) {
        state.SkipWithError(("pipeline: " + std::string(PQerrorMessage(c.get()))).c_str());
        break;
      }
    }
    if (failed) break;
    if (PQpipelineSync(c.get()) != 1) {
      state.SkipWithError(("pipeline: " + std::string(PQerrorMessage(c.get()))).c_str());
      break;
    }
    for (;;) {  // two inserts' results, then the Sync's
      PGresult* raw = PQgetResult(c.get());
      if (raw == nullptr) {
        if (PQstatus(c.get()) != CONNECTION_OK) break;
        continue;
      }
      const result_ptr res(raw);
      const auto st = PQresultStatus(raw);
      if (st == PGRES_PIPELINE_SYNC) break;
      if (st != PGRES_COMMAND_OK && !failed) {
        state.SkipWithError(("insert: " + std::string(PQresultErrorMessage(raw))).c_str());
        failed = true;
      }
    }
    PQexitPipelineMode(c.get());
    if (failed) break;
  }
  set_step_counters(state);
}
BENCHMARK(BM_postgres_raw_insert)->UseRealTime();

// ---- 2. runs through the queue, 1..4 replicas -------------------------------------------------

/// Whether run `id` succeeded with the input + 4 as step d's output (read back).
bool run_checked(tutti::postgres_journal& j, const tutti::run_id& id, int input) {
  auto loaded = j.load(id);
  if (!loaded || loaded.value().summary.status != tutti::run_status::succeeded) return false;
  for (const auto& r : loaded.value().records) {
    if (r.kind == tutti::record_kind::step_finished && r.step == "d") {
      auto v = tutti::from_bytes<int>(r.payload);
      return v && v.value() == input + steps_per_run;
    }
  }
  return false;
}

/// Counts the runners' `finished` events (any thread, any replica) and wakes a waiter at a target.
struct finish_counter {
  std::mutex m;
  std::condition_variable cv;
  std::int64_t finished = 0;
  std::int64_t succeeded = 0;
  std::int64_t target = 0;
  std::chrono::steady_clock::time_point last{};  // when the target was reached
  /// The first journal error, fence or dead letter.
  std::string error;

  void on_event(const tutti::runner_event& e) {
    if (e.kind == tutti::runner_event_kind::finished) {
      const auto now = std::chrono::steady_clock::now();
      const std::lock_guard lock{m};
      ++finished;
      if (e.message == "succeeded") ++succeeded;
      if (finished == target) {
        last = now;
        cv.notify_all();
      }
    } else if (e.kind == tutti::runner_event_kind::journal_error ||
               e.kind == tutti::runner_event_kind::fenced ||
               e.kind == tutti::runner_event_kind::dead_lettered) {
      const std::lock_guard lock{m};
      if (error.empty())
        error = std::string(tutti::to_string(e.kind)) + ": " + std::string(e.message);
    }
  }
  /// Waits until `n` runs finished in all (or 5 min); false on a timeout or an error.
  bool wait(std::int64_t n) {
    std::unique_lock lock{m};
    return cv.wait_for(lock, 300s, [&] { return finished >= n; }) && error.empty() &&
           succeeded == finished;
  }
};

/// CPU time of the server's processes, this process's, and the machine's busy fraction.
class cpu_meter {
 public:
  struct sample {
    double server_s = -1;  // -1: the server is not on this machine
    double client_s = 0;
    double busy_jiffies = 0;
    double all_jiffies = 0;
  };

  /// Finds the postmaster: the parent of the backend serving `conninfo`'s connection.
  explicit cpu_meter(const std::string& conninfo) {
    std::string why;
    const conn_ptr c = connect(conninfo, why);
    if (!c) return;
    const result_ptr r(PQexec(c.get(), "SELECT pg_backend_pid()"));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) return;
    const long backend = std::strtol(PQgetvalue(r.get(), 0, 0), nullptr, 10);
    std::vector<std::string> f;
    if (backend > 0 && stat_fields(backend, f) && f.size() > 1)
      postmaster_ = std::strtol(f[1].c_str(), nullptr, 10);
  }

  /// A sample; `client_last`: this process's CPU time read after the scan of /proc (the
  /// sample before a measured region) rather than before it (the sample after), so that the
  /// scan's own CPU time is not counted as the client's.
  [[nodiscard]] sample now(bool client_last) const {
    sample s;
    const auto client = [&s] {
      rusage u{};
      if (::getrusage(RUSAGE_SELF, &u) == 0)
        s.client_s = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                     static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    };
    if (!client_last) client();
    if (postmaster_ > 0) s.server_s = server_seconds();
    if (client_last) client();
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;  // "cpu": user nice system idle iowait irq softirq steal ...
    for (int k = 0; k < 8 && in; ++k) {
      double v = 0;
      in >> v;
      s.all_jiffies += v;
      if (k != 3 && k != 4) s.busy_jiffies += v;
    }
    return s;
  }

 private:
  /// The fields of /proc/<pid>/stat after the command name: [0] = state, [1] = ppid, ...
  /// [11] utime, [12] stime, [13] cutime, [14] cstime (clock ticks).
  static bool stat_fields(long pid, std::vector<std::string>& out) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream rest(line.substr(close + 1));
    out.clear();
    for (std::string f; rest >> f;) out.push_back(f);
    return out.size() > 14;
  }

  [[nodiscard]] double server_seconds() const {
    static const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    double ticks = 0;
    std::vector<std::string> f;
    const auto add = [&](int from, int to) {
      for (int k = from; k <= to; ++k)
        ticks += std::strtod(f[static_cast<std::size_t>(k)].c_str(), nullptr);
    };
    if (stat_fields(postmaster_, f)) add(11, 14);  // its own time and its reaped children's
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (!stat_fields(std::strtol(name.c_str(), nullptr, 10), f)) continue;
      if (std::strtol(f[1].c_str(), nullptr, 10) == postmaster_) add(11, 12);
    }
    return ticks / tick;
  }

  long postmaster_ = 0;
};

using pg_runner = tutti::runner<tutti::postgres_journal, tutti::thread_pool>;

/// One replica: its journal (connection) and pool; a runner is made per batch (a stopped runner
/// does not start again).
struct replica {
  tutti::postgres_journal journal;
  tutti::thread_pool pool{1};
  std::unique_ptr<pg_runner> runner;
  explicit replica(tutti::postgres_journal j) : journal(std::move(j)) {}

  void make_runner(int k, finish_counter& done) {
    runner = std::make_unique<pg_runner>(
        journal, pool, tutti::runner_options{.name = "bench-" + std::to_string(k), .poll = 10ms});
    runner->host<int>(flow4, 1);
    runner->on_event([&done](const tutti::runner_event& e) { done.on_event(e); });
  }
};

/// Runs `n` runs already queued with all replicas' runners; the time from their start to the
/// last run's end, or a negative value on failure.
double run_batch(std::vector<std::unique_ptr<replica>>& replicas, finish_counter& done,
                 std::int64_t n) {
  for (std::size_t k = 0; k < replicas.size(); ++k)
    replicas[k]->make_runner(static_cast<int>(k), done);
  std::int64_t target = 0;
  {
    const std::lock_guard lock{done.m};
    target = done.target = done.finished + n;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& r : replicas) r->runner->start();
  const bool ok = done.wait(target);
  for (auto& r : replicas) r->runner->stop();
  for (auto& r : replicas) r->runner.reset();
  if (!ok) return -1;
  const std::lock_guard lock{done.m};
  return std::chrono::duration<double>(done.last - t0).count();
}

void BM_runner_postgres(benchmark::State& state) {
  const auto n_replicas = static_cast<std::size_t>(state.range(0));
  const bench_schema schema(state, "runner_r" + std::to_string(n_replicas));
  if (!schema.ok()) return;
  std::vector<std::unique_ptr<replica>> replicas;
  for (std::size_t k = 0; k < n_replicas; ++k) {
    auto j = open_journal(state, schema);
    if (!j) return;
    replicas.push_back(std::make_unique<replica>(std::move(j.value())));
  }
  auto& submitter = replicas.front()->journal;
  const tutti::durable_workflow durable{flow4, submitter};
  finish_counter done;
  {  // check once: a run submitted and run by the replicas succeeds with the input + 4
    auto s = durable.submit(1000);
    if (!s || run_batch(replicas, done, 1) < 0 || !run_checked(submitter, s.value().id, 1000)) {
      state.SkipWithError(("wrong result: " + done.error + submitter.last_error_message()).c_str());
      return;
    }
  }
  const cpu_meter meter(schema.conninfo());
  double server_s = 0, client_s = 0, busy = 0, all = 0, wall_s = 0;
  bool server_known = true;
  int next = 0;
  while (state.KeepRunningBatch(batch)) {
    for (std::int64_t k = 0; k < batch; ++k) {
      if (!durable.submit(next++)) {
        state.SkipWithError(("submit: " + submitter.last_error_message()).c_str());
        return;
      }
    }
    const auto before = meter.now(true);
    const double seconds = run_batch(replicas, done, batch);
    const auto after = meter.now(false);
    if (seconds < 0) {
      state.SkipWithError(
          ("runners: " + done.error + " / " + submitter.last_error_message()).c_str());
      return;
    }
    state.SetIterationTime(seconds);
    wall_s += seconds;
    server_known = server_known && before.server_s >= 0 && after.server_s >= 0;
    server_s += after.server_s - before.server_s;
    client_s += after.client_s - before.client_s;
    busy += after.busy_jiffies - before.busy_jiffies;
    all += after.all_jiffies - before.all_jiffies;
    // Not timed: nothing queued, nothing running.
    auto depth = submitter.queue_depth();
    tutti::run_filter running;
    running.status = tutti::run_status::running;
    auto left = submitter.list(running);
    if (!depth || depth.value() != 0 || !left || !left.value().empty()) {
      state.SkipWithError("runs were left queued or running after the batch");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
  const double runs =
      static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  // The CPU samples bracket the runners' start and stop too (a few ms per batch), not only the
  // timed region: a small overestimate.
  state.counters["server_us_per_run"] = server_known ? server_s * 1e6 / runs : -1.0;
  state.counters["server_cores"] = server_known && wall_s > 0 ? server_s / wall_s : -1.0;
  state.counters["client_us_per_run"] = client_s * 1e6 / runs;
  state.counters["machine_busy"] = all > 0 ? busy / all : 0.0;
}
BENCHMARK(BM_runner_postgres)
    ->ArgName("replicas")
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Iterations(runs_per_rep)
    ->UseManualTime();

// ---- 3. takeover ------------------------------------------------------------------------------

constexpr auto takeover_lease = 200ms;
constexpr auto takeover_poll = 10ms;

/// Records when runner B claimed which run (a takeover, or a claim of a run its sweep returned
/// to the queue), and when that run finished.
struct takeover_watch {
  std::mutex m;
  std::condition_variable cv;
  tutti::run_id taken{};
  tutti::run_id finished{};
  std::chrono::steady_clock::time_point taken_at{};
  int took_over = 0;
  int resumed = 0;
  std::string error;

  void on_event(const tutti::runner_event& e) {
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard lock{m};
    if (e.kind == tutti::runner_event_kind::took_over ||
        e.kind == tutti::runner_event_kind::resumed) {
      taken = e.run;
      taken_at = now;
      ++(e.kind == tutti::runner_event_kind::took_over ? took_over : resumed);
    } else if (e.kind == tutti::runner_event_kind::finished) {
      finished = e.run;
      if (e.message != "succeeded" && error.empty())
        error = "the run taken over ended: " + std::string(e.message);
    } else if (e.kind == tutti::runner_event_kind::journal_error ||
               e.kind == tutti::runner_event_kind::fenced ||
               e.kind == tutti::runner_event_kind::claimed) {
      if (error.empty())
        error =
            "unexpected " + std::string(tutti::to_string(e.kind)) + ": " + std::string(e.message);
    } else {
      return;
    }
    cv.notify_all();
  }
};

void BM_takeover_postgres(benchmark::State& state) {
  const bench_schema schema(state, "takeover");
  if (!schema.ok()) return;
  auto opened_b = open_journal(state, schema);
  if (!opened_b) return;
  auto opened_a = open_journal(state, schema);  // A's own connection, as another replica's
  if (!opened_a) return;
  auto& jb = opened_b.value();
  auto& ja = opened_a.value();
  const std::uint64_t fingerprint =
      tutti::durable_workflow<flow4_type, tutti::postgres_journal>::fingerprint();
  // A: another replica (not a dead incarnation of B's name: B waits for the lease).
  const tutti::lease_request a_lease{"pay-0#dead.00000000", takeover_lease, {}};

  tutti::thread_pool pool(1);
  takeover_watch watch;
  pg_runner b{
      jb, pool,
      tutti::runner_options{.name = "pay-1", .lease = takeover_lease, .poll = takeover_poll}};
  b.host<int>(flow4, 1);
  b.on_event([&watch](const tutti::runner_event& e) { watch.on_event(e); });
  b.start();

  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pause_us{0,
                                              2 * 1000 * static_cast<int>(takeover_poll.count())};
  double total_ms = 0, max_ms = 0, min_ms = 1e9, write_ms = 0;
  int input = 0;
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));  // not timed
    const tutti::run_id id = tutti::run_id::generate();
    const std::vector<std::byte> bytes = tutti::to_bytes(input);
    const auto died = std::chrono::steady_clock::now();  // A's last write begins
    auto started = ja.start(id, workflow_name, fingerprint, bytes, a_lease);
    write_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - died).count();
    if (!started) {
      state.SkipWithError(ja.last_error_message().c_str());
      break;
    }
    std::unique_lock lock{watch.m};
    if (!watch.cv.wait_for(lock, 10s, [&] { return watch.taken == id || !watch.error.empty(); }) ||
        !watch.error.empty()) {
      state.SkipWithError(("no takeover: " + watch.error).c_str());
      break;
    }
    const double ms = std::chrono::duration<double, std::milli>(watch.taken_at - died).count();
    state.SetIterationTime(ms / 1000.0);
    total_ms += ms;
    max_ms = std::max(max_ms, ms);
    min_ms = std::min(min_ms, ms);
    // Not timed (manual time): B runs the run to its end before the next one.
    if (!watch.cv.wait_for(lock, 10s,
                           [&] { return watch.finished == id || !watch.error.empty(); }) ||
        !watch.error.empty()) {
      state.SkipWithError(("the run taken over did not finish: " + watch.error).c_str());
      break;
    }
    lock.unlock();
    if (!run_checked(jb, id, input)) {
      state.SkipWithError("the run taken over did not succeed with the input + 4");
      break;
    }
    ++input;
  }
  b.stop();
  const auto n = static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  const double lease_ms = std::chrono::duration<double, std::milli>(takeover_lease).count();
  const double poll_ms = std::chrono::duration<double, std::milli>(takeover_poll).count();
  state.counters["lease_ms"] = lease_ms;
  state.counters["poll_ms"] = poll_ms;
  state.counters["goal_ms"] = lease_ms + poll_ms;
  state.counters["mean_ms"] = total_ms / n;
  state.counters["min_ms"] = min_ms;
  state.counters["max_ms"] = max_ms;
  state.counters["a_write_ms"] = write_ms / n;  // A's last write (its start), mean
  state.counters["took_over"] = static_cast<double>(watch.took_over);
  state.counters["resumed"] = static_cast<double>(watch.resumed);
  state.counters["swept"] = static_cast<double>(b.stats().swept);
}
BENCHMARK(BM_takeover_postgres)->Iterations(20)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

#endif  // TUTTI_BENCH_NO_POSTGRES
