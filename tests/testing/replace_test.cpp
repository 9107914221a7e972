// Replacing a step of an existing workflow by name: same shape, one callable (or undo) swapped.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <tuple>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct order {
  std::string id;
  int cents = 0;
};
struct hold {
  int id = 0;
  friend bool operator==(const hold&, const hold&) = default;
};
struct receipt {
  int id = 0;
  friend bool operator==(const receipt&, const receipt&) = default;
};

using log_t = std::vector<std::string>;

// The "real" workflow under test: its services are stand-ins that must not be called when
// their step is replaced (they log what they do).
auto make_checkout(log_t& log) {
  return tutti::workflow<"checkout">(
      tutti::step<"validate">([&log](const order& o) -> tutti::result<void> {
        log.push_back("validate " + o.id);
        return tutti::outcome::success();
      }),
      tutti::step<"reserve">([&log](const order& o) {
        log.push_back("reserve");
        return hold{o.cents};
      }).compensate_with([&log](const hold& h) {
        log.push_back("release " + std::to_string(h.id));
      }),
      tutti::step<"charge">(
          [&log](const order& o, tutti::from<"reserve", hold>) -> tutti::result<receipt> {
            log.push_back("real charge");
            return receipt{o.cents};
          })
              .compensate_with(
                  [&log](const receipt& r) { log.push_back("refund " + std::to_string(r.id)); },
                  tutti::retry{tutti::max_attempts{2}}) |
          tutti::retry{tutti::constant_backoff{100ms}, tutti::max_attempts{4}},
      tutti::pivot<"confirm">([&log](tutti::from<"charge", receipt> r) {
        log.push_back("confirm " + std::to_string(r->id));
        return r->id;
      }),
      tutti::step<"notify">([&log](tutti::from<"confirm", int>) { log.push_back("notify"); }) |
          tutti::retry_forever{});
}
using checkout = decltype(make_checkout(std::declval<log_t&>()));

using charge_mock =
    tutti::testing::mock<tutti::result<receipt>(const order&, tutti::from<"reserve", hold>)>;

template <class W>
std::vector<std::string_view> names_of(const W&) {
  return {W::step_names.begin(), W::step_names.end()};
}
}  // namespace

TEST_CASE("a replaced workflow has the same steps, policies and roles", "[testing][replace]") {
  log_t log;
  const checkout wf = make_checkout(log);
  const auto test = tutti::testing::replace<"charge">(wf, charge_mock{});
  using wf_t = std::remove_const_t<decltype(test)>;
  STATIC_REQUIRE(wf_t::size == checkout::size);
  STATIC_REQUIRE(wf_t::step_names == checkout::step_names);
  STATIC_REQUIRE(wf_t::pivot && wf_t::contains_compensable);
  // Steps other than "charge" are the very same types.
  STATIC_REQUIRE(std::is_same_v<std::tuple_element_t<0, wf_t::nodes_type>,
                                std::tuple_element_t<0, checkout::nodes_type>>);
  STATIC_REQUIRE(std::is_same_v<std::tuple_element_t<3, wf_t::nodes_type>,
                                std::tuple_element_t<3, checkout::nodes_type>>);
  // "charge" keeps its retry around it and its compensation; only the callable changed.
  using charge_node = std::tuple_element_t<2, wf_t::nodes_type>;
  STATIC_REQUIRE(std::is_same_v<charge_node::policy_type,
                                std::tuple_element_t<2, checkout::nodes_type>::policy_type>);
  STATIC_REQUIRE(charge_node::compensable);
  STATIC_REQUIRE(
      std::is_same_v<std::remove_cvref_t<decltype(std::get<2>(test.steps()).inner().callable())>,
                     charge_mock>);
  const auto d = tutti::describe(std::get<2>(test.steps()));
  STATIC_REQUIRE(decltype(d)::size() == 1);
  CHECK(d.policies[0].name == "retry");
  CHECK(d.policies[0].max_attempts == 4);
  CHECK(names_of(test) == names_of(wf));
}

