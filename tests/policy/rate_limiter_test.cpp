// Rate limiter: token bucket on the manual clock — limits, exact refill schedule, burst,
// reservations and bounded waits, rejection inside a workflow, settings.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string_view>
#include <tutti/policy/rate_limiter.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>
#include <type_traits>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

TEST_CASE("a new limiter holds burst tokens and refuses the next call", "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{tutti::rate_limiter_config{.tokens_per_period = 5, .period = 1s},
                              clock};
  CHECK(limiter.burst() == 5);  // defaults to tokens_per_period
  CHECK(limiter.available() == 5);
  for (int i = 0; i < 5; ++i) CHECK(limiter.try_acquire());
  CHECK_FALSE(limiter.try_acquire());
  CHECK(limiter.available() == 0);
  CHECK(limiter.accepted() == 5);
  CHECK(limiter.rejected() == 1);
  CHECK(limiter.delayed() == 0);
  CHECK(clock.now() == 0ns);  // a limiter never waits in try_acquire
}

TEST_CASE("tokens come back exactly at each period boundary", "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{tutti::rate_limiter_config{.tokens_per_period = 5, .period = 1s},
                              clock};
  for (int i = 0; i < 5; ++i) REQUIRE(limiter.try_acquire());
  CHECK(limiter.time_until_available() == 1s);
  clock.advance(1s - 1ns);
  CHECK_FALSE(limiter.try_acquire());
  CHECK(limiter.time_until_available() == 1ns);
  clock.advance(1ns);
  CHECK(limiter.time_until_available() == 0ns);
  CHECK(limiter.available() == 5);
  for (int i = 0; i < 5; ++i) CHECK(limiter.try_acquire());
  CHECK_FALSE(limiter.try_acquire());
  clock.advance(2500ms);  // two more boundaries (2 s, 3 s): 10 tokens, capped at the burst of 5
  CHECK(limiter.available() == 5);
  CHECK(limiter.time_until_available(6) == tutti::duration::max());
}

TEST_CASE("periods are counted from construction, not from the last call",
          "[policy][rate_limiter]") {
  manual_clock clock{7s};
  tutti::rate_limiter limiter{tutti::rate_limiter_config{.tokens_per_period = 1, .period = 100ms},
                              clock};
  clock.advance(250ms);  // boundaries at 7.1 s and 7.2 s have passed
  CHECK(limiter.try_acquire());
  CHECK_FALSE(limiter.try_acquire());
  CHECK(limiter.time_until_available() == 50ms);  // the next boundary is 7.3 s
  clock.advance(50ms);
  CHECK(limiter.try_acquire());
}

TEST_CASE("the burst caps what idle periods save up, above or below tokens_per_period",
          "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter large{
      tutti::rate_limiter_config{.tokens_per_period = 2, .period = 100ms, .burst = 6}, clock};
  tutti::rate_limiter small{
      tutti::rate_limiter_config{.tokens_per_period = 10, .period = 100ms, .burst = 3}, clock};
  CHECK(large.try_acquire(6));
  CHECK(small.try_acquire(3));
  CHECK_FALSE(large.try_acquire());
  CHECK_FALSE(small.try_acquire());
  clock.advance(100ms);
  CHECK(large.available() == 2);
  CHECK(small.available() == 3);
  clock.advance(10000h);  // a long idle time refills to the burst, no more
  CHECK(large.available() == 6);
  CHECK(small.available() == 3);
}

TEST_CASE("try_acquire takes several tokens at once, or none", "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{tutti::rate_limiter_config{.tokens_per_period = 5, .period = 1s},
                              clock};
  CHECK_FALSE(limiter.try_acquire(6));  // more than the burst: never
  CHECK(limiter.time_until_available(6) == tutti::duration::max());
  CHECK(limiter.try_acquire(0));
  CHECK(limiter.try_acquire(3));
  CHECK_FALSE(limiter.try_acquire(3));  // 2 left: all or nothing
  CHECK(limiter.available() == 2);
  CHECK(limiter.time_until_available(3) == 1s);
  CHECK(limiter.try_acquire(2));
}

