// Async engine benchmarks (docs/async.md has the results; benchmarks/run_async.sh reproduces
// them).
//
// BM_async_chain4_tutti / BM_async_chain4_handwritten: one run of a 4-step chain whose steps are
// coroutines, each making one asynchronous call (a hop through the executor, as a socket read
// that is ready completes), as a tutti workflow awaited with async_run() and as a hand-written
// Asio coroutine awaiting the same four coroutines. One io_context, one thread; the loop runs
// inside one coroutine, so both pay the same co_spawn once. The _noop pair makes no call at all
// (each step returns at once): the engine's own cost per run, with nothing to hide it.
// BM_async_chain4_timeout_tutti: the chain with a timeout on every step (never reached): what
// racing each attempt against a timer costs.
//
// BM_async_10k_one_thread: 10,000 runs in flight at once on ONE thread, each a 4-step saga whose
// steps wait 1-10 ms on Asio timers (a fixed pseudo-random schedule); reports the wall time over
// the longest chain of waits (ratio_to_longest) and the memory each in-flight run holds: heap
// per run while all wait (bytes_per_run), and the same less a hand-written chain's
// (run_bytes_beyond_steps: what tutti adds beyond the steps' own frames and timers).
// BM_sync_10k_threads: the same load on the sync engine, a thread per run, waits blocking.
//
// BM_async_durable_chain4_sqlite / BM_sync_durable_chain4_sqlite: the chain run durably on a
// SQLite journal (per-record commits), in /dev/shm (disk:0) and on disk (disk:1): the journal's
// writes are synchronous calls on the run's thread in an async run too.
#include <tutti/async.hpp>  // first: Asio before <coroutine>

#include <benchmark/benchmark.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include <tutti/tutti.hpp>

#if !TUTTI_BENCH_NO_SQLITE
#include <string>

#include <tutti/journal/durable.hpp>
#include <tutti/journal/sqlite.hpp>

#include "bench_db.hpp"
#endif

// Memory per in-flight run: the heap in use (glibc's mallinfo2, which sees Asio's coroutine
// frames too: they are not allocated through operator new) once every run has started and waits
// on its first timer, less the heap in use before, per run.
static long long heap_in_use() { return static_cast<long long>(mallinfo2().uordblks); }

namespace {

using tutti::awaitable;
using tutti::from;
using tutti::step;

// ---- the 4-step chain --------------------------------------------------------------------------

/// One asynchronous call: suspends, and is resumed by the executor.
awaitable<int> call(int x) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  co_return x + 1;
}
awaitable<int> call_noop(int x) { co_return x + 1; }

template <awaitable<int> (*Call)(int)>
awaitable<int> chain4_handwritten(int x) {
  const int a = co_await Call(x);
  const int b = co_await Call(a);
  const int c = co_await Call(b);
  co_return co_await Call(c);
}

template <awaitable<int> (*Call)(int)>
auto chain4_workflow() {
  return tutti::workflow<"chain4">(
      step<"s1">([](const int& x) { return Call(x); }),
      step<"s2">([](from<"s1", int> v) { return Call(*v); }),
      step<"s3">([](from<"s2", int> v) { return Call(*v); }),
      step<"s4">([](from<"s3", int> v) { return Call(*v); }));
}

template <class Body>
void run_loop(benchmark::State& state, Body body) {
  asio::io_context io;
  bool ok = true;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    int x = 0;
    for (auto _ : state) {
      const int v = co_await body(x);
      if (v != x + 4) ok = false;
      benchmark::DoNotOptimize(v);
      ++x;
    }
  }, asio::detached);
  io.run();
  if (!ok) state.SkipWithError("a run gave a wrong value");
}

template <awaitable<int> (*Call)(int)>
void chain_tutti(benchmark::State& state) {
  static const auto wf = chain4_workflow<Call>();
  run_loop(state, [](int x) -> awaitable<int> {
    const auto run = co_await wf.async_run(x);
    co_return run.has_value() ? run.value() : -1;
  });
}
template <awaitable<int> (*Call)(int)>
void chain_handwritten(benchmark::State& state) {
  run_loop(state, [](int x) { return chain4_handwritten<Call>(x); });
}

