// Compile-time benchmark, reference only (no goal): the same 32 steps as workflow32.cpp (steps
// 1-28 with compensations, every step after the first reading the previous step's output) in
// a type-erased orchestrator written against <tutti/core.hpp>. Steps and compensations are
// std::function, outputs live in a vector, exceptions are captured per call, compensations run
// in reverse order; the orchestrator is compiled once, so a step costs only its two callables.
// benchmarks/compile_time.sh reports it next to workflow32.cpp: it shows what a step costs
// when nothing of it is inlined (the run-time price of that design is BM_chain8_dynamic and
// BM_saga8_dynamic in benchmarks/core_bench.cpp).
#include <tutti/core.hpp>

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace compile_time_bench {
tutti::result<int> next(int x);
void undo(int x);

struct erased_step {
  std::function<tutti::result<int>(const std::vector<int>& outputs, int input)> call;
  std::function<void(int)> undo;  // empty: no compensation
};

tutti::result<int> run_erased(const std::vector<erased_step>& steps, int input) {
  std::vector<int> outputs;
  outputs.reserve(steps.size());
  for (const auto& s : steps) {
    tutti::result<int> r = tutti::errc::step_failed;
    try {
      r = s.call(outputs, input);
    } catch (...) {
      r = tutti::errc::step_failed;
    }
    if (!r) {
      for (std::size_t i = outputs.size(); i-- > 0;) {
        if (!steps[i].undo) continue;
        try {
          steps[i].undo(outputs[i]);
        } catch (...) {
        }
      }
      return r;
    }
    outputs.push_back(r.value());
  }
  return outputs.back();
}
}  // namespace compile_time_bench

int main() {
  using compile_time_bench::next;
  using compile_time_bench::undo;
  using out = const std::vector<int>&;
  std::vector<compile_time_bench::erased_step> steps;
  steps.push_back({[](out, int x) { return next(x); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[0]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[1]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[2]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[3]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[4]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[5]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[6]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[7]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[8]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[9]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[10]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[11]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[12]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[13]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[14]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[15]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[16]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[17]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[18]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[19]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[20]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[21]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[22]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[23]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[24]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[25]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[26]); }, [](int v) { undo(v); }});
  steps.push_back({[](out o, int) { return next(o[27]); }, {}});
  steps.push_back({[](out o, int) { return next(o[28]); }, {}});
  steps.push_back({[](out o, int) { return next(o[29]); }, {}});
  steps.push_back({[](out o, int) { return next(o[30]); }, {}});
  const auto r = compile_time_bench::run_erased(steps, 0);
  return r && r.value() == 32 ? 0 : 1;
}
