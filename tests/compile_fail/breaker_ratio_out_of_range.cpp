// error-regex: tutti_invalid_setting_ratio_must_be_above_0_and_at_most_1
// Misuse: a constant breaker configuration whose failure ratio is outside (0, 1].
#include <tutti/policy/circuit_breaker.hpp>

using namespace std::chrono_literals;

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::breaker_config config{.failure_ratio = 1.5, .minimum_calls = 20, .break_for = 5s};
#else
  constexpr tutti::breaker_config config{.failure_ratio = 0.5, .minimum_calls = 20, .break_for = 5s};
#endif
  return config.minimum_calls.value == 20 ? 0 : 1;
}
