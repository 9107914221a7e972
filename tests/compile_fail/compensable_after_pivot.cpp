// error-regex: tutti: a compensable step after the pivot
// Misuse: a compensable step placed after the pivot.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::pivot<"confirm">(charge),
                                 tutti::step<"reserve">(charge).compensate_with(refund) |
                                     tutti::retry{tutti::max_attempts{3}});
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(tutti::step<"reserve">(charge).compensate_with(refund),
                                 tutti::pivot<"confirm">(charge));
  (void)wf;
#endif
  return 0;
}
