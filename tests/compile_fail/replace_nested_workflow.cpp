// error-regex: tutti: replace<.+name.+>: that name is a nested workflow, not a step with a callable
// Misuse: the path stops at a nested workflow instead of naming one of its steps.
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

tutti::result<int> authorize(int amount) { return amount; }

int main() {
  const auto wf = tutti::workflow<"shop">(
      tutti::workflow<"payment">(tutti::step<"authorize">(authorize)));
  tutti::testing::mock<tutti::result<int>(int)> mock;
#ifdef TUTTI_COMPILE_FAIL
  const auto test = tutti::testing::replace<"payment">(wf, mock);
#else
  const auto test = tutti::testing::replace<"payment/authorize">(wf, mock);
#endif
  (void)test;
  return 0;
}
