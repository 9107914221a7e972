// The async engine: coroutine steps, policies that wait on timers, cancellation by timeout, by
// the run's stop and by Asio, and the same workflow definitions as the sync engine's. Virtual
// time (tutti::testing::manual_clock) unless a test says otherwise.
#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;
using ms = std::chrono::milliseconds;

namespace {

/// Waits `d` of the clock's time; throws std::system_error (operation_aborted) when cancelled.
template <class Clock>
tutti::awaitable<void> wait(Clock& clock, tutti::duration d) {
  co_await tutti::async_sleep(clock, d, asio::use_awaitable);
}

/// Waits `d` and returns the wait's error instead of throwing it.
tutti::awaitable<std::error_code> wait_quietly(manual_clock& clock, tutti::duration d) {
  std::error_code ec;
  co_await tutti::async_sleep(clock, d, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

/// An event as two runs of one definition are compared: kind, step, attempt, error and time
/// since the run started.
struct seen {
  tutti::event_kind kind;
  std::string step;
  std::uint32_t attempt;
  std::error_code error;
  tutti::duration at;
  bool operator==(const seen&) const = default;
};
std::vector<seen> timeline(const tutti::testing::event_log& log) {
  std::vector<seen> out;
  const auto entries = log.entries();
  const tutti::duration start = entries.empty() ? tutti::duration{} : entries.front().time;
  for (const auto& e : entries) out.push_back({e.kind, e.step, e.attempt, e.error, e.time - start});
  return out;
}

}  // namespace

TEST_CASE("coroutine and plain steps run in order on virtual time, passing outputs by name",
          "[async]") {
  asio::io_context io;
  manual_clock clock;
  auto wf = tutti::workflow<"quote">(
      tutti::step<"price">([&](const int& qty) -> tutti::awaitable<int> {
        co_await wait(clock, 5ms);
        co_return qty * 10;
      }),
      tutti::step<"tax">([](tutti::from<"price", int> price) { return *price / 5; }),
      tutti::step<"total">([&](tutti::from<"price", int> price,
                               tutti::from<"tax", int> tax) -> tutti::awaitable<tutti::result<int>> {
        co_await wait(clock, 3ms);
        co_return *price + *tax;
      }));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(3, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.value() == 36);
  CHECK(run.get<"price">() == 30);
  CHECK(clock.now() == tutti::duration{8ms});
  const auto report = run.report();
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(report[i].status == tutti::step_status::succeeded);
    CHECK(report[i].attempts == 1);
  }
}

TEST_CASE("one definition runs synchronously and asynchronously with the same events and report",
          "[async]") {
  // Plain steps only, so that run() can run it too: a retry that waits, a failure after it and
  // the compensation of the step before.
  int flaky_calls = 0;
  std::vector<std::string> undone;
  auto wf = tutti::workflow<"order">(
      tutti::step<"reserve">([](const int& n) { return n; })
          .compensate_with([&](const int&) { undone.emplace_back("reserve"); }),
      tutti::step<"charge">([&](const int& n) -> tutti::result<int> {
        if (++flaky_calls % 3 != 0) return tutti::errc::step_failed;
        return n * 2;
      }) | tutti::retry{tutti::constant_backoff{10ms}, tutti::max_attempts{3}},
      tutti::step<"ship">([]() -> tutti::result<void> { return tutti::errc::rate_limited; }));

  manual_clock sync_clock;
  tutti::testing::event_log sync_log;
  const auto sync_run = wf.run(4, {}, sync_clock, sync_log);
  const std::vector<std::string> sync_undone = undone;

  undone.clear();
  flaky_calls = 0;
  asio::io_context io;
  manual_clock async_clock;
  tutti::testing::event_log async_log;
  const auto async_run =
      tutti::testing::run_to_completion(io, async_clock, wf.async_run(4, {}, async_clock, async_log));

  REQUIRE(sync_run.outcome() == tutti::run_outcome::compensated);
  CHECK(async_run.outcome() == sync_run.outcome());
  CHECK(async_run.failed_step() == "ship");
  CHECK(async_run.error() == sync_run.error());
  CHECK(undone == sync_undone);
  CHECK(undone == std::vector<std::string>{"reserve"});
  CHECK(timeline(async_log) == timeline(sync_log));
  CHECK(async_log.count(tutti::event_kind::retry_scheduled) == 2);
  CHECK(async_clock.now() == tutti::duration{20ms});
  const auto a = async_run.report();
  const auto s = sync_run.report();
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(a[i].status == s[i].status);
    CHECK(a[i].attempts == s[i].attempts);
  }
}

