// error-regex: tutti: from<.+name.+, T> names a step that does not run before this one
// Misuse: from<> reads the output of a step that runs later.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::step<"a">([](tutti::from<"b", int> x) { return *x; }),
                                 tutti::step<"b">(charge));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(tutti::step<"b">(charge),
                                 tutti::step<"a">([](tutti::from<"b", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
