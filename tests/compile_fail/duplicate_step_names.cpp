// error-regex: tutti: two steps of this workflow have the same name
// Misuse: two steps named "charge".
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::step<"charge">(charge), tutti::step<"charge">(charge));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(tutti::step<"charge">(charge), tutti::step<"charge_again">(charge));
  (void)wf;
#endif
  return 0;
}
