// Parallel groups on the inline executor (deterministic) and on the thread pool.
#include <tutti/tutti.hpp>
#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <variant>
#include <vector>

namespace {
using tutti::from;
using tutti::result;
using tutti::step;
using tutti::event_kind;
using tutti::step_status;
using std::chrono::milliseconds;
using strings = std::vector<std::string>;

std::error_code io_error() { return std::make_error_code(std::errc::io_error); }
std::error_code busy() { return std::make_error_code(std::errc::device_or_resource_busy); }

TEST_CASE("a group's output is the tuple of its branches' outputs, read by later steps",
          "[control][parallel]") {
  auto wf = tutti::workflow<"page">(
      step<"id">([](int x) { return x + 1; }),
      tutti::parallel<"gather">(step<"price">([](from<"id", int> id) { return *id * 10; }),
                                step<"stock">([](from<"id", int> id) { return std::to_string(*id); })),
      step<"render">([](from<"gather", std::tuple<int, std::string>> g) {
        return std::get<1>(*g) + ":" + std::to_string(std::get<0>(*g));
      }));
  auto r = wf.run(4);
  REQUIRE(r.has_value());
  CHECK(r.value() == "5:50");
}

TEST_CASE("a failing branch fails the group, completed branches are compensated in reverse",
          "[control][parallel]") {
  std::vector<std::string> undone;
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 1; }).compensate_with([&](int) { undone.push_back("first"); }),
      tutti::parallel<"g">(
          step<"a">([] { return 1; }).compensate_with([&](int) { undone.push_back("a"); }),
          step<"b">([] { return 2; }).compensate_with([&](int) { undone.push_back("b"); }),
          step<"c">([]() -> result<int> { return std::make_error_code(std::errc::io_error); }),
          step<"d">([] { return 4; }).compensate_with([&](int) { undone.push_back("d"); })));
  auto r = wf.run();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.failed_step() == "g");
  CHECK(r.error() == std::errc::io_error);
  CHECK(r.message().find("c: ") == 0);
  CHECK(undone == std::vector<std::string>{"b", "a", "first"});
  CHECK(r.outcome() == tutti::run_outcome::compensated);
}

TEST_CASE("thread pool: branches run concurrently and are joined",
          "[control][parallel][pool]") {
  tutti::thread_pool pool{4};
  std::atomic<int> calls{0};
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      pool, step<"a">([&] { return ++calls; }), step<"b">([&] { return ++calls; }),
      step<"c">([&] { return ++calls; })));
  for (int i = 0; i < 100; ++i) {
    auto r = wf.run();
    REQUIRE(r.has_value());
    const auto& t = r.value();
    CHECK(std::get<0>(t) + std::get<1>(t) + std::get<2>(t) == 3 * (3 * i) + 6);
  }
}

TEST_CASE("hedged step on the pool and manual clock",
          "[control][parallel][pool][hedge]") {
  tutti::thread_pool pool{2};
  tutti::testing::manual_clock clock;
  auto wf = tutti::workflow<"w">(step<"read">([] { return 7; }) | tutti::hedged(pool, std::chrono::milliseconds{50}));
  auto r = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(r.has_value());
  CHECK(r.value() == 7);
}

// ---- all branches: outputs and inputs ------------------------------------------------------

TEST_CASE("a branch reads the workflow input and outputs of several steps before the group",
          "[control][parallel]") {
  auto wf = tutti::workflow<"w">(
      step<"name">([](int x) { return std::string(static_cast<std::size_t>(x), 'n'); }),
      step<"twice">([](int x) { return 2 * x; }),
      tutti::parallel<"g">(
          step<"a">([](int x, from<"twice", int> t) { return x + *t; }),
          step<"b">([](from<"name", std::string> n, from<"twice", int> t) {
            return *n + std::to_string(*t);
          }),
          step<"c">([] {})),  // a void branch
      step<"sum">([](from<"g", std::tuple<int, std::string, tutti::unit>> g) {
        return std::get<1>(*g) + "/" + std::to_string(std::get<0>(*g));
      }));
  auto r = wf.run(3);
  REQUIRE(r.has_value());
  CHECK(r.value() == "nnn6/9");
  const auto& g = r.get<"g">();
  CHECK(std::get<0>(g) == 9);
  CHECK(std::get<1>(g) == "nnn6");
  STATIC_REQUIRE(std::is_same_v<std::remove_cvref_t<decltype(g)>,
                                std::tuple<int, std::string, tutti::unit>>);
}

