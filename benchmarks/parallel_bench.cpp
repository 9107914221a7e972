// Parallel-group benchmarks (issue 6): scatter-gather through tutti::parallel on a
// tutti::thread_pool against the same work submitted by hand to the same kind of pool and joined
// with a std::latch, and the fixed cost of a group (4 trivial branches) on the inline executor
// and on the pool. docs/benchmarks.md ("Parallel groups") has the results.
//
// - BM_scatter4_tutti_pool / BM_scatter4_handwritten_threads: four branches of ~20 µs of CPU work
//   each (a deterministic integer loop, calibrated once; not a sleep), then the four results are
//   combined. 4 pool threads; the *_2threads variants use a pool of 2 (the machine's cores).
//   Real (wall-clock) time: what matters for scatter-gather. BM_scatter4_handwritten_helping
//   is the hand-written variant whose caller runs queued tasks while it waits (try_run_one), as
//   tutti's groups do; BM_work_once and BM_scatter4_sequential are references (one branch's
//   work; the four one after another on the calling thread).
// - BM_group_overhead_inline vs BM_group_baseline_inline: 4 trivial branches in a group on the
//   inline executor vs the same 4 steps in a plain sequential workflow.
// - BM_group_overhead_pool vs BM_handwritten_pool_trivial: 4 trivial branches through the pool
//   (group vs hand-written submit + latch); BM_handwritten_pool_trivial_helping: the
//   hand-written one with a helping wait.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <tuple>

#include <tutti/tutti.hpp>

using tutti::from;
using tutti::step;

