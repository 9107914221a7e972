// The circuit breaker: a table of scenarios (events in, state after each out), then the guard
// policy in workflows, the registry, permits, metrics, the listener and invalid settings.
#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>
#include <tutti/policy/circuit_breaker.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using S = tutti::breaker_state;
using tutti::duration;

namespace {

using breaker = tutti::circuit_breaker<tutti::testing::manual_clock>;

// ---- the scenario language ----------------------------------------------------------------------

enum class op {
  ok,            // acquire (must be granted), report success
  fail,          // acquire (must be granted), report failure
  slow,          // acquire (must be granted), let `arg` pass, report success
  drop,          // acquire (must be granted), destroy the permit without a report
  hold,          // acquire (must be granted), keep the permit pending
  done_ok,       // report success on the oldest held permit
  done_fail,     // report failure on the oldest held permit
  done_release,  // release the oldest held permit (ignored)
  reject,        // acquire must be refused; retry_after must equal `arg` unless unchecked
  advance,       // move the clock by `arg`
  isolate,
  disable,
  metrics_only,
  reset,
};

constexpr duration unchecked{-1};

struct event {
  op what;
  S then;  // the state expected after the event
  duration arg{};
  int times = 1;  // repeated, with the state checked after each
};

event ok(S then, int times = 1) { return {op::ok, then, {}, times}; }
event fail(S then, int times = 1) { return {op::fail, then, {}, times}; }
event slow(duration took, S then) { return {op::slow, then, took}; }
event drop(S then) { return {op::drop, then}; }
event hold(S then, int times = 1) { return {op::hold, then, {}, times}; }
event done_ok(S then) { return {op::done_ok, then}; }
event done_fail(S then) { return {op::done_fail, then}; }
event done_release(S then) { return {op::done_release, then}; }
event reject(S then, duration retry_after = unchecked) { return {op::reject, then, retry_after}; }
event advance(duration d, S then) { return {op::advance, then, d}; }
event isolate(S then) { return {op::isolate, then}; }
event disable(S then) { return {op::disable, then}; }
event metrics(S then) { return {op::metrics_only, then}; }
event reset(S then) { return {op::reset, then}; }

struct scenario {
  const char* name;
  tutti::breaker_config config;
  std::vector<event> events;
};

constexpr auto consecutive = tutti::breaker_mode::consecutive_failures;
constexpr auto time_window = tutti::breaker_mode::time_window;

// Each row: what it shows, the settings, the events. Defaults worth remembering: count window,
// break 5 s, constant break, 1 probe that must succeed, half-open timeout 60 s.
std::vector<scenario> scenarios() {
  return {
      // -- consecutive failures --
      {"consecutive: opens at the Nth failure in a row",
       {.mode = consecutive, .consecutive_failures = 3},
       {fail(S::closed, 2), fail(S::open), reject(S::open, 5s)}},
      {"consecutive: a success breaks the streak",
       {.mode = consecutive, .consecutive_failures = 3},
       {fail(S::closed, 2), ok(S::closed), fail(S::closed, 2), fail(S::open)}},
      {"consecutive: after the break a probe's success closes it (the move is lazy)",
       {.mode = consecutive, .consecutive_failures = 2},
       {fail(S::closed), fail(S::open), advance(5s, S::open), ok(S::closed), fail(S::closed)}},
      {"consecutive: a failed probe re-opens it for a full break",
       {.mode = consecutive, .consecutive_failures = 2},
       {fail(S::closed), fail(S::open), advance(5s, S::open), fail(S::open), reject(S::open, 5s)}},
      {"consecutive: slow successes count as failures",
       {.mode = consecutive, .consecutive_failures = 2, .slow_call_threshold = 100ms},
       {slow(200ms, S::closed), slow(200ms, S::open)}},

      // -- count window --
      {"count window: opens when failures reach the ratio with minimum calls",
       {.failure_ratio = 0.5, .minimum_calls = 10, .window_size = 10},
       {ok(S::closed, 5), fail(S::closed, 4), fail(S::open)}},
      {"count window: fewer calls than the minimum never open it",
       {.failure_ratio = 0.5, .minimum_calls = 10, .window_size = 20},
       {fail(S::closed, 9), fail(S::open)}},
      {"count window: a success that brings the window to its minimum opens it",
       {.failure_ratio = 0.75, .minimum_calls = 4, .window_size = 4},
       {fail(S::closed, 3), ok(S::open)}},
      {"count window: the window slides (a cumulative count would stay closed)",
       {.failure_ratio = 0.75, .minimum_calls = 4, .window_size = 4},
       {fail(S::closed, 2), ok(S::closed, 2), fail(S::closed, 2), fail(S::open)}},
      {"count window: the minimum is capped at the window size",
       {.failure_ratio = 0.6, .window_size = 5},  // minimum_calls stays at its default, 100
       {fail(S::closed), ok(S::closed), fail(S::closed), ok(S::closed), fail(S::open)}},
      {"count window: ratio 1 opens only when every call in the window failed",
       {.failure_ratio = 1.0, .minimum_calls = 3, .window_size = 3},
       {fail(S::closed, 2), ok(S::closed), fail(S::closed, 2), fail(S::open)}},
      {"count window: slow calls count as failures",
       {.minimum_calls = 4, .window_size = 4, .slow_call_threshold = 1s},
       {ok(S::closed, 2), slow(2s, S::closed), slow(2s, S::open)}},
      {"count window: a call of exactly the threshold is not slow",
       {.minimum_calls = 2, .window_size = 2, .slow_call_threshold = 1s},
       {slow(1s, S::closed), slow(1s, S::closed), slow(1001ms, S::open)}},
      {"count window: a permit destroyed without a report is not a call",
       {.minimum_calls = 2, .window_size = 10},
       {fail(S::closed), drop(S::closed), drop(S::closed), fail(S::open)}},
      {"count window: reset empties the window",
       {.minimum_calls = 4, .window_size = 10},
       {fail(S::closed, 3), reset(S::closed), fail(S::closed), ok(S::closed, 2), fail(S::open)}},

      // -- half-open probes --
      {"half-open: one probe by default; a second caller is refused",
       {.mode = consecutive, .consecutive_failures = 1},
       {fail(S::open), advance(5s, S::open), hold(S::half_open), reject(S::half_open, 0s),
        done_ok(S::closed)}},
      {"half-open: N probes pass, the N+1th is refused, N successes close",
       {.mode = consecutive, .consecutive_failures = 1, .half_open_probes = 2,
        .half_open_successes = 2},
       {fail(S::open), advance(5s, S::open), hold(S::half_open, 2), reject(S::half_open, 0s),
        done_ok(S::half_open), reject(S::half_open), done_ok(S::closed)}},
      {"half-open: closes at the success threshold despite a failure within the allowance",
       {.mode = consecutive, .consecutive_failures = 1, .half_open_probes = 3,
        .half_open_successes = 2},
       {fail(S::open), advance(5s, S::open), hold(S::half_open, 3), done_ok(S::half_open),
        done_fail(S::half_open), done_ok(S::closed)}},
      {"half-open: re-opens once the success threshold is out of reach",
       {.mode = consecutive, .consecutive_failures = 1, .half_open_probes = 3,
        .half_open_successes = 2},
       {fail(S::open), advance(5s, S::open), hold(S::half_open, 3), done_fail(S::half_open),
        done_fail(S::open), done_ok(S::open), reject(S::open, 5s)}},
      {"half-open: when every probe must succeed, one failure re-opens it",
       {.mode = consecutive, .consecutive_failures = 1, .half_open_probes = 3,
        .half_open_successes = 3},
       {fail(S::open), advance(5s, S::open), hold(S::half_open, 3), done_ok(S::half_open),
        done_fail(S::open)}},
      {"half-open: a probe destroyed without a report frees its slot",
       {.mode = consecutive, .consecutive_failures = 1},
       {fail(S::open), advance(5s, S::open), drop(S::half_open), ok(S::closed)}},
      {"half-open: a released probe frees its slot for the next caller",
       {.mode = consecutive, .consecutive_failures = 1},
       {fail(S::open), advance(5s, S::open), hold(S::half_open), reject(S::half_open),
        done_release(S::half_open), ok(S::closed)}},
      {"half-open: a probe that never reports back re-opens it at the deadline",
       {.mode = consecutive, .consecutive_failures = 1, .half_open_timeout = 10s},
       {fail(S::open), advance(5s, S::open), hold(S::half_open), reject(S::half_open, 0s),
        advance(10s, S::half_open), reject(S::open, 5s), done_ok(S::open),
        advance(5s, S::open), ok(S::closed)}},
      {"half-open: reset with a probe in flight; its late report is ignored",
       {.mode = consecutive, .consecutive_failures = 1},
       {fail(S::open), advance(5s, S::open), hold(S::half_open), reset(S::closed),
        done_fail(S::closed), ok(S::closed)}},

      // -- late reports, break durations, retry-after --
      {"an outcome reported after the state changed does not count",
       {.mode = consecutive, .consecutive_failures = 2},
       {hold(S::closed, 2), fail(S::closed), fail(S::open), done_fail(S::open),
        advance(5s, S::open), ok(S::closed), done_fail(S::closed), fail(S::closed),
        fail(S::open)}},
      {"growing break: each re-open multiplies it; closing starts over",
       {.mode = consecutive, .consecutive_failures = 1, .break_for = 1s, .break_growth = 2.0},
       {fail(S::open), reject(S::open, 1s), advance(1s, S::open), fail(S::open),
        reject(S::open, 2s), advance(2s, S::open), fail(S::open), reject(S::open, 4s),
        advance(4s, S::open), ok(S::closed), fail(S::open), reject(S::open, 1s)}},
      {"growing break: capped by max_break",
       {.mode = consecutive, .consecutive_failures = 1, .break_for = 1s, .break_growth = 10.0,
        .max_break = 5s},
       {fail(S::open), reject(S::open, 1s), advance(1s, S::open), fail(S::open),
        reject(S::open, 5s), advance(5s, S::open), fail(S::open), reject(S::open, 5s)}},
      {"the half-open deadline counts as a re-open for a growing break",
       {.mode = consecutive, .consecutive_failures = 1, .break_for = 1s, .break_growth = 3.0,
        .half_open_timeout = 2s},
       {fail(S::open), advance(1s, S::open), hold(S::half_open), advance(2s, S::half_open),
        reject(S::open, 3s)}},
      {"retry-after shrinks as time passes",
       {.mode = consecutive, .consecutive_failures = 1},
       {fail(S::open), reject(S::open, 5s), advance(1500ms, S::open), reject(S::open, 3500ms),
        advance(3499ms, S::open), reject(S::open, 1ms), advance(1ms, S::open), ok(S::closed)}},
      {"break ends are kept to the millisecond, rounded up",
       {.mode = consecutive, .consecutive_failures = 1, .break_for = 10ms},
       {advance(400us, S::closed), fail(S::open), reject(S::open, 10600us)}},

      // -- manual states --
      {"isolate rejects everything until reset",
       {},
       {isolate(S::isolated), reject(S::isolated, duration::max()), advance(1h, S::isolated),
        reject(S::isolated, duration::max()), reset(S::closed), ok(S::closed)}},
      {"isolate overrides an open breaker; reset starts from an empty window",
       {.mode = consecutive, .consecutive_failures = 2},
       {fail(S::closed), fail(S::open), isolate(S::isolated), advance(1h, S::isolated),
        reject(S::isolated), reset(S::closed), fail(S::closed), fail(S::open)}},
      {"disabled lets every call through and never opens",
       {.mode = consecutive, .consecutive_failures = 2},
       {disable(S::disabled), fail(S::disabled, 10), reset(S::closed), fail(S::closed),
        fail(S::open)}},
      {"metrics-only counts but never opens; reset starts from an empty window",
       {.minimum_calls = 4, .window_size = 4},
       {metrics(S::metrics_only), fail(S::metrics_only, 8), reset(S::closed), fail(S::closed, 3),
        fail(S::open)}},
      {"metrics-only in consecutive mode never opens either",
       {.mode = consecutive, .consecutive_failures = 1},
       {metrics(S::metrics_only), fail(S::metrics_only, 5), ok(S::metrics_only)}},
      {"manual states can be entered from half-open",
       {.mode = consecutive, .consecutive_failures = 1},
       {fail(S::open), advance(5s, S::open), hold(S::half_open), metrics(S::metrics_only),
        done_fail(S::metrics_only), fail(S::metrics_only), reset(S::closed)}},

      // -- time window --
      {"time window: opens on the ratio once the minimum calls are in the window",
       {.mode = time_window, .minimum_calls = 4, .window_duration = 10s},
       {ok(S::closed, 2), fail(S::closed), fail(S::open)}},
      {"time window: calls older than the window drop out",
       {.mode = time_window, .failure_ratio = 0.6, .minimum_calls = 3, .window_duration = 10s},
       {fail(S::closed, 2), advance(10s, S::closed), ok(S::closed), fail(S::closed),
        fail(S::open)}},
      {"time window: a call in the oldest bucket still counts just before it expires",
       {.mode = time_window, .failure_ratio = 1.0, .minimum_calls = 2, .window_duration = 10s},
       {advance(500ms, S::closed), fail(S::closed), advance(9400ms, S::closed), fail(S::open)}},
      {"time window: ... and no longer once its bucket has slid out",
       {.mode = time_window, .failure_ratio = 1.0, .minimum_calls = 2, .window_duration = 10s},
       {advance(500ms, S::closed), fail(S::closed), advance(9500ms, S::closed), fail(S::closed),
        fail(S::open)}},
      {"time window: a bucket not reused since it left the window does not count",
       {.mode = time_window, .failure_ratio = 1.0, .minimum_calls = 2, .window_duration = 10s},
       {fail(S::closed), advance(15s, S::closed), fail(S::closed), fail(S::open)}},
      {"time window: successes leaving the window can open it at the next call",
       {.mode = time_window, .minimum_calls = 2, .window_duration = 10s},
       {ok(S::closed, 2), advance(5s, S::closed), fail(S::closed), advance(5s, S::closed),
        ok(S::open)}},
      {"time window: slow calls count as failures",
       {.mode = time_window, .failure_ratio = 1.0, .minimum_calls = 2, .window_duration = 10s,
        .slow_call_threshold = 1s},
       {slow(2s, S::closed), slow(2s, S::open), reject(S::open, 5s)}},
  };
}

void play(const scenario& sc) {
  tutti::testing::manual_clock clock;
  breaker b{sc.config, clock};
  std::deque<breaker::permit> held;
  int step = 0;
  for (const event& e : sc.events) {
    for (int i = 0; i < e.times; ++i) {
      ++step;
      INFO("event " << step << " (op " << static_cast<int>(e.what) << ")");
      switch (e.what) {
        case op::ok:
        case op::fail:
        case op::slow:
        case op::drop:
        case op::hold: {
          auto p = b.try_acquire();
          REQUIRE(p);
          if (e.what == op::slow) clock.advance(e.arg);
          if (e.what == op::ok || e.what == op::slow) p.record_success();
          if (e.what == op::fail) p.record_failure();
          if (e.what == op::hold) held.push_back(std::move(p));
          break;
        }
        case op::done_ok:
        case op::done_fail:
        case op::done_release:
          REQUIRE(!held.empty());
          if (e.what == op::done_ok) held.front().record_success();
          else if (e.what == op::done_fail) held.front().record_failure();
          else held.front().release();
          held.pop_front();
          break;
        case op::reject: {
          auto p = b.try_acquire();
          REQUIRE_FALSE(p);
          if (e.arg != unchecked) CHECK(p.retry_after() == e.arg);
          break;
        }
        case op::advance: clock.advance(e.arg); break;
        case op::isolate: b.isolate(); break;
        case op::disable: b.disable(); break;
        case op::metrics_only: b.metrics_only(); break;
        case op::reset: b.reset(); break;
      }
      CHECK(tutti::to_string(b.state()) == tutti::to_string(e.then));
    }
  }
}

}  // namespace

