// error-regex: tutti: two branches of this parallel group have the same name
// Misuse: two branches named "price" (their outputs, events and keys "g/price" would clash).
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(tutti::step<"price">(charge), tutti::step<"price">(charge)));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(tutti::step<"price">(charge), tutti::step<"stock">(charge)));
  (void)wf;
#endif
  return 0;
}