TEST_CASE("the mock replaces the step's callable: the real service is not called",
          "[testing][replace]") {
  log_t log;
  const auto wf = make_checkout(log);
  charge_mock charge;
  charge.returns(receipt{42});
  const auto test = tutti::testing::replace<"charge">(wf, charge);
  const auto run = test.run(order{"A", 1250});
  REQUIRE(run);
  CHECK(run.get<"confirm">() == 42);
  CHECK(run.get<"charge">() == receipt{42});
  CHECK(log == log_t{"validate A", "reserve", "confirm 42", "notify"});
  REQUIRE(charge.call_count() == 1);
  CHECK(charge.last_call().arg<1>() == hold{1250});  // what "reserve" produced
  CHECK(run.report().step("charge").status == tutti::step_status::succeeded);

  // The original workflow is untouched.
  log.clear();
  const auto real = wf.run(order{"B", 7});
  REQUIRE(real);
  CHECK(log == log_t{"validate B", "reserve", "real charge", "confirm 7", "notify"});
}

TEST_CASE("a retry around a replaced step retries the mock", "[testing][replace][retry]") {
  log_t log;
  charge_mock charge;
  charge.fail(tutti::errc::timeout).times(3).then_return(receipt{9});
  const auto test = tutti::testing::replace<"charge">(make_checkout(log), charge);
  tutti::testing::manual_clock clock;
  const auto run = test.run(order{"A", 1}, {}, clock);
  REQUIRE(run);
  CHECK(charge.call_count() == 4);
  CHECK(run.report().step("charge").attempts == 4);
  CHECK(clock.slept() == 300ms);  // three waits of the retry's constant backoff, virtual
  const auto calls = charge.calls();
  for (std::uint32_t i = 0; i < 4; ++i) CHECK(calls[i].attempt == i + 1);
  CHECK(charge.count_with_key(calls[0].key) == 4);  // one idempotency key for every attempt

  // With the retry exhausted, the failure is the mock's error and earlier steps are undone.
  log.clear();
  charge_mock broken;
  broken.fail(tutti::errc::circuit_open);  // not retried by the default predicate
  const auto failing = tutti::testing::replace<"charge">(make_checkout(log), broken);
  const auto failed = failing.run(order{"A", 5}, {}, clock);
  REQUIRE_FALSE(failed);
  CHECK(failed.failed_step() == "charge");
  CHECK(failed.error() == tutti::errc::circuit_open);
  CHECK(failed.outcome() == tutti::run_outcome::compensated);
  CHECK(broken.call_count() == 1);
  CHECK(log == log_t{"validate A", "reserve", "release 5"});
}

TEST_CASE("a replaced step keeps its compensation, which receives the mock's output",
          "[testing][replace][saga]") {
  log_t log;
  charge_mock charge;
  charge.returns(receipt{13});
  tutti::testing::mock<tutti::result<int>(tutti::from<"charge", receipt>)> confirm;
  confirm.fail(tutti::errc::step_failed);
  const auto test = tutti::testing::replace<"confirm">(
      tutti::testing::replace<"charge">(make_checkout(log), charge), confirm);
  const auto run = test.run(order{"A", 3});
  REQUIRE_FALSE(run);
  CHECK(run.failed_step() == "confirm");
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  // The original compensations ran, in reverse order, on what the mock produced.
  CHECK(log == log_t{"validate A", "reserve", "refund 13", "release 3"});
  CHECK(confirm.last_call().arg<0>() == receipt{13});
}

TEST_CASE("replace_compensation swaps the undo and keeps its policy", "[testing][replace][saga]") {
  log_t log;
  tutti::testing::mock_compensation<tutti::result<void>(const receipt&)> refund;
  refund.fail(tutti::errc::timeout);  // every call fails
  tutti::testing::mock<tutti::result<int>()> confirm;
  confirm.fail(tutti::errc::step_failed);
  const auto test = tutti::testing::replace_compensation<"charge">(
      tutti::testing::replace<"confirm">(make_checkout(log), confirm), refund);
  using wf_t = std::remove_const_t<decltype(test)>;
  STATIC_REQUIRE(wf_t::step_names == checkout::step_names);
  const auto run = test.run(order{"A", 8});
  REQUIRE_FALSE(run);
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  const auto line = run.report().step("charge");
  CHECK(line.status == tutti::step_status::compensation_failed);
  CHECK(line.compensation_attempts == 2);  // the compensation's own retry{max_attempts{2}}
  CHECK(line.compensation_error == tutti::errc::timeout);
  REQUIRE(refund.call_count() == 2);
  CHECK(refund.calls()[0].arg<0>() == receipt{8});  // what the real charge produced
  CHECK(log == log_t{"validate A", "reserve", "real charge", "release 8"});
}

