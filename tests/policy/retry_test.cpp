// Retry basics in the core: attempts counted, waits through the run's clock, predicate.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

TEST_CASE("retry calls the step until it succeeds, waiting between attempts",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  std::vector<std::uint32_t> attempts_seen;
  auto wf = tutti::workflow<"w">(
      tutti::step<"flaky">([&](const tutti::call_context& c) -> tutti::result<int> {
        attempts_seen.push_back(c.attempt);
        if (++calls < 3) return tutti::errc::timeout;
        return 42;
      }) |
      tutti::retry{tutti::constant_backoff{2min}, tutti::max_attempts{5}});
  auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(run.value() == 42);
  CHECK(run.report()[0].attempts == 3);
  CHECK(attempts_seen == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(clock.now() == 4min);  // two waits of two minutes, in no real time
}

TEST_CASE("retry stops after the last attempt with the last error", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"down">([&]() -> tutti::result<int> {
                                   ++calls;
                                   if (calls == 3) throw std::runtime_error("third");
                                   return tutti::errc::bulkhead_full;
                                 }) |
                                 tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{3}});
  auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE_FALSE(run);
  CHECK(calls == 3);
  CHECK(run.report()[0].attempts == 3);
  CHECK(run.error() == tutti::errc::exception);
  CHECK(run.message() == "third");
  CHECK(clock.now() == 2s);  // no wait after the last attempt
}

TEST_CASE("retry does not retry circuit_open or cancelled by default", "[policy][retry]") {
  for (auto code : {tutti::errc::circuit_open, tutti::errc::cancelled}) {
    int calls = 0;
    auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                     ++calls;
                                     return code;
                                   }) |
                                   tutti::retry{tutti::max_attempts{4}});
    auto run = wf.run();
    CHECK(calls == 1);
    CHECK(run.error() == code);
  }
}

TEST_CASE("retry_forever retries until success", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<int> {
                                   if (++calls < 100) return tutti::errc::timeout;
                                   return calls;
                                 }) |
                                 tutti::retry_forever<>{tutti::constant_backoff{1h}});
  auto run = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(run);
  CHECK(run.value() == 100);
  CHECK(clock.now() == 99h);
}

TEST_CASE("settings from configuration are checked at construction", "[policy][retry]") {
  volatile std::uint32_t zero = 0;  // a value the compiler cannot see: as from a config file
  CHECK_THROWS_AS(tutti::max_attempts{zero}, std::invalid_argument);
  volatile long negative = -5;
  CHECK_THROWS_AS(tutti::constant_backoff{std::chrono::nanoseconds{negative}},
                  std::invalid_argument);
  CHECK(tutti::max_attempts{3}.value == 3);
}

TEST_CASE("a retry predicate limits which errors are retried", "[policy][retry]") {
  int calls = 0;
  auto only_timeouts = [](const std::error_code& ec) { return ec == tutti::errc::timeout; };
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                   ++calls;
                                   return calls == 1 ? tutti::errc::timeout
                                                     : tutti::errc::rate_limited;
                                 }) |
                                 tutti::retry{tutti::max_attempts{5}, only_timeouts});
  auto run = wf.run();
  CHECK(calls == 2);  // the timeout was retried, the rate limit was not
  CHECK(run.error() == tutti::errc::rate_limited);
}

TEST_CASE("a retry without waits stops at once when the run is asked to stop", "[policy][retry]") {
  // No wait, no deadline, no observer: the fast path checks the token once per retry.
  std::stop_source source;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                   if (++calls == 2) source.request_stop();
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::retry{tutti::max_attempts{5}});
  auto run = wf.run({.stop = source.get_token()});
  CHECK(calls == 2);
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.report()[0].attempts == 2);
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message() == "the step was asked to stop");
}

TEST_CASE("a retry hook that asks the run to stop ends the retry before the next call",
          "[policy][retry]") {
  // With a hook the token is checked again after it ran, as before each call after a wait.
  std::stop_source source;
  int calls = 0;
  std::vector<std::uint32_t> hooked;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                   ++calls;
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::retry{tutti::max_attempts{5}}.on_each_retry(
                                     [&](const tutti::retry_event& e) {
                                       hooked.push_back(e.attempt);
                                       if (e.attempt == 2) source.request_stop();
                                     }));
  auto run = wf.run({.stop = source.get_token()});
  CHECK(calls == 2);
  CHECK(hooked == std::vector<std::uint32_t>{1, 2});
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message() == "the step was asked to stop");
}

TEST_CASE("a zero wait does not sleep, and a run deadline that passed still ends the retry",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                   ++calls;
                                   clock.advance(std::chrono::seconds{4});  // each call takes 4 s
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::retry{tutti::max_attempts{5}});
  auto run = wf.run(tutti::unit{}, {.deadline = std::chrono::seconds{10}}, clock);
  CHECK(calls == 3);  // at 0, 4 and 8 s; at 12 s the deadline (10 s) has passed
  CHECK(clock.sleeps() == 0);
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message().find("deadline") != std::string_view::npos);
}

TEST_CASE("tutti's error category is one object and retry_transient compares it with the value",
          "[policy][retry]") {
  static_assert(noexcept(tutti::error_category()));
  CHECK(&tutti::error_category() == &tutti::make_error_code(tutti::errc::timeout).category());
  CHECK(std::string_view{tutti::error_category().name()} == "tutti");
  CHECK(tutti::retry_transient{}(tutti::errc::timeout));
  CHECK_FALSE(tutti::retry_transient{}(tutti::errc::cancelled));
  CHECK_FALSE(tutti::retry_transient{}(tutti::errc::circuit_open));
  // The same values in another category are retried: the category is compared too.
  CHECK(tutti::retry_transient{}(std::error_code{6, std::generic_category()}));
  CHECK(tutti::retry_transient{}(std::error_code{4, std::generic_category()}));
}
