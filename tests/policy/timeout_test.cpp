// Timeouts and deadlines: cooperative limits, late results, late successes undone.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

TEST_CASE("a step sees its attempt's deadline in the call context", "[policy][timeout]") {
  tutti::testing::manual_clock clock{100s};
  std::vector<tutti::duration> seen;
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&](const tutti::call_context& c) -> tutti::result<void> {
        seen.push_back(c.deadline);
        clock.advance(1s);
        return tutti::errc::rate_limited;
      }) |
      tutti::timeout{3s} | tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{2}});
  (void)wf.run({}, clock);
  CHECK(seen == std::vector<tutti::duration>{103s, 105s});  // each attempt gets its own 3 s
  // Second run from t=103 with a run deadline at 107: the first attempt keeps its own 3 s (106),
  // the second (from t=105) is cut to the run's deadline (107).
  (void)wf.run({.deadline = 4s}, clock);
  CHECK(seen == std::vector<tutti::duration>{103s, 105s, 106s, 107s});
}

TEST_CASE("a result after the deadline is a timeout, a late success is undone",
          "[policy][timeout]") {
  tutti::testing::manual_clock clock;
  int undone = 0;
  tutti::duration takes = 5s;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([&] {
        clock.advance(takes);
        return 7;
      }).compensate_with([&undone](int v) { undone += v; }) |
      tutti::timeout{2s});
  auto late = wf.run({}, clock);
  REQUIRE_FALSE(late);
  CHECK(late.error() == tutti::errc::timeout);
  CHECK(undone == 7);
  const auto line = late.report()[0];
  CHECK(line.timed_out);
  CHECK(line.late_compensated);
  CHECK(late.message().find("undone") != std::string_view::npos);

  takes = 1s;
  undone = 0;
  auto in_time = wf.run({}, clock);
  REQUIRE(in_time);
  CHECK(in_time.value() == 7);
  CHECK(undone == 0);
  CHECK_FALSE(in_time.report()[0].timed_out);
}

TEST_CASE("a late failure is reported as a timeout", "[policy][timeout]") {
  tutti::testing::manual_clock clock;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                   clock.advance(10s);
                                   return tutti::errc::rate_limited;
                                 }) |
                                 tutti::timeout{1s});
  auto run = wf.run({}, clock);
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.report()[0].timed_out);
}

TEST_CASE("a failing undo of a late success makes the run's outcome compensation_failed",
          "[policy][timeout][saga]") {
  tutti::testing::manual_clock clock;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([] { return 1; }).compensate_with([](int) {}),
      tutti::step<"b">([&] {
        clock.advance(5s);
        return 2;
      }).compensate_with([](int) -> tutti::result<void> { return tutti::errc::cancelled; }) |
          tutti::timeout{1s});
  auto run = wf.run({}, clock);
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(run.report()[1].late_compensation_failed);
  CHECK(run.report()[0].status == tutti::step_status::compensated);
}

TEST_CASE("a deadline outside a retry bounds all attempts and waits", "[policy][timeout]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                   ++calls;
                                   return tutti::errc::rate_limited;
                                 }) |
                                 tutti::retry{tutti::constant_backoff{3s}, tutti::max_attempts{50}} |
                                 tutti::deadline{10s});
  auto run = wf.run({}, clock);
  CHECK(calls == 4);  // 0, 3, 6, 9: a wait to 12 would pass the deadline
  CHECK(run.report()[0].gave_up_early);
  CHECK(clock.now() == 9s);
}

TEST_CASE("a step taking std::stop_token receives the host's", "[policy][timeout]") {
  std::stop_source host;
  bool stopped = false;
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&stopped](std::stop_token t) { stopped = t.stop_requested(); }));
  (void)wf.run({.stop = host.get_token()});
  CHECK_FALSE(stopped);
  host.request_stop();
  (void)wf.run({.stop = host.get_token()});
  CHECK(stopped);
}

