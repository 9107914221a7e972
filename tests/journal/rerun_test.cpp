// Rerun from a step (tutti::rerun_run, durable_workflow::rerun): a new run linked to an ended one,
// the outputs of the steps before the chosen step reused, that step and the later ones run anew.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include "../support/journal_forwarding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <string>
#include <vector>

namespace {

/// What the services saw, across every run (as their own ledgers would).
struct ledger {
  std::map<std::string, int> calls;
  std::set<std::string> keys;  // idempotency keys of charges
  std::vector<std::string> undone;
  bool decline = false;        // the charge is declined
  bool lose_parcel = false;    // shipping fails
  void clear_calls() { calls.clear(); }
};

auto make_order(ledger& l) {
  return tutti::workflow<"order">(
      tutti::step<"reserve">([&l](const std::string& sku) {
        ++l.calls["reserve"];
        return "hold-" + sku;
      }).compensate_with([&l](const std::string& hold) -> tutti::result<void> {
        l.undone.push_back(hold);
        return tutti::outcome::success();
      }),
      tutti::pivot<"charge">([&l](tutti::from<"reserve", std::string> hold,
                                 const tutti::call_context& ctx) -> tutti::result<int> {
        ++l.calls["charge"];
        l.keys.insert(fmt::format("{}", ctx.key()));
        if (l.decline) return tutti::errc::step_failed;
        return static_cast<int>(hold->size()) * 100;
      }),
      tutti::step<"ship">([&l](tutti::from<"charge", int> cents) -> tutti::result<std::string> {
        ++l.calls["ship"];
        if (l.lose_parcel) return tutti::errc::step_failed;
        return "parcel-" + std::to_string(*cents);
      }) | tutti::retry{tutti::constant_backoff{std::chrono::milliseconds(0)}, tutti::max_attempts{2}});
}

std::vector<tutti::record_kind> kinds_of(const tutti::stored_run& r) {
  std::vector<tutti::record_kind> out;
  for (const auto& rec : r.records) out.push_back(rec.kind);
  return out;
}

std::string hex(const tutti::run_id& id) {
  const auto h = id.hex();
  return {h.data(), h.size()};
}

}  // namespace

TEST_CASE("a failed run rerun from its failed step reuses the earlier outputs and links both runs",
          "[journal][rerun]") {
  ledger l;
  const auto wf = make_order(l);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  l.lose_parcel = true;  // after the pivot (charge): a failure there undoes nothing
  const auto first = durable.run(std::string("book"));
  REQUIRE(first);
  REQUIRE_FALSE(first->has_value());
  REQUIRE(j.status(first->id()).value() == tutti::run_status::failed);
  CHECK(l.calls["charge"] == 1);

  l.clear_calls();
  l.lose_parcel = false;
  const auto again = durable.rerun<std::string>(first->id(), "ship");
  INFO(again.message);
  REQUIRE(again);
  REQUIRE(again->has_value());
  CHECK(again->value() == "parcel-900");  // from the old charge's output: 9 * 100
  CHECK(l.calls["reserve"] == 0);          // reused, not called
  CHECK(l.calls["charge"] == 0);
  CHECK(l.calls["ship"] == 1);
  CHECK(again->id() != first->id());

  const auto made = j.load(again->id()).value();
  CHECK(made.summary.status == tutti::run_status::succeeded);
  CHECK(made.summary.workflow == "order");
  CHECK(made.summary.fingerprint == j.load(first->id()).value().summary.fingerprint);
  CHECK(made.input == j.load(first->id()).value().input);
  // Started paused and held, linked, the outputs copied, unpaused; then an engine ran ship.
  const auto k = kinds_of(made);
  REQUIRE(k.size() >= 7);
  using rk = tutti::record_kind;
  CHECK(std::vector<rk>(k.begin(), k.begin() + 7) ==
        std::vector<rk>{rk::run_started, rk::claimed, rk::paused, rk::rerun_of, rk::step_finished,
                        rk::step_finished, rk::unpaused});
  CHECK(made.records[3].message == hex(first->id()));
  CHECK(made.records[3].step == "ship");
  CHECK(made.records[4].step == "reserve");
  CHECK(made.records[5].step == "charge");
  CHECK(made.records[5].time_ns == 0);
  const auto old = j.load(first->id()).value();
  CHECK(old.records.back().kind == rk::rerun_as);
  CHECK(old.records.back().message == hex(again->id()));
  // The failed old run is settled by its rerun: retrying it would ship twice.
  CHECK(old.summary.status == tutti::run_status::resolved);
  CHECK(tutti::retry_run(j, first->id()).error() == tutti::journal_errc::invalid_command);
  // durable.rerun held the new run throughout: one claim, no takeover between.
  CHECK(made.summary.epoch == 1);
  CHECK(std::count(k.begin(), k.end(), rk::claimed) == 1);
}

