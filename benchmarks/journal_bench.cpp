// Journal benchmarks (docs/durability/sqlite.md, "Cost"): a journaled step on the SQLite journal
// against raw prepared INSERTs of the same records, in the same transaction mode.
//
// - BM_journal_sqlite_step: each iteration runs a 16-step workflow (steps return an int or a
//   16-byte struct) through tutti::durable_workflow on a tutti::sqlite_journal: 50 records (the
//   run's start, per step attempt_started, attempt_finished and step_finished with the output,
//   the run's end), a status read before each step, the engine itself. A new run id each time:
//   the file grows, as a real journal does.
// - BM_sqlite_raw_insert: the floor. The records of one such run, captured once from a
//   tutti::memory_journal, inserted per iteration under a new run id, one prepared INSERT each,
//   into a plain table shaped like the journal's `records`; nothing else.
//
// - BM_sqlite_list_fresh / BM_sqlite_list_after_churn: `list` before and after retention (below).
// - BM_sqlite_census: the journal's census on 10,000 and 1,000,000 runs of history (below).
// - BM_sqlite_key_lookup, BM_sqlite_list_page, BM_sqlite_list_failed_step, BM_sqlite_list_error,
//   BM_sqlite_list_status_time: search on 10,000 and 1,000,000 runs (below).
//
// - BM_journal_payload_binary, BM_journal_payload_json, BM_journal_sqlite_payload: the cost of
//   JSON payloads against bytes (below; built where tutti::json exists).
// - BM_trace_json_hand, BM_trace_json_nlohmann: the trace recorder's JSON writer against
//   nlohmann-json (below).
//
// Both count 16 items (steps) per iteration; `records` is the rate of records written.
// Arguments:
//   grouped: 0 = each record its own transaction, synchronous=FULL (sqlite_commit::per_record);
//            1 = grouped commits, synchronous=NORMAL: a commit after 64 records or at a record
//            that changes the run's status (its run_finished), as sqlite_commit::grouped does
//            (the journal's 50 ms timer never fires: a run takes well under 50 ms).
//   disk:    0 = /dev/shm (tmpfs: no fsync cost, so the ratio is SQLite's and tutti's CPU);
//            1 = std::filesystem::temp_directory_path() ($TMPDIR, else /tmp; point TMPDIR at a
//            real disk where /tmp is a tmpfs).
// Both in WAL mode. Compare medians of repetitions, interleaved, on a quiet machine:
//   tutti_bench_journal --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench_db.hpp"

#ifndef TUTTI_BENCH_NO_SQLITE

#  include <chrono>
#  include <cstddef>
#  include <cstdint>
#  include <filesystem>
#  include <optional>
#  include <string>
#  include <system_error>
#  include <vector>

#  include <tutti/journal/durable.hpp>
#  ifdef TUTTI_BENCH_HAVE_JSON
#    include <tutti/journal/json.hpp>
#  endif
#  include <tutti/journal/memory.hpp>
#  include <tutti/journal/sqlite.hpp>
#  include <tutti/tutti.hpp>