// The chain with a timeout on every step (never reached): each attempt is raced against a
// timer, in a coroutine of its own on a strand of its own (docs/async.md).
void BM_async_chain4_timeout_tutti(benchmark::State& state) {
  static const auto wf = tutti::workflow<"chain4">(
      step<"s1">([](const int& x) { return call(x); }) | tutti::timeout{std::chrono::seconds{10}},
      step<"s2">([](from<"s1", int> v) { return call(*v); }) | tutti::timeout{std::chrono::seconds{10}},
      step<"s3">([](from<"s2", int> v) { return call(*v); }) | tutti::timeout{std::chrono::seconds{10}},
      step<"s4">([](from<"s3", int> v) { return call(*v); }) | tutti::timeout{std::chrono::seconds{10}});
  run_loop(state, [](int x) -> awaitable<int> {
    const auto run = co_await wf.async_run(x);
    co_return run.has_value() ? run.value() : -1;
  });
}

void BM_async_chain4_tutti(benchmark::State& state) { chain_tutti<&call>(state); }
void BM_async_chain4_handwritten(benchmark::State& state) { chain_handwritten<&call>(state); }
void BM_async_chain4_noop_tutti(benchmark::State& state) { chain_tutti<&call_noop>(state); }
void BM_async_chain4_noop_handwritten(benchmark::State& state) {
  chain_handwritten<&call_noop>(state);
}
BENCHMARK(BM_async_chain4_tutti);
BENCHMARK(BM_async_chain4_timeout_tutti);
BENCHMARK(BM_async_chain4_handwritten);
BENCHMARK(BM_async_chain4_noop_tutti);
BENCHMARK(BM_async_chain4_noop_handwritten);

// ---- 10,000 runs in flight -----------------------------------------------------------------------

constexpr int in_flight = 10'000;

/// The wait of step `s` (0..3) of run `r`: 1 to 10 ms, fixed.
std::chrono::milliseconds wait_of(int r, int s) {
  std::uint64_t x = static_cast<std::uint64_t>(r) * 4 + static_cast<std::uint64_t>(s) + 1;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return std::chrono::milliseconds{1 + static_cast<int>(x % 10)};
}
std::chrono::milliseconds longest_chain() {
  std::chrono::milliseconds most{0};
  for (int r = 0; r < in_flight; ++r)
    most = std::max(most, wait_of(r, 0) + wait_of(r, 1) + wait_of(r, 2) + wait_of(r, 3));
  return most;
}

awaitable<int> timer_step(int r, int s) {
  asio::steady_timer t(co_await asio::this_coro::executor, wait_of(r, s));
  co_await t.async_wait(asio::use_awaitable);
  co_return r;
}
awaitable<void> undo_step() { co_return; }

const auto saga4 = tutti::workflow<"saga4">(
    step<"a">([](const int& r) { return timer_step(r, 0); }).compensate_with([](const int&) {
      return undo_step();
    }),
    step<"b">([](const int& r) { return timer_step(r, 1); }).compensate_with([](const int&) {
      return undo_step();
    }),
    step<"c">([](const int& r) { return timer_step(r, 2); }).compensate_with([](const int&) {
      return undo_step();
    }),
    step<"d">([](const int& r) { return timer_step(r, 3); }));

awaitable<int> saga4_handwritten(int r) {
  (void)co_await timer_step(r, 0);
  (void)co_await timer_step(r, 1);
  (void)co_await timer_step(r, 2);
  co_return co_await timer_step(r, 3);
}

/// Runs `in_flight` runs of `body` at once on one thread; sets the counters.
template <class Body>
void ten_thousand(benchmark::State& state, Body body) {
  const double longest = std::chrono::duration<double>(longest_chain()).count();
  double worst_ratio = 0;
  long long peak_per_run = 0;
  for (auto _ : state) {
    asio::io_context io;
    int done = 0;
    const long long before = heap_in_use();
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < in_flight; ++r)
      asio::co_spawn(io, [&, r]() -> awaitable<void> {
        if (co_await body(r)) ++done;
      }, asio::detached);
    // Every run starts and waits on its first timer (the shortest wait is 1 ms).
    for (int started = 0; started < in_flight;) {
      const auto n = static_cast<int>(io.run_one());
      started += n;
      if (n == 0) break;
    }
    const long long in_flight_heap = heap_in_use() - before;
    io.run();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(wall);
    if (done != in_flight) state.SkipWithError("not every run succeeded");
    worst_ratio = std::max(worst_ratio, wall / longest);
    peak_per_run = std::max(peak_per_run, in_flight_heap / in_flight);
  }
  state.counters["ratio_to_longest"] = worst_ratio;
  state.counters["bytes_per_run"] = static_cast<double>(peak_per_run);
}

long long handwritten_bytes_per_run = 0;

