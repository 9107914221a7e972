// error-regex: tutti: replace<.+step.+>\(workflow, f\): f must produce exactly what the step produces
// Misuse: a generic lambda producing a string replaces a step producing an int. Its output is
// known only for a given workflow input, so the check fires when a run instantiates it.
#include <string>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"charge">([](int amount) { return amount; }));
#ifdef TUTTI_COMPILE_FAIL
  const auto test = tutti::testing::replace<"charge">(wf, [](const auto&) { return std::string{"x"}; });
#else
  const auto test = tutti::testing::replace<"charge">(wf, [](const auto& a) { return a + 1; });
#endif
  (void)test.run(1);
  return 0;
}
