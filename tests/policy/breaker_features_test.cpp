// The circuit breaker against its peers' suites: time-window buckets of any age, clocks past the
// stamp's range, opening by hand, the initial state, break schedules, threshold events, call
// durations, slow calls judged apart and the absolute failure count. A manual clock throughout:
// exact delays, exact states.
#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>
#include <tutti/policy/circuit_breaker.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using S = tutti::breaker_state;
using tutti::duration;

namespace {

using breaker = tutti::circuit_breaker<tutti::testing::manual_clock>;
constexpr auto consecutive = tutti::breaker_mode::consecutive_failures;
constexpr auto time_window = tutti::breaker_mode::time_window;

// Every event a breaker sends, threshold and state change alike, in the order they came.
struct event_log {
  std::vector<std::string> lines;
  std::vector<tutti::breaker_threshold_event> thresholds;
  std::vector<tutti::breaker_event> changes;
  static void on_threshold(void* self, const tutti::breaker_threshold_event& e) {
    auto& log = *static_cast<event_log*>(self);
    log.thresholds.push_back(e);
    log.lines.push_back("threshold");
  }
  static void on_change(void* self, const tutti::breaker_event& e) {
    auto& log = *static_cast<event_log*>(self);
    log.changes.push_back(e);
    log.lines.push_back(std::string{to_string(e.from)} + "->" + std::string{to_string(e.to)});
  }
};

}  // namespace

// ---- defects ----------------------------------------------------------------------------------

TEST_CASE("time-window failures of any age never count again, even after 2^24 bucket lengths",
          "[policy][circuit_breaker][regression]") {
  // 20 ms buckets: 2^24 of them are 3.9 days, when a 24-bit bucket number would wrap.
  const duration bucket = 20ms;
  const std::uint64_t idle_buckets[] = {std::uint64_t{1} << 24, (std::uint64_t{1} << 24) + 3,
                                        (std::uint64_t{1} << 25), 3 * (std::uint64_t{1} << 24) - 1, 10, 11};
  for (const std::uint64_t idle : idle_buckets) {
    INFO("idle for " << idle << " bucket lengths");
    tutti::testing::manual_clock clock;
    breaker b{{.mode = time_window,
               .failure_ratio = 0.5,
               .minimum_calls = 10,
               .window_duration = 10 * bucket,
               .window_buckets = 10},
              clock};
    for (int i = 0; i < 5; ++i) b.try_acquire().record_failure();  // 5 calls: below minimum_calls
    REQUIRE(b.metrics().window_failures == 5);
    clock.advance(bucket * static_cast<duration::rep>(idle));
    for (int i = 0; i < 5; ++i) b.try_acquire().record_success();
    const auto m = b.metrics();
    CHECK(m.window_calls == 5);  // the five failures are long gone
    CHECK(m.window_failures == 0);
    CHECK(b.state() == S::closed);
  }
}

TEST_CASE("failures spread over the ring buckets, then an idle of exactly 2^24 buckets",
          "[policy][circuit_breaker][regression]") {
  // One failure in every bucket of the window, so that each bucket holds an old number; after
  // the idle each position is written again by one success: no position may revive a failure.
  tutti::testing::manual_clock clock;
  breaker b{{.mode = time_window, .failure_ratio = 0.1, .minimum_calls = 1, .window_duration = 640ms,
             .window_buckets = 64},
            clock};
  for (int i = 0; i < 64; ++i) {
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    b.try_acquire().record_success();
    clock.advance(10ms);
  }
  REQUIRE(b.metrics().window_calls == 630);  // the first bucket has just left the window
  clock.advance(10ms * ((std::int64_t{1} << 24) - 64));  // the next bucket number is 2^24 later
  b.try_acquire().record_failure();
  // One failure, one call: the ratio is 1 and the breaker opens; but only with that call counted.
  const auto m = b.metrics();
  CHECK(m.window_calls == 1);
  CHECK(m.window_failures == 1);
}