TEST_CASE("invalid limits from configuration throw", "[policy][timeout]") {
  volatile long long zero = 0;
  CHECK_THROWS_AS(tutti::timeout{tutti::duration{zero}}, std::invalid_argument);
  CHECK_THROWS_AS(tutti::deadline{tutti::duration{zero - 1}}, std::invalid_argument);
}

TEST_CASE("with a stop timer, the attempt's stop_token is stopped at its deadline",
          "[policy][timeout]") {
  tutti::testing::manual_clock clock;
  tutti::stop_timer<tutti::testing::manual_clock> timer{clock};
  bool stopped_before = true;
  bool stopped_after = false;
  auto wf = tutti::workflow<"w">(
      tutti::step<"slow">([&](std::stop_token t) -> tutti::result<int> {
        stopped_before = t.stop_requested();
        clock.advance(3s);
        CHECK(timer.poll() == 1);  // on a manual clock the test drives the timer
        stopped_after = t.stop_requested();
        return tutti::errc::cancelled;  // what a step that honours its token returns
      }) |
      tutti::timeout{2s}.stopping(timer));
  auto run = wf.run({}, clock);
  CHECK_FALSE(stopped_before);
  CHECK(stopped_after);
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(timer.armed_count() == 0);  // disarmed when the attempt ended
}

TEST_CASE("a stop timer's thread stops a real step that waits on its token",
          "[policy][timeout]") {
  tutti::stop_timer<> timer;  // steady clock, own thread
  auto wf = tutti::workflow<"w">(
      tutti::step<"wait">([](std::stop_token t) -> tutti::result<void> {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock<std::mutex> lock(m);
        // Returns when stopped; the 60 s bound only keeps a broken timer from hanging the suite.
        const bool stopped = cv.wait_for(lock, t, std::chrono::seconds{60}, [] { return false; });
        (void)stopped;
        if (t.stop_requested()) return tutti::errc::cancelled;
        return tutti::outcome::success();
      }) |
      tutti::timeout{20ms}.stopping(timer));
  auto run = wf.run();
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.report()[0].timed_out);
}

TEST_CASE("host cancellation reaches a step through a timeout's own token", "[policy][timeout]") {
  tutti::testing::manual_clock clock;
  tutti::stop_timer<tutti::testing::manual_clock> timer{clock};
  std::stop_source host;
  bool stopped = false;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&](std::stop_token t) {
                                   host.request_stop();
                                   stopped = t.stop_requested();
                                 }) |
                                 tutti::timeout{2s}.stopping(timer));
  (void)wf.run({.stop = host.get_token()}, clock);
  CHECK(stopped);
}

TEST_CASE("the run's deadline turns a late result into a timeout and stops later steps",
          "[policy][timeout][deadline]") {
  tutti::testing::manual_clock clock;
  int undone = 0;
  bool later_ran = false;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([] { return 1; }).compensate_with([&undone](int) { ++undone; }),
      tutti::step<"slow">([&] {
        clock.advance(8s);
        return 2;
      }).compensate_with([&undone](int) { undone += 10; }),
      tutti::step<"later">([&later_ran] { later_ran = true; }));
  auto run = wf.run({.deadline = 5s}, clock);
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.failed_step() == "slow");
  CHECK(undone == 11);  // the late success undone at once, then "a" by the saga
  CHECK(run.report()[1].timed_out);
  CHECK(run.report()[1].late_compensated);
  CHECK_FALSE(later_ran);

  auto in_time = wf.run({.deadline = 10s}, clock);
  CHECK(in_time.has_value());
}

TEST_CASE("a step does not start once the run's deadline has passed",
          "[policy][timeout][deadline]") {
  tutti::testing::manual_clock clock;
  bool second_ran = false;
  auto wf = tutti::workflow<"w">(tutti::step<"first">([&] { clock.advance(5s); }) |
                                     tutti::fallback(tutti::unit{}),
                                 tutti::step<"second">([&second_ran] { second_ran = true; }));
  auto run = wf.run({.deadline = 5s}, clock);
  CHECK_FALSE(second_ran);
  CHECK(run.failed_step() == "second");
  CHECK(run.report()[1].attempts == 0);
  CHECK(run.error() == tutti::errc::timeout);
}