TEST_CASE("reservations take tokens of future refills in order, within max_wait",
          "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{tutti::rate_limiter_config{.tokens_per_period = 2, .period = 100ms},
                              clock};
  using namespace std::chrono;
  const tutti::duration expected[] = {0ms, 0ms, 100ms, 100ms, 200ms, 200ms, 300ms};
  for (const auto wait : expected) {
    const auto r = limiter.reserve(1, 1s);
    REQUIRE(r.granted);
    CHECK(r.wait == wait);
  }
  const auto late = limiter.reserve(1, 250ms);  // its token would come at 300 ms
  CHECK_FALSE(late);
  CHECK(late.wait == 300ms);
  CHECK(limiter.accepted() == 7);
  CHECK(limiter.delayed() == 5);
  CHECK(limiter.rejected() == 1);
  clock.advance(100ms);  // the 100 ms refill pays two reservations
  CHECK(limiter.available() == 0);
  CHECK(limiter.time_until_available() == 200ms);
  clock.advance(200ms);  // 300 ms: all five reservations paid, one token left
  CHECK(limiter.available() == 1);
}

TEST_CASE("a call waits on the run's clock for a token due within max_wait",
          "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1, .period = 100ms, .max_wait = 100ms},
      clock};
  int calls = 0;
  auto wf =
      tutti::workflow<"w">(tutti::step<"s">([&]() { return ++calls; }) | tutti::throttle(limiter));
  CHECK(wf.run(tutti::unit{}, {}, clock).value() == 1);
  CHECK(clock.now() == 0ms);
  CHECK(wf.run(tutti::unit{}, {}, clock).value() == 2);
  CHECK(clock.now() == 100ms);  // waited for the first refill, max_wait included
  CHECK(wf.run(tutti::unit{}, {}, clock).value() == 3);
  CHECK(clock.now() == 200ms);
  CHECK(clock.sleeps() == 2);
  CHECK(limiter.delayed() == 2);
  CHECK(limiter.rejected() == 0);
}

TEST_CASE("a call whose token is due after max_wait fails with rate_limited at once",
          "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1, .period = 100ms, .max_wait = 50ms}, clock};
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() { ++calls; }) | tutti::throttle(limiter));
  CHECK(wf.run(tutti::unit{}, {}, clock));
  auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::rate_limited);
  CHECK(run.report()[0].attempts == 0);
  CHECK(calls == 1);
  CHECK(clock.now() == 0ns);  // rejected without waiting
  CHECK(limiter.rejected() == 1);
  clock.advance(100ms);
  CHECK(wf.run(tutti::unit{}, {}, clock));
  CHECK(calls == 2);
}

TEST_CASE("acquire waits on the limiter's clock up to its max_wait", "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1, .period = 1s, .max_wait = 1s}, clock};
  CHECK(limiter.acquire());
  CHECK(limiter.acquire());
  CHECK(clock.now() == 1s);
  CHECK(limiter.acquire());
  CHECK(clock.now() == 2s);
  CHECK(limiter.reserve(1, 1s).granted);  // reserved the 3 s token without waiting for it
  CHECK_FALSE(limiter.acquire());         // the next one would come at 4 s, 2 s from now
  CHECK(clock.now() == 2s);
}

TEST_CASE("reservations stop before the bucket's count would overflow", "[policy][rate_limiter]") {
  manual_clock clock;
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1'000'000, .period = 1us, .max_wait = 1h},
      clock};
  CHECK(limiter.reserve(1'000'000, 1h).wait == 0us);
  CHECK(limiter.reserve(1'000'000, 1h).wait == 1us);
  CHECK(limiter.reserve(1'000'000, 1h).wait == 2us);
  CHECK_FALSE(limiter.reserve(1'000'000, 1h));  // -3'000'000 is past the deepest reservation
  clock.advance(3us);
  CHECK(limiter.try_acquire(1'000'000));
}

