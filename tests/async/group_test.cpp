// Parallel groups in async runs: coroutine branches at once on the run's executor (one thread),
// losers cancelled through Asio, quorum / first-of / hedging on virtual time, the group undone in
// reverse branch order, and groups on a multi-threaded io_context (TSan).
#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

namespace {

/// What the branches saw: the thread they ran on, and how their wait ended.
struct journal {
  std::mutex mutex;
  std::vector<std::pair<std::string, tutti::duration>> ended;  // name, time
  std::vector<std::string> aborted;                            // cancelled while waiting
  std::vector<std::pair<std::string, tutti::duration>> undone;
  std::vector<std::thread::id> threads;

  void end(std::string name, tutti::duration at) {
    const std::lock_guard lock{mutex};
    ended.emplace_back(std::move(name), at);
    threads.push_back(std::this_thread::get_id());
  }
  void abort(std::string name) {
    const std::lock_guard lock{mutex};
    aborted.push_back(std::move(name));
  }
  void undo(std::string name, tutti::duration at) {
    const std::lock_guard lock{mutex};
    undone.emplace_back(std::move(name), at);
  }
};

/// A coroutine branch: waits `d` on the clock, then gives `value`, or fails with `fail`
/// (a null code: succeeds). A cancelled wait is recorded and returned as the step's error.
template <class Clock>
auto branch_fn(Clock& clock, journal& j, std::string name, tutti::duration d, int value,
               std::error_code fail = {}) {
  return [&clock, &j, name, d, value, fail]() -> tutti::awaitable<tutti::result<int>> {
    std::error_code ec;
    co_await tutti::async_sleep(clock, d, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      j.abort(name);
      co_return ec;
    }
    j.end(name, clock.now());
    if (fail) co_return fail;
    co_return value;
  };
}

/// A coroutine compensation that takes `d` and records when it ended.
template <class Clock>
auto undo_fn(Clock& clock, journal& j, std::string name, tutti::duration d) {
  return [&clock, &j, name, d](const int&) -> tutti::awaitable<void> {
    co_await tutti::async_sleep(clock, d, asio::use_awaitable);
    j.undo(name, clock.now());
  };
}

using entry = std::pair<std::string, tutti::duration>;

}  // namespace

TEST_CASE("a parallel group's coroutine branches wait at once on the run's one thread",
          "[async][parallel]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"quote">(
      tutti::parallel<"prices">(branches,
                                tutti::step<"a">(branch_fn(clock, j, "a", 5ms, 1)),
                                tutti::step<"b">(branch_fn(clock, j, "b", 10ms, 2)),
                                tutti::step<"c">(branch_fn(clock, j, "c", 3ms, 3))),
      tutti::step<"sum">([](tutti::from<"prices", std::tuple<int, int, int>> p) {
        return std::get<0>(*p) * 100 + std::get<1>(*p) * 10 + std::get<2>(*p);
      }));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.value() == 123);
  // At once: the group took its longest branch's 10 ms, not 18.
  CHECK(clock.now() == tutti::duration{10ms});
  CHECK(j.ended == std::vector<entry>{{"c", 3ms}, {"a", 5ms}, {"b", 10ms}});
  for (const auto& t : j.threads) CHECK(t == std::this_thread::get_id());
  CHECK(run.report()[0].status == tutti::step_status::succeeded);
}

TEST_CASE("a failed branch cancels the pending others and undoes the completed ones",
          "[async][parallel][cancel][saga]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  tutti::testing::event_log log;
  auto wf = tutti::workflow<"order">(tutti::parallel<"book">(
      branches,
      tutti::step<"flight">(branch_fn(clock, j, "flight", 2ms, 1))
          .compensate_with(undo_fn(clock, j, "flight", 1ms)),
      tutti::step<"hotel">(branch_fn(clock, j, "hotel", 4ms, 0, tutti::errc::step_failed)),
      tutti::step<"car">(branch_fn(clock, j, "car", 50ms, 3)).compensate_with(undo_fn(clock, j, "car", 1ms))));
  const auto run =
      tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock, log));
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error() == tutti::errc::step_failed);
  // The car's 50 ms wait was cancelled when the hotel failed at 4 ms; the flight was undone.
  CHECK(j.aborted == std::vector<std::string>{"car"});
  CHECK(j.undone == std::vector<entry>{{"flight", 5ms}});
  CHECK(clock.now() == tutti::duration{5ms});
  CHECK(clock.pending_wakes() == 0);
  CHECK(log.count(tutti::event_kind::compensation_succeeded) == 1);
  CHECK(run.report()[0].message.find("hotel") != std::string::npos);
}