TEST_CASE("a break on a clock past 139 years stays open instead of ending at once",
          "[policy][circuit_breaker][regression]") {
  const duration two_hundred_years = std::chrono::hours{24 * 365} * 200;
  tutti::testing::manual_clock clock{two_hundred_years};
  breaker b{{.mode = consecutive, .consecutive_failures = 1, .break_for = 5s}, clock};
  b.try_acquire().record_failure();
  REQUIRE(b.state() == S::open);
  auto p = b.try_acquire();
  CHECK_FALSE(p);  // before the fix: the break had ended already
  CHECK(p.state() == S::open);
  CHECK(p.retry_after() == duration::max());
  clock.advance(std::chrono::hours{1});
  CHECK_FALSE(b.try_acquire());
  CHECK(b.retry_after() == duration::max());
  b.reset();  // the way out, as for an isolated breaker
  CHECK(b.try_acquire());
}

// ---- opening by hand and the initial state ----------------------------------------------------

TEST_CASE("open_for opens a breaker by hand for a duration, then it probes as usual",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  event_log log;
  breaker b{{.on_state_change = {&event_log::on_change, &log}}, clock};
  b.open_for(10s);
  REQUIRE(b.state() == S::open);
  auto refused = b.try_acquire();
  CHECK_FALSE(refused);
  CHECK(refused.retry_after() == 10s);
  clock.advance(9999ms);
  CHECK_FALSE(b.try_acquire());
  clock.advance(1ms);
  auto probe = b.try_acquire();
  REQUIRE(probe);
  CHECK(probe.state() == S::half_open);
  probe.record_success();
  CHECK(b.state() == S::closed);
  REQUIRE(log.changes.size() == 3);
  CHECK(log.changes[0].open_for == 10s);
  CHECK(log.lines == std::vector<std::string>{"closed->open", "open->half_open", "half_open->closed"});
}

TEST_CASE("open_until opens a breaker until a time of its clock, from any state",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock{100s};
  breaker b{{}, clock};
  b.isolate();
  b.open_until(130s);
  CHECK(b.state() == S::open);
  CHECK(b.retry_after() == 30s);
  clock.advance(30s);
  CHECK(b.try_acquire().state() == S::half_open);
  // A time already past opens it for no time at all: the next call probes.
  breaker c{{}, clock};
  c.open_until(1s);
  CHECK(c.state() == S::open);
  CHECK(c.try_acquire().state() == S::half_open);
}

TEST_CASE("a breaker starts in the state its configuration chooses", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock{50s};
  SECTION("open for break_for from its construction") {
    breaker b{{.break_for = 3s, .initial_state = S::open}, clock};
    auto p = b.try_acquire();
    CHECK_FALSE(p);
    CHECK(p.retry_after() == 3s);
    clock.advance(3s);
    CHECK(b.try_acquire().state() == S::half_open);
  }
  SECTION("half-open: the first calls are probes") {
    breaker b{{.half_open_probes = 2, .half_open_successes = 2, .initial_state = S::half_open}, clock};
    auto first = b.try_acquire();
    auto second = b.try_acquire();
    CHECK(first.state() == S::half_open);
    CHECK(second.state() == S::half_open);
    CHECK_FALSE(b.try_acquire());  // both probe slots are taken
    first.record_success();
    second.record_success();
    CHECK(b.state() == S::closed);
  }
  SECTION("isolated until reset") {
    breaker b{{.initial_state = S::isolated}, clock};
    CHECK(b.try_acquire().retry_after() == duration::max());
    b.reset();
    CHECK(b.try_acquire());
  }
  SECTION("disabled and metrics_only let calls through") {
    breaker d{{.mode = consecutive, .consecutive_failures = 1, .initial_state = S::disabled}, clock};
    d.try_acquire().record_failure();
    CHECK(d.state() == S::disabled);
    breaker m{{.mode = consecutive, .consecutive_failures = 1, .initial_state = S::metrics_only}, clock};
    m.try_acquire().record_failure();
    CHECK(m.state() == S::metrics_only);
    CHECK(m.metrics().failures == 1);
  }
  SECTION("closed, the default") {
    breaker b{{}, clock};
    CHECK(b.state() == S::closed);
  }
}

