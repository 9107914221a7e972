// Worst cases: tutti::max_calls and tutti::max_delay are upper bounds for every node kind
// (groups, quorums, first-of, hedges, choices, conditional steps, nested workflows, bulkhead and
// rate-limiter waits), checked on fixed shapes and on seeded random failure schedules.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {

// A failure schedule: the k-th decision of a run fails with probability `fail_percent`, drawn
// from (seed, k) so that the same seed gives the same schedule on one thread.
struct schedule {
  std::uint64_t seed = 1;
  std::uint64_t fail_percent = 50;
  std::atomic<std::uint64_t> draws{0};
  std::atomic<std::uint64_t> calls{0};

  std::uint64_t draw() noexcept {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + draws.fetch_add(1) + 1;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;  // splitmix64's finaliser
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  }
  bool fails() noexcept { return draw() % 100 < fail_percent; }
};

// A step that calls the flaky service: counted, failing as the schedule says.
template <tutti::fixed_string Name>
auto flaky(schedule& s) {
  return tutti::step<Name>([&s](int in) -> tutti::result<int> {
    s.calls.fetch_add(1);
    if (s.fails()) return tutti::errc::timeout;
    return in + 1;
  });
}

using ms = std::chrono::milliseconds;

}  // namespace

TEST_CASE("a parallel group's worst case adds its branches' calls and waits",
          "[core][worst_case]") {
  constexpr auto five = tutti::step<"a">([] {}) |
                    tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}};
  const auto group = tutti::parallel<"g">(five, tutti::step<"b">([] {}) |
                                                    tutti::retry{tutti::constant_backoff{2s},
                                                                 tutti::max_attempts{5}});
  CHECK(tutti::max_calls(group) == 10);
  CHECK(tutti::max_delay(group) == 4 * 1s + 4 * 2s);
  const auto q = tutti::quorum<"q", 1>(five, tutti::step<"c">([] {}));
  CHECK(tutti::max_calls(q) == 6);
  const auto f = tutti::first_of<"f">(five, tutti::optional_branch(tutti::step<"c">([] {})));
  CHECK(tutti::max_calls(f) == 6);
  CHECK(tutti::max_delay(f) == 4s);
  // Retried as a whole, the group multiplies.
  const auto again = group | tutti::retry{tutti::constant_backoff{10s}, tutti::max_attempts{2}};
  CHECK(tutti::max_calls(again) == 20);
  CHECK(tutti::max_delay(again) == 2 * (4 * 1s + 4 * 2s) + 10s);
  // Constant expressions when the settings are.
  static tutti::inline_executor ex;
  constexpr auto g2 = tutti::parallel<"g">(ex, five, tutti::step<"b">([] {}));
  STATIC_REQUIRE(tutti::max_calls(g2) == 6);
  STATIC_REQUIRE(tutti::max_delay(g2) == 4s);
}

TEST_CASE("a hedged step counts each copy and the hedge's delays", "[core][worst_case]") {
  tutti::inline_executor ex;
  const auto three = tutti::step<"s">([] {}) | tutti::hedged<3>(ex, 50ms);
  CHECK(tutti::max_calls(three) == 3);
  CHECK(tutti::max_delay(three) == 2 * 50ms);
  const auto retried_copies =
      tutti::step<"s">([] {}) | tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{2}} |
      tutti::hedged<2>(ex, 10ms);
  CHECK(tutti::max_calls(retried_copies) == 4);
  CHECK(tutti::max_delay(retried_copies) == 2 * 1s + 10ms);
  const auto h = tutti::hedge<"h">(ex, 20ms, tutti::step<"a">([] {}), tutti::step<"b">([] {}),
                                   tutti::step<"c">([] {}));
  CHECK(tutti::max_calls(h) == 3);
  CHECK(tutti::max_delay(h) == 40ms);
}

