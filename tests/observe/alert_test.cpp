// The alert hook: which events raise an alert, what the alert holds, and real runs.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>
#include <tutti/observe/alert.hpp>
#include <tutti/policy/circuit_breaker.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::event_kind;
using tutti::observe::alert;
using tutti::observe::alert_kind;

namespace {

/// What the callback saw, copied (the views of an alert live during the call only).
struct seen {
  alert_kind kind;
  std::string workflow;
  std::string step;
  tutti::run_id run;
  std::error_code error;
  std::string message;
  std::uint32_t attempt;
  tutti::breaker_state from;
  std::string text;
};

struct recorder {
  std::vector<seen>* out;
  void operator()(const alert& a) const {
    out->push_back({a.kind, std::string{a.workflow}, std::string{a.step}, a.run, a.error,
                    std::string{a.message}, a.attempt, a.from, tutti::observe::describe(a)});
  }
};

tutti::event make(event_kind k, std::string_view step = "transfer") {
  tutti::event e;
  e.kind = k;
  e.workflow = "payment";
  e.step = step;
  e.run = tutti::run_id{0xabcULL, 0xdefULL};
  return e;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

TEST_CASE("the alert hook is an observer that costs nothing in size and asks for no time",
          "[observe][alert]") {
  const auto empty = [](const alert&) {};
  using hook = tutti::observe::alert_hook<decltype(empty)>;
  STATIC_REQUIRE(tutti::observer<hook>);
  STATIC_REQUIRE_FALSE(tutti::detail::observer_wants_time<hook>());
  STATIC_REQUIRE(sizeof(hook) == sizeof(tutti::observe::alert_kinds));
  STATIC_REQUIRE(sizeof(tutti::observe::alert_kinds) == 1);
  STATIC_REQUIRE_FALSE(tutti::observe::alert_kinds{}.contains(alert_kind::run_compensation_failed));
  STATIC_REQUIRE(tutti::observe::alert_kinds::all().contains(alert_kind::run_compensation_failed));
}

TEST_CASE("only breaker openings, exhausted retries and failed compensations raise alerts",
          "[observe][alert]") {
  std::vector<seen> alerts;
  tutti::observe::alert_hook hook{recorder{&alerts}};
  const event_kind all_kinds[] = {
      event_kind::run_started,       event_kind::run_finished,          event_kind::step_started,
      event_kind::step_succeeded,    event_kind::step_failed,           event_kind::attempt_started,
      event_kind::attempt_succeeded, event_kind::attempt_failed,        event_kind::retry_scheduled,
      event_kind::retries_exhausted, event_kind::fallback_served,       event_kind::breaker_state_changed,
      event_kind::breaker_rejected,  event_kind::bulkhead_rejected,     event_kind::rate_limited,
      event_kind::timeout,           event_kind::compensation_started,  event_kind::compensation_succeeded,
      event_kind::compensation_failed, event_kind::step_skipped};
  STATIC_REQUIRE(sizeof(all_kinds) / sizeof(all_kinds[0]) == tutti::event_kind_count);
  for (const auto k : all_kinds) {
    auto e = make(k);
    e.to = tutti::breaker_state::open;                      // an opening breaker
    e.outcome = tutti::run_outcome::compensation_failed;    // not alerted by default
    hook.on_event(e);
  }
  REQUIRE(alerts.size() == 3);
  CHECK(alerts[0].kind == alert_kind::retries_exhausted);
  CHECK(alerts[1].kind == alert_kind::breaker_opened);
  CHECK(alerts[2].kind == alert_kind::compensation_failed);

  SECTION("a breaker going anywhere but open is no alert") {
    for (const auto to : {tutti::breaker_state::closed, tutti::breaker_state::half_open,
                          tutti::breaker_state::isolated, tutti::breaker_state::disabled,
                          tutti::breaker_state::metrics_only}) {
      auto e = make(event_kind::breaker_state_changed);
      e.to = to;
      hook.on_event(e);
    }
    CHECK(alerts.size() == 3);
  }
  SECTION("a half-open breaker that re-opens is an alert, saying where it came from") {
    auto e = make(event_kind::breaker_state_changed);
    e.from = tutti::breaker_state::half_open;
    e.to = tutti::breaker_state::open;
    hook.on_event(e);
    REQUIRE(alerts.size() == 4);
    CHECK(alerts[3].from == tutti::breaker_state::half_open);
    CHECK(contains(alerts[3].text, "payment 0000000000000abc0000000000000def  transfer: circuit breaker opened (was half_open)"));
  }
}

TEST_CASE("the run outcome alert is opt-in, and a kind set filters alerts", "[observe][alert]") {
  std::vector<seen> alerts;
  tutti::observe::alert_hook hook{recorder{&alerts},
                                  {alert_kind::run_compensation_failed, alert_kind::breaker_opened}};
  auto e = make(event_kind::run_finished, "transfer");
  e.outcome = tutti::run_outcome::compensation_failed;
  e.error = tutti::errc::timeout;
  hook.on_event(e);
  e.outcome = tutti::run_outcome::compensated;  // compensated runs are fine
  hook.on_event(e);
  hook.on_event(make(event_kind::compensation_failed));  // not in the set
  hook.on_event(make(event_kind::retries_exhausted));    // not in the set
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].kind == alert_kind::run_compensation_failed);
  CHECK(alerts[0].step == "transfer");
  CHECK(alerts[0].error == tutti::errc::timeout);
  CHECK(contains(alerts[0].text, "transfer: run failed here and could not be fully undone: timed out [tutti:5]"));
}

