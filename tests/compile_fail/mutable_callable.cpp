// error-regex: tutti: a step callable must be callable on a const object
// Misuse: a mutable lambda as a step.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto s = tutti::step<"count">([n = 0]() mutable { return ++n; });
  (void)s;
#else
  auto s = tutti::step<"count">([n = 0]() { return n + 1; });
  (void)s;
#endif
  return 0;
}
