// error-regex: ("charge_card".+"ship"|'c', 'h', 'a', 'r', 'g', 'e', '_', 'c', 'a', 'r', 'd'.+'s', 'h', 'i', 'p').+tutti: from<.+name.+, T> names a step that does not run before this one
// error-within-lines: 10
// Misuse: from<> reads the output of a step that runs later. Reported by tutti::workflow<...>(...)
// itself (no run() here), naming the step ("charge_card") and the step it reads ("ship").
#include <tutti/tutti.hpp>

tutti::result<int> ship(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge_card">([](tutti::from<"ship", int> x) { return *x; }),
      tutti::step<"ship">(ship));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"ship">(ship),
      tutti::step<"charge_card">([](tutti::from<"ship", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
