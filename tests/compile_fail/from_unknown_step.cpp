// error-regex: tutti: from<.+name.+, T> names no step of this workflow
// Misuse: from<> names a step that does not exist.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::step<"a">(charge),
                                 tutti::step<"b">([](tutti::from<"nope", int> x) { return *x; }));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(tutti::step<"a">(charge),
                                 tutti::step<"b">([](tutti::from<"a", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
