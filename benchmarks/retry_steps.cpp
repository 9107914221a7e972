#include "retry_steps.hpp"

#include <tutti/error.hpp>

namespace bench {
namespace {
long calls = 0;
}  // namespace

tutti::result<int> flaky(int x) noexcept {
  if (++calls % 4 != 0) return tutti::errc::step_failed;
  return x + 1;
}
void reset_flaky() noexcept { calls = 0; }
long flaky_calls() noexcept { return calls; }
}  // namespace bench
