// Chaos policies: rates with fixed seeds, reproducible sequences, interplay with retries and
// time limits, run-time switch, and the compiled-out form (empty, no draws, no allocation).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>
#include <tutti/testing/chaos.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
namespace chaos = tutti::testing;

#include "support/counting_new.hpp"  // counts allocations (this test binary only)

using tutti_test::allocations;

namespace {
/**
 * How far the number of injections in `n` independent calls at rate `p` may be from `n * p`:
 * Bernstein's inequality for a sum of independent variables in [0, 1] with variance
 * sigma^2 = n p (1 - p) gives P(|X - np| >= t) <= 2 exp(-t^2 / (2 (sigma^2 + t / 3))). Solving
 * for the t at which that bound is `delta`, with L = ln(2 / delta):
 *   t = L / 3 + sqrt(L^2 / 9 + 2 L sigma^2).
 * With delta = 1e-6 an ideal generator misses the bound less than once in a million runs of the
 * check (the seeds are fixed, so the test itself is deterministic: the bound says the observed
 * rates are what a fair coin of weight p gives). For n = 10,000: p = 0.5 -> +-274 (2.7 points),
 * p = 0.1 -> +-166, p = 0.01 -> +-59.
 */
double bernstein_tolerance(double n, double p, double delta = 1e-6) {
  const double l = std::log(2.0 / delta);
  const double variance = n * p * (1.0 - p);
  return l / 3.0 + std::sqrt(l * l / 9.0 + 2.0 * l * variance);
}

constexpr int runs = 10'000;

bool within_bound(long observed, double p, int n = runs) {
  const double expected = n * p;
  const double tolerance = bernstein_tolerance(n, p);
  INFO("observed " << observed << ", expected " << expected << " +- " << tolerance);
  return std::abs(static_cast<double>(observed) - expected) <= tolerance;
}

tutti::run_options seeded(std::uint64_t seed) {
  tutti::run_options o;
  o.seed = seed;
  return o;
}
}  // namespace