// ---- the break as a function of the openings ---------------------------------------------------

TEST_CASE("break_duration gives each break from the number of openings in a row",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  event_log log;
  std::vector<std::uint32_t> asked;
  const tutti::break_schedule linear{[](void* user, std::uint32_t opened) noexcept -> duration {
                                       static_cast<std::vector<std::uint32_t>*>(user)->push_back(opened);
                                       return std::chrono::seconds{3 * opened};
                                     },
                                     &asked};
  breaker b{{.mode = consecutive,
             .consecutive_failures = 1,
             .max_break = 7s,
             .break_duration = linear,
             .on_state_change = {&event_log::on_change, &log}},
            clock};
  b.try_acquire().record_failure();  // opened 1: 3 s
  CHECK(b.retry_after() == 3s);
  clock.advance(3s);
  b.try_acquire().record_failure();  // probe fails, opened 2: 6 s
  CHECK(b.retry_after() == 6s);
  clock.advance(6s);
  b.try_acquire().record_failure();  // opened 3: 9 s, capped at max_break
  CHECK(b.retry_after() == 7s);
  clock.advance(7s);
  b.try_acquire().record_success();  // closes
  CHECK(b.state() == S::closed);
  b.try_acquire().record_failure();  // opened 1 again
  CHECK(b.retry_after() == 3s);
  CHECK(asked == std::vector<std::uint32_t>{1, 2, 3, 1});
}

TEST_CASE("a break schedule that returns no positive time falls back to break_for",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  const tutti::break_schedule none{[](void*, std::uint32_t) noexcept { return duration::zero(); }, nullptr};
  breaker b{{.mode = consecutive, .consecutive_failures = 1, .break_for = 4s, .break_duration = none}, clock};
  b.try_acquire().record_failure();
  CHECK(b.retry_after() == 4s);
}

// ---- threshold events ----------------------------------------------------------------------------

TEST_CASE("a failure ratio reached is reported once, before the change to open",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock{7s};
  event_log log;
  breaker b{{.failure_ratio = 0.5,
             .minimum_calls = 4,
             .window_size = 4,
             .on_state_change = {&event_log::on_change, &log},
             .on_threshold = {&event_log::on_threshold, &log}},
            clock};
  b.try_acquire().record_success();
  b.try_acquire().record_failure();
  b.try_acquire().record_success();
  CHECK(log.thresholds.empty());
  b.try_acquire().record_failure();
  REQUIRE(log.thresholds.size() == 1);
  const auto& e = log.thresholds[0];
  CHECK(e.threshold == tutti::breaker_threshold::failure_ratio);
  CHECK(e.rate == 0.5);
  CHECK(e.calls == 4);
  CHECK(e.failures == 2);
  CHECK(e.slow_calls == 0);
  CHECK(e.at == 7s);
  CHECK(e.breaker == &b);
  CHECK(log.lines == std::vector<std::string>{"threshold", "closed->open"});
}

TEST_CASE("consecutive failures reached are reported with their count", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  event_log log;
  breaker b{{.mode = consecutive, .consecutive_failures = 3, .on_threshold = {&event_log::on_threshold, &log}},
            clock};
  b.try_acquire().record_failure();
  b.try_acquire().record_failure();
  CHECK(log.thresholds.empty());
  b.try_acquire().record_failure();
  REQUIRE(log.thresholds.size() == 1);
  CHECK(log.thresholds[0].threshold == tutti::breaker_threshold::consecutive_failures);
  CHECK(log.thresholds[0].failures == 3);
  // Open: the calls are refused, nothing more is reported.
  CHECK_FALSE(b.try_acquire());
  CHECK(log.thresholds.size() == 1);
}

// ---- slow calls judged apart, call durations -------------------------------------------------------