TEST_CASE("a step of a nested workflow is replaced by its path", "[testing][replace][nested]") {
  tutti::testing::mock<tutti::result<int>(const order&)> authorize;
  authorize.fail(tutti::errc::timeout).then_return(7);
  const auto wf = tutti::workflow<"shop">(
      tutti::step<"validate">([](const order& o) { return o.cents > 0; }),
      tutti::workflow<"payment">(
          tutti::step<"authorize">([](const order& o) { return o.cents; }) | tutti::retry{},
          tutti::step<"capture">([](tutti::from<"authorize", int> a) { return *a * 10; })),
      tutti::step<"ship">([](tutti::from<"payment", int> p) { return *p + 1; }));
  const auto test = tutti::testing::replace<"payment/authorize">(wf, authorize);
  using wf_t = std::remove_const_t<decltype(test)>;
  STATIC_REQUIRE(wf_t::step_names == decltype(wf)::step_names);
  STATIC_REQUIRE(std::tuple_element_t<1, wf_t::nodes_type>::step_names ==
                 std::tuple_element_t<1, decltype(wf)::nodes_type>::step_names);
  const auto run = test.run(order{"A", 2});
  REQUIRE(run);
  CHECK(run.value() == 71);
  CHECK(authorize.call_count() == 2);
  CHECK(authorize.last_call().step == "payment/authorize");
  CHECK(wf.run(order{"A", 2}).value() == 21);  // the original
}

TEST_CASE("any callable with the step's output type can replace a step", "[testing][replace]") {
  log_t log;
  // A plain lambda, with fewer parameters than the original.
  const auto a = tutti::testing::replace<"charge">(make_checkout(log), [] { return receipt{5}; });
  CHECK(a.run(order{"A", 1}).get<"confirm">() == 5);
  // A function returning T rather than result<T>: the same output type.
  const auto b = tutti::testing::replace<"confirm">(make_checkout(log), [] { return 6; });
  CHECK(b.run(order{"A", 1}).get<"confirm">() == 6);
  // A generic lambda: its output is checked when a run instantiates it.
  const auto c = tutti::testing::replace<"charge">(make_checkout(log), [](const auto& o) {
    return tutti::result<receipt>(receipt{o.cents + 1});
  });
  CHECK(c.run(order{"A", 1}).get<"confirm">() == 2);
}

namespace {
// A step written as a type, with its compensation as a member.
struct reserve_seat {
  static constexpr std::string_view name = "reserve_seat";
  log_t* log;
  tutti::result<hold> operator()(const order& o) const {
    log->push_back("real reserve");
    return hold{o.cents};
  }
  void compensate(const hold& h) const { log->push_back("free seat " + std::to_string(h.id)); }
};
}  // namespace

TEST_CASE("replacing a step written as a type keeps its compensate member",
          "[testing][replace][saga]") {
  log_t log;
  const auto wf = tutti::workflow<"booking">(
      reserve_seat{&log},
      tutti::step<"pay">([]() -> tutti::result<int> { return tutti::errc::step_failed; }));
  tutti::testing::mock<tutti::result<hold>(const order&)> reserve;
  reserve.returns(hold{31});
  const auto test = tutti::testing::replace<"reserve_seat">(wf, reserve);
  const auto run = test.run(order{"A", 1});
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(log == log_t{"free seat 31"});  // the member compensation, on the mock's output

  log.clear();
  tutti::testing::mock_compensation<void(const hold&)> undo;
  const auto both = tutti::testing::replace_compensation<"reserve_seat">(test, undo);
  CHECK(both.run(order{"A", 1}).outcome() == tutti::run_outcome::compensated);
  CHECK(log.empty());
  CHECK(undo.last_call().arg<0>() == hold{31});
}

TEST_CASE("a replaced step under a deadline times out on virtual time",
          "[testing][replace][deadline]") {
  tutti::testing::manual_clock clock;
  tutti::testing::mock<tutti::result<int>()> slow;
  slow.fail(tutti::errc::step_failed).takes(3s, clock);
  const auto wf = tutti::workflow<"w">(
      tutti::step<"fetch">([] { return 1; }) |
      tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{10}} | tutti::deadline{5s});
  const auto test = tutti::testing::replace<"fetch">(wf, slow);
  const auto run = test.run(tutti::unit{}, {}, clock);
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::timeout);
  // Attempts at 0 s and 4 s (3 s each, 1 s wait); the second ends at 7 s, past the deadline:
  // the retry gives up and the deadline turns the late failure into a timeout.
  CHECK(slow.call_count() == 2);
  CHECK(clock.now() == 7s);
  CHECK(run.report()[0].gave_up_early);
  CHECK(run.report()[0].timed_out);
}