TEST_CASE("an alert carries the event's workflow, step, run, error, message and attempts",
          "[observe][alert]") {
  std::vector<seen> alerts;
  tutti::observe::alert_hook hook{recorder{&alerts}};
  auto e = make(event_kind::retries_exhausted);
  e.attempt = 4;
  e.error = tutti::errc::rate_limited;
  e.message = "429 from the bank";
  hook.on_event(e);
  REQUIRE(alerts.size() == 1);
  const seen& a = alerts[0];
  CHECK(a.workflow == "payment");
  CHECK(a.step == "transfer");
  CHECK(a.run == tutti::run_id{0xabcULL, 0xdefULL});
  CHECK(a.error == tutti::errc::rate_limited);
  CHECK(a.message == "429 from the bank");
  CHECK(a.attempt == 4);
  CHECK(a.text ==
        "payment 0000000000000abc0000000000000def  transfer: retries exhausted after 4 attempts: "
        "rate limited [tutti:8]; 429 from the bank");
  CHECK(fmt::format("{}", alert{alert_kind::compensation_failed, "w", "s", {}, {}, "oops"}) ==
        "w  s: compensation FAILED: oops");  // no run id: none shown
  CHECK(fmt::format("{}", alert{alert_kind::journal_failed, {}, {}, {}, {}, "disk I/O error"}) ==
        "journal FAILED: disk I/O error");  // a runner's: no workflow, no run
  CHECK(tutti::observe::to_string(alert_kind::breaker_opened) == "breaker_opened");
}

TEST_CASE("real runs: exhausted retries, a failed compensation and an opening breaker alert",
          "[observe][alert]") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker bank{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = 3,
                            .break_for = 5s},
      clock};
  const auto wf = tutti::workflow<"payment">(
      tutti::step<"reserve">([]() -> tutti::result<int> { return 1; })
          .compensate_with([](const int&) -> tutti::result<void> {
            throw std::runtime_error("inventory service gone");
          }),
      tutti::step<"transfer">([]() -> tutti::result<int> { return tutti::errc::timeout; }) |
          tutti::guard(bank) | tutti::retry{tutti::max_attempts{3}});
  std::vector<seen> alerts;
  tutti::observe::alert_hook hook{recorder{&alerts}, tutti::observe::alert_kinds::all()};

  const auto first = wf.run(tutti::unit{}, {}, clock, hook);
  REQUIRE(first.outcome() == tutti::run_outcome::compensation_failed);
  // Attempts 1 to 3 fail: the third opens the breaker, and the retry's attempts are used up
  // (a timeout would be retried: retries_exhausted).
  std::vector<alert_kind> kinds;
  for (const auto& a : alerts) kinds.push_back(a.kind);
  // The bank's own timeouts are no missed deadline: the run has none.
  CHECK(kinds == std::vector<alert_kind>{alert_kind::breaker_opened, alert_kind::retries_exhausted,
                                         alert_kind::compensation_failed,
                                         alert_kind::run_compensation_failed});
  const auto hex = first.id().hex();
  for (const auto& a : alerts) {
    CHECK(a.workflow == "payment");
    CHECK(a.run == first.id());
    CHECK(contains(a.text, std::string_view{hex.data(), hex.size()}));
  }
  CHECK(alerts[0].step == "transfer");
  CHECK(alerts[0].from == tutti::breaker_state::closed);
  CHECK(alerts[1].step == "transfer");
  CHECK(alerts[2].step == "reserve");
  CHECK(alerts[2].message == "inventory service gone");
  CHECK(alerts[2].error == tutti::errc::exception);
  CHECK(alerts[3].step == "transfer");
}

