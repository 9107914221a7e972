// Saga compensation: reverse order, what compensations receive, failure modes, the pivot.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

namespace {
using log_t = std::vector<std::string>;
const bool no = false;

/// A step that logs its call, returns `value`, or fails when `fail` is set.
auto logged(log_t& log, std::string name, int value, const bool& fail) {
  return [&log, name, value, &fail]() -> tutti::result<int> {
    log.push_back("do " + name);
    if (fail) return tutti::errc::step_failed;
    return value;
  };
}
auto undo(log_t& log, std::string name, const bool& fail = no) {  // a reference to a flag that outlives the step
  return [&log, name, &fail](const int& produced) -> tutti::result<void> {
    log.push_back("undo " + name + " " + std::to_string(produced));
    if (fail) return tutti::errc::timeout;
    return tutti::outcome::success();
  };
}
}  // namespace

TEST_CASE("completed compensable steps are undone in reverse order with their outputs",
          "[core][saga]") {
  log_t log;
  bool fail_c = true;
  auto wf = tutti::workflow<"w">(tutti::step<"a">(logged(log, "a", 1, no)).compensate_with(undo(log, "a")),
                                 tutti::step<"b">(logged(log, "b", 2, no)),
                                 tutti::step<"c">(logged(log, "c", 3, no)).compensate_with(undo(log, "c")),
                                 tutti::step<"d">(logged(log, "d", 4, fail_c)).compensate_with(undo(log, "d")),
                                 tutti::step<"e">(logged(log, "e", 5, no)).compensate_with(undo(log, "e")));
  auto run = wf.run();
  REQUIRE_FALSE(run);
  CHECK(log == log_t{"do a", "do b", "do c", "do d", "undo c 3", "undo a 1"});
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "d");
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::compensated);
  CHECK(report[0].compensation_attempts == 1);
  CHECK(report[1].status == tutti::step_status::succeeded);  // nothing to undo
  CHECK(report[2].status == tutti::step_status::compensated);
  CHECK(report[3].status == tutti::step_status::failed);     // the failed step is not undone
  CHECK(report[4].status == tutti::step_status::not_started);
  CHECK(report.failed_index() == 3);

  log.clear();
  fail_c = false;
  auto ok = wf.run();
  REQUIRE(ok);
  CHECK(log == log_t{"do a", "do b", "do c", "do d", "do e"});
  CHECK(ok.outcome() == tutti::run_outcome::succeeded);
}

TEST_CASE("a failure of the first step compensates nothing", "[core][saga]") {
  log_t log;
  const bool yes = true;
  auto wf = tutti::workflow<"w">(tutti::step<"a">(logged(log, "a", 1, yes)).compensate_with(undo(log, "a")),
                                 tutti::step<"b">(logged(log, "b", 2, no)).compensate_with(undo(log, "b")));
  auto run = wf.run();
  CHECK(log == log_t{"do a"});
  CHECK(run.outcome() == tutti::run_outcome::failed);
  CHECK(run.report().count(tutti::step_status::compensated) == 0);
}

TEST_CASE("a failing compensation does not stop the others by default", "[core][saga]") {
  log_t log;
  const bool yes = true;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">(logged(log, "a", 1, no)).compensate_with(undo(log, "a", yes)),
      tutti::step<"b">(logged(log, "b", 2, no)).compensate_with(undo(log, "b")),
      tutti::step<"c">(logged(log, "c", 3, no)).compensate_with(undo(log, "c", yes)),
      tutti::step<"d">(logged(log, "d", 4, yes)));
  auto run = wf.run();
  CHECK(log == log_t{"do a", "do b", "do c", "do d", "undo c 3", "undo b 2", "undo a 1"});
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(run.error() == tutti::errc::step_failed);  // the run's error stays the step's
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::compensation_failed);
  CHECK(report[0].compensation_error == tutti::errc::timeout);
  CHECK(report[1].status == tutti::step_status::compensated);
  CHECK(report[2].status == tutti::step_status::compensation_failed);
  CHECK(report.count(tutti::step_status::compensation_failed) == 2);  // every failure named
}

TEST_CASE("stop_on_failure stops compensating at the first failing compensation",
          "[core][saga]") {
  log_t log;
  const bool yes = true;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">(logged(log, "a", 1, no)).compensate_with(undo(log, "a")),
      tutti::step<"b">(logged(log, "b", 2, no)).compensate_with(undo(log, "b", yes)),
      tutti::step<"c">(logged(log, "c", 3, no)).compensate_with(undo(log, "c")),
      tutti::step<"d">(logged(log, "d", 4, yes)));
  auto run = wf.run(
      tutti::unit{},
      {.on_compensation_failure = tutti::compensation_policy::stop_on_failure});
  CHECK(log == log_t{"do a", "do b", "do c", "do d", "undo c 3", "undo b 2"});
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  const auto report = run.report();
  CHECK(report[0].status == tutti::step_status::succeeded);  // left as it was: not undone
  CHECK(report[1].status == tutti::step_status::compensation_failed);
  CHECK(report[2].status == tutti::step_status::compensated);
}

TEST_CASE("a compensation that throws is reported with its message", "[core][saga]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([] { return 1; }).compensate_with([](int) -> tutti::result<void> {
        throw std::runtime_error("refund service down");
      }),
      tutti::step<"b">([]() -> tutti::result<int> { return tutti::errc::timeout; }));
  auto run = wf.run();
  const auto line = run.report()[0];
  CHECK(line.status == tutti::step_status::compensation_failed);
  CHECK(line.compensation_error == tutti::errc::exception);
  CHECK(line.compensation_message == "refund service down");
}

