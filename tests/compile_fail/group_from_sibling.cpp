// error-regex: ("g/total".+"price"|'g', '/', 't', 'o', 't', 'a', 'l'.+'p', 'r', 'i', 'c', 'e').+tutti: from<.+name.+, T> names no step of this workflow
// error-within-lines: 10
// Misuse: a branch reads the output of a sibling branch (siblings run at the same time).
// Reported by tutti::workflow<...>(...) itself (no run() here), naming the branch ("g/total").
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      tutti::step<"price">(charge),
      tutti::step<"total">([](tutti::from<"price", int> p) { return *p + 1; })));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"price">(charge),
      tutti::parallel<"g">(tutti::step<"total">([](tutti::from<"price", int> p) { return *p + 1; }),
                           tutti::step<"tax">([](tutti::from<"price", int> p) { return *p / 5; })));
  (void)wf.run(1);
#endif
  return 0;
}
