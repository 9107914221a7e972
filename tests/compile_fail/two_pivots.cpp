// error-regex: tutti: a workflow has at most one pivot
// Misuse: two pivot steps in one workflow.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::pivot<"a">(charge), tutti::pivot<"b">(charge));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(tutti::pivot<"a">(charge),
                                 tutti::step<"b">(charge) | tutti::retry{tutti::max_attempts{3}});
  (void)wf;
#endif
  return 0;
}