TEST_CASE("slow_call_ratio judges slow calls apart from failures", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  event_log log;
  breaker b{{.failure_ratio = 1.0,
             .minimum_calls = 4,
             .window_size = 4,
             .slow_call_threshold = 1s,
             .slow_call_ratio = 0.5,
             .on_threshold = {&event_log::on_threshold, &log}},
            clock};
  const auto slow_success = [&] {
    auto p = b.try_acquire();
    clock.advance(2s);
    p.record_success();
  };
  b.try_acquire().record_success();
  slow_success();
  b.try_acquire().record_success();
  auto m = b.metrics();
  CHECK(m.window_failures == 0);  // a slow success is not a failure here
  CHECK(m.window_slow_calls == 1);
  CHECK(m.slow_call_rate() == Approx(1.0 / 3));
  CHECK(m.failure_rate() == 0.0);
  CHECK(b.state() == S::closed);
  slow_success();  // 2 slow of 4: the slow-call ratio is reached
  CHECK(b.state() == S::open);
  REQUIRE(log.thresholds.size() == 1);
  CHECK(log.thresholds[0].threshold == tutti::breaker_threshold::slow_call_ratio);
  CHECK(log.thresholds[0].rate == 0.5);
  CHECK(log.thresholds[0].slow_calls == 2);
  CHECK(log.thresholds[0].failures == 0);
}

TEST_CASE("slow calls judged apart in a time window slide out like the rest", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = time_window,
             .failure_ratio = 1.0,
             .minimum_calls = 3,
             .window_duration = 10s,
             .window_buckets = 10,
             .slow_call_threshold = 1s,
             .slow_call_ratio = 0.6},
            clock};
  {
    auto p = b.try_acquire();
    clock.advance(2s);
    p.record_success();  // slow, at 2 s
  }
  b.try_acquire().record_success();
  auto m = b.metrics();
  CHECK(m.window_calls == 2);
  CHECK(m.window_slow_calls == 1);
  CHECK(m.window_failures == 0);
  clock.advance(10s);  // the slow call leaves the window
  b.try_acquire().record_success();
  m = b.metrics();
  CHECK(m.window_calls == 1);
  CHECK(m.window_slow_calls == 0);
}

TEST_CASE("by default a slow call still counts as a failure, and as slow", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.minimum_calls = 2, .window_size = 2, .slow_call_threshold = 1s}, clock};
  b.try_acquire().record_success();
  auto p = b.try_acquire();
  clock.advance(1001ms);
  p.record_success();
  const auto m = b.metrics();
  CHECK(m.window_failures == 1);
  CHECK(m.window_slow_calls == 1);
  CHECK(b.state() == S::open);  // 1 of 2 reaches the default ratio of 0.5
}

TEST_CASE("call durations: total, average and longest, with measure_call_duration", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .measure_call_duration = true}, clock};
  const duration took[] = {1s, 3s, 500ms};
  for (const duration d : took) {
    auto p = b.try_acquire();
    clock.advance(d);
    p.record_success();
  }
  {
    auto failed = b.try_acquire();
    clock.advance(2s);
    failed.record_failure();
  }
  { auto released = b.try_acquire(); }  // no outcome: not timed
  const auto m = b.metrics();
  CHECK(m.timed_calls == 4);
  CHECK(m.total_call_duration == 6500ms);
  CHECK(m.average_call_duration() == 1625ms);
  CHECK(m.max_call_duration == 3s);
  CHECK(m.slow_calls == 0);  // no threshold: nothing is slow

  breaker untimed{{.mode = consecutive}, clock};
  auto p = untimed.try_acquire();
  clock.advance(1s);
  p.record_success();
  CHECK(untimed.metrics().timed_calls == 0);
  CHECK(untimed.metrics().average_call_duration() == duration::zero());
}

// ---- the absolute failure count over a time window ---------------------------------------------------

