// error-regex: tutti: the compensation must take what its step produced
// Misuse: the compensation takes a string, the step produces an int.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto s = tutti::step<"charge">(charge).compensate_with([](const std::string&) {});
  (void)s;
#else
  auto s = tutti::step<"charge">(charge).compensate_with(refund);
  (void)s;
#endif
  return 0;
}
