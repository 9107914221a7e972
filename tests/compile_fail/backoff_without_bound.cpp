// error-regex: a retry's backoff must declare its upper bound
// Misuse: a backoff of the user's without max_delay_before (worst cases need it).
#include <tutti/tutti.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

using namespace std::chrono_literals;

struct my_backoff {
  static constexpr std::string_view backoff_name = "mine";
  constexpr void validate() const {}
  template <class Random>
  tutti::duration delay_before(std::uint32_t, tutti::duration, Random&&) const {
    return 1s;
  }
#ifndef TUTTI_COMPILE_FAIL
  [[nodiscard]] constexpr tutti::duration max_delay_before(std::uint32_t) const noexcept {
    return 1s;
  }
#endif
};

int main() {
  const auto retry = tutti::retry{my_backoff{}, tutti::max_attempts{3}};
  return retry.attempts.value == 3 ? 0 : 1;
}
