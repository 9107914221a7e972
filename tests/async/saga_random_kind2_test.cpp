// The async engine's randomised saga test, kind 2 (a pivot, retriable steps after it): see saga_random.hpp.
#include "saga_random.hpp"  // first: Asio before <coroutine>

TEST_CASE("random fault schedules keep the saga invariants on the async engine, kind 2",
          "[async][saga][random]") {
  check_kind<2>();
}
