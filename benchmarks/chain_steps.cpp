#include "chain_steps.hpp"

#include <tutti/error.hpp>

namespace bench {
namespace {
int fail_at = 0;
long undone = 0;
tutti::result<int> step(int n, int x) noexcept {
  if (n == fail_at) return tutti::errc::step_failed;
  return x + 1;
}
tutti::result<void> undo(int) noexcept {
  ++undone;
  return tutti::outcome::success();
}
}  // namespace

tutti::result<int> s1(int x) noexcept { return step(1, x); }
tutti::result<int> s2(int x) noexcept { return step(2, x); }
tutti::result<int> s3(int x) noexcept { return step(3, x); }
tutti::result<int> s4(int x) noexcept { return step(4, x); }
tutti::result<int> s5(int x) noexcept { return step(5, x); }
tutti::result<int> s6(int x) noexcept { return step(6, x); }
tutti::result<int> s7(int x) noexcept { return step(7, x); }
tutti::result<int> s8(int x) noexcept { return step(8, x); }
tutti::result<void> c1(int x) noexcept { return undo(x); }
tutti::result<void> c2(int x) noexcept { return undo(x); }
tutti::result<void> c3(int x) noexcept { return undo(x); }
tutti::result<void> c4(int x) noexcept { return undo(x); }
tutti::result<void> c5(int x) noexcept { return undo(x); }
void set_fail_at(int step_number) noexcept { fail_at = step_number; }
long compensations() noexcept { return undone; }
}  // namespace bench
