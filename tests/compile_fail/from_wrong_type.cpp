// error-regex: tutti: from<.+name.+, T>: T must be exactly the output type
// Misuse: from<> names the right step with the wrong type.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::step<"a">(charge),
                                 tutti::step<"b">([](tutti::from<"a", long> x) { return *x; }));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(tutti::step<"a">(charge),
                                 tutti::step<"b">([](tutti::from<"a", int> x) { return *x; }));
  (void)wf.run(1);
#endif
  return 0;
}