TEST_CASE("circuit breaker scenarios", "[policy][circuit_breaker]") {
  const auto table = scenarios();
  CHECK(table.size() >= 30);
  for (const scenario& sc : table) {
    SECTION(sc.name) { play(sc); }
  }
}

// ---- permits, metrics, listener ------------------------------------------------------------------

TEST_CASE("a breaker is shared, not copied, a permit is move-only", "[policy][circuit_breaker]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tutti::circuit_breaker<>>);
  STATIC_REQUIRE_FALSE(std::is_move_constructible_v<tutti::circuit_breaker<>>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<tutti::circuit_breaker<>>);
  using permit = tutti::circuit_breaker<>::permit;
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<permit>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<permit>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<permit>);
  // The guard is a pointer (and a flag): steps that carry it stay small.
  tutti::circuit_breaker<> b;
  STATIC_REQUIRE(sizeof(tutti::guard(b)) <= 2 * sizeof(void*));
  STATIC_REQUIRE(tutti::policy<decltype(tutti::guard(b))>);
  STATIC_REQUIRE(decltype(tutti::guard(b))::policy_name == "circuit_breaker");
}

TEST_CASE("a permit reports once, moves carry the report with them", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 2}, clock};
  auto p = b.try_acquire();
  REQUIRE(p.pending());
  auto q = std::move(p);
  CHECK_FALSE(p.pending());  // NOLINT(bugprone-use-after-move): moved-from is empty on purpose
  p.record_failure();        // nothing to report: no effect
  q.record_failure();
  q.record_failure();        // second report: no effect
  CHECK(b.state() == S::closed);
  CHECK(b.metrics().failures == 1);

  auto r = b.try_acquire();
  auto t = b.try_acquire();
  r = std::move(t);  // the permit r held is released (ignored) by the assignment
  CHECK(b.metrics().ignored == 1);
  r.record_failure();
  CHECK(b.state() == S::open);
  auto refused = b.try_acquire();
  REQUIRE_FALSE(refused);
  CHECK_FALSE(refused.pending());
  CHECK(refused.state() == S::open);
  refused.record_failure();  // a refused permit reports nothing
  CHECK(b.metrics().failures == 2);
}