TEST_CASE("a failing branch: error and message are the branch's, later branches do not start",
          "[control][parallel]") {
  std::atomic<int> d_calls{0};
  strings undone;
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 1; }).compensate_with([&](int) { undone.push_back("first"); }),
      tutti::parallel<"g">(
          step<"a">([] { return 1; }).compensate_with([&](int) { undone.push_back("a"); }),
          step<"b">([] {}),  // not compensable: nothing to undo
          step<"c">([]() -> result<int> { return io_error(); }),
          step<"d">([&] { return ++d_calls; }).compensate_with([&](int) { undone.push_back("d"); })),
      step<"after">([] { return 0; }));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.failed_step() == "g");
  CHECK(r.error() == std::errc::io_error);
  CHECK(r.message() == "c: " + io_error().message());
  CHECK(d_calls == 0);
  CHECK(undone == strings{"a", "first"});
  // The report has one line for the group.
  const auto rep = r.report();
  CHECK(rep.size() == 3);
  CHECK(rep.step("g").status == step_status::failed);
  CHECK(rep.step("after").status == step_status::not_started);
  CHECK(rep.step("first").status == step_status::compensated);
  // Per-branch detail is in the events.
  CHECK(log.count(event_kind::step_started, "g/a") == 1);
  CHECK(log.count(event_kind::step_started, "g/c") == 1);
  CHECK(log.count(event_kind::step_failed, "g/c") == 1);
  CHECK(log.count(event_kind::step_started, "g/d") == 0);
  CHECK(log.count(event_kind::step_failed, "g") == 1);
  CHECK(log.compensated_steps() == strings{"g/a", "first"});
}

TEST_CASE("an optional branch's failure leaves an empty optional and the group succeeds",
          "[control][parallel]") {
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(step<"a">([] { return 1; }),
                           tutti::optional_branch(step<"b">([]() -> result<int> { return busy(); })),
                           tutti::optional_branch(step<"c">([] { return std::string{"c"}; })),
                           step<"d">([] { return 4; })),
      step<"use">([](from<"g", std::tuple<int, std::optional<int>, std::optional<std::string>, int>> g) {
        return std::get<0>(*g) + std::get<3>(*g) + (std::get<1>(*g) ? 100 : 0) +
               (std::get<2>(*g) ? 1000 : 0);
      }));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE(r.has_value());
  CHECK(r.value() == 1005);
  const auto& g = r.get<"g">();
  CHECK_FALSE(std::get<1>(g).has_value());
  REQUIRE(std::get<2>(g).has_value());
  CHECK(*std::get<2>(g) == "c");
  // The optional branch's failure still shows in the events.
  CHECK(log.count(event_kind::step_failed, "g/b") == 1);
  CHECK(log.count(event_kind::step_started, "g/d") == 1);
}

TEST_CASE("a later step's failure undoes the group's branches in reverse, not a failed optional one",
          "[control][parallel]") {
  strings undone;
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 1; }).compensate_with([&](int) { undone.push_back("first"); }),
      tutti::parallel<"g">(
          step<"a">([] { return 10; }).compensate_with([&](int v) { undone.push_back("a" + std::to_string(v)); }),
          tutti::optional_branch(step<"b">([]() -> result<int> { return busy(); })
                                     .compensate_with([&](int) { undone.push_back("b"); })),
          tutti::optional_branch(step<"c">([] { return 30; }).compensate_with([&](int v) {
            undone.push_back("c" + std::to_string(v));
          })),
          step<"d">([] { return 40; }).compensate_with([&](int v) { undone.push_back("d" + std::to_string(v)); })),
      step<"after">([]() -> result<int> { return io_error(); }));
  auto r = wf.run();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.failed_step() == "after");
  // Each compensation gets its branch's output back.
  CHECK(undone == strings{"d40", "c30", "a10", "first"});
  CHECK(r.outcome() == tutti::run_outcome::compensated);
  CHECK(r.report().step("g").status == step_status::compensated);
}

