// error-regex: tutti: a fallback inside a retry
// Misuse: a fallback placed inside a retry, which then never sees a failure.
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto s = tutti::step<"charge">(charge) | tutti::fallback(0) | tutti::retry{tutti::max_attempts{3}};
  (void)s;
#else
  auto s = tutti::step<"charge">(charge) | tutti::retry{tutti::max_attempts{3}} | tutti::fallback(0);
  (void)s;
#endif
  return 0;
}
