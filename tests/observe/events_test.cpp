// The event model: which events a run emits, in which order, with which fields.
#include <tutti/tutti.hpp>
#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {
using namespace std::chrono_literals;
using tutti::event_kind;
using k = tutti::event_kind;

/// One event as the tests compare it: copied, since the event's views die with the call.
struct seen {
  event_kind kind;
  std::string step;
  std::uint32_t attempt;
  bool compensation;
  friend bool operator==(const seen&, const seen&) = default;
};

std::ostream& operator<<(std::ostream& os, const seen& s) {
  return os << "{" << tutti::to_string(s.kind) << ", \"" << s.step << "\", " << s.attempt
            << (s.compensation ? ", compensation" : "") << "}";
}

/// Keeps every event (the whole event, with copied strings).
struct recorder {
  static constexpr bool wants_time = true;
  struct entry {
    tutti::event e;
    std::string workflow, step, message;
  };
  std::vector<entry> all;
  void on_event(const tutti::event& e) {
    all.push_back({e, std::string{e.workflow}, std::string{e.step}, std::string{e.message}});
  }
  [[nodiscard]] std::vector<seen> kinds() const {
    std::vector<seen> out;
    for (const auto& x : all) out.push_back({x.e.kind, x.step, x.e.attempt, x.e.compensation});
    return out;
  }
  [[nodiscard]] const entry& first(event_kind kind, std::string_view step = {}) const {
    for (const auto& x : all)
      if (x.e.kind == kind && (step.empty() || x.step == step)) return x;
    throw std::logic_error("no such event");
  }
  [[nodiscard]] std::size_t count(event_kind kind) const {
    std::size_t n = 0;
    for (const auto& x : all) n += x.e.kind == kind ? 1 : 0;
    return n;
  }
};

/// An observer that asks for no time.
struct untimed_recorder {
  std::vector<tutti::event> all;
  void on_event(const tutti::event& e) { all.push_back(e); }
};

tutti::result<int> fails() { return tutti::errc::step_failed; }
}  // namespace

TEST_CASE("observer concept accepts what has on_event and the null observer adds no state") {
  STATIC_REQUIRE(tutti::observer<recorder>);
  STATIC_REQUIRE(tutti::observer<tutti::null_observer>);
  STATIC_REQUIRE_FALSE(tutti::observer<int>);
  STATIC_REQUIRE_FALSE(tutti::observer<tutti::steady_clock>);
  STATIC_REQUIRE(std::is_empty_v<tutti::null_observer>);
  STATIC_REQUIRE(std::is_empty_v<tutti::detail::observer_ref<tutti::null_observer>>);
  STATIC_REQUIRE(sizeof(tutti::detail::observer_ref<recorder>) == sizeof(void*) + sizeof(std::string_view));
  STATIC_REQUIRE(tutti::detail::observer_wants_time<recorder>());
  STATIC_REQUIRE_FALSE(tutti::detail::observer_wants_time<untimed_recorder>());
}

TEST_CASE("a successful run emits run, step and attempt events in order") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"order">(
      tutti::step<"reserve">([&clock] {
        clock.advance(3ms);
        return 1;
      }),
      tutti::step<"charge">([](tutti::from<"reserve", int> r) { return *r + 1; }));
  recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.has_value());
  const std::vector<seen> expected{
      {k::run_started, "", 0, false},
      {k::step_started, "reserve", 0, false},
      {k::attempt_started, "reserve", 1, false},
      {k::attempt_succeeded, "reserve", 1, false},
      {k::step_succeeded, "reserve", 1, false},
      {k::step_started, "charge", 0, false},
      {k::attempt_started, "charge", 1, false},
      {k::attempt_succeeded, "charge", 1, false},
      {k::step_succeeded, "charge", 1, false},
      {k::run_finished, "", 0, false},
  };
  CHECK(rec.kinds() == expected);
  for (const auto& x : rec.all) {
    CHECK(x.workflow == "order");
    CHECK(x.e.run == run.id());
  }
  CHECK(rec.first(k::step_succeeded, "reserve").e.elapsed == 3ms);
  CHECK(rec.first(k::attempt_succeeded, "reserve").e.elapsed == 3ms);
  CHECK(rec.first(k::step_started, "charge").e.time == 3ms);
  const auto& fin = rec.first(k::run_finished);
  CHECK(fin.e.outcome == tutti::run_outcome::succeeded);
  CHECK(fin.e.elapsed == 3ms);
  CHECK_FALSE(fin.e.error);
}