// ---- quorum and first_of ---------------------------------------------------------------------

TEST_CASE("quorum on the inline executor: the first K successes, later branches not started",
          "[control][parallel][quorum]") {
  tutti::inline_executor ex;
  std::atomic<int> c_calls{0};
  auto wf = tutti::workflow<"w">(tutti::quorum<"q", 2>(
      ex, step<"a">([]() -> result<int> { return busy(); }), step<"b">([] { return 2; }),
      step<"c">([&] {
        ++c_calls;
        return 3;
      }), step<"d">([] { return 4; })));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE(r.has_value());
  const std::array<std::optional<int>, 4>& v = r.value();
  CHECK_FALSE(v[0].has_value());
  CHECK(v[1] == 2);
  CHECK(v[2] == 3);
  CHECK_FALSE(v[3].has_value());
  CHECK(c_calls == 1);
  CHECK(log.count(event_kind::step_started, "q/d") == 0);
  CHECK(log.count(event_kind::step_failed, "q/a") == 1);
}

TEST_CASE("quorum fails when fewer than K can succeed, the winners are compensated",
          "[control][parallel][quorum]") {
  tutti::inline_executor ex;
  strings undone;
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 0; }).compensate_with([&](int) { undone.push_back("first"); }),
      tutti::quorum<"q", 2>(
          ex, step<"a">([] { return 1; }).compensate_with([&](int v) { undone.push_back("a" + std::to_string(v)); }),
          step<"b">([]() -> result<int> { return busy(); }).compensate_with([&](int) { undone.push_back("b"); }),
          step<"c">([]() -> result<int> { return io_error(); }).compensate_with([&](int) { undone.push_back("c"); })));
  auto r = wf.run();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.failed_step() == "q");
  // c's failure made 2 successes impossible: it decides the error.
  CHECK(r.error() == std::errc::io_error);
  CHECK(r.message() == "1 of 3 branches succeeded, 2 needed; c: " + io_error().message());
  CHECK(undone == strings{"a1", "first"});
  CHECK(r.outcome() == tutti::run_outcome::compensated);
}

TEST_CASE("quorum: a branch failing once K is out of reach leaves later branches not started",
          "[control][parallel][quorum]") {
  tutti::inline_executor ex;
  std::atomic<int> c_calls{0};
  auto wf = tutti::workflow<"w">(tutti::quorum<"q", 3>(
      ex, step<"a">([]() -> result<int> { return busy(); }), step<"b">([] { return 2; }),
      step<"c">([&] { return ++c_calls; })));
  auto r = wf.run();
  REQUIRE_FALSE(r.has_value());
  CHECK(c_calls == 0);
  CHECK(r.error() == std::errc::device_or_resource_busy);
  CHECK(r.message() == "0 of 3 branches succeeded, 3 needed; a: " + busy().message());
}

TEST_CASE("first_of returns the first success, earlier failures do not fail it",
          "[control][parallel][first_of]") {
  tutti::inline_executor ex;
  std::atomic<int> c_calls{0};
  auto wf = tutti::workflow<"w">(
      tutti::first_of<"price">(ex, step<"a">([]() -> result<int> { return busy(); }),
                               step<"b">([] { return 20; }), step<"c">([&] { return ++c_calls; })),
      step<"use">([](from<"price", int> p) { return *p + 1; }));
  auto r = wf.run();
  REQUIRE(r.has_value());
  CHECK(r.value() == 21);
  CHECK(r.get<"price">() == 20);
  CHECK(c_calls == 0);
}

