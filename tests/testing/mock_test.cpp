// Mock steps and compensations: scripted outcomes, virtual time, the call log, thread safety.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/testing/mock.hpp>
#include <tutti/tutti.hpp>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct order {
  std::string id;
  int cents = 0;
};
struct receipt {
  int id = 0;
  friend bool operator==(const receipt&, const receipt&) = default;
};

using charge_mock = tutti::testing::mock<tutti::result<receipt>(const order&)>;

/// A call context as the engine would pass it, for calling a mock by hand.
tutti::call_context ctx(std::uint32_t attempt = 1, std::string_view step = "charge") {
  return tutti::call_context{tutti::run_id{1, 2}, step, attempt};
}

std::string key_text(const tutti::run_id& id, std::string_view step) {
  std::string out;
  tutti::idempotency_key{id, step}.append_to(out);
  return out;
}
}  // namespace

TEST_CASE("a mock is a const callable whose signature the engine can read", "[testing][mock]") {
  using sig = tutti::detail::signature_of<charge_mock>;
  STATIC_REQUIRE(sig::known);
  STATIC_REQUIRE_FALSE(sig::mutable_call);
  STATIC_REQUIRE(
      std::is_same_v<sig::args,
                     tutti::detail::type_list<const order&, const tutti::call_context&>>);
  STATIC_REQUIRE(std::is_same_v<charge_mock::result_type, tutti::result<receipt>>);
  // The value type comes from the signature's return type, whatever form it takes.
  STATIC_REQUIRE(std::is_same_v<tutti::testing::mock<receipt(const order&)>::value_type, receipt>);
  STATIC_REQUIRE(std::is_same_v<tutti::testing::mock<void()>::result_type, tutti::result<void>>);
  STATIC_REQUIRE(std::is_same_v<tutti::testing::mock<tutti::result<void>()>::value_type, void>);
  STATIC_REQUIRE(tutti::node<decltype(tutti::step<"charge">(charge_mock{}))>);
  STATIC_REQUIRE(std::is_same_v<tutti::testing::mock_compensation<void(const receipt&)>,
                                tutti::testing::mock<void(const receipt&)>>);
}

TEST_CASE("returns(v) answers every call with v", "[testing][mock]") {
  charge_mock m;
  m.returns(receipt{7});
  for (std::uint32_t i = 1; i <= 3; ++i) {
    auto r = m(order{"o", 100}, ctx(i));
    REQUIRE(r.has_value());
    CHECK(r.value() == receipt{7});
  }
  CHECK(m.call_count() == 3);
}

TEST_CASE("outcomes are consumed in order and the last one repeats", "[testing][mock]") {
  charge_mock m;
  m.returns(receipt{1}).then_fail(tutti::errc::timeout).then_return(receipt{3});
  CHECK(m(order{}, ctx()).value() == receipt{1});
  CHECK(m(order{}, ctx()).error() == tutti::errc::timeout);
  CHECK(m(order{}, ctx()).value() == receipt{3});
  CHECK(m(order{}, ctx()).value() == receipt{3});
  CHECK(m(order{}, ctx()).value() == receipt{3});
}

TEST_CASE("fail(ec).times(n).then_return(v) fails n times, then succeeds every time",
          "[testing][mock]") {
  charge_mock m;
  m.fail(tutti::errc::timeout).times(2).then_return(receipt{9});
  CHECK(m(order{}, ctx(1)).error() == tutti::errc::timeout);
  CHECK(m(order{}, ctx(2)).error() == tutti::errc::timeout);
  CHECK(m(order{}, ctx(3)).value() == receipt{9});
  CHECK(m(order{}, ctx(4)).value() == receipt{9});
  const auto calls = m.calls();
  REQUIRE(calls.size() == 4);
  CHECK(calls[0].error == tutti::errc::timeout);
  CHECK(calls[1].error == tutti::errc::timeout);
  CHECK_FALSE(calls[2].error);
  CHECK_FALSE(calls[3].threw);
}

