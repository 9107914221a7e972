// error-regex: tutti_invalid_setting_rate_limiter_period_must_be_at_least_1us
// Misuse: a rate limiter refilled every 0 s, as a constant.
#include <chrono>
#include <tutti/policy/rate_limiter.hpp>

using namespace std::chrono_literals;

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::rate_limiter_config instant{.tokens_per_period = 10, .period = 0s};
  (void)instant;
#else
  constexpr tutti::rate_limiter_config per_second{.tokens_per_period = 10, .period = 1s};
  (void)per_second;
#endif
  return 0;
}
