// error-regex: tutti: from<.+name.+, T> names no step of this workflow
// Misuse: a branch reads the output of a sibling branch (siblings run at the same time).
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      tutti::step<"price">(charge),
      tutti::step<"total">([](tutti::from<"price", int> p) { return *p + 1; })));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"price">(charge),
      tutti::parallel<"g">(tutti::step<"total">([](tutti::from<"price", int> p) { return *p + 1; }),
                           tutti::step<"tax">([](tutti::from<"price", int> p) { return *p / 5; })));
  (void)wf.run(1);
#endif
  return 0;
}