TEST_CASE("failure_count mode opens on N failures within the window, however many calls",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  event_log log;
  breaker b{{.mode = tutti::breaker_mode::failure_count,
             .window_duration = 10s,
             .window_buckets = 10,
             .failure_count = 3,
             .on_threshold = {&event_log::on_threshold, &log}},
            clock};
  for (int i = 0; i < 1000; ++i) b.try_acquire().record_success();
  b.try_acquire().record_failure();
  b.try_acquire().record_failure();
  clock.advance(10s);  // those two leave the window
  b.try_acquire().record_failure();
  b.try_acquire().record_failure();
  CHECK(b.state() == S::closed);
  CHECK(b.metrics().window_failures == 2);
  clock.advance(9s);
  b.try_acquire().record_failure();  // three within 10 s
  CHECK(b.state() == S::open);
  REQUIRE(log.thresholds.size() == 1);
  CHECK(log.thresholds[0].threshold == tutti::breaker_threshold::failure_count);
  CHECK(log.thresholds[0].failures == 3);
  CHECK(log.thresholds[0].rate == 3.0);
}

// ---- settings ------------------------------------------------------------------------------------

TEST_CASE("slow_call_ratio settings are checked with a clear error", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  CHECK_THROWS_WITH((breaker{{.slow_call_threshold = 1s, .slow_call_ratio = 1.5}, clock}),
                    Catch::Contains("slow_call_ratio must be between 0"));
  CHECK_THROWS_WITH((breaker{{.slow_call_ratio = 0.5}, clock}), Catch::Contains("needs a slow_call_threshold"));
  CHECK_THROWS_AS((breaker{{.mode = tutti::breaker_mode::failure_count, .window_duration = 5ns, .window_buckets = 10},
                           clock}),
                  std::invalid_argument);
}

// ---- a breaker per key, picked per call from a registry ---------------------------------------------

namespace {
struct charge_request {
  std::string merchant;
  int cents = 0;
};
using merchant_breakers = tutti::breaker_registry<std::string, 2, tutti::testing::manual_clock>;
constexpr auto by_merchant = [](const charge_request& r) { return r.merchant; };
// A charge that always succeeds, counting its calls.
auto counting_charge(int& calls) {
  return tutti::step<"charge">([&calls](const charge_request& r) -> tutti::result<int> {
    ++calls;
    return r.cents;
  });
}
}  // namespace

TEST_CASE("guard(registry, key_of) picks each call's breaker by the key of its input",
          "[policy][circuit_breaker][registry]") {
  tutti::testing::manual_clock clock;
  merchant_breakers merchants{{.mode = consecutive, .consecutive_failures = 2, .break_for = 5s}, clock};
  std::vector<std::string> called;
  const auto wf = tutti::workflow<"pay">(
      tutti::step<"charge">([&](const charge_request& r) -> tutti::result<int> {
        called.push_back(r.merchant);
        if (r.merchant == "acme") return tutti::errc::timeout;  // acme's processor is down
        return r.cents;
      }) |
      tutti::guard(merchants, by_merchant));
  const charge_request acme{"acme", 100};
  const charge_request globex{"globex", 250};
  CHECK(wf.run(acme, {}, clock).error() == tutti::errc::timeout);
  CHECK(wf.run(acme, {}, clock).error() == tutti::errc::timeout);
  REQUIRE(merchants.find("acme") != nullptr);
  CHECK(merchants.find("acme")->state() == S::open);
  CHECK(wf.run(acme, {}, clock).error() == tutti::errc::circuit_open);  // not called
  auto other = wf.run(globex, {}, clock);  // another merchant's breaker: still closed
  REQUIRE(other);
  CHECK(other.value() == 250);
  CHECK(called == std::vector<std::string>{"acme", "acme", "globex"});
  CHECK(merchants.find("globex")->state() == S::closed);
  CHECK(merchants.overflowed() == 0);
}