TEST_CASE("a retried step reports each attempt, the scheduled wait and when the next attempt began") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"flaky">([&calls]() -> tutti::result<int> {
        if (++calls < 3) return tutti::errc::timeout;
        return 7;
      }) | tutti::retry{tutti::constant_backoff{20ms}, tutti::max_attempts{4}});
  recorder rec;
  REQUIRE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  const std::vector<seen> expected{
      {k::run_started, "", 0, false},
      {k::step_started, "flaky", 0, false},
      {k::attempt_started, "flaky", 1, false},
      {k::attempt_failed, "flaky", 1, false},
      {k::retry_scheduled, "flaky", 1, false},
      {k::attempt_started, "flaky", 2, false},
      {k::attempt_failed, "flaky", 2, false},
      {k::retry_scheduled, "flaky", 2, false},
      {k::attempt_started, "flaky", 3, false},
      {k::attempt_succeeded, "flaky", 3, false},
      {k::step_succeeded, "flaky", 3, false},
      {k::run_finished, "", 0, false},
  };
  CHECK(rec.kinds() == expected);
  const auto& wait = rec.first(k::retry_scheduled);
  CHECK(wait.e.delay == 20ms);
  CHECK(wait.e.error == tutti::errc::timeout);
  CHECK(wait.e.time == 0ms);
  // The second attempt starts when the wait is over, on the run's clock.
  CHECK(rec.all[5].e.time == 20ms);
  CHECK(rec.all[8].e.time == 40ms);
  CHECK(rec.first(k::step_succeeded).e.elapsed == 40ms);
  CHECK(rec.count(k::retries_exhausted) == 0);
}

TEST_CASE("a retry that runs out of attempts says so before the step fails") {
  tutti::testing::manual_clock clock;
  const auto wf =
      tutti::workflow<"w">(tutti::step<"down">(fails) | tutti::retry{tutti::max_attempts{2}});
  recorder rec;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  const auto kinds = rec.kinds();
  REQUIRE(kinds.size() >= 3);
  CHECK(kinds[kinds.size() - 3] == seen{k::retries_exhausted, "down", 2, false});
  CHECK(kinds[kinds.size() - 2] == seen{k::step_failed, "down", 2, false});
  CHECK(rec.first(k::retries_exhausted).e.error == tutti::errc::step_failed);
  CHECK(rec.first(k::step_failed).e.error == tutti::errc::step_failed);
  const auto& fin = rec.first(k::run_finished);
  CHECK(fin.e.outcome == tutti::run_outcome::failed);
  CHECK(fin.step == "down");
  CHECK(fin.e.error == tutti::errc::step_failed);
}

TEST_CASE("an error the retry does not retry, on its last attempt, exhausts no retries") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&calls]() -> tutti::result<void> {
        if (++calls == 1) return tutti::errc::timeout;  // retried
        return tutti::errc::circuit_open;               // not retried (by default)
      }) |
      tutti::retry{tutti::max_attempts{2}});
  recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE_FALSE(run.has_value());
  CHECK(calls == 2);
  CHECK(run.error() == tutti::errc::circuit_open);
  CHECK(rec.count(k::retry_scheduled) == 1);
  CHECK(rec.count(k::retries_exhausted) == 0);
}

TEST_CASE("a retry that gives up before the deadline reports why") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"slow">(fails) | tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}});
  recorder rec;
  const auto run = wf.run(tutti::unit{}, {.deadline = 1500ms}, clock, rec);
  REQUIRE_FALSE(run.has_value());
  CHECK(rec.count(k::retry_scheduled) == 1);
  const auto& gave_up = rec.first(k::retries_exhausted);
  CHECK(gave_up.e.attempt == 2);
  CHECK(gave_up.message == "the next attempt would start after the deadline");
}

TEST_CASE("a fallback reports the error it covered and the step then succeeds") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(tutti::step<"price">(fails) | tutti::fallback(42));
  recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.has_value());
  CHECK(run.value() == 42);
  const std::vector<seen> expected{
      {k::run_started, "", 0, false},
      {k::step_started, "price", 0, false},
      {k::attempt_started, "price", 1, false},
      {k::attempt_failed, "price", 1, false},
      {k::fallback_served, "price", 0, false},
      {k::step_succeeded, "price", 1, false},
      {k::run_finished, "", 0, false},
  };
  CHECK(rec.kinds() == expected);
  CHECK(rec.first(k::fallback_served).e.error == tutti::errc::step_failed);
}

