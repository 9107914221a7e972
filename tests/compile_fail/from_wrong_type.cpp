// error-regex: ("ship".+"charge_card"|'s', 'h', 'i', 'p'.+'c', 'h', 'a', 'r', 'g', 'e', '_', 'c', 'a', 'r', 'd').+tutti: from<.+name.+, T>: T must be exactly the output type
// error-within-lines: 10
// Misuse: from<> names the right step with the wrong type (long; the step produces int).
// Reported by tutti::workflow<...>(...) itself (no run() here), naming both steps.
#include <tutti/tutti.hpp>

tutti::result<int> charge_card(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge_card">(charge_card),
      tutti::step<"ship">([](tutti::from<"charge_card", long> x) { return *x; }));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge_card">(charge_card),
      tutti::step<"ship">([](tutti::from<"charge_card", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
