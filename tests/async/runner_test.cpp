// tutti::runner with async runs (host_async): queued requests run as coroutines on an
// io_context's one thread, many in flight at once; a drain hands an async run back at its next
// step boundary and another runner finishes it. Real threads and timers: the runner's pump is a
// thread; conditions are waited for with a bounded timeout.
#include <tutti/async.hpp>  // first: Asio before <coroutine>

#include <catch2/catch.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/runner.hpp>
#include <tutti/tutti.hpp>

#include "../support/eventually.hpp"

using namespace std::chrono_literals;

namespace {

struct job {
  int n = 0;
  template <class A>
  friend void serialize(A& ar, job& j) {
    ar(j.n);
  }
};

/// What the runs did: calls per idempotency key, the threads they ran on, how many waited at once.
struct trace {
  std::mutex m;
  std::map<std::string, int> calls;
  std::vector<std::thread::id> threads;
  int waiting = 0, most_waiting = 0;
  void enter(const tutti::call_context& ctx) {
    const std::lock_guard lock{m};
    ++calls[fmt::format("{}", ctx.key())];
    threads.push_back(std::this_thread::get_id());
    most_waiting = std::max(most_waiting, ++waiting);
  }
  void leave() {
    const std::lock_guard lock{m};
    --waiting;
  }
};

/// An io_context run by one thread until destroyed.
struct io_thread {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~io_thread() {
    work.reset();
    thread.join();
  }
};

using support::eventually;

}  // namespace

TEST_CASE("a runner runs queued requests as coroutines, many in flight on one thread",
          "[async][runner][queue]") {
  tutti::memory_journal j;
  trace t;
  tutti::steady_clock clock;
  const auto wf = tutti::workflow<"jobs">(
      tutti::step<"work">([&](const job& in, const tutti::call_context& ctx) -> tutti::awaitable<int> {
        t.enter(ctx);
        co_await tutti::async_sleep(clock, 2ms, asio::use_awaitable);
        t.leave();
        co_return in.n;
      }),
      tutti::step<"done">([](tutti::from<"work", int> n) { return *n + 1; }));
  const tutti::durable_workflow durable{wf, j};
  constexpr int jobs = 200;
  for (int i = 0; i < jobs; ++i) REQUIRE(durable.submit(job{i}));
  std::thread::id io_id;
  {
    io_thread io;
    io_id = io.thread.get_id();
    tutti::asio_executor exec{io.io.get_executor()};
    tutti::runner r{j, exec, {.name = "async-1", .poll = 1ms}};
    r.host_async<job>(wf, 64, clock);
    r.start();
    REQUIRE(eventually([&] { return j.queue_depth().value() == 0; }));
    REQUIRE(r.wait_idle(10s));
    r.stop();
    CHECK(r.stats().claims == jobs);
    CHECK(r.stats().finished == jobs);
    CHECK(r.stats().in_flight == 0);
  }
  tutti::run_filter succeeded;
  succeeded.status = tutti::run_status::succeeded;
  CHECK(j.list(succeeded).value().size() == jobs);
  CHECK(t.calls.size() == jobs);
  for (const auto& [key, n] : t.calls) CHECK(n == 1);
  for (const auto& id : t.threads) CHECK(id == io_id);
  // Runs waited at once on the one thread (at most 64, the hosted concurrency).
  CHECK(t.most_waiting > 1);
  CHECK(t.most_waiting <= 64);
}

TEST_CASE("a runner's drain hands an async run back at its next step boundary",
          "[async][runner]") {
  tutti::memory_journal j;
  tutti::steady_clock clock;
  std::atomic<int> calls{0};
  std::atomic<bool> release{false};
  const auto wf = tutti::workflow<"slow">(
      tutti::step<"wait">([&]() -> tutti::awaitable<int> {
        ++calls;
        while (!release.load()) co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
        co_return 1;
      }),
      tutti::step<"after">([](tutti::from<"wait", int> x) { return *x; }));
  const tutti::durable_workflow durable{wf, j};
  const auto id = durable.submit(tutti::unit{}).value().id;
  {
    io_thread io;
    tutti::asio_executor exec{io.io.get_executor()};
    tutti::runner r{j, exec, {.name = "drain", .poll = 1ms, .drain_timeout = 0ms}};
    r.host_async<tutti::unit>(wf, 1, clock);
    r.start();
    REQUIRE(eventually([&] { return calls.load() == 1; }));
    std::thread releaser([&] {
      // stop() has begun or is about to: the run is told to hand back either way (the flag is
      // read at the step boundary, after this).
      std::this_thread::sleep_for(20ms);
      release = true;
    });
    r.stop();  // returns once the run stopped at its next step boundary
    releaser.join();
    CHECK(r.stats().handed_back == 1);
  }
  const auto run = j.load(id).value();
  CHECK(run.summary.status == tutti::run_status::running);
  CHECK(run.summary.owner.empty());
  CHECK(run.records.back().kind == tutti::record_kind::released);
  // Another runner, async too, continues it: "wait" is not called again.
  io_thread io;
  tutti::asio_executor exec{io.io.get_executor()};
  tutti::runner r2{j, exec, {.name = "next", .poll = 1ms}};
  r2.host_async<tutti::unit>(wf, 1, clock);
  CHECK(r2.poll_once() == 1);
  REQUIRE(eventually([&] { return j.status(id).value() == tutti::run_status::succeeded; }));
  REQUIRE(r2.wait_idle(10s));
  CHECK(calls.load() == 1);
}
