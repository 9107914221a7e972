// error-regex: tutti: a compensable step after the pivot
// Misuse: a parallel group with a compensable branch placed after the pivot.
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::parallel<"g">(
          tutti::step<"reserve">(charge).compensate_with(refund) | tutti::retry_forever{},
          tutti::step<"notify">(charge) | tutti::retry_forever{}));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(tutti::step<"reserve">(charge).compensate_with(refund),
                           tutti::step<"notify">(charge)),
      tutti::pivot<"confirm">(charge));
  (void)wf;
#endif
  return 0;
}
