// error-regex: tutti_invalid_setting_bulkhead_max_concurrent_must_be_at_least_1
// Misuse: a bulkhead that lets no call in, as a constant.
#include <tutti/policy/bulkhead.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  constexpr tutti::bulkhead_config none{.max_concurrent = 0};
  (void)none;
#else
  constexpr tutti::bulkhead_config one{.max_concurrent = 1};
  (void)one;
#endif
  return 0;
}
