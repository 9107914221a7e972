// error-regex: tutti: a deadline inside a retry restarts with every attempt
// Misuse: a whole-step deadline placed inside a retry.
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto s = tutti::step<"charge">(charge) | tutti::deadline{5s} | tutti::retry{tutti::max_attempts{3}};
  (void)s;
#else
  auto s = tutti::step<"charge">(charge) | tutti::retry{tutti::max_attempts{3}} | tutti::deadline{5s};
  (void)s;
#endif
  return 0;
}