TEST_CASE("a lone fail(ec) fails every call", "[testing][mock]") {
  charge_mock m;
  m.fail(tutti::errc::circuit_open);
  for (int i = 0; i < 5; ++i) CHECK(m(order{}, ctx()).error() == tutti::errc::circuit_open);
}

TEST_CASE("a call beyond a counted script throws and says so", "[testing][mock]") {
  charge_mock m{"charge"};
  m.returns(receipt{1}).times(2);
  CHECK(m(order{}, ctx()).has_value());
  CHECK(m(order{}, ctx()).has_value());
  CHECK_THROWS_WITH(m(order{}, ctx()), Catch::Contains("mock \"charge\": call 3 is not scripted"));
  CHECK(m.calls().back().threw);

  // In a run, the engine captures it as a failure with the message.
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">(m));
  const auto run = wf.run(order{});
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::exception);
  CHECK_THAT(std::string{run.message()}, Catch::Contains("call 4 is not scripted"));
}

TEST_CASE("an unscripted mock that returns nothing succeeds, one that returns a value throws",
          "[testing][mock]") {
  tutti::testing::mock<void(const order&)> quiet;
  CHECK(quiet(order{}, ctx()).has_value());
  CHECK(quiet.call_count() == 1);
  charge_mock m;
  CHECK_THROWS_AS(m(order{}, ctx()), std::logic_error);
}

TEST_CASE("throws(e) throws a copy of e each call, the run reports its what()", "[testing][mock]") {
  charge_mock m;
  m.throws(std::runtime_error("gateway exploded")).then_return(receipt{2});
  CHECK_THROWS_WITH(m(order{}, ctx()), "gateway exploded");
  CHECK(m.calls()[0].threw);
  CHECK(m(order{}, ctx()).value() == receipt{2});

  charge_mock always;
  always.throws(std::runtime_error("gateway exploded"));
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">(always));
  const auto run = wf.run(order{});
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::exception);
  CHECK(run.message() == "gateway exploded");
}

TEST_CASE("does(fn) calls fn with the bound arguments", "[testing][mock]") {
  charge_mock m;
  m.fail(tutti::errc::timeout).then_do([](const order& o) -> tutti::result<receipt> {
    return receipt{o.cents * 2};
  });
  CHECK(m(order{"o", 21}, ctx()).error() == tutti::errc::timeout);
  CHECK(m(order{"o", 21}, ctx()).value() == receipt{42});

  int undone = 0;
  tutti::testing::mock_compensation<void(const receipt&)> undo;
  undo.does([&undone](const receipt& r) { undone += r.id; });
  CHECK(undo(receipt{5}, ctx()).has_value());
  CHECK(undone == 5);
}

TEST_CASE("times(n) and after(d) apply to the outcome scripted last, misuse throws",
          "[testing][mock]") {
  charge_mock m;
  CHECK_THROWS_AS(m.times(2), std::invalid_argument);  // nothing scripted yet
  m.returns(receipt{1});
  CHECK_THROWS_AS(m.times(0), std::invalid_argument);
  CHECK_THROWS_AS(m.fail(std::error_code{}), std::invalid_argument);
  CHECK_THROWS_WITH(m.takes(1s), Catch::Contains("call on(clock) first"));
  CHECK_THROWS_WITH(m.after(1s), Catch::Contains("call on(clock) first"));
  tutti::testing::manual_clock clock;
  CHECK_THROWS_AS(m.on(clock).takes(-1s), std::invalid_argument);
}

TEST_CASE("takes(d) moves the manual clock by d on every call", "[testing][mock]") {
  tutti::testing::manual_clock clock;
  charge_mock m;
  m.returns(receipt{1}).takes(250ms, clock);
  (void)m(order{}, ctx());
  (void)m(order{}, ctx());
  CHECK(clock.now() == 500ms);
  CHECK(clock.slept() == 0ms);  // virtual work, not a sleep: retry waits stay measurable apart
  const auto calls = m.calls();
  CHECK(calls[0].at == 0ms);  // the clock when each call began
  CHECK(calls[1].at == 250ms);
}

