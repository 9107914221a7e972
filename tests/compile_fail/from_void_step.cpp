// error-regex: ("ship".+"notify"|'s', 'h', 'i', 'p'.+'n', 'o', 't', 'i', 'f', 'y').+tutti: from<.+name.+, T> names a step that produces no value
// error-within-lines: 10
// Misuse: from<> names a step that returns void. Reported by tutti::workflow<...>(...) itself
// (no run() here), naming the step ("ship") and the step it reads ("notify").
#include <tutti/tutti.hpp>

void notify(int) {}
int count(int n) { return n; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"notify">(notify),
      tutti::step<"ship">([](tutti::from<"notify", int> x) { return *x; }));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"notify">(notify),
      tutti::step<"count">(count),
      tutti::step<"ship">([](tutti::from<"count", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
