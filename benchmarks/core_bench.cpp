// Core benchmarks: an 8-step chain and an 8-step saga whose step 6 fails, each three ways:
// hand-written, as a tutti workflow, and as a typical dynamic orchestrator
// (std::vector<std::function> with exceptions for errors); and a step retried through three
// failures, by hand and with tutti::retry. All call the same opaque functions
// (chain_steps.cpp, a separate TU, no LTO), on the same inputs (0, 1, 2, ...), and each loop
// passes what its variant returns to one DoNotOptimize. Before timing, every benchmark checks
// once that its variant does the work asked (value x + 8, or failure with 5 compensations).
// docs/benchmarks.md has the results; benchmarks/run_core.sh reproduces them.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <functional>
#include <mutex>
#include <thread>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>

#include "chain_steps.hpp"
#include "retry_steps.hpp"

using namespace bench;
using tutti::from;
using tutti::result;
using tutti::step;

namespace {

// ---- hand-written: what a careful engineer writes ---------------------------------------------
// Each result is checked, then read unchecked (assume_value/assume_error, as BOOST_OUTCOME_TRY
// does): value() and error() would check again and call Outcome's out-of-line throwing policy.

result<int> chain8_handwritten(int x) noexcept {
  auto r1 = s1(x);
  if (!r1) return r1.assume_error();
  auto r2 = s2(r1.assume_value());
  if (!r2) return r2.assume_error();
  auto r3 = s3(r2.assume_value());
  if (!r3) return r3.assume_error();
  auto r4 = s4(r3.assume_value());
  if (!r4) return r4.assume_error();
  auto r5 = s5(r4.assume_value());
  if (!r5) return r5.assume_error();
  auto r6 = s6(r5.assume_value());
  if (!r6) return r6.assume_error();
  auto r7 = s7(r6.assume_value());
  if (!r7) return r7.assume_error();
  return s8(r7.assume_value());
}

// Steps 1-5 have compensations; on a failure the completed ones are undone in reverse order.
result<int> saga8_handwritten(int x) noexcept {
  auto r1 = s1(x);
  if (!r1) return r1.assume_error();
  const int v1 = r1.assume_value();
  auto r2 = s2(v1);
  if (!r2) { (void)c1(v1); return r2.assume_error(); }
  const int v2 = r2.assume_value();
  auto r3 = s3(v2);
  if (!r3) { (void)c2(v2); (void)c1(v1); return r3.assume_error(); }
  const int v3 = r3.assume_value();
  auto r4 = s4(v3);
  if (!r4) { (void)c3(v3); (void)c2(v2); (void)c1(v1); return r4.assume_error(); }
  const int v4 = r4.assume_value();
  auto r5 = s5(v4);
  if (!r5) { (void)c4(v4); (void)c3(v3); (void)c2(v2); (void)c1(v1); return r5.assume_error(); }
  const int v5 = r5.assume_value();
  auto fail = [&](std::error_code ec) {
    (void)c5(v5); (void)c4(v4); (void)c3(v3); (void)c2(v2); (void)c1(v1);
    return ec;
  };
  auto r6 = s6(v5);
  if (!r6) return fail(r6.assume_error());
  auto r7 = s7(r6.assume_value());
  if (!r7) return fail(r7.assume_error());
  auto r8 = s8(r7.assume_value());
  if (!r8) return fail(r8.assume_error());
  return r8;
}

// ---- tutti --------------------------------------------------------------------------------------

const auto chain8 = tutti::workflow<"chain8">(
    step<"s1">([](int x) noexcept { return s1(x); }),
    step<"s2">([](from<"s1", int> x) noexcept { return s2(*x); }),
    step<"s3">([](from<"s2", int> x) noexcept { return s3(*x); }),
    step<"s4">([](from<"s3", int> x) noexcept { return s4(*x); }),
    step<"s5">([](from<"s4", int> x) noexcept { return s5(*x); }),
    step<"s6">([](from<"s5", int> x) noexcept { return s6(*x); }),
    step<"s7">([](from<"s6", int> x) noexcept { return s7(*x); }),
    step<"s8">([](from<"s7", int> x) noexcept { return s8(*x); }));

const auto saga8 = tutti::workflow<"saga8">(
    step<"s1">([](int x) noexcept { return s1(x); })
        .compensate_with([](int v) noexcept { return c1(v); }),
    step<"s2">([](from<"s1", int> x) noexcept { return s2(*x); })
        .compensate_with([](int v) noexcept { return c2(v); }),
    step<"s3">([](from<"s2", int> x) noexcept { return s3(*x); })
        .compensate_with([](int v) noexcept { return c3(v); }),
    step<"s4">([](from<"s3", int> x) noexcept { return s4(*x); })
        .compensate_with([](int v) noexcept { return c4(v); }),
    step<"s5">([](from<"s4", int> x) noexcept { return s5(*x); })
        .compensate_with([](int v) noexcept { return c5(v); }),
    step<"s6">([](from<"s5", int> x) noexcept { return s6(*x); }),
    step<"s7">([](from<"s6", int> x) noexcept { return s7(*x); }),
    step<"s8">([](from<"s7", int> x) noexcept { return s8(*x); }));

// ---- retry's failure path ------------------------------------------------------------------------
// A step that fails three times and then succeeds (bench::flaky, opaque), called up to 4 times
// without waiting: by hand, and as a one-step workflow with `tutti::retry{max_attempts{4}}`.
// The hand-written loop refuses what tutti's default predicate refuses (an open breaker, a
// cancellation), as a careful engineer would.

result<int> retry4_handwritten(int x) noexcept {
  for (int attempt = 1;; ++attempt) {
    auto r = flaky(x);
    if (r || attempt == 4) return r;
    if (r.assume_error() == tutti::errc::circuit_open || r.assume_error() == tutti::errc::cancelled)
      return r;
  }
}

const auto retry4 = tutti::workflow<"retry4">(
    step<"flaky">([](int x) noexcept { return flaky(x); }) | tutti::retry{tutti::max_attempts{4}});

// ---- dynamic: the typical hand-rolled orchestrator ------------------------------------------
// Steps and compensations are type-erased (std::function) and errors are exceptions. The step
// count is known only at run time, so the outputs compensations need live in a vector reserved
// once per run (one allocation, on the success path too); that is the usual shape, and it is a
// real cost of the dynamic design, not padding.

using dyn_step = std::function<int(int)>;
using dyn_undo = std::function<void(int)>;

int unwrap(result<int> r) {
  if (!r) throw std::system_error(r.assume_error());
  return r.assume_value();
}

struct dynamic_orchestrator {
  std::vector<dyn_step> steps;
  std::vector<dyn_undo> undos;  // empty function: no compensation

