// Retry on returned values, abort conditions and backoffs that see the outcome, on the manual
// clock: exact calls, waits and events (scenarios after Polly's ShouldHandle/DelayGenerator,
// resilience4j's retryOnResult/failAfterMaxAttempts and Failsafe's handleResult/abortOn).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>
#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {
/// An HTTP-like response: 503 and 429 say "try again", with an optional Retry-After hint.
struct response {
  int status = 200;
  std::optional<tutti::duration> retry_after{};
};
/// A service that answers the given responses in turn, then 200.
struct service {
  std::vector<response> script;
  std::vector<tutti::duration> called_at{};
  tutti::testing::manual_clock* clock = nullptr;
  tutti::result<response> operator()() {
    const std::size_t n = called_at.size();
    called_at.push_back(clock->now());
    return n < script.size() ? script[n] : response{};
  }
};
constexpr auto try_again = [](const response& r) { return r.status == 503 || r.status == 429; };

using outcome = tutti::result<response>;
/// The service's Retry-After hint, when it sent one.
constexpr auto hinted = [](std::uint32_t, const outcome& r) -> std::optional<tutti::duration> {
  if (r.has_value() && r.value().retry_after) return *r.value().retry_after;
  return std::nullopt;
};
}  // namespace

TEST_CASE("a retry calls again while the step's value says try again", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  service svc{{{503}, {429}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&svc] { return svc(); }) |
      tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}}.retry_on_value(try_again));
  const auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(run.value().status == 200);
  CHECK(svc.called_at == std::vector<tutti::duration>{0s, 1s, 2s});
  CHECK(run.report()[0].attempts == 3);
  CHECK_FALSE(run.report()[0].gave_up_early);
}

TEST_CASE("a retry on values fails with retries_exhausted when the attempts run out",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  tutti::testing::event_log log;
  service svc{{{503}, {503}, {503}, {503}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&svc] { return svc(); }) |
      tutti::retry{tutti::constant_backoff{2s}, tutti::max_attempts{3}}.retry_on_value(try_again));
  const auto run = wf.run(tutti::unit{}, {}, clock, log);
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::retries_exhausted);
  CHECK(run.message() == "attempts used up: every attempt returned a value the retry retries");
  CHECK(svc.called_at == std::vector<tutti::duration>{0s, 2s, 4s});  // no wait after the last
  CHECK(clock.now() == 4s);
  const auto scheduled = log.of(tutti::event_kind::retry_scheduled);
  REQUIRE(scheduled.size() == 2);
  CHECK(scheduled[0].delay == 2s);
  CHECK_FALSE(scheduled[0].error);  // a value, not an error, was retried
  const auto exhausted = log.of(tutti::event_kind::retries_exhausted);
  REQUIRE(exhausted.size() == 1);
  CHECK(exhausted[0].error == tutti::errc::retries_exhausted);
  CHECK(exhausted[0].attempt == 3);
}

TEST_CASE("return_last_value returns the last value when the attempts run out",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  tutti::testing::event_log log;
  service svc{{{503}, {503}, {429}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(tutti::step<"get">([&svc] { return svc(); }) |
                                       tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{3}}
                                           .retry_on_value(try_again)
                                           .return_last_value());
  const auto run = wf.run(tutti::unit{}, {}, clock, log);
  REQUIRE(run);
  CHECK(run.value().status == 429);
  CHECK(svc.called_at.size() == 3);
  CHECK(clock.now() == 2s);
  REQUIRE(log.count(tutti::event_kind::retries_exhausted) == 1);
  CHECK(log.of(tutti::event_kind::retries_exhausted)[0].message ==
        "attempts used up on values it retries; the last is returned");
}

TEST_CASE("errors are still retried beside values, and a value the retry accepts ends it",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&]() -> tutti::result<response> {
        switch (++calls) {
          case 1: return tutti::errc::timeout;
          case 2: return response{503};
          default: return response{404};  // not "try again": returned as it is
        }
      }) |
      tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}}.retry_on_value(try_again));
  const auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(run.value().status == 404);
  CHECK(calls == 3);
  CHECK(clock.now() == 2s);
}

TEST_CASE("a retry on values that reaches the deadline fails with retries_exhausted",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  service svc{{{503}, {503}, {503}, {503}, {503}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&svc] { return svc(); }) |
      tutti::retry{tutti::constant_backoff{4s}, tutti::max_attempts{10}}.retry_on_value(try_again));
  const auto run = wf.run(tutti::unit{}, {.deadline = 10s}, clock);
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::retries_exhausted);
  CHECK(svc.called_at == std::vector<tutti::duration>{0s, 4s, 8s});
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message() == "the next attempt would start after the deadline");
}

TEST_CASE("abort_on stops retrying on an error the retry would retry, with an event",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  tutti::testing::event_log log;
  int calls = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<int> {
        return ++calls == 1 ? tutti::errc::timeout : tutti::errc::rate_limited;
      }) |
      tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}}.abort_on(
          [](const std::error_code& ec) { return ec == tutti::errc::rate_limited; }));
  const auto run = wf.run(tutti::unit{}, {}, clock, log);
  REQUIRE_FALSE(run);
  CHECK(calls == 2);
  CHECK(clock.now() == 1s);
  CHECK(run.error() == tutti::errc::rate_limited);  // the error stands
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message() == "the retry was aborted: its abort condition matched");
  CHECK(log.count(tutti::event_kind::retry_scheduled) == 1);
  const auto exhausted = log.of(tutti::event_kind::retries_exhausted);
  REQUIRE(exhausted.size() == 1);
  CHECK(exhausted[0].error == tutti::errc::rate_limited);
  CHECK(exhausted[0].message == "the retry was aborted: its abort condition matched");
}