TEST_CASE("a failing coroutine step undoes the completed steps last first, awaiting coroutine "
          "compensations", "[async][saga]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<std::pair<std::string, tutti::duration>> undone;
  auto wf = tutti::workflow<"trip">(
      tutti::step<"flight">([&]() -> tutti::awaitable<int> {
        co_await wait(clock, 1ms);
        co_return 101;
      }).compensate_with([&](const int& booking) -> tutti::awaitable<void> {
        co_await wait(clock, 2ms);
        undone.emplace_back("flight " + std::to_string(booking), clock.now());
      }),
      tutti::step<"hotel">([] { return 202; }).compensate_with([&](const int& booking) {
        undone.emplace_back("hotel " + std::to_string(booking), clock.now());
      }),
      tutti::step<"car">([&]() -> tutti::awaitable<tutti::result<int>> {
        co_await wait(clock, 1ms);
        co_return tutti::errc::bulkhead_full;
      }));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run());
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "car");
  CHECK(run.error() == tutti::errc::bulkhead_full);
  using entry = std::pair<std::string, tutti::duration>;
  CHECK(undone == std::vector<entry>{{"hotel 202", 2ms}, {"flight 101", 4ms}});
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::compensated);
  CHECK(report[1].status == tutti::step_status::compensated);
  CHECK(report[2].status == tutti::step_status::failed);
}

TEST_CASE("exceptions thrown by coroutine steps and compensations are captured", "[async]") {
  asio::io_context io;
  manual_clock clock;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([] { return 1; }).compensate_with([&](const int&) -> tutti::awaitable<void> {
        co_await wait(clock, 1ms);
        throw std::runtime_error("refund service down");
      }),
      tutti::step<"b">([&]() -> tutti::awaitable<int> {
        co_await wait(clock, 1ms);
        throw std::runtime_error("boom");
      }));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(run.error() == tutti::errc::exception);
  CHECK(run.message() == "boom");
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::compensation_failed);
  CHECK(report[0].compensation_error == tutti::errc::exception);
  CHECK(report[0].compensation_message == "refund service down");
}

TEST_CASE("a retry's backoff holds no thread: another run progresses during it", "[async][policy]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<tutti::duration> attempts_at;
  auto flaky = tutti::workflow<"flaky">(
      tutti::step<"call">([&]() -> tutti::awaitable<tutti::result<int>> {
        attempts_at.push_back(clock.now());
        co_return attempts_at.size() < 3 ? tutti::result<int>{tutti::errc::step_failed}
                                         : tutti::result<int>{7};
      }) | tutti::retry{tutti::constant_backoff{100ms}, tutti::max_attempts{3}});
  auto quick = tutti::workflow<"quick">(tutti::step<"wait">([&]() -> tutti::awaitable<int> {
    co_await wait(clock, 50ms);
    co_return 1;
  }));
  std::optional<tutti::duration> flaky_done, quick_done;
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    const auto run = co_await flaky.async_run(tutti::unit{}, {}, clock);
    if (run.has_value() && run.value() == 7) flaky_done = clock.now();
  }, asio::detached);
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    const auto run = co_await quick.async_run(tutti::unit{}, {}, clock);
    if (run.has_value()) quick_done = clock.now();
  }, asio::detached);
  tutti::testing::run_virtual(io, clock);
  CHECK(attempts_at == std::vector<tutti::duration>{0ms, 100ms, 200ms});
  REQUIRE(quick_done.has_value());
  CHECK(*quick_done == tutti::duration{50ms});
  REQUIRE(flaky_done.has_value());
  CHECK(*flaky_done == tutti::duration{200ms});
}