TEST_CASE("a quorum keeps the first K successes and cancels the rest", "[async][parallel][cancel]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"read">(tutti::quorum<"replicas", 2>(
      branches, tutti::step<"r1">(branch_fn(clock, j, "r1", 9ms, 1)),
      tutti::step<"r2">(branch_fn(clock, j, "r2", 1ms, 2)),
      tutti::step<"r3">(branch_fn(clock, j, "r3", 3ms, 3))));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  const auto& v = run.value();
  CHECK_FALSE(v[0].has_value());
  CHECK(v[1] == 2);
  CHECK(v[2] == 3);
  CHECK(j.aborted == std::vector<std::string>{"r1"});
  CHECK(clock.now() == tutti::duration{3ms});
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("a first-of loser that succeeds anyway is undone", "[async][parallel][cancel][saga]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  // "slow" ignores the cancellation: its wait is not cancellable (a plain timer on another
  // clock would be; here it goes on regardless) and it succeeds at 7 ms.
  auto stubborn = [&]() -> tutti::awaitable<int> {
    std::error_code ec;
    co_await tutti::async_sleep(clock, 5ms, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_await tutti::async_sleep(clock, 2ms, asio::use_awaitable);  // finishes its work anyway
    j.end("slow", clock.now());
    co_return 7;
  };
  auto wf = tutti::workflow<"price">(tutti::first_of<"source">(
      branches, tutti::step<"slow">(stubborn).compensate_with(undo_fn(clock, j, "slow", 1ms)),
      tutti::step<"fast">(branch_fn(clock, j, "fast", 2ms, 9)).compensate_with(undo_fn(clock, j, "fast", 1ms))));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.value() == 9);
  // The loser's late success (at 4 ms: cancelled at 2 ms, then 2 ms of its own) is undone.
  CHECK(j.ended == std::vector<entry>{{"fast", 2ms}, {"slow", 4ms}});
  CHECK(j.undone == std::vector<entry>{{"slow", 5ms}});
  CHECK(clock.now() == tutti::duration{5ms});
}

TEST_CASE("a hedge starts the next branch after the delay on a timer and cancels the loser",
          "[async][parallel][cancel][policy]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  tutti::testing::event_log log;
  auto wf = tutti::workflow<"read">(
      tutti::hedge<"replica">(branches, 50ms, tutti::step<"primary">(branch_fn(clock, j, "primary", 200ms, 1)),
                              tutti::step<"secondary">(branch_fn(clock, j, "secondary", 30ms, 2)),
                              tutti::step<"third">(branch_fn(clock, j, "third", 30ms, 3))));
  const auto run =
      tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock, log));
  REQUIRE(run.has_value());
  CHECK(run.value() == 2);
  // The secondary started at 50 ms and won at 80; the primary was cancelled, the third (due at
  // 100 ms) never started.
  CHECK(j.ended == std::vector<entry>{{"secondary", 80ms}});
  CHECK(j.aborted == std::vector<std::string>{"primary"});
  CHECK(clock.now() == tutti::duration{80ms});
  CHECK(clock.pending_wakes() == 0);
  CHECK(log.count(tutti::event_kind::step_started) == 3);  // the run's group, two branches
}

