// error-regex: tutti: a step after the pivot must be retriable
// Misuse: a step after the pivot without a retry policy.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::pivot<"confirm">(charge), tutti::step<"notify">(charge));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(tutti::pivot<"confirm">(charge),
                                 tutti::step<"notify">(charge) | tutti::retry_forever{});
  (void)wf;
#endif
  return 0;
}