TEST_CASE("the binomial tolerance is tight enough to mean something", "[testing][chaos]") {
  // A sanity check of the helper, so that the rate tests below cannot pass vacuously.
  CHECK(bernstein_tolerance(runs, 0.5) == Approx(274.2).epsilon(0.01));
  CHECK(bernstein_tolerance(runs, 0.01) < 60.0);
  CHECK_FALSE(within_bound(5'300, 0.5));  // 3 points off at n = 10,000 is rejected
  CHECK_FALSE(within_bound(1'200, 0.1));
  CHECK(within_bound(5'100, 0.5));
}

TEST_CASE("injection rates outside [0, 1] are rejected at construction", "[testing][chaos]") {
  volatile double above = 1.5;  // values the compiler cannot see: as from a config file
  volatile double below = -0.1;
  volatile double nan = std::nan("");
  CHECK_THROWS_AS(chaos::injection_rate{above}, std::invalid_argument);
  CHECK_THROWS_AS(chaos::injection_rate{below}, std::invalid_argument);
  CHECK_THROWS_AS(chaos::injection_rate{nan}, std::invalid_argument);
  CHECK_THROWS_AS((chaos::inject_fault{above, tutti::errc::timeout}), std::invalid_argument);
  volatile long negative = -1;
  CHECK_THROWS_AS((chaos::inject_latency{0.5, std::chrono::nanoseconds{negative}}),
                  std::invalid_argument);
  // The compiled-out form checks its settings too: a configuration valid in one build is valid
  // in the other.
  CHECK_THROWS_AS((chaos::inject_fault<tutti::errc, false>{above, tutti::errc::timeout}),
                  std::invalid_argument);
  CHECK_THROWS_AS((chaos::inject_latency<false>{0.5, std::chrono::nanoseconds{negative}}),
                  std::invalid_argument);

  constexpr chaos::inject_latency slow{0.25, 2s};  // constant settings: checked at compile time
  STATIC_REQUIRE(slow.rate() == 0.25);
  STATIC_REQUIRE(slow.latency() == 2s);
  constexpr chaos::inject_fault busy{1.0, tutti::errc::bulkhead_full};
  STATIC_REQUIRE(busy.rate() == 1.0);
  STATIC_REQUIRE(chaos::injection_rate{0.0}.threshold == 0);
  STATIC_REQUIRE(chaos::injection_rate{1.0}.threshold == (std::uint64_t{1} << 53));
}

TEST_CASE("rate 0 never injects and rate 1 always does", "[testing][chaos]") {
  int calls = 0;
  const auto step = tutti::step<"s">([&calls]() -> tutti::result<int> {
    ++calls;
    return 1;
  });
  const auto never = tutti::workflow<"w">(step | chaos::inject_fault{0.0, tutti::errc::timeout});
  const auto always = tutti::workflow<"w">(step | chaos::inject_fault{1.0, tutti::errc::timeout});
  int failed_never = 0;
  int failed_always = 0;
  for (int i = 1; i <= 1000; ++i) {
    failed_never += never.run(seeded(static_cast<std::uint64_t>(i))) ? 0 : 1;
    failed_always += always.run(seeded(static_cast<std::uint64_t>(i))) ? 0 : 1;
  }
  CHECK(failed_never == 0);
  CHECK(failed_always == 1000);
  CHECK(calls == 1000);  // only the rate-0 workflow called the step

  const auto run = always.run();
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.message() == "chaos: injected fault");
  CHECK(run.report()[0].attempts == 0);  // an injected fault is not a call of the step
}

TEST_CASE("observed fault rates over 10,000 seeded runs are within a binomial bound",
          "[testing][chaos]") {
  for (const double p : {0.01, 0.1, 0.25, 0.5, 0.9}) {
    int calls = 0;
    const auto wf = tutti::workflow<"w">(tutti::step<"s">([&calls]() -> tutti::result<int> {
                                           ++calls;
                                           return 1;
                                         }) |
                                         chaos::inject_fault{p, tutti::errc::timeout});
    long injected = 0;
    for (int i = 0; i < runs; ++i) {
      const auto run = wf.run(seeded(0xC0FFEE + static_cast<std::uint64_t>(i)));
      if (!run) {
        ++injected;
        CHECK(run.error() == tutti::errc::timeout);
      }
    }
    INFO("rate " << p);
    CHECK(injected + calls == runs);
    CHECK(within_bound(injected, p));
  }
}

TEST_CASE("latency and result injection rates are within the same bound", "[testing][chaos]") {
  tutti::testing::manual_clock clock;
  const auto slow = tutti::workflow<"w">(tutti::step<"s">([] { return 1; }) |
                                         chaos::inject_latency{0.3, 1ms});
  const auto odd = tutti::workflow<"w">(tutti::step<"s">([] { return 1; }) |
                                        chaos::inject_result{0.7, 2});
  long substituted = 0;
  for (int i = 0; i < runs; ++i) {
    REQUIRE(slow.run(seeded(static_cast<std::uint64_t>(i) + 1), clock));
    substituted += odd.run(seeded(static_cast<std::uint64_t>(i) + 1)).value() == 2 ? 1 : 0;
  }
  CHECK(clock.slept() == clock.sleeps() * 1ms);
  CHECK(within_bound(clock.sleeps(), 0.3));
  CHECK(within_bound(substituted, 0.7));
}

TEST_CASE("a chaos policy's own generator gives rates within the bound, whatever the run's seed",
          "[testing][chaos]") {
  chaos::chaos_random rng{2024};
  int calls = 0;
  const auto wf = tutti::workflow<"w">(tutti::step<"s">([&calls] { ++calls; }) |
                                       chaos::inject_fault{0.2, tutti::errc::timeout}.drawing_from(rng));
  long injected = 0;
  tutti::run_options same_seed_every_run;
  same_seed_every_run.seed = 1;  // the run's generator would give every run the same draw
  for (int i = 0; i < runs; ++i) injected += wf.run(same_seed_every_run) ? 0 : 1;
  CHECK(within_bound(injected, 0.2));
}

namespace {
// The errors a retry saw, attempt by attempt: the step always fails with bulkhead_full, the
// chaos policy injects timeouts. 63 retries: a 63-bit picture of the injection sequence.
template <class Chaos>
std::vector<bool> injection_sequence(const Chaos& policy, const tutti::run_options& opts) {
  std::vector<bool> injected;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<void> { return tutti::errc::bulkhead_full; }) |
      policy |
      tutti::retry{tutti::max_attempts{64}}.on_each_retry([&injected](const tutti::retry_event& e) {
        injected.push_back(e.error == tutti::errc::timeout);
      }));
  (void)wf.run(opts);
  return injected;
}
}  // namespace

TEST_CASE("the same seed injects the same sequence, another seed another", "[testing][chaos]") {
  const chaos::inject_fault half{0.5, tutti::errc::timeout};
  const auto a = injection_sequence(half, seeded(42));
  const auto b = injection_sequence(half, seeded(42));
  const auto c = injection_sequence(half, seeded(43));
  REQUIRE(a.size() == 63);
  CHECK(a == b);
  CHECK(a != c);
  // Both kinds of attempt occur (63 fair coins all alike has probability 2^-62).
  CHECK(std::count(a.begin(), a.end(), true) > 0);
  CHECK(std::count(a.begin(), a.end(), false) > 0);

  // With its own generator, the sequence follows the policy's seed, not the run's.
  chaos::chaos_random rng{7};
  const auto own = half.drawing_from(rng);
  const auto d = injection_sequence(own, seeded(1));
  rng.reseed(7);
  const auto e = injection_sequence(own, seeded(2));
  rng.reseed(8);
  const auto f = injection_sequence(own, seeded(1));
  CHECK(d == e);
  CHECK(d != f);
}

TEST_CASE("an injected fault is retried by a retry outside it", "[testing][chaos][retry]") {
  int calls = 0;
  int retries = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&calls]() -> tutti::result<int> { return ++calls; }) |
      chaos::inject_fault{0.5, tutti::errc::timeout} |
      tutti::retry{tutti::max_attempts{40}}.on_each_retry([&retries](const tutti::retry_event& e) {
        CHECK(e.error == tutti::errc::timeout);
        ++retries;
      }));
  for (int i = 1; i <= 1000; ++i) {
    const auto run = wf.run(seeded(static_cast<std::uint64_t>(i)));
    REQUIRE(run);  // 40 faults in a row: 2^-40
    CHECK(run.report()[0].attempts == 1);  // the step itself was called once
  }
  CHECK(calls == 1000);
  CHECK(retries > 0);  // the rates themselves are checked above

  // At rate 1 the retry gives up with the injected error; the note does not pile up.
  const auto hopeless = tutti::workflow<"w">(
      tutti::step<"s">([] { return 1; }) | chaos::inject_fault{1.0, tutti::errc::timeout} |
      tutti::retry{tutti::max_attempts{4}});
  const auto run = hopeless.run();
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.message() == "chaos: injected fault");
}