TEST_CASE("an abort condition on the last attempt reports the abort, not exhaustion",
          "[policy][retry]") {
  tutti::testing::event_log log;
  int calls = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<void> {
        return ++calls == 1 ? tutti::errc::timeout : tutti::errc::rate_limited;
      }) |
      tutti::retry{tutti::max_attempts{2}}.abort_on(
          [](const std::error_code& ec) { return ec == tutti::errc::rate_limited; }));
  const auto run = wf.run(tutti::unit{}, {}, log);
  CHECK(calls == 2);
  CHECK(run.report()[0].gave_up_early);
  REQUIRE(log.count(tutti::event_kind::retries_exhausted) == 1);
  CHECK(log.of(tutti::event_kind::retries_exhausted)[0].message ==
        "the retry was aborted: its abort condition matched");
}

TEST_CASE("abort_on_value returns a value the retry would retry at once", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  tutti::testing::event_log log;
  service svc{{{503}, {429}, {503}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&svc] { return svc(); }) |
      tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}}
          .retry_on_value(try_again)
          .abort_on_value([](const response& r) { return r.status == 429; }));  // quota: stop
  const auto run = wf.run(tutti::unit{}, {}, clock, log);
  REQUIRE(run);
  CHECK(run.value().status == 429);
  CHECK(svc.called_at == std::vector<tutti::duration>{0s, 1s});
  CHECK(log.count(tutti::event_kind::retry_scheduled) == 1);
  REQUIRE(log.count(tutti::event_kind::retries_exhausted) == 1);
  CHECK_FALSE(log.of(tutti::event_kind::retries_exhausted)[0].error);
}

TEST_CASE("an outcome-aware backoff waits the service's Retry-After hint, within its bound",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  service svc{{{503, 7s}, {503}, {429, 2min}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&svc] { return svc(); }) |
      tutti::retry{tutti::outcome_backoff{30s, hinted, tutti::constant_backoff{1s}},
                   tutti::max_attempts{5}}
          .retry_on_value(try_again));
  const auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  // 7 s as hinted; 1 s without a hint; 2 min hinted but at most the bound, 30 s.
  CHECK(svc.called_at == std::vector<tutti::duration>{0s, 7s, 8s, 38s});
  CHECK(clock.slept() == 38s);
}

TEST_CASE("an outcome-aware backoff sees errors: an open breaker's retry_after",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker<tutti::testing::manual_clock> breaker{
      {.mode = tutti::breaker_mode::consecutive_failures, .consecutive_failures = 2,
       .break_for = 5s},
      clock};
  int calls = 0;
  std::vector<tutti::duration> waits;
  const auto wait_for_breaker = [&breaker](std::uint32_t, const tutti::result<int>& r)
      -> std::optional<tutti::duration> {
    if (!r.has_value() && r.error() == tutti::errc::circuit_open) return breaker.retry_after();
    return std::nullopt;
  };
  const auto every_error = [](const std::error_code&) { return true; };  // circuit_open too
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<int> {
        if (++calls <= 2) return tutti::errc::timeout;
        return 42;
      }) |
      tutti::guard(breaker) |
      tutti::retry{tutti::outcome_backoff{10s, wait_for_breaker, tutti::constant_backoff{1s}},
                   tutti::max_attempts{5}, every_error}
          .on_each_retry([&waits](const tutti::retry_event& e) { waits.push_back(e.delay); }));
  const auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(run.value() == 42);
  // t=0 fails, t=1 fails and opens the breaker until t=6; t=2 is refused (circuit_open) and
  // the retry waits the 4 s the breaker has left; t=6 is the half-open probe, which succeeds.
  CHECK(calls == 3);
  CHECK(waits == std::vector<tutti::duration>{1s, 1s, 4s});
  CHECK(clock.now() == 6s);
}

TEST_CASE("worst cases count an outcome-aware backoff at its declared bound", "[policy][retry]") {
  constexpr auto retry = tutti::retry{tutti::outcome_backoff{30s, hinted}, tutti::max_attempts{4}};
  STATIC_REQUIRE(retry.info().max_attempts == 4);
  STATIC_REQUIRE(retry.info().max_added_delay == 90s);  // three waits of at most 30 s
  STATIC_REQUIRE(retry.info().detail == "outcome");
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([] { return tutti::result<response>{response{}}; }) |
      retry.retry_on_value(try_again));
  CHECK(tutti::max_delay(wf) == 90s);
  CHECK(tutti::max_calls(wf) == 4);
  STATIC_REQUIRE(tutti::bounded_backoff<tutti::outcome_backoff<decltype(hinted)>>);
  STATIC_REQUIRE(tutti::bounded_backoff<tutti::full_jitter<>>);
  STATIC_REQUIRE_FALSE(tutti::bounded_backoff<int>);
}

TEST_CASE("a hint below zero waits nothing", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  service svc{{{503, -5s}}, {}, &clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"get">([&svc] { return svc(); }) |
      tutti::retry{tutti::outcome_backoff{30s, hinted, tutti::constant_backoff{1s}},
                   tutti::max_attempts{3}}
          .retry_on_value(try_again));
  const auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(svc.called_at == std::vector<tutti::duration>{0s, 0s});
  CHECK(clock.sleeps() == 0);
}