TEST_CASE("a timeout cancels the pending operation: the step sees operation_aborted",
          "[async][policy][cancel]") {
  asio::io_context io;
  manual_clock clock;
  std::optional<std::error_code> step_saw;
  auto wf = tutti::workflow<"w">(tutti::step<"slow">([&]() -> tutti::awaitable<tutti::result<int>> {
                                   const std::error_code ec = co_await wait_quietly(clock, 1s);
                                   step_saw = ec;
                                   if (ec) co_return ec;
                                   co_return 1;
                                 }) | tutti::timeout{100ms});
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error() == tutti::errc::timeout);
  REQUIRE(step_saw.has_value());
  CHECK(*step_saw == std::error_code(asio::error::operation_aborted));
  CHECK(clock.now() == tutti::duration{100ms});  // not the step's 1 s
  CHECK(clock.pending_wakes() == 0);
  CHECK(run.report()[0].timed_out);
}

TEST_CASE("a step that ignores the cancellation and succeeds late is undone, as in a sync run",
          "[async][policy][cancel]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<int> undone;
  auto wf = tutti::workflow<"w">(
      tutti::step<"stubborn">([&]() -> tutti::awaitable<int> {
        (void)co_await wait_quietly(clock, 1s);  // cancelled at 100 ms, and goes on regardless
        co_return 42;
      }).compensate_with([&](const int& v) { undone.push_back(v); }) |
      tutti::timeout{100ms});
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(undone == std::vector<int>{42});
  const auto line = run.report()[0];
  CHECK(line.timed_out);
  CHECK(line.late_compensated);
  CHECK_FALSE(line.late_success_kept);
}

TEST_CASE("a timed-out attempt is retried: the timeout is per attempt", "[async][policy][cancel]") {
  asio::io_context io;
  manual_clock clock;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"sometimes_slow">([&]() -> tutti::awaitable<int> {
                                   if (++calls == 1) co_await wait(clock, 1s);  // cancelled
                                   co_await wait(clock, 10ms);
                                   co_return calls;
                                 }) | tutti::timeout{50ms} |
                                 tutti::retry{tutti::constant_backoff{5ms}, tutti::max_attempts{2}});
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.value() == 2);
  CHECK(clock.now() == tutti::duration{65ms});  // 50 (timed out) + 5 (backoff) + 10
}

TEST_CASE("a retry inside a timeout starts no attempt after the timeout", "[async][policy][cancel]") {
  asio::io_context io;
  manual_clock clock;
  int calls = 0;
  std::vector<bool> stopped_when_called;
  // Each attempt takes 30 ms and fails with an error the retry retries, also when cancelled.
  auto wf = tutti::workflow<"w">(
      tutti::step<"flaky">([&](std::stop_token stop) -> tutti::awaitable<tutti::result<int>> {
        ++calls;
        stopped_when_called.push_back(stop.stop_requested());
        (void)co_await wait_quietly(clock, 30ms);
        co_return tutti::errc::step_failed;
      }) |
      tutti::retry{tutti::max_attempts{10}} | tutti::timeout{100ms});
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(calls == 4);  // at 0, 30, 60 and 90 ms; the fourth cancelled at 100 ms
  CHECK(clock.now() == tutti::duration{100ms});
  CHECK(stopped_when_called == std::vector<bool>(4, false));
}