TEST_CASE("a chaos note describes its own attempt, not a later real failure",
          "[testing][chaos][retry]") {
  chaos::chaos_switch sw{true};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::bulkhead_full; }) |
      chaos::inject_fault{1.0, tutti::errc::timeout}.enabled_by(sw) |
      tutti::retry{tutti::max_attempts{2}}.on_each_retry(
          [&sw](const tutti::retry_event&) { sw.turn_off(); }));
  const auto run = wf.run();
  CHECK(run.error() == tutti::errc::bulkhead_full);  // the second attempt's own failure
  CHECK(run.message().empty());                       // ... not blamed on the chaos
  CHECK(run.report()[0].attempts == 1);
}

TEST_CASE("result injection replaces the value without calling the step", "[testing][chaos]") {
  int calls = 0;
  const auto real = tutti::step<"quote">([&calls]() -> tutti::result<int> {
    ++calls;
    return 100;
  });
  const auto by_value = tutti::workflow<"w">(real | chaos::inject_result{1.0, 7});
  CHECK(by_value.run().value() == 7);

  int made = 0;
  const auto by_callable = tutti::workflow<"w">(
      real | chaos::inject_result{1.0, [&made] { return ++made * 10; }});
  CHECK(by_callable.run().value() == 10);
  CHECK(by_callable.run().value() == 20);  // called on each injection

  const auto by_error = tutti::workflow<"w">(
      real | chaos::inject_result{1.0, []() -> tutti::result<int> { return tutti::errc::rate_limited; }});
  const auto failed = by_error.run();
  CHECK(failed.error() == tutti::errc::rate_limited);
  CHECK(failed.message() == "chaos: injected failing result");
  CHECK(calls == 0);

  // An injected value flows to later steps like a real one.
  const auto chained = tutti::workflow<"w">(
      real | chaos::inject_result{1.0, 5},
      tutti::step<"double">([](tutti::from<"quote", int> q) { return *q * 2; }));
  CHECK(chained.run().value() == 10);
}

