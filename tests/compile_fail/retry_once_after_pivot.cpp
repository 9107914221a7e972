// error-regex: tutti_invalid_setting_a_step_after_the_pivot_is_never_retried
// Misuse: a step after the pivot whose retry makes one call (max_attempts{1}): never retried.
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge), tutti::step<"notify">(charge) | tutti::retry{tutti::max_attempts{1}});
#else
  constexpr auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge), tutti::step<"notify">(charge) | tutti::retry{tutti::max_attempts{2}});
#endif
  return wf.run(1) ? 0 : 1;
}