TEST_CASE("metrics count calls, failures, slow calls, releases, refusals and state changes",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 3, .slow_call_threshold = 1s}, clock};
  for (int i = 0; i < 4; ++i) b.try_acquire().record_success();
  {
    auto p = b.try_acquire();
    clock.advance(2s);
    p.record_success();  // slow: a success in the counters, a failure for opening
  }
  { auto dropped = b.try_acquire(); }
  b.try_acquire().release();
  b.try_acquire().record_failure();
  b.try_acquire().record_failure();  // third in a row, counting the slow one: opens
  CHECK(b.state() == S::open);
  (void)b.try_acquire();
  (void)b.try_acquire();
  const auto m = b.metrics();
  CHECK(m.state == S::open);
  CHECK(m.successes == 5);
  CHECK(m.failures == 2);
  CHECK(m.slow_calls == 1);
  CHECK(m.ignored == 2);
  CHECK(m.rejected == 2);
  CHECK(m.transitions == 1);
}

TEST_CASE("metrics show the count window", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.minimum_calls = 5, .window_size = 5}, clock};
  b.try_acquire().record_failure();
  b.try_acquire().record_success();
  b.try_acquire().record_success();
  auto m = b.metrics();
  CHECK(m.window_calls == 3);
  CHECK(m.window_failures == 1);
  for (int i = 0; i < 5; ++i) b.try_acquire().record_success();  // the failure slides out
  m = b.metrics();
  CHECK(m.window_calls == 5);
  CHECK(m.window_failures == 0);
}