TEST_CASE("a pivot that succeeds late commits the saga: nothing before it is undone",
          "[policy][timeout][saga]") {
  tutti::testing::manual_clock clock;
  int released = 0;
  int charged = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([&released](int) { ++released; }),
      tutti::pivot<"charge">([&] {
        ++charged;
        clock.advance(5s);
      }) | tutti::timeout{1s} |
          tutti::retry{tutti::max_attempts{3}});
  auto run = wf.run({}, clock);
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(charged == 1);   // not charged again by the retry: the late charge stands
  CHECK(released == 0);  // the pivot committed: the reservation is kept
  CHECK(run.report()[1].late_success_kept);
  CHECK(run.outcome() == tutti::run_outcome::failed);

  charged = 0;
  auto by_run_deadline = tutti::workflow<"w2">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([&released](int) { ++released; }),
      tutti::pivot<"charge">([&] {
        ++charged;
        clock.advance(5s);
      }));
  auto late = by_run_deadline.run({.deadline = 1s}, clock);
  CHECK(late.error() == tutti::errc::timeout);
  CHECK(released == 0);
  CHECK(late.report()[1].late_success_kept);
}

TEST_CASE("a late success that was undone may be retried", "[policy][timeout][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  int undone = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([&] {
        if (++calls == 1) clock.advance(5s);  // only the first attempt is slow
        return calls;
      }).compensate_with([&undone](int) { ++undone; }) |
      tutti::timeout{1s} | tutti::retry{tutti::max_attempts{3}});
  auto run = wf.run({}, clock);
  REQUIRE(run);
  CHECK(run.value() == 2);
  CHECK(undone == 1);
}

// A success after the attempt's deadline that nothing can undo has had its effect: the retry
// around the timeout must not call the step again, and the timeout stands.
TEST_CASE("a late success that could not be undone is never retried", "[policy][timeout][retry]") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  auto slow_once = [&] {
    if (++calls == 1) clock.advance(5s);
    return calls;
  };
  SECTION("retry") {
    auto wf = tutti::workflow<"w">(tutti::step<"charge">(slow_once) | tutti::timeout{1s} |
                                   tutti::retry{tutti::max_attempts{3}});
    auto run = wf.run({}, clock);
    CHECK(run.error() == tutti::errc::timeout);
    CHECK(calls == 1);
    CHECK(run.report()[0].late_success_kept);
  }
  SECTION("retry_forever") {
    auto wf = tutti::workflow<"w">(tutti::step<"charge">(slow_once) | tutti::timeout{1s} |
                                   tutti::retry_forever{tutti::constant_backoff{1s}});
    auto run = wf.run({}, clock);
    CHECK(run.error() == tutti::errc::timeout);
    CHECK(calls == 1);
    CHECK(run.report()[0].late_success_kept);
  }
  SECTION("a late failure is a timeout that is retried") {
    auto wf = tutti::workflow<"w">(tutti::step<"charge">([&]() -> tutti::result<int> {
                                     if (++calls == 1) {
                                       clock.advance(5s);
                                       return tutti::errc::step_failed;
                                     }
                                     return calls;
                                   }) |
                                   tutti::timeout{1s} | tutti::retry{tutti::max_attempts{3}});
    auto run = wf.run({}, clock);
    REQUIRE(run);
    CHECK(run.value() == 2);
    CHECK_FALSE(run.report()[0].late_success_kept);
  }
}

TEST_CASE("a run deadline on a clock near duration::max() saturates instead of overflowing",
          "[policy][timeout][deadline]") {
  tutti::testing::manual_clock clock{tutti::duration::max() - 1s};
  tutti::duration seen{};
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&](const tutti::call_context& c) {
    seen = c.deadline;
    return 1;
  }));
  auto run = wf.run({.deadline = 10s}, clock);
  CHECK(run.has_value());
  // now + 10 s is past the clock's range: the deadline is the end of time, not a wrapped value.
  CHECK(seen == tutti::duration::max());
}