TEST_CASE("an Asio cancellation of the run cancels a hedge's pending branch and starts no other",
          "[async][parallel][cancel]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  asio::cancellation_signal cancel;
  auto wf = tutti::workflow<"read">(
      tutti::hedge<"replica">(branches, 50ms, tutti::step<"primary">(branch_fn(clock, j, "primary", 200ms, 1)),
                              tutti::step<"secondary">(branch_fn(clock, j, "secondary", 30ms, 2))));
  std::optional<std::error_code> error;
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    const tutti::run_options opts;
    const auto run = co_await wf.async_run(tutti::unit{}, opts, clock);
    error = run.error();
  }, asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> {
    co_await tutti::async_sleep(clock, 20ms, asio::use_awaitable);
    cancel.emit(asio::cancellation_type::terminal);
  }, asio::detached);
  tutti::testing::run_virtual(io, clock);
  REQUIRE(error.has_value());
  CHECK(*error);
  // Cancelled at 20 ms: the primary's call aborted, the secondary (due at 50 ms) never called.
  CHECK(j.aborted == std::vector<std::string>{"primary"});
  CHECK(j.ended.empty());
  CHECK(clock.now() == tutti::duration{20ms});
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("a hedge starts at once when every branch started so far failed",
          "[async][parallel][policy]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"read">(tutti::hedge<"replica">(
      branches, 50ms,
      tutti::step<"primary">(branch_fn(clock, j, "primary", 10ms, 0, tutti::errc::step_failed)),
      tutti::step<"secondary">(branch_fn(clock, j, "secondary", 5ms, 2))));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.value() == 2);
  CHECK(j.ended == std::vector<entry>{{"primary", 10ms}, {"secondary", 15ms}});  // not 55 ms
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("a hedged coroutine step sends a copy after the delay", "[async][parallel][policy]") {
  asio::io_context io;
  manual_clock clock;
  int calls = 0;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"read">(
      tutti::step<"get">([&]() -> tutti::awaitable<tutti::result<int>> {
        const int me = ++calls;
        std::error_code ec;
        co_await tutti::async_sleep(clock, me == 1 ? 100ms : 10ms,
                                    asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return ec;
        co_return me;
      }) | tutti::hedged(branches, 20ms));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.value() == 2);
  CHECK(calls == 2);
  CHECK(clock.now() == tutti::duration{30ms});
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("a group of plain branches on an asio_executor is awaited on the run's one thread",
          "[async][parallel]") {
  // Waited for synchronously, such a group would post its branches to the thread that waits.
  asio::io_context io;
  manual_clock clock;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"plain">(branches, tutti::step<"x">([] { return 1; }),
                               tutti::step<"y">([]() -> tutti::result<int> { return tutti::errc::step_failed; }) |
                                   tutti::fallback_to([&clock]() -> tutti::awaitable<int> {
                                     co_await tutti::async_sleep(clock, 3ms, asio::use_awaitable);
                                     co_return 2;  // a coroutine alternate, inside a group
                                   })),
      tutti::when([] { return true; },
                  tutti::quorum<"nested", 1>(branches, tutti::step<"z">([] { return 3; }))));
  const tutti::run_options opts;
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, opts, clock));
  REQUIRE(run.has_value());
  CHECK(run.get<"plain">() == std::tuple<int, int>{1, 2});
  CHECK(clock.now() == tutti::duration{3ms});
}

TEST_CASE("a group on the inline executor awaits its coroutine branches one after another",
          "[async][parallel]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  auto wf = tutti::workflow<"w">(
      tutti::first_of<"source">(
          tutti::step<"cache">(branch_fn(clock, j, "cache", 2ms, 0, tutti::errc::step_failed)),
          tutti::step<"origin">(branch_fn(clock, j, "origin", 5ms, 8)),
          tutti::step<"never">(branch_fn(clock, j, "never", 1ms, 9))),
      tutti::parallel<"both">(tutti::step<"x">(branch_fn(clock, j, "x", 1ms, 1)),
                              tutti::step<"y">(branch_fn(clock, j, "y", 1ms, 2))));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.has_value());
  CHECK(run.get<"source">() == 8);
  CHECK(j.ended == std::vector<entry>{{"cache", 2ms}, {"origin", 7ms}, {"x", 8ms}, {"y", 9ms}});
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::succeeded);
}

