// error-regex: tutti_invalid_setting_a_step_after_the_pivot_is_never_retried
// Misuse: after the pivot, a group whose required branch retries with max_attempts{1}.
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

inline tutti::inline_executor ex;

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::parallel<"g">(ex, tutti::step<"email">(charge) | tutti::retry_forever{},
                           tutti::step<"sms">(charge) | tutti::retry{tutti::max_attempts{1}}));
#else
  // An optional branch need not retry; a quorum needs K branches that do.
  constexpr auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::parallel<"g">(ex, tutti::step<"email">(charge) | tutti::retry_forever{},
                           tutti::optional_branch(tutti::step<"sms">(charge) |
                                                  tutti::retry{tutti::max_attempts{1}})),
      tutti::quorum<"q", 1>(ex, tutti::step<"a">(charge) | tutti::retry{tutti::max_attempts{1}},
                            tutti::step<"b">(charge) | tutti::retry{tutti::max_attempts{3}}));
#endif
  return wf.run(1) ? 0 : 1;
}
