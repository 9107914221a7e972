// Runner and queue benchmarks (docs/benchmarks.md, "Runner and queue (issue 12)"): what a run
// costs when it goes through the durable queue and tutti::runner instead of durable.run, how long
// a claim takes on a long queue, and how long a dead runner's run waits for a takeover.
//
// All on a tutti::sqlite_journal in WAL mode, grouped commits (sqlite_commit::grouped,
// synchronous=NORMAL) unless an argument says otherwise, so that fsync does not dominate: a
// grouped journal still commits at once a run's start, every claim, every status change and
// every run end; only the records in between (and submissions) wait for the group. The workflow
// is the same everywhere: 4 steps "a".."d", each adds 1 to an int (the result is the input + 4).
// A run writes 15 records: run_started, claimed, 3 per step, run_finished.
//
// - BM_durable_run_sqlite: one iteration = one `durable.run(i)`: the run's start (claimed at
//   epoch 1, committed), its 13 records, a status read before each step. Items = runs.
// - BM_runner_sqlite: one iteration = one run through the queue: `durable.submit(i)`, then a
//   tutti::runner claims it (`claim_next`), loads it, runs it to its end. Batches of `batch`
//   runs (KeepRunningBatch): the batch is submitted (timed: submitting is part of the cost), then
//   run to the end, one run at a time (concurrency 1); time per iteration = time per run.
//     pump = 1: the runner's own pump thread (`start()`) and a 1-thread tutti::thread_pool, as a
//       service runs it. A new runner per batch, started after the submissions and stopped once
//       the batch finished (`stop()`), so submitting and running never overlap on the 2 cores
//       and the pump never sleeps a poll interval (a run's end wakes it); the start and stop of
//       the runner (a thread) are timed, about 1/`batch` of them per run.
//     pump = 0: no thread: the benchmark thread calls `runner.poll_once()` with
//       tutti::inline_executor until the batch ran (the run runs inside poll_once, and then
//       claims the next one itself: one poll_once may run the whole batch). poll_once, as the pump, renews
//       leases when a heartbeat is due and looks for stuck runs once a second.
//   The goal (issue 12): BM_runner_sqlite within 1.2x of BM_durable_run_sqlite per run.
//   Both run a fixed `runs_per_rep` iterations (the file grows by that many runs, the same for
//   both), on a journal that already holds `history` finished runs of the workflow (0 or
//   10,000; copied from a file made once per process): claim_next's cost depends on it.
// - BM_durable_run_sqlite_breakdown, BM_runner_sqlite_breakdown: the same runs (grouped, /dev/shm,
//   pump = 0) through a journal wrapper that times each journal call; counters: microseconds per
//   run spent in each member (`us_claim_next`, `us_append`, ...) and in all of them (`us_journal`).
// - BM_claim_sqlite: claim latency: one `journal.claim_next(workflow, 1, lease)` on a queue of
//   `queued` runs (1,000 or 10,000). Outside the timed region (PauseTiming) each claimed run is
//   ended (a run_finished record) and one run is submitted, so the queue always holds `queued`
//   runs and claimed runs do not pile up as running. `history`: finished runs already in the
//   file; `running`: runs of the same workflow running under another engine's live lease (a
//   fleet's in-flight runs): `claim_next` looks for expired ones among them first.
// - BM_takeover_sqlite: takeover time. Runner A "dies" right after its last write: a run started
//   and claimed by A (`journal.start` with A's lease, 200 ms, from a second connection to the
//   file, as another process would) is never written again. Runner B (a tutti::runner, poll
//   10 ms, already running) takes it over once the lease expired. Time (manual, real) = from
//   just before A's start to B's `took_over` event; the goal is lease + one poll interval
//   (210 ms). Between takeovers a random pause (0 to 2 polls, not timed) puts A's death at a
//   random point of B's poll cycle. (A runner recovers the runs of a dead incarnation of its own
//   name at once, but only in its first round, at start-up: not measured here.)
//
// Arguments: grouped (1 = sqlite_commit::grouped, 0 = per_record: each write its own
// transaction, synchronous=FULL); disk (0 = /dev/shm, a tmpfs: no fsync cost; 1 =
// std::filesystem::temp_directory_path(): $TMPDIR, else /tmp).
//   tutti_bench_runner --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench_db.hpp"

#ifndef TUTTI_BENCH_NO_SQLITE

