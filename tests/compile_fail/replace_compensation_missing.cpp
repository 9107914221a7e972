// error-regex: tutti: replace_compensation<.+step.+>: that step has no compensation to replace
// Misuse: replace_compensation names a step without compensation.
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

tutti::result<int> reserve(int amount) { return amount; }
void release(const int&) {}

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"reserve">(reserve).compensate_with(release),
                                           tutti::step<"charge">(reserve));
  tutti::testing::mock_compensation<void(const int&)> undo;
#ifdef TUTTI_COMPILE_FAIL
  const auto test = tutti::testing::replace_compensation<"charge">(wf, undo);
#else
  const auto test = tutti::testing::replace_compensation<"reserve">(wf, undo);
#endif
  (void)test;
  return 0;
}
