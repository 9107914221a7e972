// Bulkhead: slots, RAII permits, bounded waits on the run's clock, rejection inside a workflow.
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <tutti/policy/bulkhead.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>
#include <type_traits>
#include <utility>

using namespace std::chrono_literals;

namespace {
// A manual clock that gives a held permit back once its time reaches `release_at`: another
// caller finishing while we wait, made deterministic.
struct releasing_clock {
  tutti::testing::manual_clock inner;
  tutti::bulkhead::permit* held = nullptr;
  tutti::duration release_at{};
  [[nodiscard]] tutti::duration now() const noexcept { return inner.now(); }
  void sleep_for(tutti::duration d) noexcept {
    inner.sleep_for(d);
    if (held != nullptr && inner.now() >= release_at) held->release();
  }
};

// A clock that counts how often it is read or slept on.
struct counting_clock {
  long reads = 0;
  long sleeps = 0;
  tutti::duration now() noexcept {
    ++reads;
    return tutti::duration{0};
  }
  void sleep_for(tutti::duration) noexcept { ++sleeps; }
};
}  // namespace

TEST_CASE("a bulkhead lets at most max_concurrent permits out at once", "[policy][bulkhead]") {
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 3}};
  CHECK(b.max_concurrent() == 3);
  CHECK(b.max_wait() == 0ns);
  auto p1 = b.try_acquire();
  auto p2 = b.try_acquire();
  auto p3 = b.try_acquire();
  CHECK((p1 && p2 && p3));
  CHECK(b.in_use() == 3);
  CHECK(b.available() == 0);
  auto p4 = b.try_acquire();
  CHECK_FALSE(p4);
  CHECK(b.in_use() == 3);  // a refused call takes nothing
  p2.release();
  CHECK(b.in_use() == 2);
  auto p5 = b.try_acquire();
  CHECK(p5);
  CHECK(b.accepted() == 4);
  CHECK(b.rejected() == 1);
}

TEST_CASE("a permit gives its slot back when destroyed, and only once", "[policy][bulkhead]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tutti::bulkhead::permit>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<tutti::bulkhead::permit>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<tutti::bulkhead::permit>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<tutti::bulkhead::permit>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tutti::bulkhead>);
  STATIC_REQUIRE_FALSE(std::is_move_constructible_v<tutti::bulkhead>);
  STATIC_REQUIRE(sizeof(tutti::bulkhead::permit) == sizeof(void*));

  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 2}};
  {
    auto p = b.try_acquire();
    CHECK(b.in_use() == 1);
    tutti::bulkhead::permit moved = std::move(p);
    CHECK_FALSE(p);  // NOLINT(bugprone-use-after-move): moved-from permits are empty by contract
    CHECK(moved);
    CHECK(b.in_use() == 1);
    moved.release();
    moved.release();  // idempotent
    CHECK(b.in_use() == 0);
    auto q = b.try_acquire();
    auto r = b.try_acquire();
    CHECK(b.in_use() == 2);
    q = std::move(r);  // q's own slot goes back, r's slot now lives in q
    CHECK(b.in_use() == 1);
    tutti::bulkhead::permit empty;
    CHECK_FALSE(empty);
  }
  CHECK(b.in_use() == 0);
  CHECK(b.accepted() == 3);
}

TEST_CASE("a full bulkhead fails the step with bulkhead_full without calling it",
          "[policy][bulkhead]") {
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1}};
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<int> {
                                   ++calls;
                                   CHECK(b.in_use() == 1);  // the step runs holding a slot
                                   return 7;
                                 }) |
                                 tutti::isolate(b));
  {
    auto held = b.try_acquire();
    auto run = wf.run();
    REQUIRE_FALSE(run);
    CHECK(run.error() == tutti::errc::bulkhead_full);
    CHECK(run.report()[0].attempts == 0);
    CHECK(calls == 0);
  }
  auto run = wf.run();
  REQUIRE(run);
  CHECK(run.value() == 7);
  CHECK(calls == 1);
  CHECK(b.in_use() == 0);  // given back when the step returned
  CHECK(b.accepted() == 2);
  CHECK(b.rejected() == 1);
}

TEST_CASE("a waiting call is rejected after exactly max_wait of the run's clock",
          "[policy][bulkhead]") {
  tutti::testing::manual_clock clock;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1, .max_wait = 50ms}};
  auto held = b.try_acquire();
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() { ++calls; }) | tutti::isolate(b));
  auto run = wf.run(tutti::unit{}, {}, clock);
  CHECK(run.error() == tutti::errc::bulkhead_full);
  CHECK(calls == 0);
  CHECK(clock.now() == 50ms);
  // Rechecks after 0.1, 0.2, 0.4, 0.8 ms, then every 1 ms: 1.5 ms + 48 * 1 ms + a last 0.5 ms.
  CHECK(clock.sleeps() == 4 + 48 + 1);
}

