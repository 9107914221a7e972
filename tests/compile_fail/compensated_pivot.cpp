// error-regex: tutti: a pivot step cannot have a compensation
// Misuse: a pivot with a compensation.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto p = tutti::pivot<"confirm">(charge).compensate_with(refund);
  (void)p;
#else
  auto p = tutti::step<"confirm">(charge).compensate_with(refund);
  (void)p;
#endif
  return 0;
}
