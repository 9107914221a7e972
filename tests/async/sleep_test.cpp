// tutti::async_sleep: a wait on the run's clock that holds no thread. On the manual clock it ends
// when the test moves the clock (virtual time); on tutti::steady_clock it is an Asio timer.
#include <tutti/async/sleep.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <tutti/testing/manual_clock.hpp>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

namespace {

/// What one waiting coroutine saw when it resumed.
struct woke {
  std::string name;
  std::chrono::nanoseconds at{-1};
  std::error_code error;
  bool operator==(const woke&) const = default;
};

asio::awaitable<void> sleeper(manual_clock& clock, std::chrono::nanoseconds d, std::string name,
                              std::vector<woke>& out) {
  std::error_code ec;
  co_await tutti::async_sleep(clock, d, asio::redirect_error(asio::use_awaitable, ec));
  out.push_back({std::move(name), clock.now(), ec});
}

/// What a plain completion handler saw: how many times it was called, with what.
struct completions {
  int calls = 0;
  std::error_code last;
};

/// A handler on `io`, cancellable through `cancel`, that records into `out`.
auto recording(asio::io_context& io, asio::cancellation_signal& cancel, completions& out) {
  return asio::bind_cancellation_slot(cancel.slot(), asio::bind_executor(io, [&out](std::error_code ec) {
                                        ++out.calls;
                                        out.last = ec;
                                      }));
}

}  // namespace

TEST_CASE("a wait on the manual clock ends when the clock reaches its end, not before",
          "[async][clock]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<woke> out;
  asio::co_spawn(io, sleeper(clock, 5s, "five", out), asio::detached);
  io.poll();
  CHECK(out.empty());
  CHECK(clock.pending_wakes() == 1);
  clock.advance(4s);
  io.poll();
  CHECK(out.empty());  // 4 s of 5
  clock.advance(1s);
  CHECK(out.empty());  // due, posted to the io_context: not run on the thread that moved time
  io.poll();
  CHECK(out == std::vector<woke>{{"five", 5s, {}}});
}

TEST_CASE("run_virtual resumes each wait at its own end, earliest first",
          "[async][clock]") {
  asio::io_context io;
  manual_clock clock{1h};
  std::vector<woke> out;
  asio::co_spawn(io, sleeper(clock, 3min, "three", out), asio::detached);
  asio::co_spawn(io, sleeper(clock, 1min, "one", out), asio::detached);
  asio::co_spawn(io, sleeper(clock, 2min, "two", out), asio::detached);
  asio::co_spawn(io, sleeper(clock, 0s, "zero", out), asio::detached);  // ends at once
  const std::size_t moves = tutti::testing::run_virtual(io, clock);
  CHECK(out == std::vector<woke>{{"zero", 1h, {}},
                                 {"one", 1h + 1min, {}},
                                 {"two", 1h + 2min, {}},
                                 {"three", 1h + 3min, {}}});
  CHECK(moves == 3);
  CHECK(clock.now() == 1h + 3min);
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("a chain of waits in one coroutine runs in virtual time",
          "[async][clock]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<std::chrono::nanoseconds> seen;
  // A backoff of 100 ms, 200 ms, 400 ms, 800 ms: 1.5 s of virtual time, no real waiting.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (auto d = 100ms; d <= 800ms; d *= 2) {
          std::error_code ec;
          co_await tutti::async_sleep(clock, d, asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
          seen.push_back(clock.now());
        }
      },
      asio::detached);
  tutti::testing::run_virtual(io, clock);
  CHECK(seen == std::vector<std::chrono::nanoseconds>{100ms, 300ms, 700ms, 1500ms});
}

TEST_CASE("a cancelled wait ends at once with operation_aborted, and never again",
          "[async][clock]") {
  asio::io_context io;
  manual_clock clock;
  asio::cancellation_signal cancel;
  completions first;
  tutti::async_sleep(clock, 10s, recording(io, cancel, first));
  io.poll();
  CHECK(first.calls == 0);
  CHECK(clock.pending_wakes() == 1);
  cancel.emit(asio::cancellation_type::terminal);
  CHECK(clock.pending_wakes() == 0);  // the wake-up is withdrawn from the clock
  io.poll();
  CHECK(first.calls == 1);
  CHECK(first.last == asio::error::operation_aborted);
  CHECK(clock.now() == 0s);
  clock.advance(1min);
  io.poll();
  CHECK(first.calls == 1);

  SECTION("a cancellation after the end changes nothing") {
    asio::cancellation_signal late;
    completions later;
    tutti::async_sleep(clock, 1s, recording(io, late, later));
    io.restart();  // the first wait's end left the io_context out of work
    clock.advance(1s);  // due: its completion is posted
    late.emit(asio::cancellation_type::terminal);
    io.poll();
    CHECK(later.calls == 1);
    CHECK_FALSE(later.last);
  }
}

