// error-regex: ("ship".+"invoice"|'s', 'h', 'i', 'p'.+'i', 'n', 'v', 'o', 'i', 'c', 'e').+tutti: from<.+name.+, T> names a step that does not run before this one
// error-within-lines: 10
// Misuse: the condition of a conditional step reads a step listed after it. Reported by
// tutti::workflow<...>(...) itself (no run() here), naming the step ("ship").
#include <tutti/tutti.hpp>

int invoice(int order) { return order + 1; }
int ship(int order) { return order; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::when([](tutti::from<"invoice", int> i) { return *i > 0; }, tutti::step<"ship">(ship)),
      tutti::step<"invoice">(invoice));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"invoice">(invoice),
      tutti::when([](tutti::from<"invoice", int> i) { return *i > 0; }, tutti::step<"ship">(ship)));
  (void)wf.run(1);
#endif
  return 0;
}
