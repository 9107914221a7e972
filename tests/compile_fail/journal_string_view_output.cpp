// error-regex: tutti: a journaled value .a run's input or a step's output. holds a pointer
// Misuse: a durable run of a step returning std::string_view: trivially copyable, but restored
// after a restart it would point at memory of the process that wrote it.
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/tutti.hpp>

#include <string>
#include <string_view>

namespace {
const std::string names[] = {"ada", "grace"};
}

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(
      tutti::step<"name">([](int i) { return std::string_view{names[i % 2]}; }));
#else
  // The fix: store the data itself.
  const auto wf = tutti::workflow<"w">(tutti::step<"name">([](int i) { return names[i % 2]; }));
#endif
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  return durable.run(1) ? 0 : 1;
}
