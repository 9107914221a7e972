// The Catch2 matchers of the testing kit, each shown matching and not matching.
#include <tutti/tutti.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <tutti/testing/catch2.hpp>
#include <tutti/testing/event_log.hpp>

#include <chrono>
#include <thread>
#include <vector>

namespace {
using namespace std::chrono_literals;
namespace tt = tutti::testing;

tutti::result<int> fails() { return tutti::errc::step_failed; }

// A saga whose third step fails after `flaky` needed two attempts.
struct saga_run {
  tt::manual_clock clock;
  int calls = 0;
  tt::event_log log;
};
}  // namespace

TEST_CASE("report matchers describe a failed, compensated run") {
  saga_run s;
  const auto wf = tutti::workflow<"saga">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([](const int&) {}),
      tutti::step<"flaky">([&s]() -> tutti::result<int> {
        if (++s.calls < 2) return tutti::errc::timeout;
        return 2;
      }).compensate_with([](const int&) {}) |
          tutti::retry{tutti::max_attempts{3}},
      tutti::step<"price">(fails) | tutti::fallback(9),
      tutti::step<"charge">(fails));
  const auto run = wf.run(tutti::unit{}, {}, s.clock, s.log);
  const tutti::run_report report = run.report();

  CHECK_THAT(report, !tt::succeeded());
  CHECK_THAT(report, tt::ended(tutti::run_outcome::compensated));
  CHECK_THAT(report, !tt::ended(tutti::run_outcome::failed));
  CHECK_THAT(report, tt::failed_at("charge"));
  CHECK_THAT(report, tt::failed_at("charge", tutti::errc::step_failed));
  CHECK_THAT(report, !tt::failed_at("charge", tutti::errc::timeout));
  CHECK_THAT(report, !tt::failed_at("flaky"));
  CHECK_THAT(report, tt::attempted("flaky", 2));
  CHECK_THAT(report, !tt::attempted("flaky", 1));
  CHECK_THAT(report, !tt::attempted("no_such_step", 0));
  CHECK_THAT(report, tt::step_is("charge", tutti::step_status::failed));
  CHECK_THAT(report, tt::step_is("flaky", tutti::step_status::compensated));
  CHECK_THAT(report, tt::compensated({"reserve", "flaky"}));
  CHECK_THAT(report, tt::compensated({"flaky", "reserve"}));  // any order
  CHECK_THAT(report, !tt::compensated({"flaky"}));            // not exactly
  CHECK_THAT(report, !tt::compensated({"flaky", "reserve", "price"}));
  CHECK_THAT(report, tt::fallback_served("price"));
  CHECK_THAT(report, !tt::fallback_served("flaky"));

  CHECK_THAT(s.log, tt::compensated_in_order({"flaky", "reserve"}));
  CHECK_THAT(s.log, !tt::compensated_in_order({"reserve", "flaky"}));
  CHECK_THAT(s.log, tt::emitted(tutti::event_kind::retry_scheduled, 1, "flaky"));
  CHECK_THAT(s.log, !tt::emitted(tutti::event_kind::retry_scheduled, 2));
  CHECK_THAT(s.log, tt::emitted_in_order({tutti::event_kind::run_started,
                                          tutti::event_kind::fallback_served,
                                          tutti::event_kind::step_failed,
                                          tutti::event_kind::compensation_succeeded,
                                          tutti::event_kind::run_finished}));
  CHECK_THAT(s.log, !tt::emitted_in_order({tutti::event_kind::run_finished,
                                           tutti::event_kind::run_started}));
  CHECK_THAT(s.log, tt::breaker_opened(0));
}

TEST_CASE("breaker_opened counts the openings the log saw") {
  tt::manual_clock clock;
  tutti::circuit_breaker breaker{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = 2,
                            .break_for = 1s},
      clock};
  const auto wf = tutti::workflow<"w">(tutti::step<"pay">(fails) | tutti::guard(breaker));
  tt::event_log log;
  for (int i = 0; i < 3; ++i) (void)wf.run(tutti::unit{}, {}, clock, log);
  CHECK_THAT(log, tt::breaker_opened(1));
  CHECK_THAT(log, tt::breaker_opened(1, "pay"));
  CHECK_THAT(log, !tt::breaker_opened(1, "other"));
  CHECK_THAT(log, !tt::breaker_opened(2));
  CHECK_THAT(log, tt::emitted(tutti::event_kind::breaker_rejected, 1));
  clock.advance(2s);
  (void)wf.run(tutti::unit{}, {}, clock, log);  // probe fails: open again
  CHECK_THAT(log, tt::breaker_opened(2));
}

TEST_CASE("matchers say what they expected") {
  CHECK(tt::attempted("charge_card", 3).describe() == "step charge_card attempted 3 times");
  CHECK(tt::compensated_in_order({"b", "a"}).describe() == "compensated in the order [b, a]");
  CHECK(tt::breaker_opened(1).describe() == "breaker opened 1 time");
  CHECK(tt::failed_at("x", tutti::errc::timeout).describe() ==
        "failed at step x with \"" + make_error_code(tutti::errc::timeout).message() + "\"");
}

TEST_CASE("an event log keeps events of concurrent runs whole") {
  const auto wf = tutti::workflow<"w">(tutti::step<"a">([] { return 1; }));
  tt::event_log log;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) (void)wf.run(tutti::unit{}, {}, log);
    });
  for (auto& t : threads) t.join();
  CHECK(log.count(tutti::event_kind::run_started) == 200);
  CHECK(log.count(tutti::event_kind::run_finished) == 200);
  CHECK(log.entries().size() == 200 * 6);
}