TEST_CASE("a waiting call takes a slot freed during its wait, at most 1 ms late",
          "[policy][bulkhead]") {
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1, .max_wait = 50ms}};
  auto held = b.try_acquire();
  releasing_clock clock;
  clock.held = &held;
  clock.release_at = 10ms;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() { ++calls; }) | tutti::isolate(b));
  auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(calls == 1);
  CHECK(clock.now() == 10500us);  // rechecks at 0.1, 0.3, 0.7, 1.5, 2.5, ..., 9.5, 10.5 ms
  CHECK(b.in_use() == 0);
  CHECK(b.accepted() == 2);
  CHECK(b.rejected() == 0);
}

TEST_CASE("acquire with an explicit wait, outside a workflow", "[policy][bulkhead]") {
  tutti::testing::manual_clock clock;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1}};
  auto held = b.try_acquire();
  auto none = b.acquire(clock);  // the bulkhead's own max_wait: 0, no wait at all
  CHECK_FALSE(none);
  CHECK(clock.now() == 0ns);
  auto late = b.acquire(clock, 3ms);
  CHECK_FALSE(late);
  CHECK(clock.now() == 3ms);
  held.release();
  auto got = b.acquire(clock, 3ms);
  CHECK(got);
  CHECK(clock.now() == 3ms);  // a free slot costs no wait
  CHECK(b.rejected() == 2);
}

TEST_CASE("the clock is not touched while slots are free or when max_wait is zero",
          "[policy][bulkhead]") {
  counting_clock clock;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1}};
  auto wf = tutti::workflow<"w">(tutti::step<"s">([] { return 1; }) | tutti::isolate(b));
  CHECK(wf.run(tutti::unit{}, {}, clock));
  auto held = b.try_acquire();
  CHECK(wf.run(tutti::unit{}, {}, clock).error() == tutti::errc::bulkhead_full);
  CHECK(clock.reads == 0);
  CHECK(clock.sleeps == 0);
}

TEST_CASE("steps sharing one bulkhead share its slots", "[policy][bulkhead]") {
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1}};
  auto inner = tutti::workflow<"inner">(tutti::step<"a">([] { return 1; }) | tutti::isolate(b));
  auto outer = tutti::workflow<"outer">(tutti::step<"b">([&]() -> tutti::result<int> {
                                          auto r = inner.run();  // b's only slot is ours
                                          if (!r) return r.error();
                                          return r.value();
                                        }) |
                                        tutti::isolate(b));
  CHECK(outer.run().error() == tutti::errc::bulkhead_full);
  CHECK(inner.run().value() == 1);
  CHECK(b.in_use() == 0);
}

TEST_CASE("a retry outside the bulkhead retries its rejections", "[policy][bulkhead]") {
  tutti::testing::manual_clock clock;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1}};
  auto held = b.try_acquire();
  int calls = 0;
  auto wf =
      tutti::workflow<"w">(tutti::step<"s">([&]() { ++calls; }) | tutti::isolate(b) |
                           tutti::retry{tutti::constant_backoff{10ms}, tutti::max_attempts{3}});
  auto run = wf.run(tutti::unit{}, {}, clock);
  CHECK(run.error() == tutti::errc::bulkhead_full);
  CHECK(calls == 0);
  CHECK(b.rejected() == 3);
  CHECK(clock.now() == 20ms);
}

TEST_CASE("the bulkhead policy is named and holds only a pointer", "[policy][bulkhead]") {
  tutti::bulkhead b;
  STATIC_REQUIRE(tutti::policy<tutti::bulkhead_policy>);
  STATIC_REQUIRE(tutti::bulkhead_policy::policy_name == "bulkhead");
  STATIC_REQUIRE(sizeof(tutti::bulkhead_policy) == sizeof(void*));
  auto node = tutti::step<"s">([] {}) | tutti::isolate(b);
  using node_t = decltype(node);
  STATIC_REQUIRE(node_t::policy_type::policy_name == "bulkhead");
  CHECK(&node.policy().target() == &b);
  CHECK(b.max_concurrent() == 25);  // the default
}

TEST_CASE("bulkhead settings are checked when the config is made and again by the bulkhead",
          "[policy][bulkhead]") {
  constexpr tutti::bulkhead_config constant{.max_concurrent = 4, .max_wait = 1s};
  STATIC_REQUIRE(constant.max_concurrent == 4);
  STATIC_REQUIRE(sizeof(tutti::bulkhead_config) == 16);  // the check costs no space
  volatile std::uint32_t zero = 0;  // a value the compiler cannot see: as from a config file
  CHECK_THROWS_AS(tutti::bulkhead_config{.max_concurrent = zero}, std::invalid_argument);
  volatile long negative = -1;
  CHECK_THROWS_AS(tutti::bulkhead_config{.max_wait = tutti::duration{negative}},
                  std::invalid_argument);
  tutti::bulkhead_config changed{};
  changed.max_concurrent = zero;  // changed after the config was checked
  CHECK_THROWS_AS(tutti::bulkhead{changed}, std::invalid_argument);
  try {
    tutti::bulkhead_config bad{.max_concurrent = zero};
    (void)bad;
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string_view{e.what()} == "tutti: bulkhead max_concurrent must be at least 1");
  }
}
