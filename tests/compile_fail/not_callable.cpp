// error-regex: tutti: step<.+name.+>\(f\): f must be callable
// Misuse: a step made of something that cannot be called.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto s = tutti::step<"charge">(42);
  (void)s;
#else
  auto s = tutti::step<"charge">(charge);
  (void)s;
#endif
  return 0;
}
