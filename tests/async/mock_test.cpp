// Async mocks: a scripted mock as a coroutine step, whose delays are virtual time that passes
// without holding the thread, and which a timeout cancels.
#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <optional>
#include <vector>

#include <tutti/testing/manual_clock.hpp>
#include <tutti/testing/mock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

TEST_CASE("an async mock answers from its script after a virtual delay, holding no thread",
          "[async][testing]") {
  asio::io_context io;
  manual_clock clock;
  auto quote = tutti::testing::mock<tutti::result<int>(const int&)>{"quote"}
                   .on(clock)
                   .takes(200ms)
                   .fail(tutti::errc::rate_limited)
                   .then_return(7);
  auto wf = tutti::workflow<"w">(tutti::step<"quote">(tutti::testing::async_mock{quote}) |
                                 tutti::retry{tutti::constant_backoff{50ms}, tutti::max_attempts{2}});
  // Two runs at once: their delays overlap in virtual time.
  std::vector<std::optional<int>> values(2);
  for (int i = 0; i < 2; ++i)
    asio::co_spawn(io, [&, i]() -> tutti::awaitable<void> {
      const auto run = co_await wf.async_run(i, {}, clock);
      if (run.has_value()) values[static_cast<std::size_t>(i)] = run.value();
    }, asio::detached);
  tutti::testing::run_virtual(io, clock);
  // First calls of both at 0: one gets the scripted failure (then retries after 50 ms and
  // 200 ms more), the other the value; both calls took 200 ms, side by side.
  REQUIRE(values[0].has_value());
  REQUIRE(values[1].has_value());
  CHECK(*values[0] == 7);
  CHECK(*values[1] == 7);
  CHECK(quote.call_count() == 3);
  CHECK(clock.now() == tutti::duration{450ms});
  const auto calls = quote.calls();
  CHECK(calls[0].at == tutti::duration{0ms});
  CHECK(calls[1].at == tutti::duration{0ms});
  CHECK(calls[2].at == tutti::duration{250ms});
  CHECK(calls[0].error == tutti::errc::rate_limited);
}

TEST_CASE("a timeout cancels an async mock's delay", "[async][testing][cancel]") {
  asio::io_context io;
  manual_clock clock;
  auto slow = tutti::testing::mock<tutti::result<int>()>{"slow"}.on(clock).takes(1s).then_return(1);
  auto undo = tutti::testing::mock_compensation<void(const int&)>{"undo"}.on(clock).takes(5ms);
  auto wf = tutti::workflow<"w">(
      tutti::step<"first">([] { return 3; }).compensate_with(tutti::testing::async_mock{undo}),
      tutti::step<"slow">(tutti::testing::async_mock{slow}) | tutti::timeout{100ms});
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(slow.call_count() == 1);
  CHECK(slow.calls()[0].error == std::error_code(asio::error::operation_aborted));
  REQUIRE(undo.call_count() == 1);
  CHECK(undo.calls()[0].arg<0>() == 3);
  CHECK(clock.now() == tutti::duration{105ms});  // 100 ms to the timeout, 5 ms to undo
}