TEST_CASE("first_of fails when every branch fails, with the last one's error",
          "[control][parallel][first_of]") {
  tutti::inline_executor ex;
  auto wf = tutti::workflow<"w">(tutti::first_of<"price">(
      ex, step<"a">([]() -> result<int> { return busy(); }),
      step<"b">([]() -> result<int> { throw std::runtime_error("b is down"); })));
  auto r = wf.run();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == tutti::errc::exception);
  CHECK(r.message() == "0 of 2 branches succeeded, 1 needed; b: b is down");
}

// ---- hedging on the inline executor --------------------------------------------------------

TEST_CASE("hedge on the inline executor starts the alternate only after the primary failed",
          "[control][parallel][hedge]") {
  tutti::inline_executor ex;
  strings calls;
  SECTION("primary fails") {
    auto wf = tutti::workflow<"w">(tutti::hedge<"read">(
        ex, milliseconds{50}, step<"primary">([&]() -> result<int> {
          calls.push_back("primary");
          return busy();
        }),
        step<"alternate">([&] {
          calls.push_back("alternate");
          return 2;
        })));
    auto r = wf.run();
    REQUIRE(r.has_value());
    CHECK(r.value() == 2);
    CHECK(calls == strings{"primary", "alternate"});
  }
  SECTION("primary succeeds") {
    auto wf = tutti::workflow<"w">(tutti::hedge<"read">(ex, milliseconds{50}, step<"primary">([&] {
                                                           calls.push_back("primary");
                                                           return 1;
                                                         }),
                                                         step<"alternate">([&] {
                                                           calls.push_back("alternate");
                                                           return 2;
                                                         })));
    auto r = wf.run();
    REQUIRE(r.has_value());
    CHECK(r.value() == 1);
    CHECK(calls == strings{"primary"});
  }
}

TEST_CASE("step | hedged on the inline executor runs copies with paths read/1, read/2",
          "[control][parallel][hedge]") {
  tutti::inline_executor ex;
  std::vector<std::string> paths;
  auto wf = tutti::workflow<"w">(
      step<"read">([&](const tutti::call_context& c) -> result<int> {
        paths.emplace_back(c.step);
        if (paths.size() == 1) return busy();
        return static_cast<int>(paths.size());
      }) | tutti::hedged<3>(ex, milliseconds{10}));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE(r.has_value());
  CHECK(r.value() == 2);
  CHECK(paths == strings{"read/1", "read/2"});
  CHECK(log.count(event_kind::step_started, "read/3") == 0);
  CHECK(log.count(event_kind::step_succeeded, "read") == 1);
}

// ---- nesting ---------------------------------------------------------------------------------

TEST_CASE("a nested workflow as a branch: its last step's value, its steps undone in reverse",
          "[control][parallel][nested]") {
  strings undone;
  auto sub = tutti::workflow<"sub">(
      step<"x">([] { return 2; }).compensate_with([&](int) { undone.push_back("sub/x"); }),
      step<"y">([](from<"x", int> x) { return *x * 3; }).compensate_with([&](int) {
        undone.push_back("sub/y");
      }));
  SECTION("success") {
    auto wf = tutti::workflow<"w">(
        tutti::parallel<"g">(sub, step<"c">([] { return 1; })),
        step<"use">([](from<"g", std::tuple<int, int>> g) { return std::get<0>(*g) + std::get<1>(*g); }));
    tutti::testing::event_log log;
    auto r = wf.run(tutti::unit{}, {}, log);
    REQUIRE(r.has_value());
    CHECK(r.value() == 7);
    CHECK(log.count(event_kind::step_succeeded, "g/sub/y") == 1);
    CHECK(log.count(event_kind::step_succeeded, "g/sub") == 1);
    CHECK(undone.empty());
  }
  SECTION("a sibling fails") {
    auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
        step<"a">([] { return 1; }).compensate_with([&](int) { undone.push_back("a"); }), sub,
        step<"c">([]() -> result<int> { return io_error(); })));
    tutti::testing::event_log log;
    auto r = wf.run(tutti::unit{}, {}, log);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.message() == "c: " + io_error().message());
    CHECK(undone == strings{"sub/y", "sub/x", "a"});
    CHECK(log.compensated_steps() == strings{"g/sub/y", "g/sub/x", "g/sub", "g/a"});
  }
  SECTION("the nested workflow fails: the message names the branch and its step") {
    auto bad = tutti::workflow<"bad">(step<"p">([] { return 1; }),
                                      step<"q">([]() -> result<int> { return busy(); }));
    auto wf = tutti::workflow<"w">(tutti::parallel<"g">(step<"a">([] { return 1; }), bad));
    auto r = wf.run();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == std::errc::device_or_resource_busy);
    CHECK(r.message() == "bad: q: " + busy().message());
  }
}

