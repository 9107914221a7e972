// error-regex: f takes from<.+name.+, T> but no step before the replaced one has that name
// Misuse: the mock reads the output of a step that runs after the one it replaces.
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

tutti::result<int> reserve(int amount) { return amount; }
tutti::result<int> charge(tutti::from<"reserve", int> r) { return *r; }

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"reserve">(reserve),
                                           tutti::step<"charge">(charge));
#ifdef TUTTI_COMPILE_FAIL
  tutti::testing::mock<tutti::result<int>(tutti::from<"charge", int>)> mock;
  const auto test = tutti::testing::replace<"reserve">(wf, mock);
#else
  tutti::testing::mock<tutti::result<int>(int)> mock;
  const auto test = tutti::testing::replace<"reserve">(wf, mock);
#endif
  (void)test;
  return 0;
}