TEST_CASE("a limiter without a clock uses the steady clock", "[policy][rate_limiter]") {
  tutti::rate_limiter limiter{tutti::rate_limiter_config{}};
  STATIC_REQUIRE(std::is_same_v<decltype(limiter), tutti::rate_limiter<tutti::steady_clock>>);
  manual_clock clock;
  tutti::rate_limiter manual{tutti::rate_limiter_config{}, clock};
  STATIC_REQUIRE(std::is_same_v<decltype(manual), tutti::rate_limiter<manual_clock>>);
  CHECK(&manual.clock() == &clock);
  STATIC_REQUIRE(noexcept(manual.try_acquire()));  // tutti's clocks do not throw
  CHECK(limiter.tokens_per_period() == 10);  // defaults: 10 per second, burst 10, no wait
  CHECK(limiter.period() == 1s);
  CHECK(limiter.burst() == 10);
  CHECK(limiter.max_wait() == 0ns);
  CHECK(limiter.try_acquire(10));
  auto wf = tutti::workflow<"w">(tutti::step<"s">([] {}) | tutti::throttle(limiter));
  // Unless a period passed while this test ran, the bucket is empty.
  const auto run = wf.run();
  CHECK((run || run.error() == tutti::errc::rate_limited));
}

TEST_CASE("the rate limiter policy is named and holds only a pointer", "[policy][rate_limiter]") {
  using policy_t = tutti::rate_limiter_policy<manual_clock>;
  STATIC_REQUIRE(tutti::policy<policy_t>);
  STATIC_REQUIRE(policy_t::policy_name == "rate_limiter");
  STATIC_REQUIRE(sizeof(policy_t) == sizeof(void*));
  manual_clock clock;
  tutti::rate_limiter limiter{tutti::rate_limiter_config{}, clock};
  auto node = tutti::step<"s">([] {}) | tutti::throttle(limiter);
  STATIC_REQUIRE(decltype(node)::policy_type::policy_name == "rate_limiter");
  CHECK(&node.policy().target() == &limiter);
}

TEST_CASE("rate limiter settings are checked when the config is made and by the limiter",
          "[policy][rate_limiter]") {
  constexpr tutti::rate_limiter_config constant{.tokens_per_period = 7, .period = 1s};
  STATIC_REQUIRE(constant.burst == 7);
  STATIC_REQUIRE(sizeof(tutti::rate_limiter_config) == 32);  // the check costs no space
  // Values the compiler cannot see: as from a config file.
  volatile std::uint32_t zero = 0;
  volatile std::uint32_t too_many = 1'000'001;
  volatile long ns = 999;
  using cfg = tutti::rate_limiter_config;
  CHECK_THROWS_AS(cfg{.tokens_per_period = zero}, std::invalid_argument);
  CHECK_THROWS_AS((cfg{.tokens_per_period = too_many, .burst = 1}), std::invalid_argument);
  CHECK_THROWS_AS(cfg{.period = tutti::duration{0}}, std::invalid_argument);
  CHECK_THROWS_AS(cfg{.period = tutti::duration{ns}}, std::invalid_argument);
  CHECK_THROWS_AS(cfg{.burst = zero}, std::invalid_argument);
  CHECK_THROWS_AS(cfg{.burst = too_many}, std::invalid_argument);
  CHECK_THROWS_AS(cfg{.max_wait = tutti::duration{-ns}}, std::invalid_argument);
  CHECK_NOTHROW(cfg{.period = tutti::duration{ns + 1}});
  cfg changed{};
  changed.period = tutti::duration{0};  // changed after the config was checked
  CHECK_THROWS_AS(tutti::rate_limiter{changed}, std::invalid_argument);
  try {
    cfg bad{.period = tutti::duration{ns}};
    (void)bad;
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string_view{e.what()} ==
          "tutti: rate limiter period must be at least 1 microsecond");
  }
}