TEST_CASE("latency injection advances the manual clock and trips a timeout outside it",
          "[testing][chaos][timeout]") {
  int calls = 0;
  const auto step = tutti::step<"s">([&calls] { return ++calls; });

  SECTION("below the limit: the step is called, later") {
    tutti::testing::manual_clock clock;
    const auto wf = tutti::workflow<"w">(step | chaos::inject_latency{1.0, 1500ms} |
                                         tutti::timeout{2s});
    const auto run = wf.run(tutti::unit{}, {}, clock);
    REQUIRE(run);
    CHECK(clock.now() == 1500ms);
    CHECK(calls == 1);
  }
  SECTION("past the limit: the delay stops at the deadline and the call times out") {
    tutti::testing::manual_clock clock;
    const auto wf = tutti::workflow<"w">(step | chaos::inject_latency{1.0, 3s} |
                                         tutti::timeout{2s});
    const auto run = wf.run(tutti::unit{}, {}, clock);
    CHECK(run.error() == tutti::errc::timeout);
    CHECK(clock.now() == 2s);  // virtual time, up to the deadline
    CHECK(run.report()[0].timed_out);
    CHECK(run.message() == "chaos: injected latency until the deadline");
    CHECK(calls == 0);
  }
  SECTION("past the limit, ignoring deadlines: the step is called late, its success discarded") {
    tutti::testing::manual_clock clock;
    const auto wf = tutti::workflow<"w">(
        step | chaos::inject_latency{1.0, 3s}.ignoring_deadlines() | tutti::timeout{2s});
    const auto run = wf.run(tutti::unit{}, {}, clock);
    CHECK(run.error() == tutti::errc::timeout);
    CHECK(clock.now() == 3s);
    CHECK(calls == 1);
    CHECK(run.report()[0].timed_out);
    CHECK(run.report()[0].late_success_kept);
    CHECK(run.message() ==
          "timed out: the result came after the deadline and was discarded; chaos: injected latency");
  }
  SECTION("each attempt of a retry outside the timeout is delayed and times out") {
    tutti::testing::manual_clock clock;
    const auto wf = tutti::workflow<"w">(step | chaos::inject_latency{1.0, 3s} |
                                         tutti::timeout{2s} |
                                         tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{3}});
    const auto run = wf.run(tutti::unit{}, {}, clock);
    CHECK(run.error() == tutti::errc::timeout);
    CHECK(clock.now() == 3 * 2s + 2 * 1s);
    CHECK(calls == 0);
    CHECK(run.message() == "chaos: injected latency until the deadline");
  }
  SECTION("the run's deadline stops it too") {
    tutti::testing::manual_clock clock;
    const auto wf = tutti::workflow<"w">(step | chaos::inject_latency{1.0, 3s});
    tutti::run_options opts;
    opts.deadline = 500ms;
    const auto run = wf.run(tutti::unit{}, opts, clock);
    CHECK(run.error() == tutti::errc::timeout);
    CHECK(clock.now() == 500ms);
    CHECK(calls == 0);
  }
}

TEST_CASE("a chaos switch turns injection on and off at run time", "[testing][chaos]") {
  chaos::chaos_switch game_day;  // starts off
  int calls = 0;
  const auto wf = tutti::workflow<"w">(tutti::step<"s">([&calls] { ++calls; }) |
                                       chaos::inject_fault{1.0, tutti::errc::timeout}.enabled_by(game_day));
  CHECK_FALSE(game_day.is_on());
  CHECK(wf.run());
  game_day.turn_on();
  CHECK_FALSE(wf.run());
  CHECK_FALSE(wf.run());
  game_day.turn_off();
  CHECK(wf.run());
  game_day.set(true);
  CHECK_FALSE(wf.run());
  CHECK(calls == 2);
}

TEST_CASE("chaos on a compensation tests the saga's failure path", "[testing][chaos][saga]") {
  int undone = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([] { return 1; })
          .compensate_with([&undone](int) { ++undone; },
                           chaos::inject_fault{1.0, tutti::errc::timeout}),
      tutti::step<"charge">([]() -> tutti::result<int> { return tutti::errc::step_failed; }));
  const auto run = wf.run();
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(run.report()[0].compensation_error == tutti::errc::timeout);
  CHECK(undone == 0);
}

namespace {
tutti::result<int> plain(int x) noexcept { return x; }
}  // namespace

