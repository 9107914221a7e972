// error-regex: tutti_invalid_setting_delay_must_not_be_negative
// Misuse: a negative constant backoff.
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::constant_backoff b{-5ms};
  (void)b;
#else
  constexpr tutti::constant_backoff b{5ms};
  (void)b;
#endif
  return 0;
}