TEST_CASE("a path goes through the policies around a nested workflow",
          "[testing][replace][nested]") {
  tutti::testing::mock<tutti::result<int>()> inner;
  inner.fail(tutti::errc::timeout).times(1).then_return(3);
  const auto wf = tutti::workflow<"outer">(
      tutti::workflow<"payment">(
          tutti::step<"authorize">([] { return 1; }),
          tutti::step<"capture">([](tutti::from<"authorize", int> a) { return *a + 1; })) |
      tutti::retry{tutti::max_attempts{2}});
  const auto test = tutti::testing::replace<"payment/authorize">(wf, inner);
  const auto run = test.run();
  REQUIRE(run);
  CHECK(run.value() == 4);
  CHECK(run.report().step("payment").attempts == 2);  // the retry reran the nested workflow
  CHECK(inner.call_count() == 2);
}

TEST_CASE("a step replaced by a generic lambda can then have its compensation replaced",
          "[testing][replace][saga]") {
  log_t log;
  tutti::testing::mock_compensation<void(const receipt&)> refund;
  tutti::testing::mock<tutti::result<int>()> confirm;
  confirm.fail(tutti::errc::step_failed);
  const auto generic = tutti::testing::replace<"charge">(
      make_checkout(log), [](const auto& o) { return tutti::result<receipt>(receipt{o.cents}); });
  const auto test = tutti::testing::replace_compensation<"charge">(
      tutti::testing::replace<"confirm">(generic, confirm), refund);
  const auto run = test.run(order{"A", 4});
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  REQUIRE(refund.call_count() == 1);
  CHECK(refund.last_call().arg<0>() == receipt{4});
  CHECK(log == log_t{"validate A", "reserve", "release 4"});
}

// ---- parallel groups, conditionals and choices ------------------------------------------------

namespace {
using int_mock = tutti::testing::mock<tutti::result<int>()>;

/// A group after a compensable step, then a step that reads the group: all on the inline
/// executor (branches one after another on this thread: deterministic).
auto make_page(log_t& log) {
  return tutti::workflow<"page">(
      tutti::step<"first">([&log] {
        log.push_back("first");
        return 1;
      }).compensate_with([&log](const int&) { log.push_back("undo first"); }),
      tutti::parallel<"g">(tutti::step<"a">([&log](tutti::from<"first", int> f) {
                             log.push_back("real a");
                             return *f + 10;
                           }).compensate_with([&log](const int& v) {
        log.push_back("undo a " + std::to_string(v));
      }) | tutti::retry{tutti::max_attempts{3}},
                           tutti::optional_branch(tutti::step<"b">([&log] {
                             log.push_back("real b");
                             return 20;
                           })),
                           tutti::step<"c">([&log] {
                             log.push_back("real c");
                             return 30;
                           }).compensate_with([&log](const int& v) {
                             log.push_back("undo c " + std::to_string(v));
                           })),
      tutti::step<"sum">([](tutti::from<"g", std::tuple<int, std::optional<int>, int>> g) {
        return std::get<0>(*g) + std::get<1>(*g).value_or(0) + std::get<2>(*g);
      }));
}
using page = decltype(make_page(std::declval<log_t&>()));
}  // namespace

TEST_CASE("a branch of a group is replaced by its path group/branch, its retry retries the mock",
          "[testing][replace][parallel]") {
  log_t log;
  int_mock a;
  a.fail(tutti::errc::timeout).times(1).then_return(7);
  const auto test = tutti::testing::replace<"g/a">(make_page(log), a);
  using wf_t = std::remove_const_t<decltype(test)>;
  STATIC_REQUIRE(wf_t::step_names == page::step_names);
  using group_t = std::tuple_element_t<1, wf_t::nodes_type>;
  using orig_group_t = std::tuple_element_t<1, page::nodes_type>;
  STATIC_REQUIRE(group_t::branch_names == orig_group_t::branch_names);
  STATIC_REQUIRE(group_t::mode == orig_group_t::mode);
  // The branch keeps its retry and its compensation; the other branches are the same types.
  using a_t = std::tuple_element_t<0, group_t::nodes_type>;
  STATIC_REQUIRE(std::is_same_v<a_t::policy_type,
                                std::tuple_element_t<0, orig_group_t::nodes_type>::policy_type>);
  STATIC_REQUIRE(a_t::compensable);
  STATIC_REQUIRE(std::is_same_v<std::tuple_element_t<1, group_t::nodes_type>,
                                std::tuple_element_t<1, orig_group_t::nodes_type>>);
  STATIC_REQUIRE(std::is_same_v<std::tuple_element_t<2, group_t::nodes_type>,
                                std::tuple_element_t<2, orig_group_t::nodes_type>>);

  const auto run = test.run();
  REQUIRE(run);
  CHECK(run.value() == 7 + 20 + 30);
  CHECK(a.call_count() == 2);
  CHECK(a.last_call().step == "g/a");
  CHECK(a.last_call().attempt == 2);
  CHECK(log == log_t{"first", "real b", "real c"});
  CHECK(run.report().step("g").status == tutti::step_status::succeeded);
}