TEST_CASE("a group inside a nested workflow has paths sub/g/a and reads the sub-workflow's steps",
          "[control][parallel][nested]") {
  std::vector<std::string> paths;
  auto sub = tutti::workflow<"sub">(
      step<"base">([] { return 5; }),
      tutti::parallel<"g">(step<"a">([&](from<"base", int> b, const tutti::call_context& c) {
                             paths.emplace_back(c.step);
                             return *b + 1;
                           }),
                           step<"b">([&](from<"base", int> b, const tutti::call_context& c) {
                             paths.emplace_back(c.step);
                             return *b + 2;
                           })),
      step<"sum">([](from<"g", std::tuple<int, int>> g) { return std::get<0>(*g) * std::get<1>(*g); }));
  auto wf = tutti::workflow<"w">(step<"before">([] { return 0; }), sub);
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE(r.has_value());
  CHECK(r.value() == 42);
  CHECK(paths == strings{"sub/g/a", "sub/g/b"});
  CHECK(log.count(event_kind::step_succeeded, "sub/g") == 1);
}

TEST_CASE("a group inside a group: nested tuple output, reads steps before the outer group",
          "[control][parallel][nested]") {
  strings undone;
  std::vector<std::string> paths;
  auto make_wf = [&](bool c_fails) {
    return tutti::workflow<"w">(
        step<"base">([] { return 10; }),
        tutti::parallel<"outer">(
            tutti::parallel<"inner">(
                step<"a">([&](from<"base", int> b, const tutti::call_context& c) {
                  paths.emplace_back(c.step);
                  return *b + 1;
                }).compensate_with([&](int) { undone.push_back("a"); }),
                step<"b">([&](from<"base", int> b) { return *b + 2; }).compensate_with([&](int) {
                  undone.push_back("b");
                })),
            step<"c">([c_fails]() -> result<int> {
              if (c_fails) return io_error();
              return 3;
            })));
  };
  SECTION("success") {
    auto r = make_wf(false).run();
    REQUIRE(r.has_value());
    const std::tuple<std::tuple<int, int>, int>& v = r.value();
    CHECK(std::get<0>(std::get<0>(v)) == 11);
    CHECK(std::get<1>(std::get<0>(v)) == 12);
    CHECK(std::get<1>(v) == 3);
    CHECK(paths == strings{"outer/inner/a"});
    CHECK(undone.empty());
  }
  SECTION("the outer group's other branch fails: the inner group is undone in reverse") {
    auto r = make_wf(true).run();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.message() == "c: " + io_error().message());
    CHECK(undone == strings{"b", "a"});
  }
}

// ---- events, exceptions, keys ----------------------------------------------------------------

TEST_CASE("branch events carry the paths g/a, g/b, the group has its own step events",
          "[control][parallel][events]") {
  auto wf = tutti::workflow<"w">(step<"first">([] { return 1; }),
                                 tutti::parallel<"g">(step<"a">([] { return 1; }),
                                                      step<"b">([] { return 2; })));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE(r.has_value());
  strings started;
  for (const auto& e : log.of(event_kind::step_started)) started.push_back(e.step);
  CHECK(started == strings{"first", "g", "g/a", "g/b"});
  strings succeeded;
  for (const auto& e : log.of(event_kind::step_succeeded)) succeeded.push_back(e.step);
  CHECK(succeeded == strings{"first", "g/a", "g/b", "g"});
  for (const auto& e : log.entries()) CHECK(e.workflow == "w");
  CHECK(log.count(event_kind::run_finished) == 1);
}