TEST_CASE("a breaker reports its state change and then the calls it rejects") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker breaker{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = 1,
                            .break_for = 5s},
      clock};
  const auto wf = tutti::workflow<"w">(tutti::step<"pay">(fails) | tutti::guard(breaker));

  recorder first;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, first).has_value());
  const std::vector<seen> opened{
      {k::run_started, "", 0, false},
      {k::step_started, "pay", 0, false},
      {k::attempt_started, "pay", 1, false},
      {k::attempt_failed, "pay", 1, false},
      {k::breaker_state_changed, "pay", 1, false},
      {k::step_failed, "pay", 1, false},
      {k::run_finished, "pay", 0, false},  // a failed run names the step that ended it
  };
  CHECK(first.kinds() == opened);
  const auto& change = first.first(k::breaker_state_changed);
  CHECK(change.e.from == tutti::breaker_state::closed);
  CHECK(change.e.to == tutti::breaker_state::open);

  clock.advance(2s);
  recorder second;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, second).has_value());
  const std::vector<seen> rejected{
      {k::run_started, "", 0, false},
      {k::step_started, "pay", 0, false},
      {k::breaker_rejected, "pay", 0, false},  // the step is not called: no attempt events
      {k::step_failed, "pay", 0, false},
      {k::run_finished, "pay", 0, false},
  };
  CHECK(second.kinds() == rejected);
  const auto& no = second.first(k::breaker_rejected);
  CHECK(no.e.error == tutti::errc::circuit_open);
  CHECK(no.e.to == tutti::breaker_state::open);
  CHECK(no.e.delay == 3s);  // retry after: the break ends 5 s after it began

  clock.advance(4s);  // the break is over: the next call is a half-open probe, and it fails
  recorder third;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, third).has_value());
  std::vector<std::pair<tutti::breaker_state, tutti::breaker_state>> changes;
  for (const auto& x : third.all)
    if (x.e.kind == k::breaker_state_changed) changes.emplace_back(x.e.from, x.e.to);
  const std::vector<std::pair<tutti::breaker_state, tutti::breaker_state>> probe_failed{
      {tutti::breaker_state::open, tutti::breaker_state::half_open},
      {tutti::breaker_state::half_open, tutti::breaker_state::open}};
  CHECK(changes == probe_failed);
}

TEST_CASE("compensations are reported in reverse order, with their attempts and failures") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"saga">(
      tutti::step<"a">([] { return 1; }).compensate_with([](const int&) {}),
      tutti::step<"b">([] { return 2; }).compensate_with([](const int&) -> tutti::result<void> {
        throw std::runtime_error("refund service down");
      }),
      tutti::step<"c">(fails));
  recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.outcome() == tutti::run_outcome::compensation_failed);
  const std::vector<seen> tail{
      {k::step_failed, "c", 1, false},
      {k::compensation_started, "b", 0, false},
      {k::attempt_started, "b", 1, true},
      {k::attempt_failed, "b", 1, true},
      {k::compensation_failed, "b", 1, false},
      {k::compensation_started, "a", 0, false},
      {k::attempt_started, "a", 1, true},
      {k::attempt_succeeded, "a", 1, true},
      {k::compensation_succeeded, "a", 1, false},
      {k::run_finished, "c", 0, false},
  };
  const auto kinds = rec.kinds();
  REQUIRE(kinds.size() > tail.size());
  CHECK(std::vector<seen>(kinds.end() - static_cast<std::ptrdiff_t>(tail.size()), kinds.end()) ==
        tail);
  const auto& failed = rec.first(k::compensation_failed);
  CHECK(failed.e.error == tutti::errc::exception);
  CHECK(failed.message == "refund service down");
  CHECK(rec.first(k::run_finished).e.outcome == tutti::run_outcome::compensation_failed);
}

TEST_CASE("a compensation's own retry reports its attempts as compensation attempts") {
  tutti::testing::manual_clock clock;
  int undo_calls = 0;
  const auto wf = tutti::workflow<"saga">(
      tutti::step<"a">([] { return 1; })
          .compensate_with(
              [&undo_calls](const int&) -> tutti::result<void> {
                if (++undo_calls < 2) return tutti::errc::timeout;
                return tutti::outcome::success();
              },
              tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{3}}),
      tutti::step<"b">(fails));
  recorder rec;
  REQUIRE(wf.run(tutti::unit{}, {}, clock, rec).outcome() == tutti::run_outcome::compensated);
  const std::vector<seen> tail{
      {k::compensation_started, "a", 0, false},
      {k::attempt_started, "a", 1, true},
      {k::attempt_failed, "a", 1, true},
      {k::retry_scheduled, "a", 1, true},
      {k::attempt_started, "a", 2, true},
      {k::attempt_succeeded, "a", 2, true},
      {k::compensation_succeeded, "a", 2, false},
      {k::run_finished, "b", 0, false},
  };
  const auto kinds = rec.kinds();
  CHECK(std::vector<seen>(kinds.end() - static_cast<std::ptrdiff_t>(tail.size()), kinds.end()) ==
        tail);
  CHECK(rec.first(k::compensation_succeeded).e.elapsed == 1s);
}