TEST_CASE("a replaced required branch that fails fails the group, the others are undone",
          "[testing][replace][parallel][saga]") {
  log_t log;
  int_mock c;
  c.fail(tutti::errc::circuit_open);
  const auto test = tutti::testing::replace<"g/c">(make_page(log), c);
  const auto run = test.run();
  REQUIRE_FALSE(run);
  CHECK(run.failed_step() == "g");
  CHECK(run.error() == tutti::errc::circuit_open);
  CHECK(run.message().rfind("c: ", 0) == 0);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(c.call_count() == 1);
  CHECK(c.last_call().step == "g/c");
  // The branch that completed is undone with its real compensation, then the earlier step.
  CHECK(log == log_t{"first", "real a", "real b", "undo a 11", "undo first"});
}

TEST_CASE("an optional branch is replaced inside optional_branch: still optional",
          "[testing][replace][parallel]") {
  log_t log;
  int_mock b;
  b.fail(tutti::errc::timeout);
  const auto test = tutti::testing::replace<"g/b">(make_page(log), b);
  using group_t = std::tuple_element_t<1, std::remove_const_t<decltype(test)>::nodes_type>;
  STATIC_REQUIRE(tutti::detail::is_optional_branch<std::tuple_element_t<1, group_t::nodes_type>>());
  const auto run = test.run();
  REQUIRE(run);
  CHECK(run.value() == 11 + 30);
  CHECK_FALSE(std::get<1>(run.get<"g">()).has_value());
  CHECK(b.call_count() == 1);
  CHECK(b.last_call().step == "g/b");
}

TEST_CASE("a branch's replacement may read the steps before the group",
          "[testing][replace][parallel]") {
  log_t log;
  tutti::testing::mock<tutti::result<int>(tutti::from<"first", int>)> a;
  a.returns(100);
  const auto run = tutti::testing::replace<"g/a">(make_page(log), a).run();
  REQUIRE(run);
  CHECK(run.value() == 100 + 20 + 30);
  CHECK(a.last_call().arg<0>() == 1);  // what "first" produced
}

TEST_CASE("replace_compensation reaches a branch: the group's undo calls the mock",
          "[testing][replace][parallel][saga]") {
  log_t log;
  tutti::testing::mock_compensation<void(const int&)> undo_c;
  tutti::testing::mock<tutti::result<int>()> sum;
  sum.fail(tutti::errc::step_failed);
  const auto test = tutti::testing::replace_compensation<"g/c">(
      tutti::testing::replace<"sum">(make_page(log), sum), undo_c);
  const auto run = test.run();
  REQUIRE_FALSE(run);
  CHECK(run.failed_step() == "sum");
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  REQUIRE(undo_c.call_count() == 1);
  CHECK(undo_c.last_call().arg<0>() == 30);  // branch c's output
  // Reverse branch order: c (the mock) first, then a, then the step before the group.
  CHECK(log == log_t{"first", "real a", "real b", "real c", "undo a 11", "undo first"});
}

TEST_CASE("a hedged copy is replaced by its path step/copy", "[testing][replace][parallel]") {
  tutti::inline_executor ex;
  std::vector<std::string> real;
  const auto wf = tutti::workflow<"w">(tutti::step<"read">([&real](const tutti::call_context& c) {
                                         real.emplace_back(c.step);
                                         return 5;
                                       }) |
                                       tutti::hedged(ex, 10ms));
  int_mock first;
  first.fail(tutti::errc::timeout);
  const auto test = tutti::testing::replace<"read/1">(wf, first);
  const auto run = test.run();
  REQUIRE(run);
  CHECK(run.value() == 5);
  CHECK(first.call_count() == 1);
  CHECK(first.last_call().step == "read/1");
  CHECK(real == std::vector<std::string>{"read/2"});  // the second copy is the original step
}

