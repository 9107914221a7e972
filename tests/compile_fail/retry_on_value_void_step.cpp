// error-regex: retry_on_value.pred. needs a step that returns a value
// Misuse: retrying on the value of a step that returns none.
#include <tutti/tutti.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<void> { return tutti::outcome::success(); }) |
      tutti::retry{tutti::max_attempts{3}}.retry_on_value([](const auto&) { return true; }));
#else
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return 1; }) |
      tutti::retry{tutti::max_attempts{3}}.retry_on_value([](int v) { return v == 0; }));
#endif
  return wf.run() ? 0 : 1;
}
