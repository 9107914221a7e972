// error-regex: tutti: a step parameter must be the workflow input
// Misuse: a step whose parameter is neither the input, from<>, nor call_context.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::step<"charge">([](const std::string& s) { return s.size(); }));
  (void)wf.run(5);
#else
  auto wf = tutti::workflow<"w">(tutti::step<"charge">([](const int& amount) { return amount; }));
  (void)wf.run(5);
#endif
  return 0;
}
