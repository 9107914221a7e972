// error-regex: tutti_invalid_setting_injection_rate_must_be_between_0_and_1
// Misuse: a constant chaos injection rate above 1 (rates are shares of calls, 0 to 1).
#include <tutti/testing/chaos.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::testing::inject_fault chaos{1.5, tutti::errc::timeout};
#else
  constexpr tutti::testing::inject_fault chaos{0.5, tutti::errc::timeout};
#endif
  return chaos.rate() == 0.5 ? 0 : 1;
}