TEST_CASE("a journal failure and a missed deadline end a run with an alert, a step's own timeout does not",
          "[observe][alert]") {
  std::vector<seen> alerts;
  tutti::observe::alert_hook hook{recorder{&alerts}};
  auto e = make(event_kind::run_finished, "transfer");
  e.outcome = tutti::run_outcome::failed;
  e.error = tutti::errc::cancelled;  // the step the journal stopped: the alert says the journal
  e.journal_failed = true;
  hook.on_event(e);
  e.journal_failed = false;
  e.error = tutti::errc::journal_failed;  // without the flag (a fenced run, say): no alert
  hook.on_event(e);
  e.error = tutti::errc::timeout;  // the service's own timeout: no deadline of the run passed
  hook.on_event(e);
  e.deadline_missed = true;
  e.message = "the run's deadline passed while this step ran";
  hook.on_event(e);
  e.outcome = tutti::run_outcome::compensation_failed;  // by default only the deadline is said
  hook.on_event(e);
  REQUIRE(alerts.size() == 3);
  CHECK(alerts[0].kind == alert_kind::journal_failed);
  CHECK(alerts[0].text ==
        "payment 0000000000000abc0000000000000def  transfer: journal FAILED: the run's journal "
        "could not be written [tutti:13]");
  CHECK(alerts[1].kind == alert_kind::deadline_missed);
  CHECK(alerts[1].text ==
        "payment 0000000000000abc0000000000000def  transfer: deadline missed: timed out "
        "[tutti:5]; the run's deadline passed while this step ran");
  CHECK(alerts[2].kind == alert_kind::deadline_missed);

  SECTION("with every kind, a run that could not be undone after its deadline says both") {
    tutti::observe::alert_hook every{recorder{&alerts}, tutti::observe::alert_kinds::all()};
    every.on_event(e);
    REQUIRE(alerts.size() == 5);
    CHECK(alerts[3].kind == alert_kind::run_compensation_failed);
    CHECK(alerts[4].kind == alert_kind::deadline_missed);
  }
  SECTION("a kind set without them says neither") {
    tutti::observe::alert_hook some{recorder{&alerts}, {alert_kind::breaker_opened}};
    e.outcome = tutti::run_outcome::failed;
    some.on_event(e);
    e.deadline_missed = false;
    e.journal_failed = true;
    some.on_event(e);
    CHECK(alerts.size() == 3);
  }
}

TEST_CASE("real runs: a run past its deadline alerts once, a run within it does not",
          "[observe][alert]") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"quote">(
      tutti::step<"price">([&clock]() -> tutti::result<int> {
        clock.advance(2s);  // the pricing service takes two seconds
        return 7;
      }),
      tutti::step<"publish">([]() -> tutti::result<int> { return 1; }));
  std::vector<seen> alerts;
  tutti::observe::alert_hook hook{recorder{&alerts}};
  tutti::run_options in_time;
  in_time.deadline = 5s;
  CHECK(wf.run(tutti::unit{}, in_time, clock, hook).has_value());
  CHECK(alerts.empty());
  tutti::run_options tight;
  tight.deadline = 1s;
  const auto late = wf.run(tutti::unit{}, tight, clock, hook);
  REQUIRE_FALSE(late.has_value());
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].kind == alert_kind::deadline_missed);
  CHECK(alerts[0].run == late.id());
  CHECK(alerts[0].error == tutti::errc::timeout);

  // A service's own timeout, well within the run's deadline, is no missed deadline.
  const auto slow_service = tutti::workflow<"quote">(
      tutti::step<"price">([]() -> tutti::result<int> { return tutti::errc::timeout; }));
  tutti::run_options roomy;
  roomy.deadline = 1h;
  const auto refused = slow_service.run(tutti::unit{}, roomy, clock, hook);
  REQUIRE(refused.error() == tutti::errc::timeout);
  CHECK(alerts.size() == 1);
}
