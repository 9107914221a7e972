// Backoffs: schedules exact for the deterministic ones, bounded and seeded for the jittered.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {
struct counter_random {  // a deterministic stand-in for the run's generator
  std::uint64_t state = 1;
  std::uint64_t operator()() { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; }
};

template <class B>
std::vector<tutti::duration> schedule(const B& b, int n) {
  std::vector<tutti::duration> out;
  counter_random rnd;
  tutti::duration prev{};
  for (int i = 1; i <= n; ++i) out.push_back(prev = b.delay_before(static_cast<std::uint32_t>(i), prev, rnd));
  return out;
}
}  // namespace

TEST_CASE("constant, linear and exponential backoffs follow their formulas", "[policy][backoff]") {
  using v = std::vector<tutti::duration>;
  CHECK(schedule(tutti::constant_backoff{7ms}, 3) == v{7ms, 7ms, 7ms});
  CHECK(schedule(tutti::linear_backoff{.first = 10ms, .increment = 5ms, .cap = 22ms}, 4) ==
        v{10ms, 15ms, 20ms, 22ms});
  CHECK(schedule(tutti::exponential_backoff{.first = 50ms, .cap = 2s}, 8) ==
        v{50ms, 100ms, 200ms, 400ms, 800ms, 1600ms, 2s, 2s});
  CHECK(schedule(tutti::exponential_backoff{.first = 1s, .factor = 3.0}, 3) == v{1s, 3s, 9s});
}

TEST_CASE("an exponential backoff saturates at its cap instead of overflowing",
          "[policy][backoff]") {
  const tutti::exponential_backoff b{.first = 1s, .cap = 1h};
  counter_random rnd;
  CHECK(b.delay_before(200, 0s, rnd) == 1h);
  const tutti::exponential_backoff uncapped{.first = 1s};
  CHECK(uncapped.delay_before(500, 0s, rnd) == tutti::duration::max());
}

TEST_CASE("full jitter stays between zero and the base delay and varies", "[policy][backoff]") {
  const tutti::full_jitter j{tutti::exponential_backoff{.first = 100ms, .cap = 1s}};
  const tutti::exponential_backoff base{.first = 100ms, .cap = 1s};
  counter_random rnd;
  std::set<tutti::duration::rep> seen;
  for (std::uint32_t n = 1; n <= 200; ++n) {
    const auto d = j.delay_before(n % 6 + 1, 0s, rnd);
    CHECK(d >= 0s);
    CHECK(d <= base.max_delay_before(n % 6 + 1));
    seen.insert(d.count());
  }
  CHECK(seen.size() > 150);  // jitter, not a constant
  CHECK(j.max_delay_before(3) == 400ms);
}

TEST_CASE("decorrelated jitter stays between first and three times the previous, capped",
          "[policy][backoff]") {
  const tutti::decorrelated_jitter j{.first = 10ms, .cap = 500ms};
  counter_random rnd;
  tutti::duration prev{};
  for (std::uint32_t n = 1; n <= 300; ++n) {
    const auto d = j.delay_before(n, prev, rnd);
    CHECK(d >= 10ms);
    CHECK(d <= 500ms);
    CHECK(d <= std::max(prev, tutti::duration{10ms}) * 3);
    prev = d;
  }
}

TEST_CASE("jittered retries draw from the run's seeded generator", "[policy][backoff][retry]") {
  auto waits_of = [](std::uint64_t seed) {
    tutti::testing::manual_clock clock;
    std::vector<tutti::duration> waits;
    auto wf = tutti::workflow<"w">(
        tutti::step<"s">([]() -> tutti::result<void> { return tutti::errc::timeout; }) |
        tutti::retry{tutti::full_jitter{tutti::exponential_backoff{.first = 1s, .cap = 1min}},
                     tutti::max_attempts{6}}
            .on_each_retry([&waits](const tutti::retry_event& e) { waits.push_back(e.delay); }));
    auto run = wf.run({.seed = seed}, clock);
    CHECK(clock.now() == [&] {
      tutti::duration sum{};
      for (auto w : waits) sum += w;
      return sum;
    }());
    return waits;
  };
  const auto a = waits_of(42);
  CHECK(a.size() == 5);
  CHECK(a == waits_of(42));  // same seed, same schedule
  CHECK(a != waits_of(43));
}

TEST_CASE("invalid backoff settings from configuration throw at construction",
          "[policy][backoff]") {
  volatile double factor = 0.5;
  CHECK_THROWS_AS((tutti::retry{tutti::exponential_backoff{.first = 1s, .factor = factor},
                                tutti::max_attempts{3}}),
                  std::invalid_argument);
  volatile long long first = 5'000'000'000;
  CHECK_THROWS_AS((tutti::retry{tutti::linear_backoff{.first = tutti::duration{first}, .cap = 1s},
                                tutti::max_attempts{3}}),
                  std::invalid_argument);
}

TEST_CASE("an outcome backoff waits what the outcome says, else its fallback, within its bound",
          "[policy][backoff]") {
  // The outcome here is an int standing for the step's result: its value is the hint in seconds.
  const auto hint = [](std::uint32_t, const int& seconds) -> std::optional<tutti::duration> {
    if (seconds == 0) return std::nullopt;
    return std::chrono::seconds{seconds};
  };
  const tutti::outcome_backoff b{30s, hint, tutti::exponential_backoff{.first = 1s}};
  counter_random rnd;
  CHECK(b.delay_before(1, 0s, rnd, 5) == 5s);
  CHECK(b.delay_before(3, 0s, rnd, 0) == 4s);     // no hint: the exponential fallback
  CHECK(b.delay_before(9, 0s, rnd, 0) == 30s);    // the fallback is clamped too (256 s)
  CHECK(b.delay_before(1, 0s, rnd, 3600) == 30s); // a hint above the bound
  CHECK(b.delay_before(1, 0s, rnd, -4) == 0s);    // a hint below zero
  for (std::uint32_t n = 1; n < 10; ++n) CHECK(b.max_delay_before(n) == 30s);
  volatile long negative = -1;  // from configuration
  CHECK_THROWS_AS((tutti::outcome_backoff{std::chrono::nanoseconds{negative}, hint}),
                  std::invalid_argument);
}