TEST_CASE("a rerun from an earlier step calls that step again with the new run's key",
          "[journal][rerun]") {
  ledger l;
  const auto wf = make_order(l);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(std::string("pen"));
  REQUIRE(first);
  REQUIRE(first->has_value());
  REQUIRE(l.keys.size() == 1);
  l.clear_calls();
  const auto again = durable.rerun<std::string>(first->id(), "charge");
  REQUIRE(again);
  REQUIRE(again->has_value());
  CHECK(l.calls["reserve"] == 0);
  CHECK(l.calls["charge"] == 1);
  CHECK(l.calls["ship"] == 1);
  CHECK(l.keys.size() == 2);  // a new run: a new idempotency key for the charge
  // From the first step: nothing reused, everything runs.
  l.clear_calls();
  tutti::rerun_options o;
  o.id = tutti::run_id{0xAB, 1};
  const auto made = tutti::rerun_run(j, first->id(), "reserve", o);
  REQUIRE(made);
  CHECK(made.value().id == tutti::run_id{0xAB, 1});
  CHECK(made.value().reused.empty());
  CHECK_FALSE(made.value().claim);  // handed back, not kept
  CHECK(j.status(first->id()).value() == tutti::run_status::succeeded);  // a success stays one
  CHECK(j.status(made.value().id).value() == tutti::run_status::running);
  CHECK(j.load(made.value().id).value().summary.owner.empty());  // handed back for a runner
  const auto ran = durable.resume<std::string>(made.value().id);
  REQUIRE(ran);
  CHECK(ran->has_value());
  CHECK(l.calls["reserve"] == 1);
}

TEST_CASE("rerun is refused for a run that has not ended, a step it never reached, a nested "
          "step, and a reused step that was compensated",
          "[journal][rerun]") {
  ledger l;
  const auto wf = make_order(l);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  std::string why;

  // Declined: charge failed, reserve compensated. Its hold was released: not reusable.
  l.decline = true;
  const auto declined = durable.run(std::string("lamp"));
  REQUIRE(declined);
  REQUIRE(j.status(declined->id()).value() == tutti::run_status::compensated);
  auto r = tutti::rerun_run(j, declined->id(), "charge", {}, &why);
  REQUIRE_FALSE(r);
  CHECK(r.error() == tutti::journal_errc::invalid_command);
  CHECK(why.find("\"reserve\"") != std::string::npos);
  CHECK(why.find("compensated") != std::string::npos);
  // It never reached ship.
  r = tutti::rerun_run(j, declined->id(), "ship", {}, &why);
  CHECK(r.error() == tutti::journal_errc::invalid_command);
  CHECK(why.find("never reached step \"ship\"") != std::string::npos);
  r = tutti::rerun_run(j, declined->id(), "charge/inner", {}, &why);
  CHECK(r.error() == tutti::journal_errc::invalid_command);
  CHECK(why.find("top-level step") != std::string::npos);
  // From reserve it may: nothing is reused.
  l.decline = false;
  l.clear_calls();
  const auto fresh = durable.rerun<std::string>(declined->id(), "reserve");
  REQUIRE(fresh);
  CHECK(fresh->has_value());
  CHECK(l.calls["reserve"] == 1);

  // A run that has not ended.
  const tutti::run_id live{0xCD, 1};
  REQUIRE(j.start(live, "order", durable.identity<std::string>(), tutti::to_bytes(std::string("x"))));
  r = tutti::rerun_run(j, live, "reserve", {}, &why);
  CHECK(r.error() == tutti::journal_errc::invalid_command);
  CHECK(why.find("is running") != std::string::npos);
  CHECK(tutti::rerun_run(j, tutti::run_id{0xEE, 1}, "reserve").error() ==
        tutti::journal_errc::run_not_found);
  // Nothing was made by a refusal: the runs are the two above and the live one.
  CHECK(j.list({}).value().size() == 3);
  // The engine's rerun says why in its message.
  const auto refused = durable.rerun<std::string>(declined->id(), "charge");
  CHECK_FALSE(refused);
  CHECK(refused.error == tutti::journal_errc::invalid_command);
  CHECK(refused.message.find("compensated") != std::string::npos);
}

