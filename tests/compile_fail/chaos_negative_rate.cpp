// error-regex: tutti_invalid_setting_injection_rate_must_be_between_0_and_1
// Misuse: a constant negative chaos injection rate (0 is the least: never inject).
#include <tutti/testing/chaos.hpp>

using namespace std::chrono_literals;

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::testing::inject_latency slow{-0.1, 2s};
#else
  constexpr tutti::testing::inject_latency slow{0.0, 2s};
#endif
  return slow.latency() == 2s ? 0 : 1;
}
