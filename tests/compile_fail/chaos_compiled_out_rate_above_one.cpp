// error-regex: tutti_invalid_setting_injection_rate_must_be_between_0_and_1
// Misuse: an invalid constant rate in a build with chaos compiled out (TUTTI_CONFIG_CHAOS=0)
// is still an error: a configuration valid in one build is valid in the other. The twin shows
// what the macro does: every chaos policy is an empty pass-through.
#define TUTTI_CONFIG_CHAOS 0
#include <chrono>
#include <type_traits>
#include <tutti/testing/chaos.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

tutti::result<int> price(int sku) noexcept { return sku * 2; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::testing::inject_fault chaos{1.5, tutti::errc::timeout};
  (void)chaos;
#else
  static_assert(!tutti::testing::chaos_compiled_in);
  constexpr tutti::testing::inject_fault fault{0.5, tutti::errc::timeout};
  constexpr tutti::testing::inject_latency slow{0.5, 2s};
  static_assert(!decltype(fault)::active && !decltype(slow)::active);
  static_assert(std::is_empty_v<decltype(fault)> && std::is_empty_v<decltype(slow)>);
  static_assert(std::is_same_v<std::remove_const_t<decltype(fault)>,
                               tutti::testing::chaos_off::inject_fault<tutti::errc, false>>);
  constexpr auto plain = tutti::step<"price">(&price);
  constexpr auto with_chaos = plain | fault | slow;
  static_assert(sizeof(with_chaos) == sizeof(plain));
  static_assert(tutti::max_delay(with_chaos) == tutti::duration{});
#endif
  return 0;
}