TEST_CASE("the run's stop cancels the pending step, and the run compensates", "[async][cancel]") {
  asio::io_context io;
  manual_clock clock;
  std::stop_source stop;
  std::vector<std::string> undone;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([&](const int&) -> tutti::awaitable<void> {
        co_await wait(clock, 1ms);  // the run was stopped: its compensations still run
        undone.emplace_back("reserve");
      }),
      tutti::step<"slow">([&]() -> tutti::awaitable<int> {
        co_await wait(clock, 1h);
        co_return 2;
      }));
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    co_await wait(clock, 30ms);
    stop.request_stop();
  }, asio::detached);
  const auto run = tutti::testing::run_to_completion(
      io, clock, wf.async_run(tutti::unit{}, tutti::run_options{.stop = stop.get_token()}, clock));
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "slow");
  CHECK(run.error() == tutti::errc::cancelled);
  CHECK(undone == std::vector<std::string>{"reserve"});
  CHECK(clock.now() == tutti::duration{31ms});
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("a stop during a retry's backoff ends the wait at once", "[async][cancel][policy]") {
  asio::io_context io;
  manual_clock clock;
  std::stop_source stop;
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"down">([&]() -> tutti::awaitable<tutti::result<int>> {
                                   ++calls;
                                   co_return tutti::errc::step_failed;
                                 }) | tutti::retry{tutti::constant_backoff{1h}, tutti::max_attempts{5}});
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    co_await wait(clock, 10ms);
    stop.request_stop();
  }, asio::detached);
  const auto run = tutti::testing::run_to_completion(
      io, clock, wf.async_run(tutti::unit{}, tutti::run_options{.stop = stop.get_token()}, clock));
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error() == tutti::errc::step_failed);  // the last failure stands
  CHECK(calls == 1);
  CHECK(clock.now() == tutti::duration{10ms});
  CHECK(run.report()[0].gave_up_early);
}

TEST_CASE("a stop requested from another thread interrupts a pending step on a real timer",
          "[async][cancel]") {
  asio::io_context io;
  std::stop_source stop;
  std::atomic<bool> started{false};
  auto wf = tutti::workflow<"w">(tutti::step<"hour">([&]() -> tutti::awaitable<int> {
    started = true;
    asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
    co_await timer.async_wait(asio::use_awaitable);
    co_return 1;
  }));
  std::optional<std::error_code> error;
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    // Named, not a temporary in the co_await expression: g++ 12 destroys an aggregate temporary
    // there twice (see docs/async.md).
    const tutti::run_options options{.stop = stop.get_token()};
    const auto run = co_await wf.async_run(tutti::unit{}, options);
    error = run.error();
  }, asio::detached);
  std::thread stopper([&] {
    // Bounded: the step starts at once on the io thread.
    for (int i = 0; i < 10'000 && !started; ++i) std::this_thread::sleep_for(1ms);
    stop.request_stop();
  });
  io.run();  // returns when the run is over: an hour if the stop did not reach the step
  stopper.join();
  REQUIRE(error.has_value());
  CHECK(*error == tutti::errc::cancelled);
}

TEST_CASE("an Asio cancellation of the awaiting coroutine cancels the pending step, and the run still "
          "compensates", "[async][cancel]") {
  asio::io_context io;
  manual_clock clock;
  asio::cancellation_signal cancel;
  std::vector<std::string> undone;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([&](const int&) -> tutti::awaitable<void> {
        co_await wait(clock, 1ms);
        undone.emplace_back("reserve");
      }),
      tutti::step<"slow">([&]() -> tutti::awaitable<int> {
        co_await wait(clock, 1h);
        co_return 2;
      }) | tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}});
  std::optional<tutti::run_outcome> outcome;
  std::optional<std::error_code> error;
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    const auto run = co_await wf.async_run(tutti::unit{}, {}, clock);
    outcome = run.outcome();
    error = run.error();
  }, asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    co_await wait(clock, 20ms);
    cancel.emit(asio::cancellation_type::terminal);
  }, asio::detached);
  tutti::testing::run_virtual(io, clock);
  REQUIRE(outcome.has_value());
  CHECK(*outcome == tutti::run_outcome::compensated);
  CHECK(*error == tutti::errc::cancelled);  // not retried
  CHECK(undone == std::vector<std::string>{"reserve"});
  CHECK(clock.now() == tutti::duration{21ms});
}

