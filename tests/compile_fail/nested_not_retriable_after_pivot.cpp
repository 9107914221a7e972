// error-regex: tutti: a step after the pivot must be retriable
// Misuse: a nested workflow after the pivot with a step that has no retry.
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::workflow<"notify">(tutti::step<"email">(charge) | tutti::retry_forever{},
                                tutti::step<"sms">(charge)));
#else
  // A nested workflow whose steps all retry is retriable.
  const auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::workflow<"notify">(tutti::step<"email">(charge) | tutti::retry_forever{},
                                tutti::step<"sms">(charge) | tutti::retry{tutti::max_attempts{3}}));
#endif
  return wf.run(1) ? 0 : 1;
}
