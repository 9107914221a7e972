// error-regex: tutti: a step after the pivot must be retriable
// Misuse: a parallel group after the pivot with a required branch that has no retry.
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::parallel<"g">(tutti::step<"email">(charge) | tutti::retry_forever{},
                           tutti::step<"sms">(charge)));
  (void)wf;
#else
  // Every required branch retriable; an optional branch need not be; a quorum needs K retriable.
  tutti::inline_executor ex;
  auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::parallel<"g">(tutti::step<"email">(charge) | tutti::retry_forever{},
                           tutti::step<"sms">(charge) | tutti::retry{tutti::max_attempts{3}},
                           tutti::optional_branch(tutti::step<"push">(charge))),
      tutti::quorum<"q", 1>(ex, tutti::step<"a">(charge) | tutti::retry_forever{},
                            tutti::step<"b">(charge)));
  (void)wf;
#endif
  return 0;
}