TEST_CASE("a branch that throws fails the group with errc::exception and its what()",
          "[control][parallel]") {
  strings undone;
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      step<"a">([] { return 1; }).compensate_with([&](int) { undone.push_back("a"); }),
      step<"boom">([]() -> int { throw std::runtime_error("kaboom"); }),
      step<"c">([] { return 3; })));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == tutti::errc::exception);
  CHECK(r.message() == "boom: kaboom");
  CHECK(undone == strings{"a"});
  const auto failed = log.of(event_kind::step_failed, "g/boom");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].message == "kaboom");
  CHECK(log.count(event_kind::step_started, "g/c") == 0);
}

TEST_CASE("branches get idempotency keys with the path g/a and the run's id",
          "[control][parallel]") {
  std::vector<tutti::run_id> runs;
  std::vector<std::string> keys;
  auto record = [&](const tutti::call_context& c) {
    runs.push_back(c.key().run);
    keys.emplace_back(c.key().step);
    return 1;
  };
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(step<"a">(record), step<"b">(record) | tutti::retry{tutti::max_attempts{2}}));
  auto r = wf.run();
  REQUIRE(r.has_value());
  CHECK(keys == strings{"g/a", "g/b"});
  REQUIRE(runs.size() == 2);
  CHECK(runs[0] == r.id());
  CHECK(runs[1] == r.id());
}

TEST_CASE("a retried branch keeps one key, its attempts show as events of g/b",
          "[control][parallel]") {
  tutti::testing::manual_clock clock;
  std::vector<std::uint32_t> attempts;
  std::vector<std::string> keys;
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      step<"a">([] { return 1; }),
      step<"b">([&](const tutti::call_context& c) -> result<int> {
        attempts.push_back(c.attempt);
        keys.emplace_back(c.step);
        if (c.attempt < 3) return busy();
        return 2;
      }) | tutti::retry{tutti::max_attempts{3}}));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, clock, log);
  REQUIRE(r.has_value());
  CHECK(std::get<1>(r.value()) == 2);
  CHECK(attempts == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(keys == strings{"g/b", "g/b", "g/b"});
  CHECK(log.count(event_kind::attempt_failed, "g/b") == 2);
  CHECK(log.count(event_kind::retry_scheduled, "g/b") == 2);
}

// ---- compensation modes ----------------------------------------------------------------------

TEST_CASE("stop_on_failure: a branch's failing compensation stops the undoing after the group",
          "[control][parallel][compensation]") {
  strings undone;
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 1; }).compensate_with([&](int) { undone.push_back("first"); }),
      tutti::parallel<"g">(
          step<"a">([] { return 1; }).compensate_with([&](int) { undone.push_back("a"); }),
          step<"b">([] { return 2; }).compensate_with([&](int) -> result<void> {
            undone.push_back("b!");
            return io_error();
          }),
          step<"c">([] { return 3; }).compensate_with([&](int) { undone.push_back("c"); })),
      step<"after">([]() -> result<int> { return busy(); }));
  SECTION("continue_on_failure (default) undoes everything else") {
    auto r = wf.run();
    CHECK(undone == strings{"c", "b!", "a", "first"});
    CHECK(r.outcome() == tutti::run_outcome::compensation_failed);
    CHECK(r.report().step("g").status == step_status::compensation_failed);
    CHECK(r.report().step("first").status == step_status::compensated);
  }
  SECTION("stop_on_failure stops at b: a and first stay done") {
    auto r = wf.run(tutti::unit{}, {.on_compensation_failure = tutti::compensation_policy::stop_on_failure});
    CHECK(undone == strings{"c", "b!"});
    CHECK(r.outcome() == tutti::run_outcome::compensation_failed);
    CHECK(r.report().step("first").status == step_status::succeeded);
  }
}