TEST_CASE("a choice counts its costliest case and a conditional step its step",
          "[core][worst_case]") {
  constexpr auto c = tutti::choose<"c">(
      [](int x) { return static_cast<std::size_t>(x % 2); },
      tutti::step<"a">([] {}) | tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{4}},
      tutti::step<"b">([] {}) | tutti::retry{tutti::constant_backoff{5s}, tutti::max_attempts{2}});
  STATIC_REQUIRE(tutti::max_calls(c) == 4);
  STATIC_REQUIRE(tutti::max_delay(c) == 5s);
  constexpr auto w = tutti::when([](int x) { return x > 0; },
                                 tutti::step<"a">([] {}) | tutti::retry{tutti::max_attempts{3}});
  STATIC_REQUIRE(tutti::max_calls(w) == 3);
  constexpr auto wf = tutti::workflow<"w">(c, w);
  STATIC_REQUIRE(tutti::max_calls(wf) == 7);
  STATIC_REQUIRE(tutti::max_delay(wf) == 5s);
}

TEST_CASE("a bulkhead's and a rate limiter's waits count in max_delay", "[core][worst_case]") {
  tutti::testing::manual_clock clock;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1, .max_wait = 30ms}};
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1, .period = 1s, .max_wait = 2s}, clock};
  const auto s = tutti::step<"s">([] {}) | tutti::isolate(b) | tutti::throttle(limiter) |
                 tutti::retry{tutti::constant_backoff{100ms}, tutti::max_attempts{3}};
  CHECK(tutti::max_calls(s) == 3);
  CHECK(tutti::max_delay(s) == 3 * (30ms + 2s) + 2 * 100ms);
  // The descriptor still is a constant expression: the waits are not in it.
  constexpr auto plain = tutti::step<"p">([] {}) | tutti::retry{tutti::max_attempts{2}};
  STATIC_REQUIRE(tutti::describe(plain).policies[0].max_attempts == 2);
}

TEST_CASE("every call failing reaches the group bounds exactly", "[core][worst_case]") {
  tutti::testing::manual_clock clock;
  schedule s;
  s.fail_percent = 100;
  tutti::inline_executor ex;
  // Optional branches: the group goes on after a failure, so both branches use every attempt.
  const auto all = tutti::workflow<"all">(tutti::parallel<"g">(
      ex, tutti::optional_branch(flaky<"a">(s) | tutti::retry{tutti::constant_backoff{1s},
                                                               tutti::max_attempts{5}}),
      tutti::optional_branch(flaky<"b">(s) |
                             tutti::retry{tutti::constant_backoff{2s}, tutti::max_attempts{5}})));
  const auto run = all.run(0, {}, clock);
  CHECK(run.has_value());
  CHECK(s.calls.load() == 10);
  CHECK(s.calls.load() == tutti::max_calls(all));
  CHECK(clock.slept() == 12s);
  CHECK(clock.slept() == tutti::max_delay(all));

  s.calls = 0;
  const auto hedged = tutti::workflow<"h">(flaky<"s">(s) | tutti::hedged<3>(ex, 50ms));
  CHECK_FALSE(hedged.run(0, {}, clock).has_value());
  CHECK(s.calls.load() == 3);
  CHECK(s.calls.load() == tutti::max_calls(hedged));
}