namespace {
struct change_log {
  std::vector<tutti::breaker_event> events;
  static void on_change(void* self, const tutti::breaker_event& e) {
    static_cast<change_log*>(self)->events.push_back(e);
  }
};
}  // namespace

TEST_CASE("the listener hears every state change, in order, with the break duration",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  change_log log;
  breaker b{{.mode = consecutive,
             .consecutive_failures = 1,
             .break_for = 2s,
             .on_state_change = {&change_log::on_change, &log}},
            clock};
  b.try_acquire().record_failure();       // closed -> open
  clock.advance(2s);
  b.try_acquire().record_success();       // open -> half_open -> closed
  b.isolate();                            // closed -> isolated
  b.reset();                              // isolated -> closed
  b.reset();                              // closed -> closed: a fresh window, no event
  REQUIRE(log.events.size() == 5);
  const S expected[][2] = {{S::closed, S::open},
                           {S::open, S::half_open},
                           {S::half_open, S::closed},
                           {S::closed, S::isolated},
                           {S::isolated, S::closed}};
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(log.events[i].from == expected[i][0]);
    CHECK(log.events[i].to == expected[i][1]);
    CHECK(log.events[i].breaker == &b);
    if (i > 0) CHECK(log.events[i].generation == log.events[i - 1].generation + 1);
  }
  CHECK(log.events[0].open_for == 2s);
  CHECK(log.events[0].at == 0s);
  CHECK(log.events[1].at == 2s);
  CHECK(log.events[1].open_for == 0s);
  CHECK(b.metrics().transitions == 5);
}

