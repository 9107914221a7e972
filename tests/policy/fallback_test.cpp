// Fallback: a value, an alternate service, the last good result; reported as such.
#include <catch2/catch.hpp>

#include <string>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

TEST_CASE("a fallback value is served when the step fails, and the report says so",
          "[policy][fallback]") {
  bool down = true;
  auto wf = tutti::workflow<"w">(tutti::step<"price">([&]() -> tutti::result<int> {
                                   if (down) return tutti::errc::bulkhead_full;
                                   return 100;
                                 }) |
                                 tutti::fallback(42));
  auto served = wf.run();
  REQUIRE(served);
  CHECK(served.value() == 42);
  const auto line = served.report()[0];
  CHECK(line.status == tutti::step_status::succeeded);
  CHECK(line.fallback_served);
  CHECK(line.error == tutti::errc::bulkhead_full);  // what the fallback covered
  CHECK(fmt::format("{}", served.report()).find("fallback") != std::string::npos);

  down = false;
  auto normal = wf.run();
  CHECK(normal.value() == 100);
  CHECK_FALSE(normal.report()[0].fallback_served);
}

TEST_CASE("an alternate service is called with the step's parameters", "[policy][fallback]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"quote">([](const int&) -> tutti::result<std::string> {
        return tutti::errc::timeout;
      }) |
      tutti::fallback_to([](const int& amount, const tutti::call_context& c) {
        return std::string{c.step} + ":" + std::to_string(amount);
      }));
  auto run = wf.run(5);
  REQUIRE(run);
  CHECK(run.value() == "quote:5");
}

TEST_CASE("when the alternate fails too, the step fails with the original error",
          "[policy][fallback]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::timeout; }) |
      tutti::fallback_to([]() -> tutti::result<int> { return tutti::errc::rate_limited; }));
  auto run = wf.run();
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.message().find("fallback") != std::string_view::npos);
}

TEST_CASE("the last good result is served within its staleness bound", "[policy][fallback]") {
  tutti::testing::manual_clock clock;
  tutti::last_good<int> cache;
  int value = 1;
  bool down = false;
  auto wf = tutti::workflow<"w">(tutti::step<"rates">([&]() -> tutti::result<int> {
                                   if (down) return tutti::errc::timeout;
                                   return value;
                                 }) |
                                 tutti::fallback_to_last_good(cache, 30s));
  CHECK(cache.empty());
  REQUIRE(wf.run({}, clock).value() == 1);  // stored at t=0
  value = 2;
  REQUIRE(wf.run({}, clock).value() == 2);  // refreshed
  down = true;
  clock.advance(30s);
  auto fresh = wf.run({}, clock);
  REQUIRE(fresh);
  CHECK(fresh.value() == 2);
  CHECK(fresh.report()[0].fallback_served);
  clock.advance(1s);
  auto stale = wf.run({}, clock);
  CHECK_FALSE(stale);
  CHECK(stale.error() == tutti::errc::timeout);
}

TEST_CASE("a fallback serves only the errors its predicate accepts", "[policy][fallback]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::circuit_open; }) |
      tutti::fallback(0).on([](const std::error_code& ec) { return ec == tutti::errc::timeout; }));
  CHECK(wf.run().error() == tutti::errc::circuit_open);
  auto cancelled = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::cancelled; }) |
      tutti::fallback(0));
  CHECK(cancelled.run().error() == tutti::errc::cancelled);  // never served on cancellation
}

TEST_CASE("retry inside, fallback outside: the fallback serves after the retries",
          "[policy][fallback][composition]") {
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<int> {
                                   ++calls;
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::retry{tutti::max_attempts{3}} | tutti::fallback(9));
  auto run = wf.run();
  CHECK(run.value() == 9);
  CHECK(calls == 3);
  CHECK(run.report()[0].attempts == 3);
}

TEST_CASE("a fallback inside a retry compiles only when allowed explicitly",
          "[policy][fallback][composition]") {
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<int> {
                                   ++calls;
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::allow_inside_retry(tutti::fallback(1)) |
                                 tutti::retry{tutti::max_attempts{3}});
  CHECK(wf.run().value() == 1);
  CHECK(calls == 1);  // the retry never saw a failure: exactly why it needs an explicit opt-in
}

TEST_CASE("a value served by a fallback is not compensated", "[policy][fallback][saga]") {
  int undone = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"quote">([]() -> tutti::result<int> { return tutti::errc::timeout; })
              .compensate_with([&undone](int) { ++undone; }) |
          tutti::fallback(5),
      tutti::step<"book">([]() -> tutti::result<void> { return tutti::errc::cancelled; }));
  auto run = wf.run();
  CHECK(undone == 0);  // the quote service did nothing: there is nothing to undo
  CHECK(run.report()[0].status == tutti::step_status::succeeded);
  CHECK(run.report()[0].fallback_served);
}
