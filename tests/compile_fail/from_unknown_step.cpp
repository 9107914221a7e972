// error-regex: ("ship".+"chrage_card"|'s', 'h', 'i', 'p'.+'c', 'h', 'r', 'a', 'g', 'e', '_', 'c', 'a', 'r', 'd').+tutti: from<.+name.+, T> names no step of this workflow
// error-within-lines: 10
// Misuse: from<> names a step that does not exist (a typo). Reported by tutti::workflow<...>(...)
// itself (no run() here), naming the step ("ship") and the name it reads.
#include <tutti/tutti.hpp>

tutti::result<int> charge_card(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge_card">(charge_card),
      tutti::step<"ship">([](tutti::from<"chrage_card", int> x) { return *x; }));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge_card">(charge_card),
      tutti::step<"ship">([](tutti::from<"charge_card", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
