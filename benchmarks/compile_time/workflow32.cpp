// Compile-time benchmark: a 32-step workflow, steps 1-28 with compensations, every step after the
// first reading the previous step's output with from<>. It is run once, so the engine, every
// step, every compensation and the report are instantiated. benchmarks/compile_time.sh compares
// it against include_only.cpp (goal: <= 1.5x the include-only time).
// -DTUTTI_BENCH_CORE: the same over <tutti/core.hpp>, what a file that only runs workflows needs.
#ifdef TUTTI_BENCH_CORE
#  include <tutti/core.hpp>
#else
#  include <tutti/tutti.hpp>
#endif

// The steps' work, only declared: this TU is compiled, never linked, and opaque calls keep the
// optimiser from folding the whole workflow into a constant (as real services would).
namespace compile_time_bench {
tutti::result<int> next(int x);
void undo(int x);
}  // namespace compile_time_bench

int main() {
  using compile_time_bench::next;
  using compile_time_bench::undo;
  using tutti::from;
  using tutti::step;
  const auto wf = tutti::workflow<"workflow32">(
      step<"s01">([](int x) { return next(x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s02">([](from<"s01", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s03">([](from<"s02", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s04">([](from<"s03", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s05">([](from<"s04", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s06">([](from<"s05", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s07">([](from<"s06", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s08">([](from<"s07", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s09">([](from<"s08", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s10">([](from<"s09", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s11">([](from<"s10", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s12">([](from<"s11", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s13">([](from<"s12", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s14">([](from<"s13", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s15">([](from<"s14", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s16">([](from<"s15", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s17">([](from<"s16", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s18">([](from<"s17", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s19">([](from<"s18", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s20">([](from<"s19", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s21">([](from<"s20", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s22">([](from<"s21", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s23">([](from<"s22", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s24">([](from<"s23", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s25">([](from<"s24", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s26">([](from<"s25", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s27">([](from<"s26", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s28">([](from<"s27", int> x) { return next(*x); })
          .compensate_with([](int v) { undo(v); }),
      step<"s29">([](from<"s28", int> x) { return next(*x); }),
      step<"s30">([](from<"s29", int> x) { return next(*x); }),
      step<"s31">([](from<"s30", int> x) { return next(*x); }),
      step<"s32">([](from<"s31", int> x) { return next(*x); }));
  const auto r = wf.run(0);
  return r && r.value() == 32 && r.report().count(tutti::step_status::succeeded) == 32 ? 0 : 1;
}
