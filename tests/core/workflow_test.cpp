// Workflows: order, outputs by name, run ids, results, nesting, workflows as types.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <vector>
#include <string>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {
struct validate {
  static constexpr std::string_view name = "validate";
  tutti::result<void> operator()(const int& amount) const {
    if (amount <= 0) return tutti::errc::invalid_argument;
    return tutti::outcome::success();
  }
};
struct price {
  static constexpr std::string_view name = "price";
  int operator()(const int& amount) const { return amount * 3; }
};
struct total {
  static constexpr std::string_view name = "total";
  int operator()(tutti::from<"price", int> p) const { return *p + 1; }
};
using checkout = tutti::workflow_of<"checkout", validate, price, total>;
}  // namespace

TEST_CASE("a workflow defined as a type runs its steps in order", "[core][workflow]") {
  const checkout wf{};
  auto run = wf.run(5);
  REQUIRE(run);
  CHECK(run.value() == 16);
  CHECK(run.get<"price">() == 15);
  CHECK(checkout::step_names == std::array<std::string_view, 3>{"validate", "price", "total"});
  STATIC_REQUIRE(std::is_empty_v<checkout>);
}

TEST_CASE("value() and get() of what a failed run did not produce throw bad_run_access",
          "[core][workflow]") {
  auto run = checkout{}.run(-1);
  REQUIRE_FALSE(run);
  CHECK_THROWS_AS(run.value(), tutti::bad_run_access);
  CHECK_THROWS_AS(run.get<"price">(), tutti::bad_run_access);
  CHECK(run.find<"price">() == nullptr);
  CHECK(run.error() == tutti::errc::invalid_argument);
  CHECK(run.report()[0].error == tutti::errc::invalid_argument);
}

TEST_CASE("outputs of steps that ran stay readable after a later failure", "[core][workflow]") {
  auto wf = tutti::workflow<"w">(tutti::step<"a">([] { return 7; }),
                                 tutti::step<"b">([]() -> tutti::result<int> {
                                   return tutti::errc::timeout;
                                 }));
  auto run = wf.run();
  REQUIRE(run.find<"a">() != nullptr);
  CHECK(*run.find<"a">() == 7);
  CHECK(run.find<"b">() == nullptr);
}

TEST_CASE("every run gets a distinct generated id unless the caller supplies one",
          "[core][workflow]") {
  std::set<tutti::run_id> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(checkout{}.run(1).id());
  CHECK(ids.size() == 1000);
  CHECK(ids.count(tutti::run_id{}) == 0);
  const tutti::run_id mine{1, 2};
  CHECK(checkout{}.run(1, {.id = mine}).id() == mine);
}

TEST_CASE("a nested workflow's value is its last step's value", "[core][workflow][nested]") {
  auto wf = tutti::workflow<"outer">(
      tutti::workflow<"inner">(tutti::step<"x">([](const int& in) { return in + 1; }),
                               tutti::step<"y">([](tutti::from<"x", int> x) { return *x * 10; })),
      tutti::step<"after">([](tutti::from<"inner", int> v) { return *v + 1; }));
  auto run = wf.run(1);
  REQUIRE(run);
  CHECK(run.get<"inner">() == 20);
  CHECK(run.value() == 21);
}

TEST_CASE("timing reads the clock around each step when switched on", "[core][workflow][report]") {
  tutti::testing::manual_clock clock{100ms};
  auto wf = tutti::workflow<"w">(
      tutti::step<"slow">([&clock] { clock.advance(30ms); }),
      tutti::step<"fast">([&clock] { clock.advance(2ms); }));
  auto run = wf.run(tutti::unit{}, {.timing = true}, clock);
  const auto report = run.report();
  REQUIRE(report.timed());
  CHECK(report.started() == 100ms);
  CHECK(report.elapsed() == 32ms);
  CHECK(report[0].timed);
  CHECK(report[0].start == 100ms);
  CHECK(report[0].elapsed == 30ms);
  CHECK(report[1].start == 130ms);
  CHECK(report[1].elapsed == 2ms);

  auto untimed = wf.run(tutti::unit{}, {}, clock);
  CHECK_FALSE(untimed.report().timed());
  CHECK_FALSE(untimed.report()[0].timed);
}

TEST_CASE("a workflow is usable from several threads at once", "[core][workflow]") {
  std::atomic<int> calls{0};
  auto wf = tutti::workflow<"w">(tutti::step<"count">([&calls] { return ++calls; }));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) ok += wf.run().has_value() ? 1 : 0;
    });
  for (auto& t : threads) t.join();
  CHECK(calls == 1000);
  CHECK(ok == 1000);
}

TEST_CASE("value() and get() of a temporary run result return copies", "[core][workflow]") {
  auto wf = tutti::workflow<"w">(tutti::step<"a">([] { return std::string(40, 'x'); }),
                                 tutti::step<"b">([] { return std::string(50, 'y'); }));
  const auto& v = wf.run().value();  // bound to a returned value: no dangling reference
  CHECK(v == std::string(50, 'y'));
  const auto a = wf.run().get<"a">();
  CHECK(a == std::string(40, 'x'));
  STATIC_REQUIRE(std::is_same_v<decltype(wf.run().value()), std::string>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const decltype(wf.run())&>().value()),
                                const std::string&>);
}