TEST_CASE("a circuit breaker, a fallback and a nested workflow work in async runs",
          "[async][policy]") {
  asio::io_context io;
  manual_clock clock;
  tutti::circuit_breaker<manual_clock> breaker{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = tutti::call_count{2},
                            .break_for = 1s},
      clock};
  int calls = 0;
  std::vector<std::string> undone;
  auto inner = tutti::workflow<"inner">(
      tutti::step<"x">([&]() -> tutti::awaitable<int> {
        co_await wait(clock, 1ms);
        co_return 1;
      }).compensate_with([&](const int&) -> tutti::awaitable<void> {
        co_await wait(clock, 1ms);
        undone.emplace_back("x");
      }),
      tutti::step<"y">([] { return 2; }).compensate_with([&](const int&) { undone.emplace_back("y"); }));
  auto wf = tutti::workflow<"w">(
      inner,
      tutti::step<"price">([&]() -> tutti::awaitable<tutti::result<int>> {
        ++calls;
        co_return tutti::errc::step_failed;
      }) | tutti::guard(breaker) | tutti::fallback(99),
      tutti::step<"last">([&](tutti::from<"price", int> p) -> tutti::awaitable<tutti::result<int>> {
        if (*p == 99) co_return tutti::errc::step_failed;
        co_return *p;
      }));
  for (int i = 0; i < 3; ++i) {
    const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
    REQUIRE(run.outcome() == tutti::run_outcome::compensated);
    CHECK(run.failed_step() == "last");
    CHECK(run.report()[1].fallback_served);
    CHECK(run.report()[1].error == (i < 2 ? tutti::errc::step_failed : tutti::errc::circuit_open));
  }
  CHECK(calls == 2);  // the third call was refused by the open breaker
  CHECK(undone == std::vector<std::string>{"y", "x", "y", "x", "y", "x"});
}

TEST_CASE("a keyed breaker guards a coroutine step per key, and a coroutine alternate is awaited",
          "[async][policy]") {
  asio::io_context io;
  manual_clock clock;
  tutti::breaker_registry<std::string, 8, manual_clock> breakers{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = tutti::call_count{1},
                            .break_for = 1s},
      clock};
  std::vector<std::string> calls;
  tutti::testing::event_log log;
  auto wf = tutti::workflow<"w">(
      tutti::step<"price">([&](const std::string& host) -> tutti::awaitable<tutti::result<int>> {
        calls.push_back(host);
        co_await wait(clock, 1ms);
        if (host == "down") co_return tutti::errc::step_failed;
        co_return 10;
      }) | tutti::guard(breakers, [](const std::string& host) { return host; }) |
      tutti::fallback_to([&](const std::string& host) -> tutti::awaitable<int> {
        co_await wait(clock, 2ms);  // an alternate service, asked asynchronously
        co_return host == "down" ? 5 : -1;
      }));
  for (const char* host : {"down", "down", "up"}) {
    const std::string input = host;
    const tutti::run_options opts;
    const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(input, opts, clock, log));
    REQUIRE(run.has_value());
    CHECK(run.value() == (input == "down" ? 5 : 10));
  }
  // "down" opened its own breaker: its second call was refused, "up"'s was not.
  CHECK(calls == std::vector<std::string>{"down", "up"});
  CHECK(log.count(tutti::event_kind::breaker_rejected) == 1);
  CHECK(log.count(tutti::event_kind::breaker_state_changed) == 1);  // down: closed -> open
  CHECK(clock.now() == tutti::duration{1ms + 2ms + 2ms + 1ms});
}

