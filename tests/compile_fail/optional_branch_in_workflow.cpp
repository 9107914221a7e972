// error-regex: tutti: optional_branch\(step\) as a step of a workflow
// Misuse: optional_branch(step) directly in a sequential workflow (it used to be ignored).
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<int> notify(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">(charge),
                                       tutti::optional_branch(tutti::step<"notify">(notify)));
#else
  // A step the run survives: a group of one optional branch.
  const auto wf = tutti::workflow<"w">(
      tutti::step<"charge">(charge),
      tutti::parallel<"maybe">(tutti::optional_branch(tutti::step<"notify">(notify))));
#endif
  return wf.run(1) ? 0 : 1;
}