TEST_CASE("a compiled-out chaos policy is empty and adds nothing to a step", "[testing][chaos]") {
  using off_fault = chaos::inject_fault<tutti::errc, false>;
  using off_latency = chaos::inject_latency<false>;
  int captured = 3;
  const auto make = [captured] { return captured; };  // a callable with state
  using off_result = chaos::inject_result<decltype(make), false>;

  STATIC_REQUIRE(chaos::chaos_compiled_in);  // this test is built with the default
  STATIC_REQUIRE(std::is_empty_v<off_fault>);
  STATIC_REQUIRE(std::is_empty_v<off_latency>);
  STATIC_REQUIRE(std::is_empty_v<off_result>);
  STATIC_REQUIRE_FALSE(std::is_empty_v<chaos::inject_fault<tutti::errc>>);
  STATIC_REQUIRE(tutti::policy<off_fault>);
  STATIC_REQUIRE(tutti::policy<chaos::inject_latency<>>);

  const auto bare = tutti::step<"fp">(&plain);
  const auto wrapped = bare | off_fault{0.5, tutti::errc::timeout} | off_latency{0.5, 1s} |
                       off_result{0.5, make};
  STATIC_REQUIRE(sizeof(wrapped) == sizeof(bare));
  STATIC_REQUIRE(sizeof(wrapped) == sizeof(&plain));
  const auto stateless = tutti::step<"s">([] { return 1; }) | off_fault{1.0, tutti::errc::timeout};
  STATIC_REQUIRE(std::is_empty_v<decltype(stateless)>);

  constexpr auto d = tutti::describe(tutti::step<"s">([] { return 1; }) | off_latency{1.0, 1s});
  STATIC_REQUIRE(d.policies[0].name == "inject_latency");
  STATIC_REQUIRE(d.policies[0].detail == "compiled out");
  STATIC_REQUIRE(d.policies[0].max_added_delay == tutti::duration{});
  constexpr auto live = tutti::describe(tutti::step<"s">([] { return 1; }) |
                                        chaos::inject_latency{0.5, 2s} | tutti::retry{tutti::max_attempts{3}});
  STATIC_REQUIRE(live.policies[0].detail == "chaos");
  STATIC_REQUIRE(tutti::max_delay(tutti::step<"s">([] { return 1; }) |
                                  chaos::inject_latency{0.5, 2s} |
                                  tutti::retry{tutti::max_attempts{3}}) == 6s);
}

namespace {
// A step that fails its first two attempts, under a jittered retry: the run draws from its
// generator for each wait, so an extra draw by a chaos policy would change the waits.
struct flaky {
  int* calls;
  tutti::result<int> operator()() const {
    return ++*calls % 3 == 0 ? tutti::result<int>{*calls} : tutti::result<int>{tutti::errc::timeout};
  }
};
constexpr auto jittered = tutti::retry{tutti::full_jitter{tutti::exponential_backoff{.first = 100ms, .cap = 10s}},
                                       tutti::max_attempts{5}};

struct outcome_of_run {
  bool ok;
  int value;
  std::uint32_t attempts;
  tutti::duration slept;
  long allocations;
  friend bool operator==(const outcome_of_run&, const outcome_of_run&) = default;
};

template <class Workflow>
outcome_of_run run_once(const Workflow& wf, std::uint64_t seed) {
  tutti::testing::manual_clock clock;
  tutti::run_options opts;
  opts.seed = seed;
  opts.id = tutti::run_id{1, seed};  // no id generation inside the measurement
  const long before = allocations.load();
  const auto run = wf.run(tutti::unit{}, opts, clock);
  const long allocated = allocations.load() - before;
  return {run.has_value(), run.has_value() ? run.value() : -1, run.report()[0].attempts,
          clock.slept(), allocated};
}
}  // namespace

TEST_CASE("compiled out, rate 0 or switched off, a chaos policy changes nothing in a run",
          "[testing][chaos]") {
  int calls = 0;
  const flaky f{&calls};
  chaos::chaos_switch off;
  const auto without = tutti::workflow<"w">(tutti::step<"s">(f) | jittered);
  const auto compiled_out = tutti::workflow<"w">(
      tutti::step<"s">(f) | chaos::inject_fault<tutti::errc, false>{1.0, tutti::errc::timeout} |
      chaos::inject_latency<false>{1.0, 1s} | jittered);
  const auto rate_zero = tutti::workflow<"w">(
      tutti::step<"s">(f) | chaos::inject_fault{0.0, tutti::errc::timeout} |
      chaos::inject_latency{0.0, 1s} | jittered);
  const auto switched_off = tutti::workflow<"w">(
      tutti::step<"s">(f) | chaos::inject_fault{1.0, tutti::errc::timeout}.enabled_by(off) |
      chaos::inject_latency{1.0, 1s}.enabled_by(off) | jittered);

  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    calls = 0;
    const outcome_of_run reference = run_once(without, seed);
    INFO("seed " << seed);
    REQUIRE(reference.ok);
    CHECK(reference.attempts == 3);
    CHECK(reference.allocations == 0);
    calls = 0;
    CHECK(run_once(compiled_out, seed) == reference);  // same waits: no draw, no allocation
    calls = 0;
    CHECK(run_once(rate_zero, seed) == reference);
    calls = 0;
    CHECK(run_once(switched_off, seed) == reference);
  }
  // ...and the waits do depend on the seed, so equal waits above are not a coincidence.
  calls = 0;
  const auto one = run_once(without, 1).slept;
  calls = 0;
  CHECK(run_once(without, 2).slept != one);
}