TEST_CASE("the listener may call the breaker", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  struct ctx {
    breaker* b = nullptr;
    int calls = 0;
  } c;
  auto isolate_on_open = [](void* user, const tutti::breaker_event& e) {
    auto& self = *static_cast<ctx*>(user);
    ++self.calls;
    if (e.to == S::open) self.b->isolate();  // no lock is held: this does not deadlock
  };
  breaker b{{.mode = consecutive, .consecutive_failures = 1, .on_state_change = {isolate_on_open, &c}},
            clock};
  c.b = &b;
  b.try_acquire().record_failure();
  CHECK(b.state() == S::isolated);
  CHECK(c.calls == 2);
}

TEST_CASE("retry_after on the breaker", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 1, .break_for = 4200ms}, clock};
  CHECK(b.retry_after() == 0s);
  b.try_acquire().record_failure();
  CHECK(b.retry_after() == 4200ms);
  clock.advance(5s);
  CHECK(b.retry_after() == 0s);  // the break is over (still reported open until the next call)
  CHECK(b.state() == S::open);
  b.isolate();
  CHECK(b.retry_after() == duration::max());
}

TEST_CASE("the default clock is the steady clock, held by value", "[policy][circuit_breaker]") {
  tutti::circuit_breaker b{tutti::breaker_config{.mode = consecutive, .consecutive_failures = 1,
                                                 .break_for = 1h}};
  STATIC_REQUIRE(std::is_same_v<decltype(b), tutti::circuit_breaker<tutti::steady_clock>>);
  b.try_acquire().record_failure();
  CHECK(b.state() == S::open);
  CHECK(b.retry_after() > 59min);
  CHECK(b.retry_after() <= 1h + 1ms);  // break ends are rounded up to the millisecond
}