namespace {
/// A journal that fails every append after `budget` of them (the process died there).
struct dying_journal : support::journal_forwarding<dying_journal> {
  tutti::memory_journal& inner;
  int budget;
  dying_journal(tutti::memory_journal& j, int b) : inner(j), budget(b) {}
  tutti::memory_journal& target() { return inner; }
  const tutti::memory_journal& target() const { return inner; }
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& r) {
    if (budget-- <= 0) return tutti::journal_errc::io_error;
    return inner.append(id, r);
  }
};
static_assert(tutti::journal<dying_journal>);
}  // namespace

TEST_CASE("a rerun cut short stays paused and is never run, at whichever record it stopped",
          "[journal][rerun]") {
  ledger l;
  const auto wf = make_order(l);
  l.lose_parcel = true;
  // Appends of a rerun from ship: the link, then two copies (reserve, charge).
  for (int budget = 0; budget < 3; ++budget) {
    INFO("the rerun died after " << budget << " of its appends");
    tutti::testing::manual_clock lease_clock{std::chrono::hours(1)};
    tutti::memory_journal_options jo;
    jo.lease_clock = tutti::any_clock{lease_clock};
    tutti::memory_journal j{jo};
    const tutti::durable_workflow durable{wf, j};
    const auto first = durable.run(std::string("book"));
    REQUIRE(first);
    dying_journal dying{j, budget};
    const auto r = tutti::rerun_run(dying, first->id(), "ship");
    REQUIRE_FALSE(r);
    CHECK(r.error() == tutti::journal_errc::io_error);
    const auto runs = j.list({}).value();
    REQUIRE(runs.size() == 2);
    const auto& made = runs[0].id == first->id() ? runs[1] : runs[0];
    CHECK(made.status == tutti::run_status::paused);
    // No engine runs it: resume and resume_all leave it, nothing is called.
    l.clear_calls();
    l.lose_parcel = false;
    const auto tried = durable.resume<std::string>(made.id);
    CHECK_FALSE(tried);
    std::size_t resumed = 0;
    REQUIRE(durable.resume_all<std::string>([&resumed](const auto&, const auto&) { ++resumed; }));
    CHECK(resumed == 0);
    CHECK(l.calls.empty());
    l.lose_parcel = true;
    // The old run is not linked to a run that was never released.
    CHECK(j.load(first->id()).value().records.back().kind != tutti::record_kind::rerun_as);
    // Unpaused by an operator anyway, once the rerun's lease ran out: an engine still runs
    // none of it. A resume hands it back; a start-up's resume_all parks it.
    REQUIRE(tutti::unpause_run(j, made.id));
    lease_clock.advance(std::chrono::seconds(31));
    const auto again = durable.resume<std::string>(made.id);
    CHECK_FALSE(again);
    CHECK(again.error == tutti::journal_errc::not_resumable);
    CHECK(again.message.find("copies were cut short") != std::string::npos);
    std::vector<std::string> refusals;
    REQUIRE(durable.resume_all<std::string>(
        [&refusals](const auto&, const auto& out) { refusals.push_back(out.message); }));
    CHECK(refusals.size() == 1);
    CHECK(j.status(made.id).value() == tutti::run_status::dead_lettered);
    CHECK(l.calls.empty());
  }
}

