// error-regex: tutti_invalid_setting_time_limit_must_be_positive
// Misuse: a zero timeout.
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::timeout t{0s};
  (void)t;
#else
  constexpr tutti::timeout t{1s};
  (void)t;
#endif
  return 0;
}
