// Retry against deadlines, budgets, events and permanent errors, on the manual clock.
#include <catch2/catch.hpp>

#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {
enum class pay_errc { card_declined = 1, gateway_busy = 2 };
struct pay_category : std::error_category {
  const char* name() const noexcept override { return "pay"; }
  std::string message(int v) const override { return v == 1 ? "card declined" : "gateway busy"; }
};
const pay_category pay_cat;
std::error_code make_error_code(pay_errc e) { return {static_cast<int>(e), pay_cat}; }
}  // namespace
template <>
struct std::is_error_code_enum<pay_errc> : std::true_type {};

TEST_CASE("a retry schedule of minutes runs in no real time", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<int> {
        if (++calls < 6) return tutti::errc::timeout;
        return calls;
      }) |
      tutti::retry{tutti::exponential_backoff{.first = 1min, .cap = 10min}, tutti::max_attempts{6}});
  auto run = wf.run({}, clock);
  REQUIRE(run);
  CHECK(clock.now() == 1min + 2min + 4min + 8min + 10min);
}

TEST_CASE("no wait begins that would end past the run's deadline", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<void> {
        ++calls;
        return tutti::errc::timeout;
      }) |
      tutti::retry{tutti::constant_backoff{4s}, tutti::max_attempts{10}});
  auto run = wf.run({.deadline = 10s}, clock);
  CHECK(calls == 3);          // t=0, t=4, t=8; a wait to t=12 would pass the deadline at t=10
  CHECK(clock.now() == 8s);   // it gave up at once instead of waiting
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message().find("deadline") != std::string_view::npos);
}

TEST_CASE("a retry on a clock near duration::max() gives up at the deadline without overflowing",
          "[policy][retry]") {
  // The deadline (start + 4s) is representable; the next attempt's time (now + 10s) is not.
  constexpr auto start = tutti::duration::max() - 5s;
  int calls = 0;
  const auto failing = [&]() -> tutti::result<void> {
    ++calls;
    return tutti::errc::step_failed;
  };
  SECTION("retry") {
    tutti::testing::manual_clock clock{start};
    auto wf = tutti::workflow<"w">(tutti::step<"s">(failing) |
                                   tutti::retry{tutti::constant_backoff{10s}, tutti::max_attempts{3}} |
                                   tutti::deadline{4s});
    auto run = wf.run({}, clock);
    CHECK(calls == 1);
    CHECK(clock.now() == start);  // no wait began
    CHECK(run.error() == tutti::errc::step_failed);
    CHECK(run.report()[0].gave_up_early);
  }
  SECTION("retry with a time budget, without a deadline") {
    tutti::testing::manual_clock clock{start};
    auto wf = tutti::workflow<"w">(
        tutti::step<"s">(failing) |
        tutti::retry{tutti::constant_backoff{10s}, tutti::max_attempts{3}}.within(1h));
    auto run = wf.run({}, clock);
    CHECK(calls == 1);
    CHECK(clock.now() == start);
    CHECK(run.report()[0].gave_up_early);
  }
  SECTION("retry_forever") {
    tutti::testing::manual_clock clock{start};
    auto wf = tutti::workflow<"w">(tutti::step<"s">(failing) |
                                   tutti::retry_forever{tutti::constant_backoff{10s}} |
                                   tutti::deadline{4s});
    auto run = wf.run({}, clock);
    CHECK(calls == 1);
    CHECK(clock.now() == start);
    CHECK(run.error() == tutti::errc::step_failed);
    CHECK(run.report()[0].gave_up_early);
  }
}

TEST_CASE("a retry's time budget stops new attempts", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<void> {
        ++calls;
        clock.advance(1s);  // each attempt takes a second
        return tutti::errc::timeout;
      }) |
      tutti::retry{tutti::constant_backoff{2s}, tutti::max_attempts{100}}.within(10s));
  auto run = wf.run({}, clock);
  CHECK(calls == 4);  // starts at 0, 3, 6, 9; the next would start at 12 > 10
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.message().find("budget") != std::string_view::npos);
}

TEST_CASE("each retry is reported before its wait", "[policy][retry]") {
  tutti::testing::manual_clock clock;
  std::vector<tutti::retry_event> events;
  int calls = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge">([&]() -> tutti::result<int> {
        if (++calls < 3) return tutti::errc::rate_limited;
        return 1;
      }) |
      tutti::retry{tutti::linear_backoff{.first = 1s, .increment = 1s}, tutti::max_attempts{5}}
          .on_each_retry([&events](const tutti::retry_event& e) { events.push_back(e); }));
  REQUIRE(wf.run({}, clock));
  REQUIRE(events.size() == 2);
  CHECK(events[0].attempt == 1);
  CHECK(events[0].delay == 1s);
  CHECK(events[0].error == tutti::errc::rate_limited);
  CHECK(events[0].step == "charge");
  CHECK(events[1].attempt == 2);
  CHECK(events[1].delay == 2s);
}

TEST_CASE("errors marked permanent are not retried", "[policy][retry]") {
  int calls = 0;
  pay_errc next = pay_errc::gateway_busy;
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge">([&]() -> tutti::result<void> {
        ++calls;
        return next;
      }) |
      tutti::retry{tutti::max_attempts{4}, tutti::retry_except{pay_errc::card_declined}});
  (void)wf.run();
  CHECK(calls == 4);
  calls = 0;
  next = pay_errc::card_declined;
  auto run = wf.run();
  CHECK(calls == 1);
  CHECK(run.error() == pay_errc::card_declined);
}

TEST_CASE("retries after the pivot keep the saga committed", "[policy][retry][saga]") {
  int undone = 0;
  int notify_calls = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([&undone](int) { ++undone; }),
      tutti::pivot<"confirm">([] { return 2; }),
      tutti::step<"notify">([&]() -> tutti::result<void> {
        ++notify_calls;
        return tutti::errc::timeout;
      }) | tutti::retry{tutti::max_attempts{3}});
  auto run = wf.run();
  CHECK(notify_calls == 3);
  CHECK(undone == 0);
  CHECK(run.outcome() == tutti::run_outcome::failed);
}

TEST_CASE("a retry wait that ends exactly at the deadline is taken: calls at 0, 5 and 10 s",
          "[policy][retry]") {
  tutti::testing::manual_clock clock;
  std::vector<tutti::duration> at;
  const auto step = [&]() -> tutti::result<void> {
    at.push_back(clock.now());
    return tutti::errc::timeout;
  };
  SECTION("retry") {
    auto wf = tutti::workflow<"w">(tutti::step<"s">(step) |
                                   tutti::retry{tutti::constant_backoff{5s}, tutti::max_attempts{10}});
    auto run = wf.run({.deadline = 10s}, clock);
    CHECK(run.error() == tutti::errc::timeout);
  }
  SECTION("retry_forever") {
    auto wf = tutti::workflow<"w">(tutti::step<"s">(step) |
                                   tutti::retry_forever{tutti::constant_backoff{5s}});
    auto run = wf.run({.deadline = 10s}, clock);
    CHECK(run.error() == tutti::errc::timeout);
  }
  CHECK(at == std::vector<tutti::duration>{0s, 5s, 10s});
  CHECK(clock.now() == 10s);  // the wait to 15 s was not begun
}
