// error-regex: tutti: a pivot cannot be a branch of a parallel group
// Misuse: a pivot as a branch of a parallel group (branches have no order: no go/no-go point).
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(tutti::pivot<"confirm">(charge), tutti::step<"price">(charge)));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(tutti::step<"price">(charge),
                                                      tutti::step<"stock">(charge)),
                                 tutti::pivot<"confirm">(charge));
  (void)wf.run(1);
#endif
  return 0;
}