TEST_CASE("a bulkhead's and a rate limiter's waits are timers", "[async][policy]") {
  asio::io_context io;
  manual_clock clock;
  tutti::bulkhead pool{tutti::bulkhead_config{.max_concurrent = 1, .max_wait = 50ms}};
  tutti::rate_limiter limiter{
      tutti::rate_limiter_config{.tokens_per_period = 1, .period = 100ms, .burst = 1, .max_wait = 1s},
      clock};
  auto held = tutti::workflow<"held">(tutti::step<"use">([&]() -> tutti::awaitable<int> {
                                        co_await wait(clock, 20ms);
                                        co_return 1;
                                      }) | tutti::isolate(pool));
  auto limited = tutti::workflow<"limited">(
      tutti::step<"call">([&]() -> tutti::awaitable<tutti::duration> { co_return clock.now(); }) |
      tutti::throttle(limiter));
  std::vector<tutti::duration> held_done;
  std::vector<tutti::duration> limited_at;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
      const auto run = co_await held.async_run(tutti::unit{}, {}, clock);
      if (run.has_value()) held_done.push_back(clock.now());
    }, asio::detached);
    asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
      const auto run = co_await limited.async_run(tutti::unit{}, {}, clock);
      if (run.has_value()) limited_at.push_back(run.value());
    }, asio::detached);
  }
  tutti::testing::run_virtual(io, clock);
  REQUIRE(held_done.size() == 2);
  CHECK(held_done[0] == tutti::duration{20ms});
  CHECK(held_done[1] > tutti::duration{20ms});  // waited for the slot, polling on timers
  CHECK(held_done[1] <= tutti::duration{41ms});
  CHECK(pool.rejected() == 0);
  CHECK(limited_at == std::vector<tutti::duration>{0ms, 100ms});
}

TEST_CASE("ten thousand runs wait at once on one thread", "[async]") {
  asio::io_context io;
  manual_clock clock;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([&](const int& n) -> tutti::awaitable<int> {
        co_await wait(clock, ms{1 + n % 10});
        co_return n;
      }),
      tutti::step<"b">([&](tutti::from<"a", int> a) -> tutti::awaitable<int> {
        co_await wait(clock, ms{1 + (*a * 7) % 10});
        co_return *a + 1;
      }));
  constexpr int runs = 10'000;
  int succeeded = 0;
  long long sum = 0;
  for (int i = 0; i < runs; ++i) {
    asio::co_spawn(io, [&, i]() -> tutti::awaitable<void> {
      const auto run = co_await wf.async_run(i, {}, clock);
      if (run.has_value()) {
        ++succeeded;
        sum += run.value();
      }
    }, asio::detached);
  }
  tutti::testing::run_virtual(io, clock);
  CHECK(succeeded == runs);
  CHECK(sum == static_cast<long long>(runs) * (runs + 1) / 2);
  CHECK(clock.now() <= tutti::duration{20ms});  // the longest chain, not the sum
}

TEST_CASE("runs on an io_context of four threads, a strand each, share policies safely",
          "[async][threads]") {
  asio::io_context io;
  tutti::bulkhead pool{tutti::bulkhead_config{.max_concurrent = 3, .max_wait = 10s}};
  tutti::circuit_breaker<> breaker{tutti::breaker_config{.minimum_calls = tutti::call_count{1'000'000}}};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([&](const int& n) -> tutti::awaitable<int> {
        const int now = ++inside;
        for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
        }
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::microseconds{100 * (n % 5)});
        co_await t.async_wait(asio::use_awaitable);
        --inside;
        co_return n;
      }) | tutti::isolate(pool) | tutti::guard(breaker),
      tutti::step<"b">([](tutti::from<"a", int> a) -> tutti::result<int> {
        if (*a % 10 == 0) return tutti::errc::step_failed;
        return *a;
      }));
  constexpr int runs = 200;
  std::atomic<int> succeeded{0}, failed{0};
  for (int i = 0; i < runs; ++i) {
    asio::co_spawn(asio::make_strand(io), [&, i]() -> tutti::awaitable<void> {
      const auto run = co_await wf.async_run(i);
      (run.has_value() ? succeeded : failed)++;
    }, asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  CHECK(succeeded == runs - runs / 10);
  CHECK(failed == runs / 10);
  CHECK(most.load() <= 3);
  CHECK(pool.in_use() == 0);
  CHECK(breaker.metrics().successes == static_cast<std::uint64_t>(runs));
}