TEST_CASE("a timeout is reported, and a late success undone as a compensation") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"slow">([&clock] {
        clock.advance(300ms);
        return 1;
      }).compensate_with([](const int&) {}) |
      tutti::timeout{100ms});
  recorder rec;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  const std::vector<seen> expected{
      {k::run_started, "", 0, false},
      {k::step_started, "slow", 0, false},
      {k::attempt_started, "slow", 1, false},
      {k::attempt_succeeded, "slow", 1, false},
      {k::timeout, "slow", 1, false},
      {k::compensation_started, "slow", 0, false},
      {k::attempt_started, "slow", 1, true},
      {k::attempt_succeeded, "slow", 1, true},
      {k::compensation_succeeded, "slow", 1, false},
      {k::step_failed, "slow", 1, false},
      {k::run_finished, "slow", 0, false},
  };
  CHECK(rec.kinds() == expected);
  CHECK(rec.first(k::step_failed).e.error == tutti::errc::timeout);
}

TEST_CASE("bulkhead and rate-limiter rejections are reported") {
  tutti::testing::manual_clock clock;
  tutti::bulkhead pool{tutti::bulkhead_config{.max_concurrent = 1}};
  tutti::rate_limiter limiter{tutti::rate_limiter_config{.tokens_per_period = 1, .period = 1s},
                              clock};
  const auto isolated =
      tutti::workflow<"w">(tutti::step<"inventory">([] { return 1; }) | tutti::isolate(pool));
  const auto throttled =
      tutti::workflow<"w">(tutti::step<"search">([] { return 1; }) | tutti::throttle(limiter));

  const auto held = pool.try_acquire();  // the only slot is taken
  REQUIRE(held);
  recorder full;
  REQUIRE_FALSE(isolated.run(tutti::unit{}, {}, clock, full).has_value());
  CHECK(full.count(k::bulkhead_rejected) == 1);
  CHECK(full.count(k::attempt_started) == 0);
  CHECK(full.first(k::bulkhead_rejected).e.error == tutti::errc::bulkhead_full);

  recorder ok, limited;
  REQUIRE(throttled.run(tutti::unit{}, {}, clock, ok).has_value());
  REQUIRE_FALSE(throttled.run(tutti::unit{}, {}, clock, limited).has_value());
  CHECK(ok.count(k::rate_limited) == 0);
  CHECK(limited.count(k::rate_limited) == 1);
  CHECK(limited.first(k::rate_limited).e.error == tutti::errc::rate_limited);
}

TEST_CASE("steps of a nested workflow are reported with their path inside the outer step") {
  tutti::testing::manual_clock clock;
  const auto inner = tutti::workflow<"inner">(tutti::step<"x">([] { return 1; }),
                                              tutti::step<"y">([] { return 2; }));
  const auto wf = tutti::workflow<"outer">(tutti::step<"first">([] { return 0; }), inner);
  recorder rec;
  REQUIRE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  const std::vector<seen> expected{
      {k::run_started, "", 0, false},
      {k::step_started, "first", 0, false},
      {k::attempt_started, "first", 1, false},
      {k::attempt_succeeded, "first", 1, false},
      {k::step_succeeded, "first", 1, false},
      {k::step_started, "inner", 0, false},
      {k::attempt_started, "inner", 1, false},
      {k::step_started, "inner/x", 0, false},
      {k::attempt_started, "inner/x", 1, false},
      {k::attempt_succeeded, "inner/x", 1, false},
      {k::step_succeeded, "inner/x", 1, false},
      {k::step_started, "inner/y", 0, false},
      {k::attempt_started, "inner/y", 1, false},
      {k::attempt_succeeded, "inner/y", 1, false},
      {k::step_succeeded, "inner/y", 1, false},
      {k::attempt_succeeded, "inner", 1, false},
      {k::step_succeeded, "inner", 1, false},
      {k::run_finished, "", 0, false},
  };
  CHECK(rec.kinds() == expected);
  for (const auto& x : rec.all) CHECK(x.workflow == "outer");
}