TEST_CASE("a later failure undoes a group's kept branches last first, awaiting their compensations",
          "[async][parallel][saga]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"trip">(
      tutti::parallel<"book">(branches,
                              tutti::step<"flight">(branch_fn(clock, j, "flight", 1ms, 1))
                                  .compensate_with(undo_fn(clock, j, "flight", 2ms)),
                              tutti::step<"hotel">(branch_fn(clock, j, "hotel", 1ms, 2))
                                  .compensate_with(undo_fn(clock, j, "hotel", 3ms))),
      tutti::step<"pay">([]() -> tutti::result<int> { return tutti::errc::step_failed; }));
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  // Reverse branch order, each awaited: hotel 1→4 ms, flight 4→6 ms.
  CHECK(j.undone == std::vector<entry>{{"hotel", 4ms}, {"flight", 6ms}});
  CHECK(run.report()[0].status == tutti::step_status::compensated);
}

TEST_CASE("a timeout around a group cancels every pending branch", "[async][parallel][cancel]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(branches, tutti::step<"a">(branch_fn(clock, j, "a", 1ms, 1)),
                           tutti::step<"b">(branch_fn(clock, j, "b", 100ms, 2)),
                           tutti::step<"c">(branch_fn(clock, j, "c", 200ms, 3))) |
      tutti::timeout{20ms});
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, {}, clock));
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(clock.now() == tutti::duration{20ms});
  std::vector<std::string> aborted = j.aborted;
  std::sort(aborted.begin(), aborted.end());
  CHECK(aborted == std::vector<std::string>{"b", "c"});
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("the run's stop cancels a group's pending branches", "[async][parallel][cancel]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor branches{io.get_executor()};
  std::stop_source stop;
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(branches, tutti::step<"a">(branch_fn(clock, j, "a", 100ms, 1)),
                           tutti::step<"b">([&]() -> tutti::awaitable<int> {
                             co_await tutti::async_sleep(clock, 5ms, asio::use_awaitable);
                             stop.request_stop();  // as another thread would
                             co_return 2;
                           }).compensate_with(undo_fn(clock, j, "b", 1ms))));
  tutti::run_options opts;
  opts.stop = stop.get_token();
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(tutti::unit{}, opts, clock));
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  // a's own error: it returned the code of its cancelled wait.
  CHECK(run.error() == std::error_code(asio::error::operation_aborted));
  CHECK(j.aborted == std::vector<std::string>{"a"});
  CHECK(j.undone == std::vector<entry>{{"b", 6ms}});  // the run still compensates
  CHECK(clock.now() == tutti::duration{6ms});
}