TEST_CASE("a full registry shares its overflow breaker among the keys without room",
          "[policy][circuit_breaker][registry]") {
  tutti::testing::manual_clock clock;
  merchant_breakers merchants{{.mode = consecutive, .consecutive_failures = 2}, clock};
  int calls = 0;
  const auto wf = tutti::workflow<"pay">(tutti::step<"charge">([&](const charge_request& r) -> tutti::result<int> {
                                           ++calls;
                                           if (r.merchant == "initech") return tutti::errc::timeout;
                                           return r.cents;
                                         }) |
                                         tutti::guard(merchants, by_merchant));
  REQUIRE(wf.run(charge_request{"a", 1}, {}, clock));
  REQUIRE(wf.run(charge_request{"b", 2}, {}, clock));
  CHECK(merchants.size() == 2);  // full now
  // Two more keys, no room: both go through the overflow breaker, still protected.
  CHECK(wf.run(charge_request{"initech", 3}, {}, clock).error() == tutti::errc::timeout);
  CHECK(wf.run(charge_request{"initech", 3}, {}, clock).error() == tutti::errc::timeout);
  CHECK(merchants.overflow().state() == S::open);
  CHECK(wf.run(charge_request{"initech", 3}, {}, clock).error() == tutti::errc::circuit_open);
  CHECK(wf.run(charge_request{"umbrella", 4}, {}, clock).error() == tutti::errc::circuit_open);  // shared
  CHECK(wf.run(charge_request{"a", 1}, {}, clock).value() == 1);  // a key with its own breaker
  CHECK(calls == 5);
  CHECK(merchants.overflowed() == 4);
  CHECK(merchants.find("initech") == nullptr);
}

TEST_CASE("a keyed guard told to reject refuses keys that find the registry full",
          "[policy][circuit_breaker][registry]") {
  tutti::testing::manual_clock clock;
  merchant_breakers merchants{{}, clock};
  int calls = 0;
  const auto wf = tutti::workflow<"pay">(
      counting_charge(calls) |
      tutti::guard(merchants, by_merchant).when_full(tutti::registry_full::reject).with_message());
  REQUIRE(wf.run(charge_request{"a", 1}, {}, clock));
  REQUIRE(wf.run(charge_request{"b", 2}, {}, clock));
  auto refused = wf.run(charge_request{"c", 3}, {}, clock);
  CHECK(refused.error() == tutti::errc::circuit_open);
  CHECK(refused.message() == "breaker registry full");
  CHECK(calls == 2);
  CHECK(merchants.overflowed() == 1);
}

TEST_CASE("a key selector that throws fails the call without calling the step",
          "[policy][circuit_breaker][registry]") {
  tutti::testing::manual_clock clock;
  merchant_breakers merchants{{}, clock};
  int calls = 0;
  const auto wf = tutti::workflow<"pay">(
      counting_charge(calls) |
      tutti::guard(merchants, [](const charge_request& r) -> std::string {
        if (r.merchant.empty()) throw std::invalid_argument("no merchant");
        return r.merchant;
      }));
  auto run = wf.run(charge_request{"", 5}, {}, clock);
  CHECK(run.error() == tutti::errc::exception);
  CHECK(run.message() == "no merchant");
  CHECK(calls == 0);
  CHECK(merchants.size() == 0);
}

TEST_CASE("a keyed guard classifies errors like guard(breaker, classify)", "[policy][circuit_breaker][registry]") {
  tutti::testing::manual_clock clock;
  merchant_breakers merchants{{.mode = consecutive, .consecutive_failures = 1}, clock};
  const auto declined_is_not_an_outage = [](const std::error_code& ec) {
    return ec == tutti::errc::invalid_argument ? tutti::breaker_outcome::ignored : tutti::breaker_outcome::failure;
  };
  const auto wf = tutti::workflow<"pay">(
      tutti::step<"charge">([](const charge_request&) -> tutti::result<int> { return tutti::errc::invalid_argument; }) |
      tutti::guard(merchants, by_merchant, declined_is_not_an_outage));
  for (int i = 0; i < 3; ++i) CHECK(wf.run(charge_request{"a", 1}, {}, clock).error() == tutti::errc::invalid_argument);
  CHECK(merchants.find("a")->state() == S::closed);
  CHECK(merchants.find("a")->metrics().ignored == 3);
}
