// error-regex: ("g/total".+"price"|'g', '/', 't', 'o', 't', 'a', 'l'.+'p', 'r', 'i', 'c', 'e').+tutti: from<.+name.+, T> names a step that does not run before this one
// error-within-lines: 10
// Misuse: a branch reads the output of a step that runs after its group. Reported by
// tutti::workflow<...>(...) itself (no run() here), naming the branch by its path ("g/total").
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(tutti::step<"total">([](tutti::from<"price", int> p) { return *p + 1; }),
                           tutti::step<"stock">(charge)),
      tutti::step<"price">(charge));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"price">(charge),
      tutti::parallel<"g">(tutti::step<"total">([](tutti::from<"price", int> p) { return *p + 1; }),
                           tutti::step<"stock">(charge)));
  (void)wf.run(1);
#endif
  return 0;
}