TEST_CASE("groups run on an io_context of four threads without a strand", "[async][parallel]") {
  // The branches of one group may then run on different threads at once: what they share is
  // the group's counters. Each run's branches record, under a lock, which of them succeeded and
  // which were undone; every run must keep exactly two successes and undo the others.
  asio::io_context io;
  tutti::steady_clock clock;
  tutti::asio_executor branches{io.get_executor()};
  constexpr int runs = 200;
  std::mutex m;
  std::vector<std::vector<int>> succeeded(runs), undone(runs);
  auto quick = [&](int v) {
    return [&clock, &m, &succeeded, v](const int& run) -> tutti::awaitable<tutti::result<int>> {
      std::error_code ec;
      co_await tutti::async_sleep(clock, std::chrono::microseconds{20 * v},
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec || v == 3) co_return tutti::errc::step_failed;  // cancelled, or c: fails
      const std::lock_guard lock{m};
      succeeded[static_cast<std::size_t>(run)].push_back(v);
      co_return v;
    };
  };
  auto undo = [&m, &undone](int v) {
    return [&m, &undone, v](const int& /*value*/, const int& run) {
      const std::lock_guard lock{m};
      undone[static_cast<std::size_t>(run)].push_back(v);
    };
  };
  auto wf = tutti::workflow<"w">(tutti::quorum<"g", 2>(
      branches, tutti::step<"a">(quick(1)).compensate_with(undo(1)),
      tutti::step<"b">(quick(2)).compensate_with(undo(2)), tutti::step<"c">(quick(3)),
      tutti::step<"d">(quick(2)).compensate_with(undo(4))));
  std::vector<std::vector<int>> kept(runs);
  std::atomic<int> ok{0};
  for (int i = 0; i < runs; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> tutti::awaitable<void> {
          const int input = i;
          const tutti::run_options opts;
          auto run = co_await wf.async_run(input, opts, clock);
          if (!run.has_value()) co_return;
          ++ok;
          const std::lock_guard lock{m};
          for (std::size_t k = 0; k < 4; ++k)
            if (run.value()[k]) kept[static_cast<std::size_t>(i)].push_back(*run.value()[k]);
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  REQUIRE(ok == runs);
  for (std::size_t r = 0; r < static_cast<std::size_t>(runs); ++r) {
    INFO("run " << r);
    CHECK(kept[r].size() == 2);
    // What succeeded is what was kept plus what was undone (d's value is 2, its undo says 4).
    std::vector<int> accounted = kept[r];
    for (const int u : undone[r]) accounted.push_back(u == 4 ? 2 : u);
    std::sort(accounted.begin(), accounted.end());
    std::vector<int> s = succeeded[r];
    std::sort(s.begin(), s.end());
    CHECK(accounted == s);
  }
}

TEST_CASE("timeouts race coroutine steps and a group on an io_context of four threads without a strand",
          "[async][parallel][cancel]") {
  // A timeout's timer and the attempt it limits complete on threads of their own: the first to
  // complete cancels the other, which Asio allows only where the cancelled operation's handlers
  // run (tutti gives each race a strand). Against limits of 2 s (a, and the group), the waits
  // of a run (by its number) are well within (it succeeds, even on a loaded machine under
  // TSan), well beyond (it times out), or within a millisecond of the limit, so that attempts
  // lose their race while their own wait completes. The runs start over 50 ms, four at a time.
  // Every run must either keep all three steps or time out having undone each step that
  // completed.
  asio::io_context io;
  tutti::steady_clock clock;
  tutti::asio_executor branches{io.get_executor()};
  constexpr int runs = 200;
  std::mutex m;
  std::vector<int> completed(runs, 0), undone(runs, 0);
  using ms = std::array<int, 10>;  // a run's wait (ms) by its number modulo 10
  auto wait = [&clock, &m, &completed](ms waits) {
    return [&clock, &m, &completed, waits](const int& run) -> tutti::awaitable<tutti::result<int>> {
      std::error_code ec;
      co_await tutti::async_sleep(clock, std::chrono::milliseconds{waits[static_cast<std::size_t>(run % 10)]},
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;  // cancelled: the race was lost
      const std::lock_guard lock{m};
      ++completed[static_cast<std::size_t>(run)];
      co_return run;
    };
  };
  auto undo = [&m, &undone](const int& /*value*/, const int& run) {
    const std::lock_guard lock{m};
    ++undone[static_cast<std::size_t>(run)];
  };
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">(wait(ms{0, 0, 0, 0, 0, 1999, 2000, 2001, 9000, 9000}))
              .compensate_with(undo) |
          tutti::timeout{2s},
      tutti::parallel<"g">(
          branches,
          tutti::step<"b">(wait(ms{0, 9000, 1999, 2000, 2001, 0, 0, 0, 0, 0})).compensate_with(undo),
          tutti::step<"c">(wait(ms{1, 1, 1, 1, 1, 1, 1, 1, 1, 1})).compensate_with(undo)) |
          tutti::timeout{2s});
  std::vector<std::optional<std::error_code>> ended(runs);  // nothing: succeeded
  std::vector<std::string> failed_at(runs);
  std::atomic<int> finished{0};
  for (int i = 0; i < runs; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> tutti::awaitable<void> {
          asio::steady_timer start(co_await asio::this_coro::executor, std::chrono::milliseconds{i % 50});
          co_await start.async_wait(asio::use_awaitable);
          const int input = i;
          const tutti::run_options opts;
          auto run = co_await wf.async_run(input, opts, clock);
          const std::lock_guard lock{m};
          if (!run.has_value()) {
            ended[static_cast<std::size_t>(i)] = run.error();
            failed_at[static_cast<std::size_t>(i)] = std::string{run.failed_step()};
          }
          ++finished;
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  REQUIRE(finished == runs);
  int succeeded = 0, timed_out_at_a = 0, timed_out_at_g = 0;
  for (std::size_t r = 0; r < static_cast<std::size_t>(runs); ++r) {
    INFO("run " << r);
    if (!ended[r]) {
      ++succeeded;
      CHECK(completed[r] == 3);
      CHECK(undone[r] == 0);
    } else {
      ++(failed_at[r] == "a" ? timed_out_at_a : timed_out_at_g);
      CHECK(*ended[r] == tutti::errc::timeout);
      CHECK((failed_at[r] == "a" || failed_at[r] == "g"));
      CHECK(undone[r] == completed[r]);  // a step that completed after its limit is undone too
    }
  }
  // a waits 9 s in a fifth of the runs: its limit (started first, due first) always ends them.
  CHECK(timed_out_at_a >= runs / 5);
  // Each kind of ending happened: runs ending in 0 wait at most 1 ms at each step; those ending
  // in 1 wait 9 s in the group.
  CHECK(succeeded > 0);
  CHECK(timed_out_at_g > 0);
}

TEST_CASE("a workflow built with compensate_in_parallel awaits its compensations all at once",
          "[async][parallel][saga]") {
  asio::io_context io;
  manual_clock clock;
  journal j;
  tutti::asio_executor exec{io.get_executor()};
  const auto booking =
      tutti::workflow<"book">(
          tutti::step<"flight">(branch_fn(clock, j, "flight", 1ms, 1)).compensate_with(undo_fn(clock, j, "flight", 5ms)),
          tutti::step<"hotel">(branch_fn(clock, j, "hotel", 1ms, 2)).compensate_with(undo_fn(clock, j, "hotel", 4ms)),
          tutti::step<"car">(branch_fn(clock, j, "car", 1ms, 3)).compensate_with(undo_fn(clock, j, "car", 3ms)))
          .compensate_in_parallel(exec);
  SECTION("at the top: a failure after the steps") {
    // The workflow itself fails at its last step: the three before it are undone at once.
    const auto top = tutti::workflow<"trip">(
        tutti::step<"a">(branch_fn(clock, j, "a", 1ms, 1)).compensate_with(undo_fn(clock, j, "a", 2ms)),
        tutti::step<"b">(branch_fn(clock, j, "b", 1ms, 2)).compensate_with(undo_fn(clock, j, "b", 3ms)),
        tutti::step<"c">(branch_fn(clock, j, "c", 1ms, 0, tutti::errc::step_failed)))
                         .compensate_in_parallel(exec);
    const auto run = tutti::testing::run_to_completion(io, clock, top.async_run(tutti::unit{}, {}, clock));
    REQUIRE(run.outcome() == tutti::run_outcome::compensated);
    // Started together at 3 ms: a ends at 5, b at 6 (one after another: 3 + 3 + 2 = 8).
    std::sort(j.undone.begin(), j.undone.end(), [](const entry& x, const entry& y) { return x.second < y.second; });
    CHECK(j.undone == std::vector<entry>{{"a", 5ms}, {"b", 6ms}});
    CHECK(clock.now() == tutti::duration{6ms});
  }
  SECTION("nested: a later step of the enclosing workflow fails") {
    const auto trip = tutti::workflow<"trip">(
        booking, tutti::step<"pay">([]() -> tutti::result<int> { return tutti::errc::step_failed; }));
    const auto run = tutti::testing::run_to_completion(io, clock, trip.async_run(tutti::unit{}, {}, clock));
    REQUIRE(run.outcome() == tutti::run_outcome::compensated);
    std::sort(j.undone.begin(), j.undone.end(), [](const entry& x, const entry& y) { return x.second < y.second; });
    // The three steps ended at 3 ms; their undos started together: 6, 7, 8 ms (not 15 ms).
    CHECK(j.undone == std::vector<entry>{{"car", 6ms}, {"hotel", 7ms}, {"flight", 8ms}});
    CHECK(clock.now() == tutti::duration{8ms});
    CHECK(run.report()[0].status == tutti::step_status::compensated);
  }
}