// A namespace-scope breaker with constant settings is checked at compile time under constinit.
constinit tutti::circuit_breaker<> constant_breaker{
    tutti::breaker_config{.failure_ratio = 0.5, .minimum_calls = 20, .break_for = 5s}};

TEST_CASE("a constinit breaker is ready before main", "[policy][circuit_breaker]") {
  CHECK(constant_breaker.state() == S::closed);
  CHECK(constant_breaker.config().minimum_calls.value == 20);
}

// ---- guard() in workflows ------------------------------------------------------------------------

TEST_CASE("guard rejects calls with circuit_open once the breaker is open, without calling the step",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker payments{{.mode = consecutive, .consecutive_failures = 2, .break_for = 5s}, clock};
  int calls = 0;
  bool healthy = false;
  const auto wf = tutti::workflow<"pay">(tutti::step<"charge">([&]() -> tutti::result<int> {
                                           ++calls;
                                           if (!healthy) return tutti::errc::timeout;
                                           return 7;
                                         }) |
                                         tutti::guard(payments));
  CHECK(wf.run(tutti::unit{}, {}, clock).error() == tutti::errc::timeout);
  CHECK(wf.run(tutti::unit{}, {}, clock).error() == tutti::errc::timeout);
  CHECK(payments.state() == S::open);
  auto refused = wf.run(tutti::unit{}, {}, clock);
  CHECK(refused.error() == tutti::errc::circuit_open);
  CHECK(refused.message().empty());  // no message by default: nothing allocated for it
  CHECK(refused.report()[0].attempts == 0);
  CHECK(calls == 2);
  CHECK(payments.retry_after() == 5s);

  clock.advance(5s);
  healthy = true;
  auto probe = wf.run(tutti::unit{}, {}, clock);
  REQUIRE(probe);
  CHECK(probe.value() == 7);
  CHECK(payments.state() == S::closed);
}

TEST_CASE("guard().with_message() explains a refusal with its retry-after hint",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 1, .break_for = 4200ms}, clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<void> { return tutti::errc::timeout; }) |
      tutti::guard(b).with_message());
  (void)wf.run(tutti::unit{}, {}, clock);
  auto run = wf.run(tutti::unit{}, {}, clock);
  CHECK(run.error() == tutti::errc::circuit_open);
  CHECK(run.message() == "circuit open; retry after 4.2 s");
  clock.advance(4150ms);
  CHECK(wf.run(tutti::unit{}, {}, clock).message() == "circuit open; retry after 0.1 s");
  b.isolate();
  CHECK(wf.run(tutti::unit{}, {}, clock).message() == "circuit isolated (forced open until reset)");
}