TEST_CASE("a compensation may take the call context and the input after the output",
          "[core][saga]") {
  struct seen_t {
    int output = 0;
    int input = 0;
    std::string step;
  } seen;
  auto wf = tutti::workflow<"w">(
      tutti::step<"reserve">([](const int& in) { return in * 2; })
          .compensate_with([&seen](const int& out, const tutti::call_context& c, const int& in) {
            seen = {out, in, std::string{c.step}};
          }),
      tutti::step<"fail">([]() -> tutti::result<void> { return tutti::errc::cancelled; }));
  auto run = wf.run(21);
  CHECK(seen.output == 42);
  CHECK(seen.input == 21);
  CHECK(seen.step == "reserve");
}

TEST_CASE("a void step's compensation takes no output", "[core][saga]") {
  int undone = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"v">([] {}).compensate_with([&undone] { ++undone; }),
      tutti::step<"fail">([]() -> tutti::result<void> { return tutti::errc::cancelled; }));
  auto run = wf.run();
  CHECK(undone == 1);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
}

TEST_CASE("a failure before the pivot compensates, after the pivot nothing is undone",
          "[core][saga]") {
  log_t log;
  bool fail_pivot = false;
  bool fail_after = false;
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">(logged(log, "a", 1, no)).compensate_with(undo(log, "a")),
      tutti::pivot<"p">(logged(log, "p", 2, fail_pivot)),
      tutti::step<"after">(logged(log, "after", 3, fail_after)) |
          tutti::retry{tutti::max_attempts{2}});

  fail_pivot = true;
  auto before = wf.run();
  CHECK(log == log_t{"do a", "do p", "undo a 1"});
  CHECK(before.outcome() == tutti::run_outcome::compensated);

  log.clear();
  fail_pivot = false;
  fail_after = true;
  auto after = wf.run();
  CHECK(log == log_t{"do a", "do p", "do after", "do after"});
  CHECK(after.outcome() == tutti::run_outcome::failed);
  CHECK(after.report()[0].status == tutti::step_status::succeeded);
  CHECK(after.report()[2].attempts == 2);
}

TEST_CASE("a nested workflow is compensated as a unit, its steps in reverse",
          "[core][saga][nested]") {
  log_t log;
  bool fail_last = true;
  auto inner = tutti::workflow<"inner">(
      tutti::step<"x">(logged(log, "x", 10, no)).compensate_with(undo(log, "x")),
      tutti::step<"y">(logged(log, "y", 20, no)).compensate_with(undo(log, "y")));
  auto outer = tutti::workflow<"outer">(
      tutti::step<"a">(logged(log, "a", 1, no)).compensate_with(undo(log, "a")), inner,
      tutti::step<"z">(logged(log, "z", 3, fail_last)));
  auto run = outer.run();
  CHECK(log == log_t{"do a", "do x", "do y", "do z", "undo y 20", "undo x 10", "undo a 1"});
  CHECK(run.report()[1].status == tutti::step_status::compensated);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
}

TEST_CASE("a failing nested workflow undoes its own steps, then the outer ones",
          "[core][saga][nested]") {
  log_t log;
  const bool yes = true;
  auto outer = tutti::workflow<"outer">(
      tutti::step<"a">(logged(log, "a", 1, no)).compensate_with(undo(log, "a")),
      tutti::workflow<"inner">(
          tutti::step<"x">(logged(log, "x", 10, no)).compensate_with(undo(log, "x")),
          tutti::step<"y">(logged(log, "y", 20, yes))));
  auto run = outer.run();
  CHECK(log == log_t{"do a", "do x", "do y", "undo x 10", "undo a 1"});
  CHECK(run.failed_step() == "inner");
  CHECK(run.error() == tutti::errc::step_failed);
  CHECK(run.message().find("y") != std::string_view::npos);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
}

TEST_CASE("steps in a nested workflow get prefixed idempotency keys", "[core][nested]") {
  std::vector<std::string> paths;
  auto record = [&paths](const tutti::call_context& c) { paths.emplace_back(c.step); };
  auto wf = tutti::workflow<"outer">(
      tutti::step<"a">(record),
      tutti::workflow<"payment">(tutti::step<"authorize">(record),
                                 tutti::workflow<"fx">(tutti::step<"quote">(record))));
  REQUIRE(wf.run());
  CHECK(paths == std::vector<std::string>{"a", "payment/authorize", "payment/fx/quote"});
}

TEST_CASE("a compensation with its own retry is tried again before it is reported",
          "[core][saga][retry]") {
  tutti::testing::manual_clock clock;
  int refund_calls = 0;
  int refunds_to_fail = 2;
  auto wf = tutti::workflow<"w">(
      tutti::step<"charge">([] { return 50; })
          .compensate_with(
              [&](const int& amount, const tutti::call_context& c) -> tutti::result<void> {
                ++refund_calls;
                CHECK(c.attempt == static_cast<std::uint32_t>(refund_calls));
                CHECK(amount == 50);
                if (refund_calls <= refunds_to_fail) return tutti::errc::timeout;
                return tutti::outcome::success();
              },
              tutti::retry{tutti::constant_backoff{std::chrono::seconds{10}},
                           tutti::max_attempts{3}}),
      tutti::step<"ship">([]() -> tutti::result<void> { return tutti::errc::cancelled; }));

  auto run = wf.run(tutti::run_options{}, clock);
  CHECK(refund_calls == 3);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.report()[0].compensation_attempts == 3);
  CHECK(clock.now() == std::chrono::seconds{20});

  refund_calls = 0;
  refunds_to_fail = 5;
  auto failed = wf.run(tutti::run_options{}, clock);
  CHECK(refund_calls == 3);
  CHECK(failed.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(failed.report()[0].compensation_attempts == 3);
  CHECK(failed.report()[0].compensation_error == tutti::errc::timeout);
}
