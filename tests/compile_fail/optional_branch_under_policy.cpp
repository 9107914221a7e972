// error-regex: tutti: optional_branch\(\.\.\.\) inside a policy or a condition
// Misuse: a policy around optional_branch(...) in a group hides the mark from the group.
#include <tutti/tutti.hpp>

tutti::result<int> email(int amount) { return amount; }
tutti::result<int> sms(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      tutti::step<"email">(email),
      tutti::optional_branch(tutti::step<"sms">(sms)) | tutti::retry{tutti::max_attempts{3}}));
#else
  const auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      tutti::step<"email">(email),
      tutti::optional_branch(tutti::step<"sms">(sms) | tutti::retry{tutti::max_attempts{3}})));
#endif
  return wf.run(1) ? 0 : 1;
}
