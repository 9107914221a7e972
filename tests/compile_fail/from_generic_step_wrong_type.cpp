// error-regex: ("ship".+"quote"|'s', 'h', 'i', 'p'.+'q', 'u', 'o', 't', 'e').+tutti: from<.+name.+, T>: T must be exactly the output type
// Misuse: from<> reads a generic step with the wrong type. A generic lambda's output is known only
// with the input type, so run() reports it (still naming both steps).
#include <tutti/tutti.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"quote">([](const auto& amount) { return amount * 2; }),
      tutti::step<"ship">([](tutti::from<"quote", long> q) { return *q; }));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"quote">([](const auto& amount) { return amount * 2; }),
      tutti::step<"ship">([](tutti::from<"quote", int> q) { return *q; }));
  (void)wf.run(1);
#endif
  return 0;
}