TEST_CASE("an exception's message reaches the failure events") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"boom">([]() -> int { throw std::runtime_error("card \"4242\" refused\n"); }));
  recorder rec;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  CHECK(rec.first(k::attempt_failed).message == "card \"4242\" refused\n");
  CHECK(rec.first(k::step_failed).message == "card \"4242\" refused\n");
  CHECK(rec.first(k::run_finished).message == "card \"4242\" refused\n");
  CHECK(rec.first(k::step_failed).e.error == tutti::errc::exception);
}

TEST_CASE("an observer that does not ask for time gets no clock readings") {
  tutti::testing::manual_clock clock{5s};
  const auto wf = tutti::workflow<"w">(tutti::step<"a">([] { return 1; }));
  untimed_recorder rec;
  REQUIRE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  REQUIRE(rec.all.size() == 6);
  for (const auto& e : rec.all) {
    CHECK(e.time == tutti::duration::zero());
    CHECK(e.elapsed == tutti::duration::zero());
  }
}

TEST_CASE("observe_all feeds each observer every event, in order") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(tutti::step<"a">([] { return 1; }),
                                       tutti::step<"b">(fails) | tutti::fallback(0));
  recorder one, two;
  auto both = tutti::observe_all(one, two);
  STATIC_REQUIRE(decltype(both)::wants_time);
  REQUIRE(wf.run(tutti::unit{}, {}, clock, both).has_value());
  CHECK(one.kinds() == two.kinds());
  CHECK(one.kinds().size() == 11);
}

TEST_CASE("a run on the default clock takes an observer as its third argument") {
  const auto wf = tutti::workflow<"w">(tutti::step<"a">([](int x) { return x + 1; }));
  untimed_recorder rec;
  const auto run = wf.run(1, {}, rec);
  REQUIRE(run.has_value());
  CHECK(run.value() == 2);
  CHECK(rec.all.front().kind == k::run_started);
  CHECK(rec.all.back().kind == k::run_finished);
}

TEST_CASE("a run with the null observer gives the same result and report as one without") {
  const auto wf = tutti::workflow<"w">(tutti::step<"a">([](int x) { return x * 2; }),
                                       tutti::step<"b">(fails));
  tutti::null_observer none;
  const auto with = wf.run(21, {}, tutti::detail::default_clock(), none);
  const auto without = wf.run(21);
  CHECK(with.outcome() == without.outcome());
  CHECK(with.failed_step() == without.failed_step());
  CHECK(with.get<"a">() == without.get<"a">());
}

TEST_CASE("a breaker shared by threads: each change is reported once, by the call that made it") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker breaker{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = 5,
                            .break_for = std::chrono::hours{1}},
      clock};
  const auto wf = tutti::workflow<"w">(tutti::step<"pay">(fails) | tutti::guard(breaker));
  tutti::testing::event_log log;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) (void)wf.run(tutti::unit{}, {}, clock, log);
    });
  for (auto& t : threads) t.join();
  REQUIRE(breaker.metrics().transitions == 1);
  CHECK(log.breaker_openings() == 1);
  CHECK(log.count(k::breaker_state_changed) == 1);
  CHECK(log.count(k::breaker_rejected) + log.count(k::attempt_started) == 200);
}

TEST_CASE("a failure reports its own message, not an earlier attempt's") {
  tutti::testing::manual_clock clock;
  int calls = 0;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"pay">([&calls]() -> tutti::result<int> {
        if (++calls == 1) throw std::runtime_error("connection reset");
        return tutti::errc::timeout;
      }) | tutti::retry{tutti::max_attempts{2}});
  recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE_FALSE(run.has_value());
  const auto failures = [&] {
    std::vector<std::string> out;
    for (const auto& x : rec.all)
      if (x.e.kind == k::attempt_failed) out.push_back(x.message);
    return out;
  }();
  CHECK(failures == std::vector<std::string>{"connection reset", ""});
  CHECK(rec.first(k::step_failed).e.error == tutti::errc::timeout);
  CHECK(rec.first(k::step_failed).message.empty());
  CHECK(run.message().empty());
}

TEST_CASE("a failed undo of a late success reports its error") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"slow">([&clock] {
        clock.advance(300ms);
        return 1;
      }).compensate_with([](const int&) -> tutti::result<void> { return tutti::errc::cancelled; }) |
      tutti::timeout{100ms});
  recorder rec;
  REQUIRE_FALSE(wf.run(tutti::unit{}, {}, clock, rec).has_value());
  CHECK(rec.first(k::compensation_failed).e.error == tutti::errc::cancelled);
}