TEST_CASE("random failure schedules never exceed the computed worst cases",
          "[core][worst_case]") {
  tutti::testing::manual_clock clock;
  tutti::inline_executor ex;
  tutti::thread_pool pool{2};
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 1, .max_wait = 30ms}};
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1, .period = 1s, .burst = 2, .max_wait = 1500ms},
      clock};
  schedule s;

  const auto exp4 = tutti::retry{tutti::exponential_backoff{.first = 100ms, .cap = 1s},
                                 tutti::max_attempts{4}};
  const auto jitter3 = tutti::retry{tutti::full_jitter{tutti::exponential_backoff{.first = 50ms}},
                                    tutti::max_attempts{3}};
  const auto decor3 = tutti::retry{tutti::decorrelated_jitter{.first = 10ms, .cap = 700ms},
                                   tutti::max_attempts{3}};
  const auto const2 = tutti::retry{tutti::constant_backoff{250ms}, tutti::max_attempts{2}};

  // Groups with retries inside, retried as a whole; a choice; a conditional step.
  const auto groups = tutti::workflow<"groups">(
      flaky<"first">(s) | exp4,
      tutti::parallel<"all">(ex, flaky<"a">(s) | jitter3,
                             tutti::optional_branch(flaky<"b">(s) | decor3), flaky<"c">(s) | const2) |
          const2,
      tutti::quorum<"q", 2>(ex, flaky<"a">(s) | exp4, flaky<"b">(s) | jitter3, flaky<"c">(s)),
      tutti::choose<"pick">([&s] { return static_cast<std::size_t>(s.draw() % 3); },
                            flaky<"x">(s) | exp4, flaky<"y">(s),
                            tutti::parallel<"z">(ex, flaky<"z1">(s) | const2, flaky<"z2">(s) | decor3)),
      tutti::when([&s] { return s.draw() % 2 == 0; }, flaky<"maybe">(s) | jitter3 | const2));
  // Hedges (inline and on a pool), first-of, a nested workflow.
  const auto hedges = tutti::workflow<"hedges">(
      flaky<"h1">(s) | const2 | tutti::hedged<3>(ex, 40ms),
      tutti::hedge<"h2">(pool, 5ms, flaky<"p">(s) | decor3, flaky<"q">(s) | exp4) | const2,
      tutti::first_of<"f">(ex, flaky<"a">(s) | jitter3, flaky<"b">(s) | exp4),
      tutti::workflow<"nested">(flaky<"n1">(s) | const2, flaky<"n2">(s) | decor3) | exp4);
  // Waits for a bulkhead slot and for rate-limiter tokens, retried.
  const auto waits = tutti::workflow<"waits">(
      flaky<"bh">(s) | tutti::isolate(b) | exp4,
      tutti::parallel<"g">(ex, flaky<"rl">(s) | tutti::throttle(limiter) | const2,
                           tutti::optional_branch(flaky<"both">(s) | tutti::isolate(b) |
                                                  tutti::throttle(limiter) | jitter3)),
      flaky<"last">(s) | tutti::throttle(limiter) | tutti::isolate(b) | decor3);

  std::uint64_t most_calls[3] = {};
  tutti::duration most_waited[3] = {};
  const std::uint64_t fail_percents[] = {0, 20, 50, 80, 100};
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    s.seed = seed;
    s.fail_percent = fail_percents[seed % 5];
    s.draws = 0;
    tutti::run_options opts;
    opts.seed = seed;
    auto check = [&](int which, const auto& wf) {
      s.calls = 0;
      const tutti::duration slept0 = clock.slept();
      const tutti::duration t0 = clock.now();
      (void)wf.run(0, opts, clock);
      const std::uint64_t calls = s.calls.load();
      const tutti::duration waited = clock.slept() - slept0;
      INFO("workflow " << which << ", seed " << seed << ": " << calls << " calls, "
                       << waited.count() << " ns waited");
      CHECK(calls <= tutti::max_calls(wf));
      CHECK(waited <= tutti::max_delay(wf));
      CHECK(clock.now() - t0 <= tutti::max_delay(wf));
      if (calls > most_calls[which]) most_calls[which] = calls;
      if (waited > most_waited[which]) most_waited[which] = waited;
    };
    check(0, groups);
    check(1, hedges);
    // A slot held elsewhere for some runs: every call through the bulkhead waits and is refused.
    if (seed % 3 == 0) {
      const auto held = b.acquire(clock);
      REQUIRE(held);
      check(2, waits);
    } else {
      check(2, waits);
    }
    clock.advance(10s);  // the limiter's bucket fills up again between runs
  }
  // The schedules reached well past the old bounds (one call per group, no waits in groups).
  CHECK(most_calls[0] > 5);
  CHECK(most_calls[1] > 4);
  CHECK(most_waited[2] > 30ms);
}