  // Returns the last value; on failure compensates completed steps in reverse and rethrows.
  int run(int x) const {
    std::vector<int> outputs;
    outputs.reserve(steps.size());
    try {
      for (const auto& s : steps) {
        x = s(x);
        outputs.push_back(x);
      }
      return x;
    } catch (...) {
      for (std::size_t i = outputs.size(); i-- > 0;)
        if (undos[i]) undos[i](outputs[i]);
      throw;
    }
  }
};

dynamic_orchestrator make_dynamic(bool with_compensations) {
  dynamic_orchestrator d;
  d.steps = {[](int x) { return unwrap(s1(x)); }, [](int x) { return unwrap(s2(x)); },
             [](int x) { return unwrap(s3(x)); }, [](int x) { return unwrap(s4(x)); },
             [](int x) { return unwrap(s5(x)); }, [](int x) { return unwrap(s6(x)); },
             [](int x) { return unwrap(s7(x)); }, [](int x) { return unwrap(s8(x)); }};
  d.undos.resize(8);
  if (with_compensations) {
    d.undos[0] = [](int v) { (void)c1(v); };
    d.undos[1] = [](int v) { (void)c2(v); };
    d.undos[2] = [](int v) { (void)c3(v); };
    d.undos[3] = [](int v) { (void)c4(v); };
    d.undos[4] = [](int v) { (void)c5(v); };
  }
  return d;
}

// ---- checks, run once before each timed loop ---------------------------------------------------

constexpr int check_input = 100;

bool chain_ok(const result<int>& r) { return r.has_value() && r.value() == check_input + 8; }
bool chain_ok(int v) { return v == check_input + 8; }
template <class R>
  requires requires(const R& r) { r.outcome(); }
bool chain_ok(const R& r) {
  return r.has_value() && r.value() == check_input + 8;
}

// A saga run must fail at step 6 and undo steps 5..1: five compensations.
template <class Run>
bool saga_ok(Run run) {
  const long before = compensations();
  const bool failed = run();
  return failed && compensations() - before == 5;
}

// ---- benchmarks ---------------------------------------------------------------------------------

void BM_chain8_handwritten(benchmark::State& state) {
  set_fail_at(0);
  if (!chain_ok(chain8_handwritten(check_input))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = chain8_handwritten(i++);
    benchmark::DoNotOptimize(r);
  }
}

void BM_chain8_tutti(benchmark::State& state) {
  set_fail_at(0);
  if (!chain_ok(chain8.run(check_input))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = chain8.run(i++);
    benchmark::DoNotOptimize(r);
  }
}

// Observers (issue "testing kit and observability"). With the null observer passed explicitly
// the run must compile to the same code as BM_chain8_tutti (goal: within 1.02x); the counting
// observer shows what an attached observer costs per run (8 steps: 42 events).
void BM_chain8_tutti_observed_null(benchmark::State& state) {
  set_fail_at(0);
  tutti::null_observer none;
  const tutti::run_options opts{};
  if (!chain_ok(chain8.run(check_input, opts, tutti::detail::default_clock(), none)))
    state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = chain8.run(i++, opts, tutti::detail::default_clock(), none);
    benchmark::DoNotOptimize(r);
  }
}