TEST_CASE("an open breaker inside a retry stops the retries", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 2}, clock};
  int calls = 0;
  // retry is written last: it is the outer layer, and every attempt goes through the breaker.
  const auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                         ++calls;
                                         return tutti::errc::timeout;
                                       }) |
                                       tutti::guard(b) |
                                       tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}});
  auto run = wf.run(tutti::unit{}, {}, clock);
  CHECK(calls == 2);                                  // the third attempt was refused...
  CHECK(run.error() == tutti::errc::circuit_open);    // ...and circuit_open is not retried
  CHECK(run.report()[0].attempts == 2);
  CHECK(clock.now() == 2s);                           // two waits: before attempts 2 and 3
}

TEST_CASE("a breaker outside a retry sees one outcome per run", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 2}, clock};
  int calls = 0;
  const auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<void> {
                                         ++calls;
                                         return tutti::errc::timeout;
                                       }) |
                                       tutti::retry{tutti::max_attempts{3}} | tutti::guard(b));
  (void)wf.run(tutti::unit{}, {}, clock);
  CHECK(calls == 3);
  CHECK(b.state() == S::closed);
  CHECK(b.metrics().failures == 1);
  (void)wf.run(tutti::unit{}, {}, clock);
  CHECK(b.state() == S::open);
}

TEST_CASE("guard with a classifier decides what an error counts as", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 1}, clock};
  auto only_timeouts = [](const std::error_code& ec) {
    return ec == tutti::errc::timeout ? tutti::breaker_outcome::failure
                                      : tutti::breaker_outcome::ignored;
  };
  std::error_code next = tutti::errc::rate_limited;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([&]() -> tutti::result<void> { return next; }) | tutti::guard(b, only_timeouts));
  CHECK(wf.run(tutti::unit{}, {}, clock).error() == tutti::errc::rate_limited);
  CHECK(b.state() == S::closed);
  CHECK(b.metrics().ignored == 1);
  next = tutti::errc::timeout;
  (void)wf.run(tutti::unit{}, {}, clock);
  CHECK(b.state() == S::open);
}

TEST_CASE("a step that throws counts as a failure of the breaker", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 1}, clock};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> int { throw std::runtime_error("down"); }) | tutti::guard(b));
  CHECK(wf.run(tutti::unit{}, {}, clock).error() == tutti::errc::exception);
  CHECK(b.state() == S::open);
}

TEST_CASE("slow calls through guard are timed with the breaker's clock", "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  breaker b{{.mode = consecutive, .consecutive_failures = 1, .slow_call_threshold = 500ms}, clock};
  const auto wf = tutti::workflow<"w">(tutti::step<"s">([&] {
                                         clock.advance(600ms);
                                         return 1;
                                       }) |
                                       tutti::guard(b));
  auto run = wf.run(tutti::unit{}, {}, clock);
  CHECK(run);  // the call itself succeeded...
  CHECK(b.state() == S::open);  // ...but was slow
  CHECK(b.metrics().slow_calls == 1);
}

// ---- the registry ------------------------------------------------------------------------------

TEST_CASE("a registry holds at most N breakers and returns nullptr when full",
          "[policy][circuit_breaker][registry]") {
  tutti::testing::manual_clock clock;
  tutti::breaker_registry<std::string, 2, tutti::testing::manual_clock> hosts{
      {.mode = consecutive, .consecutive_failures = 1}, clock};
  CHECK(hosts.capacity() == 2);
  CHECK(hosts.size() == 0);
  CHECK(hosts.find("a.example") == nullptr);
  auto* a = hosts.get("a.example");
  auto* b = hosts.get("b.example");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  CHECK(hosts.get("a.example") == a);
  CHECK(hosts.find("b.example") == b);
  CHECK(hosts.get("c.example") == nullptr);  // full: does not grow
  CHECK(hosts.find("c.example") == nullptr);
  CHECK(hosts.size() == 2);
  REQUIRE(hosts.key_of(a) != nullptr);
  CHECK(*hosts.key_of(a) == "a.example");
  CHECK(hosts.key_of(&clock) == nullptr);

  a->try_acquire().record_failure();  // breakers are independent
  CHECK(a->state() == S::open);
  CHECK(b->state() == S::closed);
  CHECK(&a->clock() == &clock);
  int seen = 0;
  hosts.for_each([&](const std::string& key, auto& br) {
    ++seen;
    CHECK(hosts.find(key) == &br);
  });
  CHECK(seen == 2);
}

