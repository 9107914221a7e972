// error-regex: inject_result.rate, x.: x must be a value of the step's output type
// Misuse: injecting a result of another type than the step's output (a string for an int).
#include <string>
#include <tutti/testing/chaos.hpp>
#include <tutti/tutti.hpp>

int main() {
  const auto quote = tutti::step<"quote">([] { return 100; });
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(quote | tutti::testing::inject_result{1.0, std::string{"free"}});
#else
  const auto wf = tutti::workflow<"w">(quote | tutti::testing::inject_result{1.0, 0});
#endif
  return wf.run() ? 0 : 1;
}