/// Counts events by kind; no clock reads (wants_time is false).
struct counting_observer {
  std::array<std::uint64_t, tutti::event_kind_count> counts{};
  void on_event(const tutti::event& e) noexcept { ++counts[static_cast<std::size_t>(e.kind)]; }
};

void BM_chain8_tutti_observed_counting(benchmark::State& state) {
  set_fail_at(0);
  counting_observer counter;
  const tutti::run_options opts{};
  if (!chain_ok(chain8.run(check_input, opts, tutti::detail::default_clock(), counter)))
    state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = chain8.run(i++, opts, tutti::detail::default_clock(), counter);
    benchmark::DoNotOptimize(r);
  }
  benchmark::DoNotOptimize(counter.counts);
  state.counters["events_per_run"] = benchmark::Counter(
      static_cast<double>(std::accumulate(counter.counts.begin(), counter.counts.end(),
                                          std::uint64_t{0})) /
      static_cast<double>(state.iterations() + 1));
}

// Durability (issue "durability"): the chain run through a durable_workflow on the in-memory
// journal: run_started, 3 records per step, run_finished (26 records), then the run is erased
// so the journal does not grow.
void BM_chain8_tutti_journal_memory(benchmark::State& state) {
  set_fail_at(0);
  tutti::memory_journal journal;
  const tutti::durable_workflow durable{chain8, journal};
  const tutti::run_id id{1, 1};
  {
    const auto first = durable.run(check_input, {.id = id});
    if (!first || !chain_ok(*first)) state.SkipWithError("wrong result");
    journal.erase(id);
  }
  int i = 0;
  for (auto _ : state) {
    auto r = durable.run(i++, {.id = id});
    benchmark::DoNotOptimize(r);
    journal.erase(id);
  }
}

int run_dynamic(const dynamic_orchestrator& d, int x) {
  try {
    return d.run(x);
  } catch (const std::exception&) {
    return -1;
  }
}

void BM_chain8_dynamic(benchmark::State& state) {
  set_fail_at(0);
  const auto d = make_dynamic(false);
  if (!chain_ok(run_dynamic(d, check_input))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    int v = run_dynamic(d, i++);
    benchmark::DoNotOptimize(v);
  }
}

// A retried run must return x + 1 after exactly four calls (three failures, then success).
template <class R>
bool retry4_ok(const R& r) {
  return r.has_value() && r.value() == check_input + 1 && flaky_calls() == 4;
}

void BM_retry4_handwritten(benchmark::State& state) {
  reset_flaky();
  if (!retry4_ok(retry4_handwritten(check_input))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = retry4_handwritten(i++);
    benchmark::DoNotOptimize(r);
  }
}

// The run id is supplied: the loop measures the retry, not the generation of a run id, which
// BM_chain8_tutti measures.
void BM_retry4_tutti(benchmark::State& state) {
  const tutti::run_options opts{.id = tutti::run_id{1, 1}};
  reset_flaky();
  if (!retry4_ok(retry4.run(check_input, opts))) state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = retry4.run(i++, opts);
    benchmark::DoNotOptimize(r);
  }
}

void BM_saga8_handwritten(benchmark::State& state) {
  set_fail_at(6);
  if (!saga_ok([] { return !saga8_handwritten(check_input); }))
    state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = saga8_handwritten(i++);
    benchmark::DoNotOptimize(r);
  }
  set_fail_at(0);
}

void BM_saga8_tutti(benchmark::State& state) {
  set_fail_at(6);
  if (!saga_ok([] {
        auto r = saga8.run(check_input);
        return !r && r.outcome() == tutti::run_outcome::compensated;
      }))
    state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    auto r = saga8.run(i++);
    benchmark::DoNotOptimize(r);
  }
  set_fail_at(0);
}

void BM_saga8_dynamic(benchmark::State& state) {
  set_fail_at(6);
  const auto d = make_dynamic(true);
  if (!saga_ok([&d] { return run_dynamic(d, check_input) == -1; }))
    state.SkipWithError("wrong result");
  int i = 0;
  for (auto _ : state) {
    int v = run_dynamic(d, i++);
    benchmark::DoNotOptimize(v);
  }
  set_fail_at(0);
}

}  // namespace

BENCHMARK(BM_chain8_handwritten);
BENCHMARK(BM_chain8_tutti);
BENCHMARK(BM_chain8_tutti_observed_null);
BENCHMARK(BM_chain8_tutti_observed_counting);
BENCHMARK(BM_chain8_tutti_journal_memory);
BENCHMARK(BM_chain8_dynamic);
BENCHMARK(BM_saga8_handwritten);
BENCHMARK(BM_saga8_tutti);
BENCHMARK(BM_saga8_dynamic);
BENCHMARK(BM_retry4_handwritten);
BENCHMARK(BM_retry4_tutti);

// Policy benchmarks (issue "resilience policies"): same binary as the core ones.
#include "breaker_bench.inc"
#include "policies_bench.inc"
