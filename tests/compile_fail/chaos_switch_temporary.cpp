// error-regex: deleted (member )?function.*enabled_by
// Misuse: a chaos policy enabled by a temporary switch (the policy keeps its address: it would dangle).
#include <tutti/testing/chaos.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto chaos = tutti::testing::inject_fault{1.0, tutti::errc::timeout}.enabled_by(
      tutti::testing::chaos_switch{true});
#else
  static const tutti::testing::chaos_switch game_day{true};
  const auto chaos = tutti::testing::inject_fault{1.0, tutti::errc::timeout}.enabled_by(game_day);
#endif
  return chaos.rate() == 1.0 ? 0 : 1;
}