#  include <algorithm>
#  include <array>
#  include <atomic>
#  include <chrono>
#  include <condition_variable>
#  include <cstddef>
#  include <cstdint>
#  include <filesystem>
#  include <map>
#  include <mutex>
#  include <random>
#  include <span>
#  include <string>
#  include <string_view>
#  include <system_error>
#  include <thread>
#  include <type_traits>
#  include <vector>

#  include <tutti/executor.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/sqlite.hpp>
#  include <tutti/runner.hpp>
#  include <tutti/tutti.hpp>

namespace {

using namespace std::chrono_literals;
using tutti::from;
using tutti::step;

// 4 trivial steps: the result is the input + 4.
const auto flow4 =
    tutti::workflow<"runner4">(step<"a">([](int x) noexcept { return x + 1; }),
                               step<"b">([](from<"a", int> x) noexcept { return *x + 1; }),
                               step<"c">([](from<"b", int> x) noexcept { return *x + 1; }),
                               step<"d">([](from<"c", int> x) noexcept { return *x + 1; }));
using flow4_type = std::remove_cvref_t<decltype(flow4)>;
constexpr std::string_view workflow_name = "runner4";
constexpr int steps_per_run = 4;
// Runs per batch in BM_runner_sqlite; iterations of BM_durable_run_sqlite and BM_runner_sqlite
// (each repetition: the file grows by as many runs in both); iterations of BM_claim_sqlite.
constexpr std::int64_t batch = 64;
constexpr std::int64_t runs_per_rep = 2048;
constexpr std::int64_t claims_per_rep = 500;

using bench::bench_db;

tutti::sqlite_options options_for(bool grouped) {
  tutti::sqlite_options o;
  o.commit = grouped ? tutti::sqlite_commit::grouped : tutti::sqlite_commit::per_record;
  return o;
}

/// A journal file holding `history` succeeded runs of flow4, made once per process (grouped,
/// /dev/shm) and closed (so it is one file, no WAL); empty path on failure.
const std::string& history_file(std::int64_t history) {
  static std::map<std::int64_t, bench_db> files;
  static std::mutex m;
  const std::lock_guard lock{m};
  auto it = files.find(history);
  if (it != files.end()) return it->second.path;
  auto& db = files.try_emplace(history, false).first->second;
  bool ok = !db.path.empty();
  if (ok) {
    auto j = tutti::sqlite_journal::open(db.path, options_for(true));
    ok = static_cast<bool>(j);
    if (ok) {
      const tutti::durable_workflow durable{flow4, j.value()};
      for (std::int64_t k = 0; k < history && ok; ++k) {
        auto r = durable.run(static_cast<int>(-1 - k));
        ok = r && !r.error;
      }
      ok = ok && j.value().flush();
    }
  }
  if (!ok) db.path.clear();
  return db.path;
}

/// Opens a journal at `file.path`: a copy of the history file when `history` > 0.
tutti::result<tutti::sqlite_journal> open_with_history(benchmark::State& state,
                                                       const bench_db& file, bool grouped,
                                                       std::int64_t history) {
  if (file.path.empty()) {
    state.SkipWithError("no /dev/shm here");
    return tutti::journal_errc::io_error;
  }
  if (history > 0) {
    const std::string& from_path = history_file(history);
    std::error_code ec;
    if (from_path.empty() || !std::filesystem::copy_file(from_path, file.path, ec)) {
      state.SkipWithError("could not make the history file");
      return tutti::journal_errc::io_error;
    }
  }
  std::string why;
  auto opened = tutti::sqlite_journal::open(file.path, options_for(grouped), &why);
  if (!opened) state.SkipWithError(why.c_str());
  return opened;
}

/// Whether run `id` succeeded with the input + 4 as step d's output (read back from the file).
template <class J>
bool run_checked(J& j, const tutti::run_id& id, int input) {
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

/**
 * A tutti::journal that forwards to an sqlite_journal and adds up the wall time spent in each
 * member: where a run's time goes. For one thread at a time (the benchmark thread).
 */
class timed_journal {
 public:
  enum member : std::size_t {
    m_start,
    m_submit,
    m_claim,
    m_claim_next,
    m_renew,
    m_release,
    m_append,
    m_command,
    m_load,
    m_list,
    m_status,
    count
  };
  static constexpr std::array<const char*, count> names = {
      "start",  "submit",  "claim", "claim_next", "renew", "release",
      "append", "command", "load",  "list",       "status"};

  explicit timed_journal(tutti::sqlite_journal& j) noexcept : j_(&j) {}

  tutti::result<tutti::run_claim> start(const tutti::run_id& id, std::string_view wf,
                                        const tutti::workflow_version& fp, std::span<const std::byte> in,
                                        const tutti::lease_request& l) {
    return timed(m_start, [&] { return j_->start(id, wf, fp, in, l); });
  }
  tutti::result<tutti::submitted> submit(std::string_view wf, const tutti::workflow_version& fp,
                                         std::span<const std::byte> in,
                                         const tutti::submit_options& o) {
    return timed(m_submit, [&] { return j_->submit(wf, fp, in, o); });
  }
  tutti::result<tutti::run_claim> claim(const tutti::run_id& id, const tutti::lease_request& l) {
    return timed(m_claim, [&] { return j_->claim(id, l); });
  }
  tutti::result<std::vector<tutti::run_claim>> claim_next(std::string_view wf, std::size_t max,
                                                          const tutti::lease_request& l) {
    return timed(m_claim_next, [&] { return j_->claim_next(wf, max, l); });
  }
  tutti::result<std::int64_t> renew(const tutti::run_id& id, std::uint64_t epoch) {
    return timed(m_renew, [&] { return j_->renew(id, epoch); });
  }
  tutti::result<void> release(const tutti::run_id& id, std::uint64_t epoch) {
    return timed(m_release, [&] { return j_->release(id, epoch); });
  }
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& r) {
    return timed(m_append, [&] { return j_->append(id, r); });
  }
  tutti::result<tutti::run_status> command(const tutti::run_id& id, const tutti::record_view& r,
                                           std::span<const tutti::run_status> allowed, bool fence) {
    return timed(m_command, [&] { return j_->command(id, r, allowed, fence); });
  }
  tutti::result<tutti::stored_run> load(const tutti::run_id& id) {
    return timed(m_load, [&] { return j_->load(id); });
  }
  tutti::result<std::vector<tutti::run_summary>> list(const tutti::run_filter& f) {
    return timed(m_list, [&] { return j_->list(f); });
  }
  tutti::result<tutti::run_status> status(const tutti::run_id& id) {
    return timed(m_status, [&] { return j_->status(id); });
  }
  [[nodiscard]] std::string last_error_message() const { return j_->last_error_message(); }

  /// Microseconds spent in each member, and calls, since the last reset.
  std::array<double, count> us{};
  std::array<std::uint64_t, count> calls{};
  void reset() noexcept {
    us = {};
    calls = {};
  }
  /// Counters: microseconds per iteration in each member called, and in all of them.
  void report(benchmark::State& state) const {
    double all = 0;
    for (std::size_t m = 0; m < count; ++m) {
      if (calls[m] == 0) continue;
      all += us[m];
      state.counters[std::string("us_") + names[m]] =
          benchmark::Counter(us[m], benchmark::Counter::kAvgIterations);
      state.counters[std::string("n_") + names[m]] =
          benchmark::Counter(static_cast<double>(calls[m]), benchmark::Counter::kAvgIterations);
    }
    state.counters["us_journal"] = benchmark::Counter(all, benchmark::Counter::kAvgIterations);
  }

 private:
  template <class F>
  auto timed(member m, F&& f) -> decltype(f()) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = f();
    us[m] +=
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    ++calls[m];
    return r;
  }
  tutti::sqlite_journal* j_;
};
static_assert(tutti::journal<timed_journal>);