void BM_async_10k_one_thread_handwritten(benchmark::State& state) {
  ten_thousand(state, [](int r) -> awaitable<bool> { co_return co_await saga4_handwritten(r) == r; });
  handwritten_bytes_per_run = static_cast<long long>(state.counters["bytes_per_run"].value);
}
void BM_async_10k_one_thread(benchmark::State& state) {
  ten_thousand(state, [](int r) -> awaitable<bool> {
    const auto run = co_await saga4.async_run(r);
    co_return run.has_value() && run.value() == r;
  });
  if (handwritten_bytes_per_run > 0)
    state.counters["run_bytes_beyond_steps"] =
        state.counters["bytes_per_run"].value - static_cast<double>(handwritten_bytes_per_run);
}
// The hand-written chain first: its peak is what the steps' own frames take.
BENCHMARK(BM_async_10k_one_thread_handwritten)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_async_10k_one_thread)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// The same load on the sync engine: a thread per run, each step blocking for its wait.
const auto saga4_sync = tutti::workflow<"saga4">(
    step<"a">([](const int& r) { std::this_thread::sleep_for(wait_of(r, 0)); return r; })
        .compensate_with([](const int&) {}),
    step<"b">([](const int& r) { std::this_thread::sleep_for(wait_of(r, 1)); return r; })
        .compensate_with([](const int&) {}),
    step<"c">([](const int& r) { std::this_thread::sleep_for(wait_of(r, 2)); return r; })
        .compensate_with([](const int&) {}),
    step<"d">([](const int& r) { std::this_thread::sleep_for(wait_of(r, 3)); return r; }));

void BM_sync_10k_threads(benchmark::State& state) {
  const double longest = std::chrono::duration<double>(longest_chain()).count();
  double worst_ratio = 0;
  for (auto _ : state) {
    std::atomic<int> done{0};
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> threads;
      threads.reserve(in_flight);
      for (int r = 0; r < in_flight; ++r)
        threads.emplace_back([&done, r] {
          const auto run = saga4_sync.run(r);
          if (run.has_value() && run.value() == r) ++done;
        });
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(wall);
    if (done != in_flight) state.SkipWithError("not every run succeeded");
    worst_ratio = std::max(worst_ratio, wall / longest);
  }
  state.counters["ratio_to_longest"] = worst_ratio;
}
BENCHMARK(BM_sync_10k_threads)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// ---- durable async runs: the journal's writes on the run's thread ------------------------------

#if !TUTTI_BENCH_NO_SQLITE
/// The 4-step chain run durably on a SQLite journal (per-record commits) in /dev/shm (`disk` 0:
/// the journal's CPU cost) or the temp directory (1: with fsync), awaited (`async_run`) or run
/// synchronously with plain steps; the journal's writes are synchronous calls in both, so the
/// difference to BM_async_chain4_tutti is how long they hold the run's thread.
template <bool Async>
void durable_chain(benchmark::State& state) {
  const bench::bench_db file(state.range(0) != 0);
  if (file.path.empty()) {
    state.SkipWithError("no /dev/shm here");
    return;
  }
  tutti::sqlite_options o;
  o.commit = tutti::sqlite_commit::per_record;
  std::string why;
  auto opened = tutti::sqlite_journal::open(file.path, o, &why);
  if (!opened) {
    state.SkipWithError(why.c_str());
    return;
  }
  auto& j = opened.value();
  bool ok = true;
  if constexpr (Async) {
    static const auto wf = chain4_workflow<&call>();
    const tutti::durable_workflow durable{wf, j};
    run_loop(state, [&](int x) -> awaitable<int> {
      const tutti::run_options opts;
      const auto out = co_await durable.async_run(x, opts);
      co_return out && out->has_value() ? out->value() : -1;
    });
  } else {
    static const auto wf = tutti::workflow<"chain4">(
        step<"s1">([](const int& x) { return x + 1; }), step<"s2">([](from<"s1", int> v) { return *v + 1; }),
        step<"s3">([](from<"s2", int> v) { return *v + 1; }), step<"s4">([](from<"s3", int> v) { return *v + 1; }));
    const tutti::durable_workflow durable{wf, j};
    int x = 0;
    for (auto _ : state) {
      const auto out = durable.run(x);
      if (!out || !out->has_value() || out->value() != x + 4) ok = false;
      ++x;
    }
  }
  if (!ok) state.SkipWithError("a run gave a wrong value");
}
void BM_async_durable_chain4_sqlite(benchmark::State& state) { durable_chain<true>(state); }
void BM_sync_durable_chain4_sqlite(benchmark::State& state) { durable_chain<false>(state); }
BENCHMARK(BM_async_durable_chain4_sqlite)->ArgName("disk")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_sync_durable_chain4_sqlite)->ArgName("disk")->Arg(0)->Arg(1)->UseRealTime();
#endif

}  // namespace