namespace {

using u64 = std::uint64_t;
using outputs4 = std::tuple<u64, u64, u64, u64>;

// ---- the work: a deterministic integer loop, ~20 µs --------------------------------------------

/// `iters` rounds of a 64-bit LCG from `seed`; DoNotOptimize keeps every round.
[[gnu::noinline]] u64 spin(u64 seed, u64 iters) noexcept {
  u64 x = seed;
  for (u64 i = 0; i < iters; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    benchmark::DoNotOptimize(x);
  }
  return x;
}

constexpr double target_ns = 20'000.0;

/// Iterations of spin() that take ~20 µs on this machine: the fastest of several timed runs of
/// a large count (the least disturbed by other jobs), scaled. Computed once.
u64 work_iters() noexcept {
  static const u64 iters = [] {
    constexpr u64 probe = 1'000'000;
    double best = 1e300;
    for (int k = 0; k < 7; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(spin(static_cast<u64>(k) + 1, probe));
      const auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    const double per_iter = best / static_cast<double>(probe);
    return std::max<u64>(1, static_cast<u64>(target_ns / per_iter));
  }();
  return iters;
}

// The four branches' work, shared by both variants.
u64 work_a(u64 x) noexcept { return spin(x + 1, work_iters()); }
u64 work_b(u64 x) noexcept { return spin(x + 2, work_iters()); }
u64 work_c(u64 x) noexcept { return spin(x + 3, work_iters()); }
u64 work_d(u64 x) noexcept { return spin(x + 4, work_iters()); }

u64 combine(u64 a, u64 b, u64 c, u64 d) noexcept { return a ^ (b << 1) ^ (c << 2) ^ (d << 3); }

u64 expected(u64 x) noexcept { return combine(work_a(x), work_b(x), work_c(x), work_d(x)); }

// ---- tutti: one group of four branches, then a step combining their outputs --------------------

auto make_scatter4(tutti::thread_pool& pool) {
  return tutti::workflow<"scatter4">(
      tutti::parallel<"gather">(pool, step<"a">([](u64 x) noexcept { return work_a(x); }),
                                step<"b">([](u64 x) noexcept { return work_b(x); }),
                                step<"c">([](u64 x) noexcept { return work_c(x); }),
                                step<"d">([](u64 x) noexcept { return work_d(x); })),
      step<"combine">([](from<"gather", outputs4> g) noexcept {
        const auto& [a, b, c, d] = *g;
        return combine(a, b, c, d);
      }));
}

// ---- hand-written: 4 lambdas on the same pool, each stores its result and counts down a latch --

u64 scatter4_handwritten(tutti::thread_pool& pool, u64 x) noexcept {
  std::array<u64, 4> out{};
  std::latch done{4};
  pool.submit([&out, &done, x]() noexcept { out[0] = work_a(x); done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[1] = work_b(x); done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[2] = work_c(x); done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[3] = work_d(x); done.count_down(); });
  done.wait();
  return combine(out[0], out[1], out[2], out[3]);
}

/// Waits for `done` the way tutti's groups do: runs queued tasks on this thread while there are
/// any (the pattern of thread_pool's documentation), blocks only when the queue is empty.
void help_until(tutti::thread_pool& pool, std::latch& done) noexcept {
  while (!done.try_wait()) {
    if (!pool.try_run_one()) done.wait();
  }
}

/// The same as scatter4_handwritten, but the caller helps instead of blocking at once.
u64 scatter4_handwritten_helping(tutti::thread_pool& pool, u64 x) noexcept {
  std::array<u64, 4> out{};
  std::latch done{4};
  pool.submit([&out, &done, x]() noexcept { out[0] = work_a(x); done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[1] = work_b(x); done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[2] = work_c(x); done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[3] = work_d(x); done.count_down(); });
  help_until(pool, done);
  return combine(out[0], out[1], out[2], out[3]);
}

constexpr u64 check_input = 100;

void scatter4_tutti(benchmark::State& state, std::size_t threads) {
  tutti::thread_pool pool{threads};
  const auto wf = make_scatter4(pool);
  {
    auto r = wf.run(check_input);
    if (!r.has_value() || r.value() != expected(check_input)) state.SkipWithError("wrong result");
  }
  u64 i = 0;
  for (auto _ : state) {
    auto r = wf.run(i++);
    if (!r.has_value()) {
      state.SkipWithError("run failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.counters["work_ns"] = target_ns;
}

template <u64 (*Scatter)(tutti::thread_pool&, u64) noexcept>
void scatter4_by_hand(benchmark::State& state, std::size_t threads) {
  tutti::thread_pool pool{threads};
  if (Scatter(pool, check_input) != expected(check_input)) state.SkipWithError("wrong result");
  u64 i = 0;
  for (auto _ : state) {
    u64 v = Scatter(pool, i++);
    benchmark::DoNotOptimize(v);
  }
  state.counters["work_ns"] = target_ns;
}

// References: one branch's work alone (~20 µs if the calibration holds), and the four run one
// after another on the calling thread (~80 µs: what the pool should beat).
void BM_work_once(benchmark::State& state) {
  u64 i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(work_a(i++));
}
void BM_scatter4_sequential(benchmark::State& state) {
  u64 i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(expected(i++));
}

void BM_scatter4_tutti_pool(benchmark::State& state) { scatter4_tutti(state, 4); }
void BM_scatter4_handwritten_threads(benchmark::State& state) {
  scatter4_by_hand<scatter4_handwritten>(state, 4);
}
void BM_scatter4_tutti_pool_2threads(benchmark::State& state) { scatter4_tutti(state, 2); }
void BM_scatter4_handwritten_threads_2threads(benchmark::State& state) {
  scatter4_by_hand<scatter4_handwritten>(state, 2);
}
// Hand-written with the caller helping (try_run_one), as tutti's groups wait: isolates what
// tutti adds from the difference between helping and blocking.
void BM_scatter4_handwritten_helping(benchmark::State& state) {
  scatter4_by_hand<scatter4_handwritten_helping>(state, 4);
}

// ---- the group's fixed cost: 4 trivial branches ------------------------------------------------

const auto group_inline = tutti::workflow<"group_inline">(
    tutti::parallel<"g">(step<"a">([](int x) noexcept { return x + 1; }),
                         step<"b">([](int x) noexcept { return x + 2; }),
                         step<"c">([](int x) noexcept { return x + 3; }),
                         step<"d">([](int x) noexcept { return x + 4; })));

const auto baseline_inline = tutti::workflow<"baseline_inline">(
    step<"a">([](int x) noexcept { return x + 1; }), step<"b">([](int x) noexcept { return x + 2; }),
    step<"c">([](int x) noexcept { return x + 3; }), step<"d">([](int x) noexcept { return x + 4; }));

auto make_group_pool(tutti::thread_pool& pool) {
  return tutti::workflow<"group_pool">(
      tutti::parallel<"g">(pool, step<"a">([](int x) noexcept { return x + 1; }),
                           step<"b">([](int x) noexcept { return x + 2; }),
                           step<"c">([](int x) noexcept { return x + 3; }),
                           step<"d">([](int x) noexcept { return x + 4; })));
}

bool trivial_ok(const std::tuple<int, int, int, int>& t) {
  return t == std::tuple<int, int, int, int>{101, 102, 103, 104};
}

void BM_group_overhead_inline(benchmark::State& state) {
  {
    auto r = group_inline.run(100);
    if (!r.has_value() || !trivial_ok(r.value())) state.SkipWithError("wrong result");
  }
  int i = 0;
  for (auto _ : state) {
    auto r = group_inline.run(i++);
    if (!r.has_value()) {
      state.SkipWithError("run failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}

void BM_group_baseline_inline(benchmark::State& state) {
  {
    auto r = baseline_inline.run(100);
    if (!r.has_value() || r.value() != 104) state.SkipWithError("wrong result");
  }
  int i = 0;
  for (auto _ : state) {
    auto r = baseline_inline.run(i++);
    if (!r.has_value()) {
      state.SkipWithError("run failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}

void BM_group_overhead_pool(benchmark::State& state) {
  tutti::thread_pool pool{4};
  const auto wf = make_group_pool(pool);
  {
    auto r = wf.run(100);
    if (!r.has_value() || !trivial_ok(r.value())) state.SkipWithError("wrong result");
  }
  int i = 0;
  for (auto _ : state) {
    auto r = wf.run(i++);
    if (!r.has_value()) {
      state.SkipWithError("run failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}

std::tuple<int, int, int, int> trivial_handwritten(tutti::thread_pool& pool, int x) noexcept {
  std::array<int, 4> out{};
  std::latch done{4};
  pool.submit([&out, &done, x]() noexcept { out[0] = x + 1; done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[1] = x + 2; done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[2] = x + 3; done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[3] = x + 4; done.count_down(); });
  done.wait();
  return {out[0], out[1], out[2], out[3]};
}

std::tuple<int, int, int, int> trivial_handwritten_helping(tutti::thread_pool& pool,
                                                           int x) noexcept {
  std::array<int, 4> out{};
  std::latch done{4};
  pool.submit([&out, &done, x]() noexcept { out[0] = x + 1; done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[1] = x + 2; done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[2] = x + 3; done.count_down(); });
  pool.submit([&out, &done, x]() noexcept { out[3] = x + 4; done.count_down(); });
  help_until(pool, done);
  return {out[0], out[1], out[2], out[3]};
}

void BM_handwritten_pool_trivial_helping(benchmark::State& state) {
  tutti::thread_pool pool{4};
  if (!trivial_ok(trivial_handwritten_helping(pool, 100))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto t = trivial_handwritten_helping(pool, i++);
    benchmark::DoNotOptimize(t);
  }
}

void BM_handwritten_pool_trivial(benchmark::State& state) {
  tutti::thread_pool pool{4};
  if (!trivial_ok(trivial_handwritten(pool, 100))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto t = trivial_handwritten(pool, i++);
    benchmark::DoNotOptimize(t);
  }
}

}  // namespace

BENCHMARK(BM_work_once)->UseRealTime();
BENCHMARK(BM_scatter4_sequential)->UseRealTime();
BENCHMARK(BM_scatter4_tutti_pool)->UseRealTime();
BENCHMARK(BM_scatter4_handwritten_threads)->UseRealTime();
BENCHMARK(BM_scatter4_handwritten_helping)->UseRealTime();
BENCHMARK(BM_scatter4_tutti_pool_2threads)->UseRealTime();
BENCHMARK(BM_scatter4_handwritten_threads_2threads)->UseRealTime();
BENCHMARK(BM_group_overhead_inline);
BENCHMARK(BM_group_baseline_inline);
BENCHMARK(BM_group_overhead_pool)->UseRealTime();
BENCHMARK(BM_handwritten_pool_trivial)->UseRealTime();
BENCHMARK(BM_handwritten_pool_trivial_helping)->UseRealTime();