// ---- 1. durable.run --------------------------------------------------------------------------

template <class J>
void durable_runs(benchmark::State& state, tutti::sqlite_journal& sj, J& j) {
  const tutti::durable_workflow durable{flow4, j};
  {
    const auto first = durable.run(1000);
    if (!first || first.error || !first->has_value() || first->value() != 1004 ||
        !run_checked(sj, first->id(), 1000)) {
      state.SkipWithError(("wrong result: " + sj.last_error_message()).c_str());
      return;
    }
  }
  if constexpr (std::is_same_v<J, timed_journal>) j.reset();
  int i = 0;
  for (auto _ : state) {
    auto r = durable.run(i++);
    if (!r || r.error) {
      state.SkipWithError(sj.last_error_message().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  (void)sj.flush();
  state.SetItemsProcessed(state.iterations());
}

void BM_durable_run_sqlite(benchmark::State& state) {
  const bench_db file(state.range(1) != 0);
  auto opened = open_with_history(state, file, state.range(0) != 0, state.range(2));
  if (!opened) return;
  durable_runs(state, opened.value(), opened.value());
}
BENCHMARK(BM_durable_run_sqlite)
    ->ArgNames({"grouped", "disk", "history"})
    ->Args({1, 0, 0})
    ->Args({1, 0, 10'000})
    ->Args({1, 1, 0})
    ->Args({0, 0, 0})
    ->Args({0, 1, 0})
    ->Iterations(runs_per_rep)
    ->UseRealTime();

void BM_durable_run_sqlite_breakdown(benchmark::State& state) {
  const bench_db file(false);
  auto opened = open_with_history(state, file, true, state.range(0));
  if (!opened) return;
  timed_journal tj{opened.value()};
  durable_runs(state, opened.value(), tj);
  tj.report(state);
}
BENCHMARK(BM_durable_run_sqlite_breakdown)
    ->ArgNames({"history"})
    ->Arg(0)
    ->Arg(10'000)
    ->Iterations(runs_per_rep)
    ->UseRealTime();

// ---- 2. submit -> runner -> finished ---------------------------------------------------------

/// Counts the runner's `finished` events (any thread) and wakes a waiter at a target.
struct finish_counter {
  std::mutex m;
  std::condition_variable cv;
  std::int64_t finished = 0;
  std::int64_t succeeded = 0;
  std::int64_t target = 0;
  std::string error;  // the first journal error or fence

  void on_event(const tutti::runner_event& e) {
    if (e.kind == tutti::runner_event_kind::finished) {
      const std::lock_guard lock{m};
      ++finished;
      if (e.message == "succeeded") ++succeeded;
      if (finished >= target) cv.notify_all();
    } else if (e.kind == tutti::runner_event_kind::journal_error ||
               e.kind == tutti::runner_event_kind::fenced) {
      const std::lock_guard lock{m};
      if (error.empty())
        error = std::string(tutti::to_string(e.kind)) + ": " + std::string(e.message);
    }
  }
  /// Waits until `target` runs finished in all (or 60 s); false on a timeout or an error.
  bool wait(std::int64_t n) {
    std::unique_lock lock{m};
    target = n;
    return cv.wait_for(lock, 60s, [&] { return finished >= target; }) && error.empty() &&
           succeeded == finished;
  }
};

/// Submits runs `next`, `next + 1`, ... (`n` of them).
template <class D>
bool submit_batch(benchmark::State& state, const D& durable, int& next, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) {
    auto s = durable.submit(next++);
    if (!s) {
      state.SkipWithError(("submit: " + durable.journal().last_error_message()).c_str());
      return false;
    }
  }
  return true;
}

/// The runner's own pump thread and a 1-thread pool: a new runner per batch.
void runner_runs_pump(benchmark::State& state, tutti::sqlite_journal& j) {
  const tutti::durable_workflow durable{flow4, j};
  tutti::thread_pool pool(1);
  finish_counter done;
  const auto run_batch = [&](std::int64_t n) {
    tutti::runner r{j, pool, tutti::runner_options{}};
    r.host<int>(flow4, 1);
    r.on_event([&done](const tutti::runner_event& e) { done.on_event(e); });
    const std::int64_t target = done.finished + n;
    r.start();
    const bool ok = done.wait(target);
    r.stop();
    return ok;
  };
  {  // check once: a run submitted and run by the runner succeeds with the input + 4
    auto s = durable.submit(1000);
    if (!s || !run_batch(1) || !run_checked(j, s.value().id, 1000)) {
      state.SkipWithError(("wrong result: " + done.error + j.last_error_message()).c_str());
      return;
    }
  }
  int next = 0;
  while (state.KeepRunningBatch(batch)) {
    if (!submit_batch(state, durable, next, batch)) break;
    if (!run_batch(batch)) {
      state.SkipWithError(("runner: " + done.error + " / " + j.last_error_message()).c_str());
      break;
    }
  }
}

/// No thread: poll_once on the benchmark thread, runs inline.
template <class J>
void runner_runs_inline(benchmark::State& state, tutti::sqlite_journal& sj, J& j) {
  const tutti::durable_workflow durable{flow4, j};
  tutti::inline_executor inline_exec;
  tutti::runner r{j, inline_exec, tutti::runner_options{}};
  r.template host<int>(flow4, 1);
  {
    auto s = durable.submit(1000);
    if (!s || r.poll_once() != 1 || !run_checked(sj, s.value().id, 1000)) {
      state.SkipWithError(("wrong result: " + sj.last_error_message()).c_str());
      return;
    }
  }
  if constexpr (std::is_same_v<J, timed_journal>) j.reset();
  int next = 0;
  while (state.KeepRunningBatch(batch)) {
    if (!submit_batch(state, durable, next, batch)) break;
    // Claimed runs are run inside poll_once, and each run's thread (here the caller's) claims
    // the next one itself: one poll_once may run the whole batch.
    const std::uint64_t target = r.stats().finished + static_cast<std::uint64_t>(batch);
    bool ok = true;
    for (std::int64_t polls = 0; ok && r.stats().finished < target; ++polls)
      ok = r.poll_once() != 0 && polls < batch;
    const auto st = r.stats();
    if (!ok || st.journal_errors != 0 || st.fenced != 0) {
      state.SkipWithError(("runner: " + sj.last_error_message()).c_str());
      break;
    }
  }
}

void BM_runner_sqlite(benchmark::State& state) {
  const bench_db file(state.range(2) != 0);
  auto opened = open_with_history(state, file, state.range(1) != 0, state.range(3));
  if (!opened) return;
  auto& j = opened.value();
  if (state.range(0) != 0)
    runner_runs_pump(state, j);
  else
    runner_runs_inline(state, j, j);
  (void)j.flush();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_runner_sqlite)
    ->ArgNames({"pump", "grouped", "disk", "history"})
    ->Args({1, 1, 0, 0})
    ->Args({0, 1, 0, 0})
    ->Args({1, 1, 0, 10'000})
    ->Args({0, 1, 0, 10'000})
    ->Args({1, 1, 1, 0})
    ->Args({1, 0, 0, 0})
    ->Args({1, 0, 1, 0})
    ->Iterations(runs_per_rep)
    ->UseRealTime();

void BM_runner_sqlite_breakdown(benchmark::State& state) {
  const bench_db file(false);
  auto opened = open_with_history(state, file, true, state.range(0));
  if (!opened) return;
  timed_journal tj{opened.value()};
  runner_runs_inline(state, opened.value(), tj);
  (void)opened.value().flush();
  state.SetItemsProcessed(state.iterations());
  tj.report(state);
}
BENCHMARK(BM_runner_sqlite_breakdown)
    ->ArgNames({"history"})
    ->Arg(0)
    ->Arg(10'000)
    ->Iterations(runs_per_rep)
    ->UseRealTime();

// ---- 3. claim latency ------------------------------------------------------------------------

void BM_claim_sqlite(benchmark::State& state) {
  const std::int64_t queued = state.range(0);
  const std::int64_t running = state.range(2);
  const bench_db file(false);
  auto opened = open_with_history(state, file, true, state.range(1));
  if (!opened) return;
  auto& j = opened.value();
  const tutti::durable_workflow durable{flow4, j};
  int next = 0;
  // Runs another engine holds (a live lease of an hour): running, never claimable here.
  const tutti::lease_request other{"other-engine#1", std::chrono::hours(1), {}};
  for (std::int64_t k = 0; k < running; ++k) {
    const std::vector<std::byte> input = tutti::to_bytes(next++);
    if (!j.start(tutti::run_id::generate(), workflow_name, durable.fingerprint(), input, other)) {
      state.SkipWithError(j.last_error_message().c_str());
      return;
    }
  }
  for (std::int64_t k = 0; k < queued; ++k) {
    if (!durable.submit(next++)) {
      state.SkipWithError(j.last_error_message().c_str());
      return;
    }
  }
  if (!j.flush()) {
    state.SkipWithError(j.last_error_message().c_str());
    return;
  }
  const tutti::lease_request lease{"bench#1", 30s, {}};
  tutti::record_view end;
  end.kind = tutti::record_kind::run_finished;
  end.outcome = 0;  // succeeded
  for (auto _ : state) {
    auto c = j.claim_next(workflow_name, 1, lease);
    state.PauseTiming();
    if (!c || c.value().size() != 1 || !c.value().front().from_queue) {
      state.SkipWithError(("claim_next: " + j.last_error_message()).c_str());
      break;
    }
    end.epoch = c.value().front().epoch;
    if (!j.append(c.value().front().id, end) || !durable.submit(next++) || !j.flush()) {
      state.SkipWithError(j.last_error_message().c_str());
      break;
    }
    state.ResumeTiming();
  }
  if (auto d = j.queue_depth(); !d || static_cast<std::int64_t>(d.value()) != queued)
    state.SkipWithError("the queue did not keep its depth");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_claim_sqlite)
    ->ArgNames({"queued", "history", "running"})
    ->Args({1'000, 0, 0})
    ->Args({10'000, 0, 0})
    ->Args({1'000, 10'000, 0})
    ->Args({1'000, 0, 1'000})
    ->Iterations(claims_per_rep)
    ->UseRealTime();

// ---- 4. takeover -----------------------------------------------------------------------------

constexpr auto takeover_lease = 200ms;
constexpr auto takeover_poll = 10ms;

/// Records when runner B took over which run, and when that run finished.
struct takeover_watch {
  std::mutex m;
  std::condition_variable cv;
  tutti::run_id taken{};
  tutti::run_id finished{};
  std::chrono::steady_clock::time_point taken_at{};
  std::string error;

  void on_event(const tutti::runner_event& e) {
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard lock{m};
    if (e.kind == tutti::runner_event_kind::took_over) {
      taken = e.run;
      taken_at = now;
    } else if (e.kind == tutti::runner_event_kind::finished) {
      finished = e.run;
      if (e.message != "succeeded" && error.empty())
        error = "the run taken over ended: " + std::string(e.message);
    } else if (e.kind == tutti::runner_event_kind::journal_error ||
               e.kind == tutti::runner_event_kind::fenced ||
               e.kind == tutti::runner_event_kind::claimed) {
      if (error.empty()) error = "unexpected " + std::string(tutti::to_string(e.kind));
    } else {
      return;
    }
    cv.notify_all();
  }
};

void BM_takeover_sqlite(benchmark::State& state) {
  const bool same_name = state.range(0) != 0;
  const bench_db file(false);
  auto opened_b = open_with_history(state, file, true, 0);
  if (!opened_b) return;
  // A writes through its own connection, as another process would.
  std::string why;
  auto opened_a = tutti::sqlite_journal::open(file.path, options_for(true), &why);
  if (!opened_a) {
    state.SkipWithError(why.c_str());
    return;
  }
  auto& jb = opened_b.value();
  auto& ja = opened_a.value();
  const std::uint64_t fingerprint =
      tutti::durable_workflow<flow4_type, tutti::sqlite_journal>::fingerprint();
  // A: a dead incarnation of B's name ("pay-1#<another pid>"), or another runner.
  const std::string a_owner = same_name ? "pay-1#dead.00000000" : "pay-0#dead.00000000";
  const tutti::lease_request a_lease{a_owner, takeover_lease, {}};

  tutti::thread_pool pool(1);
  takeover_watch watch;
  tutti::runner b{
      jb, pool,
      tutti::runner_options{.name = "pay-1", .lease = takeover_lease, .poll = takeover_poll}};
  b.host<int>(flow4, 1);
  b.on_event([&watch](const tutti::runner_event& e) { watch.on_event(e); });
  b.start();

  std::mt19937 rng{std::random_device{}()};  // other pauses in each repetition
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
  const double lease_ms =
      same_name ? 0.0 : std::chrono::duration<double, std::milli>(takeover_lease).count();
  const double poll_ms = std::chrono::duration<double, std::milli>(takeover_poll).count();
  state.counters["lease_ms"] = lease_ms;
  state.counters["poll_ms"] = poll_ms;
  state.counters["goal_ms"] = lease_ms + poll_ms;
  state.counters["mean_ms"] = total_ms / n;
  state.counters["min_ms"] = min_ms;
  state.counters["max_ms"] = max_ms;
  state.counters["a_write_ms"] = write_ms / n;  // A's last write (its start), mean
  state.counters["takeovers"] = static_cast<double>(b.stats().takeovers);
}
BENCHMARK(BM_takeover_sqlite)
    ->ArgNames({"same_name"})
    ->Arg(0)
    ->Iterations(20)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

#endif  // TUTTI_BENCH_NO_SQLITE