TEST_CASE("a coroutine's cancellation reaches its wait", "[async][clock]") {
  asio::io_context io;
  manual_clock clock;
  asio::cancellation_signal cancel;
  std::vector<woke> out;
  asio::co_spawn(io, sleeper(clock, 1h, "long", out),
                 asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  io.poll();
  REQUIRE(clock.pending_wakes() == 1);
  cancel.emit(asio::cancellation_type::terminal);
  io.poll();
  CHECK(out == std::vector<woke>{{"long", 0s, asio::error::operation_aborted}});
}

TEST_CASE("sleep_for on the manual clock ends asynchronous waits too", "[async][clock]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<woke> out;
  asio::co_spawn(io, sleeper(clock, 2s, "two", out), asio::detached);
  io.poll();
  clock.sleep_for(3s);  // a synchronous step's backoff in the same test moves the same time
  io.poll();
  CHECK(out == std::vector<woke>{{"two", 3s, {}}});
}

TEST_CASE("on tutti::steady_clock the wait is a real timer", "[async][clock]") {
  asio::io_context io;
  tutti::steady_clock clock;
  std::error_code ended{asio::error::would_block};
  std::chrono::nanoseconds took{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto t0 = clock.now();
        std::error_code ec;
        co_await tutti::async_sleep(clock, 2ms, asio::redirect_error(asio::use_awaitable, ec));
        took = clock.now() - t0;
        ended = ec;
      },
      asio::detached);
  io.run();  // returns once the timer has fired and the coroutine ended
  CHECK_FALSE(ended);
  CHECK(took >= 2ms);

  // Cancelled through the handler's slot, as any Asio timer.
  asio::cancellation_signal cancel;
  completions cancelled;
  tutti::async_sleep(clock, 1h, recording(io, cancel, cancelled));
  io.restart();
  io.poll();
  cancel.emit(asio::cancellation_type::terminal);
  io.run();
  CHECK(cancelled.calls == 1);
  CHECK(cancelled.last == asio::error::operation_aborted);
}

TEST_CASE("waits on an io_context run by several threads each end once, on its threads",
          "[async][clock]") {
  asio::io_context io;
  manual_clock clock;
  constexpr int waits = 200;
  std::atomic<int> ended{0};
  std::atomic<int> errors{0};
  std::atomic<int> on_main{0};
  const auto main_thread = std::this_thread::get_id();
  for (int i = 0; i < waits; ++i)
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          std::error_code ec;
          co_await tutti::async_sleep(clock, std::chrono::milliseconds{1 + i % 37},
                                      asio::redirect_error(asio::use_awaitable, ec));
          if (ec) errors.fetch_add(1);
          if (std::this_thread::get_id() == main_thread) on_main.fetch_add(1);
          ended.fetch_add(1);
        },
        asio::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&io] { io.run(); });
  // The waits register from the io_context's threads; wait (bounded) until all have.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (clock.pending_wakes() < static_cast<std::size_t>(waits) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(clock.pending_wakes() == static_cast<std::size_t>(waits));
  CHECK(ended.load() == 0);  // pending waits keep io.run() from returning
  clock.advance(1s);         // all due: each posted to the io_context, run by its threads
  const auto end_by = std::chrono::steady_clock::now() + 10s;
  while (ended.load() < waits && std::chrono::steady_clock::now() < end_by)
    std::this_thread::yield();
  const bool all_ended = ended.load() == waits;
  if (!all_ended) io.stop();  // a wait that never ended must fail the test, not hang it
  for (auto& th : threads) th.join();  // run() returns when the last wait has ended
  CHECK(all_ended);
  CHECK(ended.load() == waits);
  CHECK(errors.load() == 0);
  CHECK(on_main.load() == 0);
}
