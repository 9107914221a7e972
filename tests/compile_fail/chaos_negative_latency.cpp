// error-regex: tutti_invalid_setting_injected_latency_must_not_be_negative
// Misuse: a constant negative injected latency.
#include <tutti/testing/chaos.hpp>

using namespace std::chrono_literals;

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::testing::inject_latency slow{0.1, -250ms};
#else
  constexpr tutti::testing::inject_latency slow{0.1, 250ms};
#endif
  return slow.rate() == 0.1 ? 0 : 1;
}
