// error-regex: tutti_invalid_setting_max_attempts_must_be_at_least_1
// Misuse: max_attempts{0} as a constant.
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::max_attempts none{0};
  (void)none;
#else
  constexpr tutti::max_attempts one{1};
  (void)one;
#endif
  return 0;
}