TEST_CASE("a nested workflow as a branch: its step is replaced by group/workflow/step",
          "[testing][replace][parallel][nested]") {
  int_mock x;
  x.fail(tutti::errc::timeout).then_return(4);
  const auto wf = tutti::workflow<"w">(
      tutti::parallel<"g">(
          tutti::workflow<"sub">(tutti::step<"x">([] { return 1; }) | tutti::retry{},
                                 tutti::step<"y">([](tutti::from<"x", int> v) { return *v * 2; })),
          tutti::step<"z">([] { return 3; })),
      tutti::step<"sum">([](tutti::from<"g", std::tuple<int, int>> g) {
        return std::get<0>(*g) + std::get<1>(*g);
      }));
  const auto run = tutti::testing::replace<"g/sub/x">(wf, x).run();
  REQUIRE(run);
  CHECK(run.value() == 4 * 2 + 3);
  CHECK(x.call_count() == 2);
  CHECK(x.last_call().step == "g/sub/x");
}

TEST_CASE("a when step's inner step is replaced, the condition is kept",
          "[testing][replace][branch]") {
  const auto wf = tutti::workflow<"w">(
      tutti::step<"n">([](const int& n) { return n; }),
      tutti::when([](tutti::from<"n", int> n) { return *n > 10; },
                  tutti::step<"big">([] { return 1; }) | tutti::retry{tutti::max_attempts{2}}),
      tutti::step<"out">([](tutti::from<"big", std::optional<int>> b) { return b->value_or(-1); }));
  int_mock big;
  big.fail(tutti::errc::timeout).then_return(42);
  const auto test = tutti::testing::replace<"big">(wf, big);
  using when_t = std::tuple_element_t<1, std::remove_const_t<decltype(test)>::nodes_type>;
  STATIC_REQUIRE(
      std::is_same_v<std::remove_cvref_t<decltype(std::get<1>(test.steps()).condition())>,
                     std::remove_cvref_t<decltype(std::get<1>(wf.steps()).condition())>>);
  STATIC_REQUIRE(
      std::is_same_v<when_t::inner_type::policy_type,
                     std::tuple_element_t<1, decltype(wf)::nodes_type>::inner_type::policy_type>);

  const auto skipped = test.run(5);
  REQUIRE(skipped);
  CHECK(skipped.value() == -1);
  CHECK(big.call_count() == 0);
  CHECK(skipped.report().step("big").status == tutti::step_status::skipped);

  const auto ran = test.run(50);
  REQUIRE(ran);
  CHECK(ran.value() == 42);
  CHECK(big.call_count() == 2);  // the step's retry retried the mock
  CHECK(big.last_call().step == "big");
}

namespace {
enum class method { courier, post };

template <class W>
void check_choice_replace(const W& wf) {
  if constexpr (tutti::testing::detail::has_selector<
                    std::tuple_element_t<0, typename W::nodes_type>>) {
    int_mock courier;
    courier.fail(tutti::errc::timeout).then_return(9);
    const auto test = tutti::testing::replace<"route/courier">(wf, courier);
    using choice_t =
        std::tuple_element_t<0, typename std::remove_const_t<decltype(test)>::nodes_type>;
    STATIC_REQUIRE(choice_t::case_names ==
                   std::tuple_element_t<0, typename W::nodes_type>::case_names);
    const auto by_courier = test.run(method::courier);
    REQUIRE(by_courier);
    CHECK(by_courier.value() == 9);
    CHECK(courier.call_count() == 2);
    CHECK(courier.last_call().step == "route/courier");
    const auto by_post = test.run(method::post);  // the selector is the original one
    REQUIRE(by_post);
    CHECK(by_post.value() == 2);
    CHECK(courier.call_count() == 2);
  } else {
    WARN("tutti::choice_node has no selector(): replacing a case of a choice is not available");
  }
}
}  // namespace

TEST_CASE("a case of a choice is replaced by its path choice/case", "[testing][replace][branch]") {
  const auto wf = tutti::workflow<"w">(tutti::choose<"route">(
      [](const method& m) { return m; },
      tutti::step<"courier">([] { return 1; }) | tutti::retry{tutti::max_attempts{2}},
      tutti::step<"post">([] { return 2; })));
  check_choice_replace(wf);
}
