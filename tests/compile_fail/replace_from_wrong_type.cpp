// error-regex: f takes from<.+name.+, T> whose T is not the output type of that step
// Misuse: the mock reads an earlier step's output with the wrong type.
#include <string>
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

tutti::result<int> reserve(int amount) { return amount; }
tutti::result<int> charge(tutti::from<"reserve", int> r) { return *r; }

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"reserve">(reserve),
                                           tutti::step<"charge">(charge));
#ifdef TUTTI_COMPILE_FAIL
  tutti::testing::mock<tutti::result<int>(tutti::from<"reserve", std::string>)> mock;
#else
  tutti::testing::mock<tutti::result<int>(tutti::from<"reserve", int>)> mock;
#endif
  const auto test = tutti::testing::replace<"charge">(wf, mock);
  (void)test;
  return 0;
}