namespace {
tutti::record_view step_end(std::string_view step, bool ok, std::string_view payload = {}) {
  tutti::record_view r;
  r.kind = tutti::record_kind::step_finished;
  r.step = step;
  r.attempt = 1;
  r.ok = ok;
  r.payload = std::as_bytes(std::span(payload.data(), payload.size()));
  if (!ok) {
    r.error_category = "tutti";
    r.error_value = 1;
  }
  return r;
}
tutti::record_view undo(tutti::record_kind k, std::string_view step) {
  tutti::record_view r;
  r.kind = k;
  r.step = step;
  r.ok = k == tutti::record_kind::compensation_finished;
  return r;
}
}  // namespace

TEST_CASE("a rerun copies what the reused steps' parts did, and refuses an output undone after it "
          "was made",
          "[journal][rerun]") {
  using rk = tutti::record_kind;
  tutti::memory_journal j;
  // A group g: its loser `slow` undone before the group ended (first-of), its optional `opt`
  // failed; g succeeded; `use` failed and the run ended failed.
  const tutti::run_id a{0x61, 1};
  REQUIRE(j.start(a, "w", 7, {}));
  for (const auto& r : {step_end("g/fast", true, "1"), step_end("g/slow", true, "2"),
                        undo(rk::compensation_started, "g/slow"), undo(rk::compensation_finished, "g/slow"),
                        step_end("g/opt", false), step_end("g", true, "m"), step_end("use", false)})
    REQUIRE(j.append(a, r));
  tutti::record_view fin;
  fin.kind = rk::run_finished;
  fin.outcome = 1;
  fin.step = "use";
  fin.error_category = "tutti";
  fin.error_value = 1;
  REQUIRE(j.append(a, fin));
  std::string why;
  const auto made = tutti::rerun_run(j, a, "use", {}, &why);
  INFO(why);
  REQUIRE(made);
  CHECK(made.value().reused == std::vector<std::string>{"g"});
  const auto copy = j.load(made.value().id).value();
  std::vector<std::pair<rk, std::string>> copied;
  for (const auto& r : copy.records)
    if (r.kind == rk::step_finished || r.kind == rk::compensation_started ||
        r.kind == rk::compensation_finished)
      copied.emplace_back(r.kind, r.step);
  CHECK(copied == std::vector<std::pair<rk, std::string>>{
                      {rk::step_finished, "g/fast"},         {rk::step_finished, "g/slow"},
                      {rk::compensation_started, "g/slow"},  {rk::compensation_finished, "g/slow"},
                      {rk::step_finished, "g/opt"},          {rk::step_finished, "g"}});
  const auto plan = tutti::plan_of(copy);
  CHECK(plan.steps.at("g/opt").failed);  // an optional branch that failed is not called again
  CHECK(plan.steps.at("g/slow").compensated);
  CHECK_FALSE(plan.rerun_incomplete);

  // The same, but g/fast undone after g succeeded (the run rolled back): g's output no longer
  // stands.
  const tutti::run_id b{0x61, 2};
  REQUIRE(j.start(b, "w", 7, {}));
  for (const auto& r : {step_end("g/fast", true, "1"), step_end("g", true, "m"), step_end("use", false),
                        undo(rk::compensation_started, "g/fast"), undo(rk::compensation_finished, "g/fast")})
    REQUIRE(j.append(b, r));
  fin.outcome = 2;
  REQUIRE(j.append(b, fin));
  const auto refused = tutti::rerun_run(j, b, "use", {}, &why);
  REQUIRE_FALSE(refused);
  CHECK(why.find("step \"g\" of run") != std::string::npos);
}

