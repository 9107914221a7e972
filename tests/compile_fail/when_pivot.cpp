// error-regex: a pivot cannot be a conditional step
// Misuse: a pivot inside tutti::when (the saga's go/no-go point would depend on data).
#include <tutti/tutti.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"hold">([] { return 1; }).compensate_with([](int) {}),
      tutti::when([] { return true; }, tutti::pivot<"charge">([] { return 2; })));
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"hold">([] { return 1; }).compensate_with([](int) {}),
      tutti::pivot<"charge">([] { return 2; }));
#endif
  return wf.run().has_value() ? 0 : 1;
}