TEST_CASE("concurrent first uses of a key create one breaker", "[policy][circuit_breaker][registry]") {
  tutti::breaker_registry<int, 16> reg;
  std::vector<std::thread> threads;
  std::atomic<tutti::circuit_breaker<>*> seen[8] = {};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 16; ++k) {
        auto* b = reg.get(k);
        if (k == 3) seen[t].store(b);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(reg.size() == 16);
  CHECK(reg.get(99) == nullptr);
  for (auto& s : seen) CHECK(s.load() == reg.find(3));
}

// ---- invalid settings ---------------------------------------------------------------------------

TEST_CASE("settings from configuration are checked with a clear error", "[policy][circuit_breaker]") {
  volatile double ratio = 1.5;  // values the compiler cannot see: as from a config file
  volatile int zero = 0;
  volatile int big = 4096;
  CHECK_THROWS_AS(tutti::fraction{ratio}, std::invalid_argument);
  CHECK_THROWS_AS(tutti::fraction{ratio - 1.5}, std::invalid_argument);  // 0 is not allowed
  CHECK_THROWS_AS(tutti::call_count{zero}, std::invalid_argument);
  CHECK_THROWS_AS(tutti::call_count{zero - 1}, std::invalid_argument);
  CHECK_THROWS_WITH(tutti::breaker_config{.failure_ratio = ratio},
                    "tutti: a ratio must be above 0 and at most 1 (0.5 = half the calls)");
  CHECK_THROWS_AS(tutti::breaker_config{.minimum_calls = zero}, std::invalid_argument);

  auto make = [](const tutti::breaker_config& c) { tutti::circuit_breaker<> b{c}; };
  CHECK_THROWS_WITH(make({.window_size = big}), Catch::Contains("window_size must be at most 2048"));
  CHECK_NOTHROW(make({.mode = consecutive, .window_size = big}));  // only checked where used
  CHECK_THROWS_AS(make({.mode = time_window, .window_buckets = 65}), std::invalid_argument);
  CHECK_THROWS_AS(make({.mode = time_window, .window_duration = 0s}), std::invalid_argument);
  CHECK_THROWS_WITH(make({.break_for = 0s}), Catch::Contains("break_for must be positive"));
  CHECK_THROWS_AS(make({.break_growth = 0.5}), std::invalid_argument);
  CHECK_THROWS_AS(make({.break_for = 10s, .max_break = 5s}), std::invalid_argument);
  CHECK_THROWS_AS(make({.half_open_probes = 70000}), std::invalid_argument);
  CHECK_THROWS_WITH(make({.half_open_probes = 2, .half_open_successes = 3}),
                    Catch::Contains("half_open_successes must not exceed half_open_probes"));
  CHECK_THROWS_AS(make({.slow_call_threshold = -1s}), std::invalid_argument);
  CHECK_THROWS_AS(make({.half_open_timeout = -1s}), std::invalid_argument);
  CHECK_THROWS_AS((tutti::breaker_registry<int, 2>{{.break_for = -1s}}), std::invalid_argument);
  CHECK_NOTHROW(make({}));
}

TEST_CASE("count_successes = false leaves closed successes out of the metrics only",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker b{tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                                                 .consecutive_failures = 2,
                                                 .count_successes = false},
                           clock};
  int fail = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&fail]() -> tutti::result<void> {
                                   if (fail > 0) {
                                     --fail;
                                     return tutti::errc::timeout;
                                   }
                                   return tutti::outcome::success();
                                 }) |
                                 tutti::guard(b));
  for (int i = 0; i < 5; ++i) REQUIRE(wf.run({}, clock));
  CHECK(b.metrics().successes == 0);
  fail = 1;
  (void)wf.run({}, clock);  // one failure, then a success resets the streak
  REQUIRE(wf.run({}, clock));
  fail = 1;
  (void)wf.run({}, clock);
  CHECK(b.state() == tutti::breaker_state::closed);  // never two in a row so far
  fail = 1;
  (void)wf.run({}, clock);  // the second in a row: opens
  CHECK(b.state() == tutti::breaker_state::open);
  CHECK(b.metrics().failures == 3);
  CHECK(wf.run({}, clock).error() == tutti::errc::circuit_open);
}
