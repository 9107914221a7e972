// error-regex: tutti_invalid_setting_backoff_factor_must_be_at_least_1
// Misuse: an exponential backoff that shrinks.
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

tutti::result<int> charge(int amount) { return amount; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::retry r{tutti::exponential_backoff{.first = 10ms, .factor = 0.5}, tutti::max_attempts{3}};
  (void)r;
#else
  constexpr tutti::retry r{tutti::exponential_backoff{.first = 10ms, .factor = 1.5}, tutti::max_attempts{3}};
  (void)r;
#endif
  return 0;
}