// Regression: the group's own undo (after a branch failed) once ignored stop_on_failure and the
// enclosing workflow then undid the earlier steps too.
TEST_CASE("stop_on_failure: a failing branch compensation during the group's own undo stops it",
          "[control][parallel][compensation]") {
  strings undone;
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 1; }).compensate_with([&](int) { undone.push_back("first"); }),
      tutti::parallel<"g">(
          step<"a">([] { return 1; }).compensate_with([&](int) { undone.push_back("a"); }),
          step<"b">([] { return 2; }).compensate_with([&](int) -> result<void> {
            undone.push_back("b!");
            return io_error();
          }),
          step<"c">([]() -> result<int> { return busy(); })));
  auto r = wf.run(tutti::unit{}, {.on_compensation_failure = tutti::compensation_policy::stop_on_failure});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(undone == strings{"b!"});
  CHECK(r.report().step("first").status == step_status::succeeded);
}
// ---- conditionals (include/tutti/branch.hpp) -------------------------------------------------

TEST_CASE("when runs its step only when the condition holds, a skipped step is not undone",
          "[control][branch][when]") {
  strings undone;
  std::atomic<int> ship_calls{0};
  auto wf = tutti::workflow<"w">(
      step<"paid">([](int amount) { return amount > 0; }),
      tutti::when([](from<"paid", bool> paid, int amount) { return *paid && amount < 100; },
                  step<"ship">([&](int amount) {
                    ++ship_calls;
                    return amount * 2;
                  }).compensate_with([&](int) { undone.push_back("ship"); })),
      step<"after">([](int amount, from<"ship", std::optional<int>> s) -> result<int> {
        if (amount == 13) return io_error();
        return s->value_or(-1);
      }));
  SECTION("condition true") {
    auto r = wf.run(5);
    REQUIRE(r.has_value());
    CHECK(r.value() == 10);
    CHECK(ship_calls == 1);
    CHECK(r.report().step("ship").status == step_status::succeeded);
  }
  SECTION("condition false: skipped, empty optional") {
    tutti::testing::event_log log;
    auto r = wf.run(500, {}, log);
    REQUIRE(r.has_value());
    CHECK(r.value() == -1);
    CHECK(ship_calls == 0);
    CHECK(r.report().step("ship").status == step_status::skipped);
    CHECK(log.count(event_kind::attempt_started, "ship") == 0);
  }
  SECTION("a later failure undoes a step that ran") {
    auto r = wf.run(13);
    REQUIRE_FALSE(r.has_value());
    CHECK(undone == strings{"ship"});
  }
  SECTION("a later failure does not undo a skipped step") {
    auto skip_then_fail = tutti::workflow<"w">(
        tutti::when([] { return false; },
                    step<"ship">([] { return 1; }).compensate_with([&](int) { undone.push_back("ship"); })),
        step<"after">([]() -> result<int> { return io_error(); }));
    auto r = skip_then_fail.run();
    REQUIRE_FALSE(r.has_value());
    CHECK(undone.empty());
    CHECK(r.report().step("ship").status == step_status::skipped);
  }
}

TEST_CASE("choose runs only the selected case as route/<case>, out of range is invalid_argument",
          "[control][branch][choose]") {
  strings ran;
  auto wf = tutti::workflow<"w">(tutti::choose<"route">(
      [](int x) { return x; },
      step<"zero">([&](const tutti::call_context& c) {
        ran.emplace_back(c.step);
        return 0;
      }),
      step<"one">([&](const tutti::call_context& c) {
        ran.emplace_back(c.step);
        return 1;
      }),
      step<"two">([&](const tutti::call_context& c) {
        ran.emplace_back(c.step);
        return 2;
      })));
  SECTION("in range") {
    auto r = wf.run(1);
    REQUIRE(r.has_value());
    STATIC_REQUIRE(std::is_same_v<std::remove_cvref_t<decltype(r.value())>, int>);
    CHECK(r.value() == 1);
    CHECK(ran == strings{"route/one"});
  }
  SECTION("out of range") {
    auto r = wf.run(3);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == tutti::errc::invalid_argument);
    CHECK(ran.empty());
  }
}