TEST_CASE("after(d) gives one outcome its own duration", "[testing][mock]") {
  tutti::testing::manual_clock clock;
  charge_mock m;
  m.on(clock).takes(10ms).fail(tutti::errc::timeout).times(2).after(3s).then_return(receipt{1});
  (void)m(order{}, ctx());
  (void)m(order{}, ctx());
  (void)m(order{}, ctx());
  CHECK(clock.now() == 6s + 10ms);
}

TEST_CASE("a slow mock trips a timeout, a retry then reaches its fast answer",
          "[testing][mock][timeout]") {
  tutti::testing::manual_clock clock;
  charge_mock m;
  // A late failure becomes a timeout, which the retry retries. (A late *success* of a step
  // without compensation would stand, and a retry must not repeat it: see
  // docs/policies/timeout.md.)
  m.on(clock).fail(tutti::errc::step_failed).after(3s).then_return(receipt{2});
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">(m) | tutti::timeout{2s} |
                                       tutti::retry{tutti::max_attempts{2}});
  const auto run = wf.run(order{}, {}, clock);
  REQUIRE(run);
  CHECK(run.value() == receipt{2});
  CHECK(run.report()[0].attempts == 2);
  CHECK(run.report()[0].timed_out);
  CHECK(m.call_count() == 2);
  CHECK(clock.now() == 3s);
}

TEST_CASE("a mock that takes longer than the run's deadline fails the run with a timeout",
          "[testing][mock][deadline]") {
  tutti::testing::manual_clock clock;
  charge_mock m;
  m.returns(receipt{1}).takes(5s, clock);
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">(m));
  const auto run = wf.run(order{}, {.deadline = 1s}, clock);
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::timeout);
  // The step saw the run's deadline in its call context.
  CHECK(m.last_call().deadline == 1s);
}

TEST_CASE("the log keeps each call's arguments, attempt, step path and idempotency key",
          "[testing][mock]") {
  tutti::testing::mock<tutti::result<int>(const order&, tutti::from<"charge", receipt>)> notify;
  notify.fail(tutti::errc::timeout).then_return(1);
  const auto wf =
      tutti::workflow<"w">(tutti::step<"charge">([](const order& o) { return receipt{o.cents}; }),
                           tutti::step<"notify">(notify) | tutti::retry{tutti::max_attempts{3}});
  const auto run = wf.run(order{"A-1", 1250}, {.id = tutti::run_id{0xab, 0xcd}});
  REQUIRE(run);
  const auto calls = notify.calls();
  REQUIRE(calls.size() == 2);
  for (std::uint32_t i = 0; i < 2; ++i) {
    CHECK(calls[i].attempt == i + 1);
    CHECK(calls[i].arg<0>().id == "A-1");       // the input, copied
    CHECK(calls[i].arg<1>() == receipt{1250});  // from<"charge", receipt>, as the value
    CHECK(calls[i].step == "notify");
    CHECK(calls[i].run == tutti::run_id{0xab, 0xcd});
    CHECK(calls[i].key == key_text(tutti::run_id{0xab, 0xcd}, "notify"));
  }
  CHECK(calls[0].key == fmt::format("{}", tutti::idempotency_key{run.id(), "notify"}));
  CHECK(notify.called_with_key(calls[0].key));
  CHECK(notify.count_with_key(calls[0].key) == 2);  // a retry keeps the key
  CHECK_FALSE(notify.called_with_key("nope"));
  CHECK(notify.keys() == std::vector<std::string>{calls[0].key, calls[0].key});
  CHECK(notify.last_call().attempt == 2);
  notify.clear_calls();
  CHECK(notify.call_count() == 0);
  CHECK_THROWS_AS(notify.last_call(), std::logic_error);
}