namespace {

using tutti::from;
using tutti::step;

constexpr std::uint32_t group_records = 64;  // = sqlite_options::group_records' default
constexpr int steps_per_run = 16;

/// A small output: trivially copyable, stored as its 16 bytes.
struct quote {
  std::int64_t cents;
  std::int32_t currency;
  std::int32_t flags;
};

// Each step adds one: a quote of x + 1, an int of the quote's value + 1.
quote quote_of(int x) noexcept { return {(std::int64_t{x} + 1) * 100, 978, 0}; }
int next(const quote& q) noexcept { return static_cast<int>(q.cents / 100) + 1; }

// 16 steps: odd ones return an int, even ones a quote; the result is the input + 16.
const auto flow16 = tutti::workflow<"journal16">(
    step<"s01">([](int x) noexcept { return x + 1; }),
    step<"s02">([](from<"s01", int> x) noexcept { return quote_of(*x); }),
    step<"s03">([](from<"s02", quote> q) noexcept { return next(*q); }),
    step<"s04">([](from<"s03", int> x) noexcept { return quote_of(*x); }),
    step<"s05">([](from<"s04", quote> q) noexcept { return next(*q); }),
    step<"s06">([](from<"s05", int> x) noexcept { return quote_of(*x); }),
    step<"s07">([](from<"s06", quote> q) noexcept { return next(*q); }),
    step<"s08">([](from<"s07", int> x) noexcept { return quote_of(*x); }),
    step<"s09">([](from<"s08", quote> q) noexcept { return next(*q); }),
    step<"s10">([](from<"s09", int> x) noexcept { return quote_of(*x); }),
    step<"s11">([](from<"s10", quote> q) noexcept { return next(*q); }),
    step<"s12">([](from<"s11", int> x) noexcept { return quote_of(*x); }),
    step<"s13">([](from<"s12", quote> q) noexcept { return next(*q); }),
    step<"s14">([](from<"s13", int> x) noexcept { return quote_of(*x); }),
    step<"s15">([](from<"s14", quote> q) noexcept { return next(*q); }),
    step<"s16">([](from<"s15", int> x) noexcept { return *x + 1; }));

constexpr int check_input = 1000;
constexpr int check_output = check_input + steps_per_run;

using bench::bench_db;

template <class Run>
bool run_ok(const Run& r, int expected) {
  return r && !r.error && r->has_value() && r->value() == expected;
}

void set_counters(benchmark::State& state, std::size_t records_per_run) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * steps_per_run);
  state.counters["records"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(records_per_run),
      benchmark::Counter::kIsRate);
}

/// The records one run of flow16 writes, as a journal returns them.
const std::vector<tutti::stored_record>& captured_run() {
  static const std::vector<tutti::stored_record> records = [] {
    tutti::memory_journal m;
    const tutti::durable_workflow durable{flow16, m};
    const auto r = durable.run(check_input);
    if (!run_ok(r, check_output)) return std::vector<tutti::stored_record>{};
    return m.load(r->id()).value().records;
  }();
  return records;
}

using tutti::view_of;

/// The benchmark's journal in `file`, or nothing with the state skipped (no /dev/shm, or the
/// journal would not open).
std::optional<tutti::sqlite_journal> open_bench_journal(benchmark::State& state, const bench_db& file,
                                                        const tutti::sqlite_options& o) {
  if (file.path.empty()) {
    state.SkipWithError("no /dev/shm here");
    return std::nullopt;
  }
  std::string why;
  auto opened = tutti::sqlite_journal::open(file.path, o, &why);
  if (!opened) {
    state.SkipWithError(why.c_str());
    return std::nullopt;
  }
  return std::move(opened).value();
}