TEST_CASE("choose with cases of different types gives a variant, if_else picks then or else",
          "[control][branch][choose]") {
  enum class method { courier, post };
  auto wf = tutti::workflow<"w">(
      tutti::choose<"ship">([](int x) { return x > 0 ? method::courier : method::post; },
                            step<"courier">([] { return 7; }),
                            step<"post">([] { return std::string{"letter"}; })),
      tutti::if_else<"note">([](from<"ship", std::variant<int, std::string>> s) { return s->index() == 0; },
                             step<"fast">([] { return std::string{"fast"}; }),
                             step<"slow">([] { return std::string{"slow"}; })));
  auto courier = wf.run(1);
  REQUIRE(courier.has_value());
  CHECK(courier.value() == "fast");
  CHECK(std::get<0>(courier.get<"ship">()) == 7);
  auto post = wf.run(-1);
  REQUIRE(post.has_value());
  CHECK(post.value() == "slow");
  CHECK(std::get<1>(post.get<"ship">()) == "letter");
}

TEST_CASE("a conditional step as a branch of a group", "[control][parallel][branch]") {
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      step<"a">([](int x) { return x; }),
      tutti::when([](int x) { return x % 2 == 0; }, step<"even">([](int x) { return x / 2; }))));
  auto even = wf.run(4);
  REQUIRE(even.has_value());
  CHECK(std::get<1>(even.value()) == std::optional<int>{2});
  auto odd = wf.run(3);
  REQUIRE(odd.has_value());
  CHECK(std::get<0>(odd.value()) == 3);
  CHECK_FALSE(std::get<1>(odd.value()).has_value());
}

// ---- regressions found in review ------------------------------------------------------------

TEST_CASE("a skipped conditional branch can win a first_of: the output is an empty optional",
          "[control][parallel][conditional]") {
  auto wf = tutti::workflow<"w">(tutti::first_of<"g">(
      tutti::when([] { return false; }, step<"maybe">([] { return 1; })),
      step<"other">([] { return std::optional<int>{2}; })));
  auto r = wf.run();
  REQUIRE(r.has_value());
  CHECK_FALSE(r.value().has_value());  // "maybe" was skipped, and skipping counts as done
  auto q = tutti::workflow<"q">(tutti::quorum<"g", 2>(
      tutti::when([] { return false; }, step<"a">([] { return 1; })),
      step<"b">([] { return std::optional<int>{2}; }),
      step<"c">([] { return std::optional<int>{3}; })));
  auto rq = q.run();
  REQUIRE(rq.has_value());
  int engaged = 0;
  for (const auto& v : rq.value()) engaged += v.has_value() ? 1 : 0;
  CHECK(engaged == 2);  // exactly K
}

TEST_CASE("a conditional step inside a policy still reports skipped",
          "[control][conditional]") {
  auto wf = tutti::workflow<"w">(
      tutti::when([] { return false; }, step<"x">([] { return 1; })) |
          tutti::retry{tutti::max_attempts{2}},
      step<"after">([] { return 2; }));
  tutti::testing::event_log log;
  auto r = wf.run(tutti::unit{}, {}, log);
  REQUIRE(r.has_value());
  CHECK(r.report().step("x").status == step_status::skipped);
  CHECK(log.count(event_kind::step_skipped, "x") == 1);
  CHECK(log.count(event_kind::step_succeeded, "x") == 0);
}

TEST_CASE("a group whose kept branches have no compensation is not marked compensated",
          "[control][parallel][compensation]") {
  auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(step<"a">([] { return 1; }),
                           tutti::optional_branch(step<"b">([]() -> result<int> { return busy(); })
                                                      .compensate_with([](int) {}))),
      step<"after">([]() -> result<int> { return io_error(); }));
  auto r = wf.run();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.report().step("g").status == step_status::succeeded);  // nothing to undo
  CHECK(r.outcome() == tutti::run_outcome::failed);
}
}  // namespace
