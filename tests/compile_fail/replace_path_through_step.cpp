// error-regex: tutti: replace<.+outer/inner.+>: outer is a step, not a nested workflow
// Misuse: a path goes into a plain step as if it were a nested workflow.
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

tutti::result<int> authorize(int amount) { return amount; }

int main() {
  const auto wf = tutti::workflow<"shop">(tutti::step<"authorize">(authorize));
  tutti::testing::mock<tutti::result<int>(int)> mock;
#ifdef TUTTI_COMPILE_FAIL
  const auto test = tutti::testing::replace<"authorize/call">(wf, mock);
#else
  const auto test = tutti::testing::replace<"authorize">(wf, mock);
#endif
  (void)test;
  return 0;
}
