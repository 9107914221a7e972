// Conditional steps and choices in async runs: the condition or selector is asked as in a sync
// run, the coroutine step or case is awaited, and a later failure awaits the compensation of the
// case that ran. Virtual time.
#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

namespace {

struct order {
  bool express = false;
  bool gift = false;
  int region = 0;
  bool fail_pay = false;
};

using entry = std::pair<std::string, tutti::duration>;

/// A coroutine step that takes `d` and gives `value`, recording when it ended.
auto timed(manual_clock& clock, std::vector<entry>& log, std::string name, tutti::duration d, int value) {
  return [&clock, &log, name, d, value]() -> tutti::awaitable<int> {
    co_await tutti::async_sleep(clock, d, asio::use_awaitable);
    log.emplace_back(name, clock.now());
    co_return value;
  };
}
/// A coroutine compensation that takes `d`, recording when it ended.
auto timed_undo(manual_clock& clock, std::vector<entry>& log, std::string name, tutti::duration d) {
  return [&clock, &log, name, d](const int&) -> tutti::awaitable<void> {
    co_await tutti::async_sleep(clock, d, asio::use_awaitable);
    log.emplace_back("undo " + name, clock.now());
  };
}

auto make_shipping(manual_clock& clock, std::vector<entry>& log) {
  return tutti::workflow<"ship">(
      tutti::when([](const order& o) { return o.gift; },
                  tutti::step<"wrap">(timed(clock, log, "wrap", 2ms, 1))
                      .compensate_with(timed_undo(clock, log, "wrap", 1ms))),
      tutti::if_else<"carrier">(
          [](const order& o) { return o.express; },
          tutti::step<"courier">(timed(clock, log, "courier", 5ms, 10))
              .compensate_with(timed_undo(clock, log, "courier", 1ms)),
          tutti::step<"post">(timed(clock, log, "post", 1ms, 20))
              .compensate_with(timed_undo(clock, log, "post", 1ms))),
      tutti::choose<"depot">([](const order& o) { return static_cast<std::size_t>(o.region); },
                             tutti::step<"north">(timed(clock, log, "north", 1ms, 100)),
                             tutti::step<"south">(timed(clock, log, "south", 3ms, 200))),
      tutti::step<"pay">([](const order& o) -> tutti::result<int> {
        if (o.fail_pay) return tutti::errc::step_failed;
        return 7;
      }));
}

}  // namespace

TEST_CASE("a conditional coroutine step runs or is skipped as its condition says",
          "[async][branch]") {
  for (const bool gift : {false, true}) {
    asio::io_context io;
    manual_clock clock;
    std::vector<entry> log;
    const auto wf = make_shipping(clock, log);
    const order o{.express = false, .gift = gift, .region = 0};
    const tutti::run_options opts;
    const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(o, opts, clock));
    REQUIRE(run.has_value());
    const std::optional<int> wrapped = run.get<"wrap">();
    CHECK(wrapped.has_value() == gift);
    CHECK(run.report()[0].status == (gift ? tutti::step_status::succeeded : tutti::step_status::skipped));
    const tutti::duration after_wrap = gift ? tutti::duration{2ms} : tutti::duration{};
    CHECK(log.front() == (gift ? entry{"wrap", 2ms} : entry{"post", 1ms}));
    CHECK(clock.now() == after_wrap + 1ms + 1ms);  // wrap?, post, north
  }
}

TEST_CASE("a choice awaits the case its selector names, and its output is that case's",
          "[async][branch]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<entry> log;
  const auto wf = make_shipping(clock, log);
  const order o{.express = true, .gift = false, .region = 1};
  const tutti::run_options opts;
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(o, opts, clock));
  REQUIRE(run.has_value());
  CHECK(log == std::vector<entry>{{"courier", 5ms}, {"south", 8ms}});
  const auto carrier = run.get<"carrier">();  // if_else of two int cases: int
  CHECK(carrier == 10);
  CHECK(run.get<"depot">() == 200);
}

TEST_CASE("a selector out of range fails the choice with a message, and the run compensates",
          "[async][branch][saga]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<entry> log;
  const auto wf = make_shipping(clock, log);
  const order o{.express = false, .gift = true, .region = 5};
  const tutti::run_options opts;
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(o, opts, clock));
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "depot");
  CHECK(run.error() == tutti::errc::invalid_argument);
  CHECK(std::string{run.report()[2].message}.find("case 5 of 2") != std::string::npos);
  // The case that ran and the conditional step are undone, last first, awaited.
  CHECK(log == std::vector<entry>{{"wrap", 2ms}, {"post", 3ms}, {"undo post", 4ms}, {"undo wrap", 5ms}});
}

TEST_CASE("a later failure awaits the compensation of the case that ran, not of the others",
          "[async][branch][saga]") {
  asio::io_context io;
  manual_clock clock;
  std::vector<entry> log;
  tutti::testing::event_log events;
  const auto wf = make_shipping(clock, log);
  const order o{.express = true, .gift = false, .region = 0, .fail_pay = true};
  const tutti::run_options opts;
  const auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(o, opts, clock, events));
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "pay");
  CHECK(log == std::vector<entry>{{"courier", 5ms}, {"north", 6ms}, {"undo courier", 7ms}});
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::skipped);
  CHECK(report[1].status == tutti::step_status::compensated);
  CHECK(events.count(tutti::event_kind::step_skipped) == 1);
}