TEST_CASE("a rerun refuses an output that another rerun sharing it undid", "[journal][rerun]") {
  ledger l;
  const auto wf = make_order(l);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(std::string("desk"));
  REQUIRE(first);
  REQUIRE(first->has_value());
  // A rerun from the charge, declined: it undoes the reserve it copied — the hold the first
  // run made, released at the service.
  l.decline = true;
  const auto declined = durable.rerun<std::string>(first->id(), "charge");
  REQUIRE(declined);
  REQUIRE(j.status(declined->id()).value() == tutti::run_status::compensated);
  REQUIRE(l.undone == std::vector<std::string>{"hold-desk"});
  // A second rerun from the charge would reuse the released hold: refused, naming the rerun.
  std::string why;
  const auto second = tutti::rerun_run(j, first->id(), "charge", {}, &why);
  REQUIRE_FALSE(second);
  CHECK(second.error() == tutti::journal_errc::invalid_command);
  CHECK(why.find("in run " + hex(declined->id())) != std::string::npos);
  // So would a rerun of the rerun (its reserve is the same copy).
  CHECK_FALSE(tutti::rerun_run(j, declined->id(), "charge"));
  // From the reserve it may: the hold is made anew.
  l.decline = false;
  const auto fresh = durable.rerun<std::string>(first->id(), "reserve");
  REQUIRE(fresh);
  CHECK(fresh->has_value());
}

TEST_CASE("a rerun of a moved run is moved too, and a rerun is run only by its own workflow",
          "[journal][rerun]") {
  ledger l;
  l.lose_parcel = true;
  const auto wf = make_order(l);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  // Written by another shape of version 1 (an earlier release), moved to this one by hand.
  const tutti::run_id old{0x70, 1};
  REQUIRE(j.start(old, "order", {0x4242, 1}, tutti::to_bytes(std::string("cup"))));
  REQUIRE(tutti::move_run(j, old, 1, "the new shape reads it"));
  const auto ended = durable.resume<std::string>(old);
  REQUIRE(ended);
  REQUIRE(j.status(old).value() == tutti::run_status::failed);  // at ship, after the pivot
  l.lose_parcel = false;
  l.clear_calls();
  const auto again = durable.rerun<std::string>(old, "ship");
  INFO(again.message);
  REQUIRE(again);
  CHECK(again->has_value());
  CHECK(l.calls["charge"] == 0);
  CHECK(j.load(again->id()).value().summary.fingerprint == 0x4242);

  // Another workflow's run: refused before anything is made.
  const tutti::run_id other{0x70, 2};
  REQUIRE(j.start(other, "refund", 7, {}));
  tutti::record_view fin;
  fin.kind = tutti::record_kind::run_finished;
  REQUIRE(j.append(other, fin));
  const auto runs = j.list({}).value().size();
  const auto refused = durable.rerun<std::string>(other, "reserve");
  CHECK_FALSE(refused);
  CHECK(refused.error == tutti::journal_errc::invalid_command);
  CHECK(refused.message.find("\"refund\"") != std::string::npos);
  CHECK(j.list({}).value().size() == runs);
}

namespace {
/// A journal that refuses the link on the old run (an operator changed it meanwhile).
struct unlinkable_journal : support::journal_forwarding<unlinkable_journal> {
  tutti::memory_journal& inner;
  explicit unlinkable_journal(tutti::memory_journal& j) : inner(j) {}
  tutti::memory_journal& target() { return inner; }
  const tutti::memory_journal& target() const { return inner; }
  tutti::result<tutti::run_status> command(const tutti::run_id& id, const tutti::record_view& r,
                                           std::span<const tutti::run_status> allowed, bool fence) {
    if (r.kind == tutti::record_kind::rerun_as) return tutti::journal_errc::invalid_command;
    return inner.command(id, r, allowed, fence);
  }
};
static_assert(tutti::journal<unlinkable_journal>);
}  // namespace

TEST_CASE("a rerun whose old run cannot be linked is resolved, never run", "[journal][rerun]") {
  ledger l;
  l.lose_parcel = true;
  const auto wf = make_order(l);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(std::string("mug"));
  REQUIRE(first);
  unlinkable_journal u{j};
  std::string why;
  const auto r = tutti::rerun_run(u, first->id(), "ship", {}, &why);
  REQUIRE_FALSE(r);
  CHECK(why.find("abandoned") != std::string::npos);
  const auto runs = j.list({}).value();
  REQUIRE(runs.size() == 2);
  for (const auto& s : runs)
    if (s.id != first->id()) CHECK(s.status == tutti::run_status::resolved);
}