TEST_CASE("a mock in a nested workflow logs the step's full path", "[testing][mock]") {
  tutti::testing::mock<tutti::result<int>()> inner;
  inner.returns(5);
  const auto wf =
      tutti::workflow<"outer">(tutti::workflow<"payment">(tutti::step<"authorize">(inner)));
  const auto run = wf.run();
  REQUIRE(run);
  CHECK(inner.last_call().step == "payment/authorize");
  CHECK(inner.last_call().key == key_text(run.id(), "payment/authorize"));
}

TEST_CASE("copies of a mock share the script and the log", "[testing][mock]") {
  charge_mock m;
  const charge_mock copy = m;
  m.returns(receipt{4});  // scripted after the copy: the copy sees it
  CHECK(copy(order{}, ctx()).value() == receipt{4});
  CHECK(m.call_count() == 1);
  charge_mock named{"charge"};
  CHECK(named.name() == "charge");
}

TEST_CASE("a mock compensation records what its step produced", "[testing][mock][saga]") {
  tutti::testing::mock_compensation<void(const receipt&)> refund;
  tutti::testing::mock<tutti::result<int>()> ship;
  ship.fail(tutti::errc::step_failed);
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">([](const order& o) {
                                         return receipt{o.cents};
                                       }).compensate_with(refund),
                                       tutti::step<"ship">(ship));
  const auto run = wf.run(order{"o", 77});
  REQUIRE_FALSE(run);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  REQUIRE(refund.call_count() == 1);
  const auto c = refund.last_call();
  CHECK(c.arg<0>() == receipt{77});
  CHECK(c.attempt == 1);                         // the compensation's own attempt
  CHECK(c.key == key_text(run.id(), "charge"));  // the step's key: the service can match it
}

TEST_CASE("a failing mock compensation is retried by its own policy, then reported",
          "[testing][mock][saga]") {
  tutti::testing::mock_compensation<tutti::result<void>(const receipt&)> refund;
  refund.fail(tutti::errc::timeout).times(2);  // then the default: success
  tutti::testing::mock<tutti::result<int>()> ship;
  ship.fail(tutti::errc::step_failed);
  const auto wf =
      tutti::workflow<"w">(tutti::step<"charge">([] {
                             return receipt{1};
                           }).compensate_with(refund, tutti::retry{tutti::max_attempts{3}}),
                           tutti::step<"ship">(ship));
  auto run = wf.run();
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.report()[0].compensation_attempts == 3);
  CHECK(refund.call_count() == 3);
  CHECK(refund.calls()[2].attempt == 3);

  refund.clear_calls();
  refund.fail(tutti::errc::timeout);  // from now on, every call fails
  auto failed = wf.run();
  CHECK(failed.outcome() == tutti::run_outcome::compensation_failed);
  CHECK(failed.report()[0].compensation_error == tutti::errc::timeout);
  CHECK(refund.call_count() == 3);
}

TEST_CASE(
    "concurrent runs share one mock: every call is logged once, the script is consumed "
    "exactly",
    "[testing][mock][concurrency]") {
  charge_mock m;
  m.fail(tutti::errc::timeout).times(50).then_return(receipt{1});
  const auto wf =
      tutti::workflow<"w">(tutti::step<"charge">(m) | tutti::retry{tutti::max_attempts{100}});
  constexpr int threads = 4;
  constexpr int runs = 100;
  std::atomic<int> succeeded{0};
  std::atomic<bool> done{false};
  std::thread reader([&] {  // reads the log while it grows
    while (!done.load()) (void)m.calls().size();
  });
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < runs; ++i)
        if (wf.run(order{}).has_value()) succeeded.fetch_add(1);
    });
  for (auto& t : pool) t.join();
  done.store(true);
  reader.join();

  CHECK(succeeded.load() == threads * runs);
  const auto calls = m.calls();
  CHECK(calls.size() == static_cast<std::size_t>(threads * runs + 50));
  std::size_t failures = 0;
  std::set<std::string> keys;
  for (const auto& c : calls) {
    failures += c.error ? 1 : 0;
    keys.insert(c.key);
  }
  CHECK(failures == 50);
  CHECK(keys.size() == static_cast<std::size_t>(threads * runs));  // one key per run
}