void BM_journal_sqlite_step(benchmark::State& state) {
  const bool grouped = state.range(0) != 0;
  const bench_db file(state.range(1) != 0);
  tutti::sqlite_options o;
  o.commit = grouped ? tutti::sqlite_commit::grouped : tutti::sqlite_commit::per_record;
  o.group_records = group_records;
  auto opened = open_bench_journal(state, file, o);
  if (!opened) return;
  auto& j = *opened;
  const tutti::durable_workflow durable{flow16, j};
  {
    const auto first = durable.run(check_input);
    if (!run_ok(first, check_output) ||
        j.load(first->id()).value().records.size() != captured_run().size()) {
      state.SkipWithError(("wrong result: " + j.last_error_message()).c_str());
      return;
    }
  }
  int i = 0;
  for (auto _ : state) {
    auto r = durable.run(i++);
    if (!r || r.error) {
      state.SkipWithError(j.last_error_message().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  (void)j.flush();
  set_counters(state, captured_run().size());
}
BENCHMARK(BM_journal_sqlite_step)
    ->ArgNames({"grouped", "disk"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseRealTime();

bool check(benchmark::State& state, int rc, sqlite3* db, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
  state.SkipWithError((std::string(what) + ": " + sqlite3_errmsg(db)).c_str());
  return false;
}

/// The same records as BM_journal_sqlite_step writes (captured_run), one prepared INSERT each
/// into a table shaped like the journal's `records`, in the same transactions.
void BM_sqlite_raw_insert(benchmark::State& state) {
  const bool grouped = state.range(0) != 0;
  const bench_db file(state.range(1) != 0);
  if (file.path.empty()) {
    state.SkipWithError("no /dev/shm here");
    return;
  }
  const auto& records = captured_run();
  if (records.empty()) {
    state.SkipWithError("could not capture a run");
    return;
  }
  sqlite3* db = nullptr;
  if (!check(state,
             sqlite3_open_v2(file.path.c_str(), &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr),
             db, "open")) {
    sqlite3_close(db);
    return;
  }
  const char* setup = grouped ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                              : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
  sqlite3_exec(db, setup, nullptr, nullptr, nullptr);
  if (!check(state,
             sqlite3_exec(db,
                          "CREATE TABLE records(run_id BLOB NOT NULL, seq INTEGER NOT NULL, "
                          "kind INTEGER NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL, "
                          "ok INTEGER NOT NULL, outcome INTEGER NOT NULL, payload BLOB NOT NULL, "
                          "error_category TEXT NOT NULL, error_value INTEGER NOT NULL, "
                          "message TEXT NOT NULL, time_ns INTEGER NOT NULL, "
                          "checksum INTEGER NOT NULL, unix_ms INTEGER NOT NULL, "
                          "PRIMARY KEY(run_id, seq)) WITHOUT ROWID",
                          nullptr, nullptr, nullptr),
             db, "create")) {
    sqlite3_close(db);
    return;
  }
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_prepare_v3(db,
                     "INSERT INTO records(run_id, seq, kind, step, attempt, ok, outcome, payload, "
                     "error_category, error_value, message, time_ns, checksum, unix_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                     -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr);
  sqlite3_prepare_v3(db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &begin, nullptr);
  sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit, nullptr);
  const auto run = [](sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
  };
  // What the journal stores besides the records' own fields, computed once: the bytes are the
  // same size (a checksum is a 64-bit integer whatever it covers).
  struct extra {
    std::int64_t checksum;
    bool ends_group;
  };
  std::vector<extra> extras;
  const tutti::run_id template_id = tutti::run_id::generate();
  for (const auto& r : records) {
    const tutti::detail::sqlite_record_fields f{r.seq,         static_cast<std::uint8_t>(r.kind),
                                                r.step,        r.attempt,
                                                r.ok,          r.outcome,
                                                r.payload,     r.error_category,
                                                r.error_value, r.message,
                                                r.time_ns};
    extras.push_back(
        {static_cast<std::int64_t>(tutti::detail::sqlite_record_checksum(template_id, f)),
         tutti::detail::sqlite_may_change_status(view_of(r))});
  }
  const std::int64_t unix_ms = tutti::detail::sqlite_now_ms();
  tutti::run_id id = tutti::run_id::generate();
  std::uint32_t in_group = 0;
  bool failed = false;
  for (auto _ : state) {
    ++id.lo;
    const auto idb = tutti::detail::sqlite_id_to_bytes(id);
    for (std::size_t k = 0; k < records.size() && !failed; ++k) {
      const auto& r = records[k];
      if ((!grouped || in_group == 0) && !check(state, run(begin), db, "begin")) {
        failed = true;
        break;
      }
      sqlite3_bind_blob(insert, 1, idb.data(), 16, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(r.seq));
      sqlite3_bind_int(insert, 3, static_cast<int>(r.kind));
      sqlite3_bind_text(insert, 4, r.step.data(), static_cast<int>(r.step.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 5, r.attempt);
      sqlite3_bind_int(insert, 6, r.ok ? 1 : 0);
      sqlite3_bind_int(insert, 7, r.outcome);
      sqlite3_bind_blob(insert, 8,
                        r.payload.empty() ? "" : static_cast<const void*>(r.payload.data()),
                        static_cast<int>(r.payload.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 9, r.error_category.data(),
                        static_cast<int>(r.error_category.size()), SQLITE_STATIC);
      sqlite3_bind_int(insert, 10, r.error_value);
      sqlite3_bind_text(insert, 11, r.message.data(), static_cast<int>(r.message.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert, 12, r.time_ns);
      sqlite3_bind_int64(insert, 13, extras[k].checksum);
      sqlite3_bind_int64(insert, 14, unix_ms);
      if (!check(state, run(insert), db, "insert")) {
        failed = true;
        break;
      }
      ++in_group;
      if (!grouped || in_group == group_records || extras[k].ends_group) {
        if (!check(state, run(commit), db, "commit")) {
          failed = true;
          break;
        }
        in_group = 0;
      }
    }
    if (failed) break;
  }
  if (grouped && in_group != 0) run(commit);
  set_counters(state, records.size());
  sqlite3_finalize(insert);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
}
BENCHMARK(BM_sqlite_raw_insert)
    ->ArgNames({"grouped", "disk"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseRealTime();

// ---- list after retention ---------------------------------------------------------------------
//
// BM_sqlite_list_fresh and BM_sqlite_list_after_churn: `list` on two journals holding the same
// 2,000 runs (1,000 succeeded, 1,000 running), in /dev/shm. The fresh one has never held more;
// through the churned one 100,000 runs went first (started, finished, purged by purge_ended in
// batches of 500), so its B-trees were grown and emptied and its pages are reused. The ratio
// churned/fresh is what retention costs `list` (goal: no slowdown). Argument `limit`: 0 lists
// every run, 50 the newest 50 (a page of the CLI).

/// An SQLite journal with grouped commits in /dev/shm, for the read benchmarks.
struct shm_journal {
  bench_db db{false};
  std::optional<tutti::sqlite_journal> j;  // empty when it could not be made
  bool open() {
    if (db.path.empty()) return false;
    tutti::sqlite_options o;
    o.commit = tutti::sqlite_commit::grouped;
    o.power_safe = false;
    auto opened = tutti::sqlite_journal::open(db.path, o);
    if (!opened) return false;
    j.emplace(std::move(opened).value());
    return true;
  }
};

/// A journal in /dev/shm with `churn` runs started, finished and purged, then 1,000 succeeded
/// and 1,000 running runs.
class listed_journal : public shm_journal {
 public:
  explicit listed_journal(std::uint64_t churn) {
    if (!build(churn)) j.reset();
  }

 private:
  bool build(std::uint64_t churn) {
    if (!open()) return false;
    std::uint64_t n = 0;
    const auto add = [&](bool finish) {
      const tutti::run_id id{0xB0B, ++n};
      if (!j->start(id, "order", 1, {})) return false;
      tutti::record_view r;
      r.kind = tutti::record_kind::step_finished;
      r.step = "reserve";
      r.ok = true;
      if (!j->append(id, r)) return false;
      if (!finish) return true;
      r = {};
      r.kind = tutti::record_kind::run_finished;
      return static_cast<bool>(j->append(id, r));
    };
    for (std::uint64_t i = 0; i < churn; ++i)
      if (!add(true)) return false;
    if (churn != 0) {
      if (!j->flush()) return false;
      const auto purged = j->purge_ended(INT64_MAX, 500);
      if (!purged || purged.value() != churn) return false;
    }
    for (int i = 0; i < 1000; ++i)
      if (!add(true) || !add(false)) return false;
    return static_cast<bool>(j->flush());
  }
};

void list_bench(benchmark::State& state, std::uint64_t churn) {
  static listed_journal fresh{0};
  static listed_journal churned{100'000};
  listed_journal& l = churn == 0 ? fresh : churned;
  if (!l.j) {
    state.SkipWithError("cannot build the journal (no /dev/shm?)");
    return;
  }
  tutti::run_filter f;
  f.limit = static_cast<std::size_t>(state.range(0));
  const std::size_t expected = f.limit == 0 ? 2000 : f.limit;
  for (auto _ : state) {
    auto runs = l.j->list(f);
    if (!runs || runs.value().size() != expected) {
      state.SkipWithError("list returned the wrong runs");
      return;
    }
    benchmark::DoNotOptimize(runs);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * expected));
}
void BM_sqlite_list_fresh(benchmark::State& state) { list_bench(state, 0); }
void BM_sqlite_list_after_churn(benchmark::State& state) { list_bench(state, 100'000); }
BENCHMARK(BM_sqlite_list_fresh)->ArgName("limit")->Arg(0)->Arg(50);
BENCHMARK(BM_sqlite_list_after_churn)->ArgName("limit")->Arg(0)->Arg(50);

// ---- the census -------------------------------------------------------------------------------
//
// BM_sqlite_census: `census()` (runs by status, the oldest running, queued and paused runs) on a
// journal in /dev/shm holding `succeeded` finished runs plus the same 2,000 others (1,000
// running, 500 failed, 400 queued, 100 paused). Argument `succeeded`: 10,000 (the baseline) or
// 1,000,000. The census reads the runs that did not succeed from an index that holds only those,
// and the succeeded ones from the journal's run count: the ratio 1,000,000 / 10,000 is what a
// long history costs it (goal: about 1, i.e. independent of history).

/// A journal in /dev/shm with `succeeded` succeeded runs and 2,000 others.
class census_journal : public shm_journal {
 public:
  explicit census_journal(std::uint64_t succeeded) {
    if (!build(succeeded)) j.reset();
  }

 private:
  bool build(std::uint64_t succeeded) {
    if (!open()) return false;
    std::uint64_t n = 0;
    const auto started = [&](tutti::run_id& id) {
      id = tutti::run_id{0xCE5, ++n};
      return static_cast<bool>(j->start(id, "order", 1, {}));
    };
    const auto finished = [&](std::uint8_t outcome) {
      tutti::run_id id;
      if (!started(id)) return false;
      tutti::record_view r;
      r.kind = tutti::record_kind::run_finished;
      r.outcome = outcome;
      return static_cast<bool>(j->append(id, r));
    };
    for (std::uint64_t i = 0; i < succeeded; ++i)
      if (!finished(0)) return false;
    for (int i = 0; i < 500; ++i)
      if (!finished(1)) return false;
    for (int i = 0; i < 1000; ++i) {
      tutti::run_id id;
      if (!started(id)) return false;
    }
    for (int i = 0; i < 100; ++i) {
      tutti::run_id id;
      if (!started(id) || !tutti::pause_run(*j, id)) return false;
    }
    for (int i = 0; i < 400; ++i)
      if (!j->submit("order", 1, {}, {})) return false;
    return static_cast<bool>(j->flush());
  }
};

void BM_sqlite_census(benchmark::State& state) {
  // Each journal is built the first time its argument runs (the large one takes minutes).
  const auto journal_of = [](std::int64_t succeeded) -> census_journal& {
    if (succeeded == 10'000) {
      static census_journal small{10'000};
      return small;
    }
    static census_journal large{1'000'000};
    return large;
  };
  census_journal& c = journal_of(state.range(0));
  if (!c.j) {
    state.SkipWithError("cannot build the journal (no /dev/shm?)");
    return;
  }
  const auto expected = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    auto census = c.j->census();
    if (!census || census.value().count(tutti::run_status::succeeded) != expected ||
        census.value().count(tutti::run_status::running) != 1000 ||
        census.value().count(tutti::run_status::paused) != 100 ||
        census.value().count(tutti::run_status::queued) != 400) {
      state.SkipWithError("the census counted wrong");
      return;
    }
    benchmark::DoNotOptimize(census);
  }
}
BENCHMARK(BM_sqlite_census)->ArgName("succeeded")->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);


// ---- search -----------------------------------------------------------------------------------
//
// Search on journals in /dev/shm holding `runs` runs (10,000, the baseline, or 1,000,000), each
// with a business key ("order-<n>"); one in 100 failed at step "charge" with tutti's timeout, the
// rest succeeded. Each lookup goes through an index of its own, so the ratio 1,000,000 / 10,000
// is what a long history costs it (goal: about 1).
// - BM_sqlite_key_lookup: the runs of one order (`run_filter::key`, a key drawn at random).
// - BM_sqlite_list_page: the newest 50 runs (the CLI's page).
// - BM_sqlite_list_failed_step: the newest 50 runs that failed at "charge".
// - BM_sqlite_list_error: the newest 50 runs whose failure is tutti's timeout.
// - BM_sqlite_list_status_time: the failed runs among the last 10,000 started (100 of them, at
//   both sizes: the answer does not grow with the history).

/// A journal in /dev/shm with `runs` keyed runs, one in 100 failed (see above).
class search_journal : public shm_journal {
 public:
  explicit search_journal(std::uint64_t runs) : runs_(runs) {
    if (!build()) j.reset();
  }
  [[nodiscard]] std::uint64_t runs() const noexcept { return runs_; }
  std::int64_t recent_ms = 0;  // when the last 10,000 runs began

 private:
  bool build() {
    if (!open()) return false;
    for (std::uint64_t n = 1; n <= runs_; ++n) {
      const tutti::run_id id{0x5EA, n};
      const std::string key = "order-" + std::to_string(n);
      if (n == runs_ - 10'000 + 1)
        recent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
      if (!j->start(id, "order", {1, 1, key}, {})) return false;
      tutti::record_view r;
      const bool fails = n % 100 == 0;
      if (fails) {
        r.kind = tutti::record_kind::step_finished;
        r.step = "charge";
        r.error_category = "tutti";
        r.error_value = static_cast<int>(tutti::errc::timeout);
        if (!j->append(id, r)) return false;
        r = {};
      }
      r.kind = tutti::record_kind::run_finished;
      r.outcome = fails ? 1 : 0;
      if (!j->append(id, r)) return false;
    }
    return static_cast<bool>(j->flush());
  }
  std::uint64_t runs_;
};

/// The search journal of `runs` runs, built the first time it is asked for (the large one
/// takes minutes).
search_journal& search_journal_of(std::int64_t runs) {
  if (runs == 10'000) {
    static search_journal small{10'000};
    return small;
  }
  static search_journal large{1'000'000};
  return large;
}

/// Runs `filter_of(iteration)` as a `list` and checks each answer's size with `expect`.
template <class Filter, class Expect>
void search_bench(benchmark::State& state, Filter filter_of, Expect expect) {
  search_journal& s = search_journal_of(state.range(0));
  if (!s.j) {
    state.SkipWithError("cannot build the journal (no /dev/shm?)");
    return;
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    const tutti::run_filter f = filter_of(s, ++i);
    auto runs = s.j->list(f);
    if (!runs || !expect(s, runs.value())) {
      state.SkipWithError("list returned the wrong runs");
      return;
    }
    benchmark::DoNotOptimize(runs);
  }
}

void BM_sqlite_key_lookup(benchmark::State& state) {
  search_bench(
      state,
      [](const search_journal& s, std::uint64_t i) {
        tutti::run_filter f;
        // A key spread over the whole history (a multiplicative hash of the iteration).
        f.key = "order-" + std::to_string(1 + (i * 2654435761ULL) % s.runs());
        return f;
      },
      [](const search_journal&, const std::vector<tutti::run_summary>& r) {
        return r.size() == 1 && r[0].key.size() > 6;
      });
}
void BM_sqlite_list_page(benchmark::State& state) {
  search_bench(
      state,
      [](const search_journal&, std::uint64_t) {
        tutti::run_filter f;
        f.limit = 50;
        return f;
      },
      [](const search_journal&, const std::vector<tutti::run_summary>& r) { return r.size() == 50; });
}
void BM_sqlite_list_failed_step(benchmark::State& state) {
  search_bench(
      state,
      [](const search_journal&, std::uint64_t) {
        tutti::run_filter f;
        f.failed_step = "charge";
        f.limit = 50;
        return f;
      },
      [](const search_journal&, const std::vector<tutti::run_summary>& r) {
        return r.size() == 50 && r.back().failed_step == "charge";
      });
}
void BM_sqlite_list_error(benchmark::State& state) {
  search_bench(
      state,
      [](const search_journal&, std::uint64_t) {
        tutti::run_filter f;
        f.error_category = "tutti";
        f.error_value = static_cast<int>(tutti::errc::timeout);
        f.limit = 50;
        return f;
      },
      [](const search_journal&, const std::vector<tutti::run_summary>& r) {
        return r.size() == 50 && r.back().error_value == static_cast<int>(tutti::errc::timeout);
      });
}
void BM_sqlite_list_status_time(benchmark::State& state) {
  search_bench(
      state,
      [](const search_journal& s, std::uint64_t) {
        tutti::run_filter f;
        f.status = tutti::run_status::failed;
        f.started_after_unix_ms = s.recent_ms;
        return f;
      },
      [](const search_journal&, const std::vector<tutti::run_summary>& r) {
        // 100 of the last 10,000 failed; a run started in the same millisecond just before
        // them may add one.
        return r.size() >= 100 && r.size() <= 101;
      });
}
BENCHMARK(BM_sqlite_key_lookup)->ArgName("runs")->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sqlite_list_page)->ArgName("runs")->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sqlite_list_failed_step)->ArgName("runs")->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sqlite_list_error)->ArgName("runs")->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sqlite_list_status_time)->ArgName("runs")->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

// ---- payload encodings: bytes against JSON -------------------------------------------------------
//
// - BM_journal_payload_binary / BM_journal_payload_json: one order-like value (an id, an amount,
//   three line items, an optional note) written and read back as a journal payload, as bytes
//   (its serialize function) and as JSON (nlohmann-json, `tutti::json_payload`). `bytes`: the
//   payload's size.
// - BM_journal_sqlite_payload: a 4-step durable run on the SQLite journal (/dev/shm; grouped 0:
//   a commit per record, 1: grouped commits) whose input and outputs are such values, json 0
//   (bytes) or 1 (JSON): what the encoding costs a journaled run end to end.
#  ifdef TUTTI_BENCH_HAVE_JSON

struct line_item {
  std::string sku;
  std::int32_t quantity = 0;
  std::int64_t cents = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(line_item, sku, quantity, cents)
template <class A>
void serialize(A& ar, line_item& l) {
  ar(l.sku, l.quantity, l.cents);
}

/// The same fields twice: `Json` picks the encoding (json_payload is per type).
template <bool Json>
struct basket {
  std::string order_id;
  std::int64_t cents = 0;
  std::vector<line_item> items;
  std::optional<std::string> note;
  template <class A>
  friend void serialize(A& ar, basket& b) {
    ar(b.order_id, b.cents, b.items, b.note);
  }
};

basket<false> sample_basket(int i) {
  return {"A-" + std::to_string(100000 + i), 12'345,
          {{"book-0451524934", 1, 899}, {"pen-blue", 3, 250}, {"gift-wrap", 1, 400}},
          std::string("leave at the door")};
}
template <bool Json>
basket<Json> as(const basket<false>& b) {
  return {b.order_id, b.cents, b.items, b.note};
}

}  // namespace
template <>
inline constexpr bool tutti::json_payload<basket<true>> = true;
namespace {

template <bool Json>
void payload_bench(benchmark::State& state) {
  const basket<Json> value = as<Json>(sample_basket(1));
  std::vector<std::byte> out;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const auto e = tutti::detail::encode_payload(value, out);
    auto back = tutti::detail::decode_payload<basket<Json>>(out, e.value());
    if (!back || back.value().items.size() != 3) {
      state.SkipWithError("the payload did not read back");
      break;
    }
    bytes = out.size();
    benchmark::DoNotOptimize(back);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
void BM_journal_payload_binary(benchmark::State& state) { payload_bench<false>(state); }
void BM_journal_payload_json(benchmark::State& state) { payload_bench<true>(state); }
BENCHMARK(BM_journal_payload_binary);
BENCHMARK(BM_journal_payload_json);

template <bool Json>
auto basket_flow() {
  using B = basket<Json>;
  return tutti::workflow<"basket">(
      step<"price">([](const B& b) noexcept { return b; }),
      step<"reserve">([](from<"price", B> b) noexcept { return *b; }),
      step<"charge">([](from<"reserve", B> b) noexcept { return *b; }),
      step<"confirm">([](from<"charge", B> b) noexcept { return b->cents; }));
}

template <bool Json>
void sqlite_payload_bench(benchmark::State& state) {
  const bench_db file(false);
  tutti::sqlite_options o;
  o.commit = state.range(1) != 0 ? tutti::sqlite_commit::grouped : tutti::sqlite_commit::per_record;
  o.group_records = group_records;
  auto opened = open_bench_journal(state, file, o);
  if (!opened) return;
  auto& j = *opened;
  const auto flow = basket_flow<Json>();
  const tutti::durable_workflow durable{flow, j};
  int i = 0;
  for (auto _ : state) {
    auto r = durable.run(as<Json>(sample_basket(i++)));
    if (!r || r.error || !r->has_value() || r->value() != 12'345) {
      state.SkipWithError(("wrong result: " + j.last_error_message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  (void)j.flush();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 4);
}
void BM_journal_sqlite_payload(benchmark::State& state) {
  if (state.range(0) != 0)
    sqlite_payload_bench<true>(state);
  else
    sqlite_payload_bench<false>(state);
}
BENCHMARK(BM_journal_sqlite_payload)
    ->ArgNames({"json", "grouped"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseRealTime();

// - BM_trace_json_hand / BM_trace_json_nlohmann: why the trace recorder keeps its own JSON
//   writer (docs/observability/tracing.md). The same trace (2,000 runs of a 4-step workflow,
//   36,000 events) written by trace_recorder::write, and written by nlohmann-json one event
//   at a time (an object per event, then dump: the recorder's streaming shape; the objects are
//   copies of the parsed trace's, standing for objects built from its records). Both
//   single-threaded; bytes = the output's size.
const std::string& sample_trace_json(tutti::observe::trace_recorder*& keep) {
  static tutti::observe::trace_recorder trace;
  static const std::string text = [] {
    const auto wf = tutti::workflow<"w">(step<"a">([](int x) noexcept { return x + 1; }),
                                         step<"b">([](from<"a", int> x) noexcept { return *x + 1; }),
                                         step<"c">([](from<"b", int> x) noexcept { return *x + 1; }),
                                         step<"d">([](from<"c", int> x) noexcept { return *x + 1; }));
    tutti::steady_clock clock;
    for (int i = 0; i < 2000; ++i) (void)wf.run(i, {}, clock, trace);
    return trace.to_json();
  }();
  keep = &trace;
  return text;
}
void BM_trace_json_hand(benchmark::State& state) {
  tutti::observe::trace_recorder* trace = nullptr;
  (void)sample_trace_json(trace);
  std::string out;
  for (auto _ : state) {
    out.clear();
    trace->write(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
void BM_trace_json_nlohmann(benchmark::State& state) {
  tutti::observe::trace_recorder* trace = nullptr;
  const nlohmann::json parsed = nlohmann::json::parse(sample_trace_json(trace));
  const nlohmann::json& events = parsed.at("traceEvents");
  std::string out;
  for (auto _ : state) {
    out.assign("{\"traceEvents\":[");
    for (const auto& e : events) {
      const nlohmann::json one = e;
      out += one.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += ',';
    }
    out.back() = ']';
    out += '}';
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_trace_json_hand)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_trace_json_nlohmann)->Unit(benchmark::kMillisecond);

#  endif  // TUTTI_BENCH_HAVE_JSON

}  // namespace

#endif  // TUTTI_BENCH_NO_SQLITE
