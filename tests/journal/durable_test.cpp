// Durable runs on the in-memory journal: write-ahead records, resume after a crash at every
// record, idempotency keys, fingerprints, pause, retry, re-drive, resolve, journal failures.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include "../support/journal_forwarding.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <optional>
#include <tuple>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace {

/// What the steps did, across every incarnation of a run (as a service's own ledger would).
struct world {
  std::map<std::string, int> calls;     // step -> calls
  std::map<std::string, int> undos;     // step -> compensation calls
  std::vector<std::string> keys;        // idempotency keys seen, in order
  bool fail_charge = false;
  bool fail_refund = false;
  void reset_counts() {
    calls.clear();
    undos.clear();
  }
};

struct order {
  int id = 0;
  std::string customer;
  template <class A>
  friend void serialize(A& ar, order& o) {
    ar(o.id, o.customer);
  }
};

auto make_saga(world& w) {
  return tutti::workflow<"checkout">(
      tutti::step<"reserve">([&w](const order& o, const tutti::call_context& ctx) {
        ++w.calls["reserve"];
        w.keys.push_back(fmt::format("{}", ctx.key()));
        return std::string("hold-") + std::to_string(o.id);
      }).compensate_with([&w](const std::string&) -> tutti::result<void> {
        ++w.undos["reserve"];
        if (w.fail_refund) return tutti::errc::step_failed;
        return tutti::outcome::success();
      }),
      tutti::step<"charge">([&w](tutti::from<"reserve", std::string> hold,
                                 const tutti::call_context& ctx) -> tutti::result<int> {
        ++w.calls["charge"];
        w.keys.push_back(fmt::format("{}", ctx.key()));
        if (w.fail_charge) return tutti::errc::step_failed;
        return static_cast<int>(hold->size());
      }).compensate_with([&w](const int&) { ++w.undos["charge"]; }),
      tutti::pivot<"ship">([&w](tutti::from<"charge", int> amount) {
        ++w.calls["ship"];
        return *amount * 10;
      }));
}

const order an_order{42, "ada"};

std::size_t record_count(const tutti::memory_journal& j, const tutti::run_id& id) {
  return j.load(id).value().records.size();
}
}  // namespace

TEST_CASE("a durable run writes every step's start, end and output before moving on") {
  world w;
  const auto wf = make_saga(w);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(an_order);
  REQUIRE(r);
  REQUIRE(r->has_value());
  CHECK(r->value() == 70);  // "hold-42" has 7 characters
  const auto stored = j.load(r->id()).value();
  CHECK(stored.summary.workflow == "checkout");
  CHECK(stored.summary.fingerprint == durable.fingerprint<order>());
  CHECK(stored.summary.status == tutti::run_status::succeeded);
  std::vector<std::pair<tutti::record_kind, std::string>> kinds;
  for (const auto& rec : stored.records) kinds.emplace_back(rec.kind, rec.step);
  using k = tutti::record_kind;
  const std::vector<std::pair<tutti::record_kind, std::string>> expected{
      {k::run_started, ""},           {k::claimed, ""},
      {k::attempt_started, "reserve"}, {k::attempt_finished, "reserve"},
      {k::step_finished, "reserve"},  {k::attempt_started, "charge"},  {k::attempt_finished, "charge"},
      {k::step_finished, "charge"},   {k::attempt_started, "ship"},    {k::attempt_finished, "ship"},
      {k::step_finished, "ship"},     {k::run_finished, ""}};
  CHECK(kinds == expected);
  // The outputs are stored and read back as their types.
  CHECK(tutti::from_bytes<std::string>(stored.records[4].payload).value() == "hold-42");
  CHECK(tutti::from_bytes<int>(stored.records[7].payload).value() == 7);
  CHECK(tutti::from_bytes<order>(stored.input).value().customer == "ada");
}

TEST_CASE("a run cut after any record resumes to the same end, calling no finished step again") {
  for (const bool fail : {false, true}) {
    world w;
    w.fail_charge = fail;
    const auto wf = make_saga(w);
    tutti::memory_journal reference;
    const auto full = tutti::durable_workflow{wf, reference}.run(an_order);
    const std::size_t n = record_count(reference, full->id());
    const auto final_status = reference.status(full->id()).value();
    CHECK(final_status == (fail ? tutti::run_status::compensated : tutti::run_status::succeeded));

    for (std::size_t cut = 1; cut < n; ++cut) {
      INFO("charge fails: " << fail << ", journal cut after record " << cut << " of " << n);
      tutti::memory_journal j;
      tutti::durable_workflow durable{wf, j};
      w.reset_counts();
      const auto first = durable.run(an_order, {.id = tutti::run_id{7, cut}});
      REQUIRE(first);
      j.truncate(first->id(), cut);  // the process died after writing `cut` records
      const auto before = j.load(first->id()).value();
      const auto plan = tutti::plan_of(before);

      w.reset_counts();
      const auto resumed = durable.resume<order>(first->id());
      REQUIRE(resumed);
      CHECK(resumed->outcome() == first->outcome());
      CHECK(j.status(first->id()).value() == final_status);
      // A step whose output was recorded is not called again; others are (once).
      for (const char* step : {"reserve", "charge", "ship"}) {
        const auto it = plan.steps.find(step);
        const bool finished = it != plan.steps.end() && (it->second.succeeded || it->second.failed);
        const bool ran_in_full = full->report().step(step).attempts > 0;
        INFO("step " << step);
        CHECK(w.calls[step] == (finished || !ran_in_full ? 0 : 1));
      }
      // A compensation recorded as finished is not run again.
      for (const char* step : {"reserve", "charge"}) {
        const auto it = plan.steps.find(step);
        const bool undone = it != plan.steps.end() && it->second.compensated;
        const bool undone_in_full = full->report().step(step).status == tutti::step_status::compensated;
        INFO("compensation of " << step);
        CHECK(w.undos[step] == (undone || !undone_in_full ? 0 : 1));
      }
      if (!fail) CHECK(resumed->value() == 70);
    }
  }
}

TEST_CASE("a step called again after a crash gets the same idempotency key") {
  world w;
  const auto wf = make_saga(w);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(an_order);
  // Keep run_started, the claim, reserve's three records and charge's attempt_started: the
  // charge was made, its answer never recorded.
  j.truncate(first->id(), 6);
  w.keys.clear();
  const auto resumed = durable.resume<order>(first->id());
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  REQUIRE(w.keys.size() == 1);  // only charge was called again
  const std::string expected = fmt::format("{}:charge", first->id());
  CHECK(w.keys[0] == expected);
  CHECK(resumed->report().step("reserve").restored);
  CHECK_FALSE(resumed->report().step("charge").restored);
  CHECK(resumed->report().step("charge").attempts == 2);  // attempt numbers go on
}

TEST_CASE("a journal written by another workflow shape is refused, naming both") {
  world w;
  const auto wf = make_saga(w);
  const auto other = tutti::workflow<"checkout">(
      tutti::step<"reserve">([](const order& o) { return std::to_string(o.id); }));
  tutti::memory_journal j;
  const auto first = tutti::durable_workflow{wf, j}.run(an_order);
  j.truncate(first->id(), 3);
  const auto resumed = tutti::durable_workflow{other, j}.resume<order>(first->id());
  REQUIRE_FALSE(resumed);
  CHECK(resumed.error == tutti::journal_errc::fingerprint_mismatch);
  CHECK_THAT(resumed.message, Catch::Contains("checkout(reserve:string)"));
  CHECK_THAT(resumed.message, Catch::Contains(fmt::format("{:016x}", tutti::fingerprint_of<decltype(wf), order>())));
  CHECK(tutti::shape_of<decltype(wf)>() == "checkout(reserve~,charge~,ship!)");
  CHECK(tutti::fingerprint_of<decltype(wf)>() != tutti::fingerprint_of<decltype(other)>());
}

TEST_CASE("a paused run starts no new step until it is unpaused and resumed") {
  tutti::memory_journal j;
  int second_calls = 0;
  tutti::run_id id{9, 9};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"first">([&j, &id] {
        REQUIRE(tutti::pause_run(j, id));  // an operator pauses while the step runs
        return 1;
      }),
      tutti::step<"second">([&second_calls](tutti::from<"first", int> x) {
        ++second_calls;
        return *x + 1;
      }));
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(tutti::unit{}, {.id = id});
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
  CHECK(r->error() == tutti::errc::paused);
  CHECK(r->failed_step() == "second");
  CHECK(second_calls == 0);
  CHECK(j.status(id).value() == tutti::run_status::paused);

  const auto refused = durable.resume<tutti::unit>(id);
  CHECK(refused.error == tutti::journal_errc::not_resumable);
  CHECK(tutti::pause_run(j, id).error() == tutti::journal_errc::invalid_command);

  REQUIRE(tutti::unpause_run(j, id));
  const auto resumed = durable.resume<tutti::unit>(id);
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(resumed->value() == 2);
  CHECK(second_calls == 1);
  CHECK(j.status(id).value() == tutti::run_status::succeeded);
}

TEST_CASE("retry from the failed step: an operator request, run on the next resume") {
  int calls = 0;
  bool down = true;
  const auto wf = tutti::workflow<"w">(
      tutti::pivot<"commit">([] { return 1; }),
      tutti::step<"notify">([&]() -> tutti::result<int> {
        ++calls;
        if (down) return tutti::errc::timeout;
        return 2;
      }) | tutti::retry{tutti::max_attempts{2}});
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(tutti::unit{});
  REQUIRE(r);
  CHECK(r->outcome() == tutti::run_outcome::failed);  // after the pivot: nothing to undo
  CHECK(calls == 2);
  CHECK(j.status(r->id()).value() == tutti::run_status::failed);
  CHECK(durable.resume<tutti::unit>(r->id()).error == tutti::journal_errc::not_resumable);
  CHECK(tutti::redrive_compensations(j, r->id()).error() == tutti::journal_errc::invalid_command);

  down = false;
  REQUIRE(tutti::retry_run(j, r->id()));
  CHECK(j.status(r->id()).value() == tutti::run_status::running);
  const auto again = durable.resume<tutti::unit>(r->id());
  REQUIRE(again);
  REQUIRE(again->has_value());
  CHECK(calls == 3);
  CHECK(again->report().step("commit").restored);
  CHECK(j.status(r->id()).value() == tutti::run_status::succeeded);
}

TEST_CASE("re-drive: failed compensations run again on the next resume, the others do not") {
  world w;
  w.fail_charge = true;
  w.fail_refund = true;  // reserve's undo fails
  const auto wf = make_saga(w);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(an_order);
  REQUIRE(r);
  CHECK(r->outcome() == tutti::run_outcome::compensation_failed);
  CHECK(j.status(r->id()).value() == tutti::run_status::compensation_failed);
  CHECK(w.undos["charge"] == 0);  // charge failed: nothing of it to undo
  CHECK(w.undos["reserve"] == 1);

  w.fail_refund = false;
  w.reset_counts();
  REQUIRE(tutti::redrive_compensations(j, r->id()));
  const auto again = durable.resume<order>(r->id());
  REQUIRE(again);
  CHECK(again->outcome() == tutti::run_outcome::compensated);
  CHECK(w.undos["reserve"] == 1);
  CHECK(w.calls.empty());  // no step is called again
  CHECK(j.status(r->id()).value() == tutti::run_status::compensated);
}

TEST_CASE("a run resolved by hand is never resumed") {
  world w;
  const auto wf = make_saga(w);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(an_order);
  j.truncate(r->id(), 4);
  REQUIRE(tutti::resolve_run(j, r->id(), "refunded by phone"));
  CHECK(j.status(r->id()).value() == tutti::run_status::resolved);
  const auto refused = durable.resume<order>(r->id());
  CHECK(refused.error == tutti::journal_errc::not_resumable);
  CHECK(j.load(r->id()).value().records.back().message == "refunded by phone");
  CHECK(tutti::resolve_run(j, r->id(), "again").error() == tutti::journal_errc::invalid_command);
}

namespace {
/// A memory journal whose appends fail from the `fail_from`-th on (disk full, say).
struct flaky_journal : support::journal_forwarding<flaky_journal> {
  tutti::memory_journal inner;
  std::size_t appends = 0;
  std::size_t fail_from = ~std::size_t{0};
  tutti::memory_journal& target() { return inner; }
  const tutti::memory_journal& target() const { return inner; }
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& r) {
    if (++appends >= fail_from) return std::make_error_code(std::errc::no_space_on_device);
    return inner.append(id, r);
  }
};
static_assert(tutti::journal<flaky_journal>);
}  // namespace

TEST_CASE("a journal that cannot be written stops the run, a resume later finishes it") {
  world w;
  w.fail_charge = true;
  const auto wf = make_saga(w);
  flaky_journal j;
  j.fail_from = 5;  // charge's attempt_started cannot be written (reserve's records can)
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(an_order);
  REQUIRE(r);
  CHECK(r.error == std::errc::no_space_on_device);
  CHECK_FALSE(r->has_value());
  // Write-ahead: charge's call was made but nothing after it went to the journal, so nothing
  // is undone now (it could not be recorded); the run is still `running` for a resume.
  CHECK(w.undos.empty());
  CHECK(j.status(r->id()).value() == tutti::run_status::running);

  j.fail_from = ~std::size_t{0};
  w.reset_counts();
  const auto resumed = durable.resume<order>(r->id());
  REQUIRE(resumed);
  CHECK(resumed.error == std::error_code{});
  CHECK(resumed->outcome() == tutti::run_outcome::compensated);
  CHECK(w.calls["reserve"] == 0);
  CHECK(w.calls["charge"] == 1);
  CHECK(w.undos["reserve"] == 1);
}

TEST_CASE("a durable run its journal stops raises a journal_failed alert", "[journal][durable][alert]") {
  world w;
  const auto wf = make_saga(w);
  flaky_journal j;
  j.fail_from = 5;
  tutti::durable_workflow durable{wf, j};
  std::vector<tutti::observe::alert_kind> kinds;
  std::vector<std::string> steps;
  tutti::observe::alert_hook hook{[&](const tutti::observe::alert& a) {
    kinds.push_back(a.kind);
    steps.emplace_back(a.step);
  }};
  tutti::testing::manual_clock clock;
  const auto r = durable.run(an_order, {}, clock, hook);
  REQUIRE(r);
  CHECK(r.error == std::errc::no_space_on_device);
  REQUIRE(kinds == std::vector<tutti::observe::alert_kind>{tutti::observe::alert_kind::journal_failed});
  CHECK_FALSE(steps[0].empty());  // the step the run stopped before
  // Written again, the resume raises none.
  j.fail_from = ~std::size_t{0};
  const auto resumed = durable.resume<order>(r->id(), {}, clock, hook);
  REQUIRE(resumed);
  CHECK(resumed->has_value());
  CHECK(kinds.size() == 1);

  SECTION("a failure to write a step's first record (the step is not called) alerts too") {
    flaky_journal early;
    early.fail_from = 4;  // charge's attempt_started
    tutti::durable_workflow on_early{wf, early};
    const auto stopped = on_early.run(an_order, {}, clock, hook);
    REQUIRE(stopped);
    CHECK(stopped.error == std::errc::no_space_on_device);
    CHECK(kinds.size() == 2);
    CHECK(kinds.back() == tutti::observe::alert_kind::journal_failed);
  }
  SECTION("a run an operator resolved while it ran (fenced) is no journal failure") {
    tutti::memory_journal mj;
    const auto resolving = tutti::workflow<"checkout">(
        tutti::step<"reserve">([&mj](const order&, const tutti::call_context& ctx) {
          REQUIRE(tutti::resolve_run(mj, ctx.run, "settled by hand"));
          return 1;
        }),
        tutti::step<"charge">([](tutti::from<"reserve", int> n) { return *n + 1; }));
    tutti::durable_workflow on_mj{resolving, mj};
    const auto fenced = on_mj.run(an_order, {}, clock, hook);
    REQUIRE(fenced);
    CHECK(fenced.error == tutti::journal_errc::fenced);
    CHECK(kinds.size() == 1);
  }
}

namespace {
/// A journal that, like sqlite_journal, describes its failures: `last_error_message()`.
struct describing_journal : flaky_journal {
  std::string last_error;
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& r) {
    auto w = flaky_journal::append(id, r);
    if (!w) last_error = "journal 'orders.db': cannot write record " + std::to_string(appends) +
                         ": database or disk is full";
    return w;
  }
  [[nodiscard]] std::string last_error_message() const { return last_error; }
};
static_assert(tutti::journal<describing_journal>);
}  // namespace

TEST_CASE("a durable run stopped by its journal carries the journal's message",
          "[journal][durable]") {
  world w;
  const auto wf = make_saga(w);
  SECTION("a journal that describes its errors: its own words") {
    describing_journal j;
    j.fail_from = 5;
    tutti::durable_workflow durable{wf, j};
    const auto r = durable.run(an_order);
    REQUIRE(r);
    CHECK(r.error == std::errc::no_space_on_device);
    CHECK(r.message == "journal 'orders.db': cannot write record 5: database or disk is full");
  }
  SECTION("a journal that does not: the error's message") {
    flaky_journal j;
    j.fail_from = 5;
    tutti::durable_workflow durable{wf, j};
    const auto r = durable.run(an_order);
    REQUIRE(r);
    CHECK(r.error == std::errc::no_space_on_device);
    CHECK(r.message ==
          "the journal failed: " + std::make_error_code(std::errc::no_space_on_device).message());
  }
}

TEST_CASE("resume_all resumes the unfinished runs of this workflow only") {
  world w;
  const auto wf = make_saga(w);
  const auto other = tutti::workflow<"other">(tutti::step<"x">([] { return 1; }));
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  std::vector<tutti::run_id> cut;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const auto r = durable.run(an_order, {.id = tutti::run_id{1, i}});
    if (i != 2) {
      j.truncate(r->id(), 2 + i);
      cut.push_back(r->id());
    }
  }
  const auto o = tutti::durable_workflow{other, j}.run(tutti::unit{}, {.id = tutti::run_id{2, 1}});
  j.truncate(o->id(), 2);

  std::vector<tutti::run_id> resumed;
  const auto n = durable.resume_all<order>([&](const tutti::run_id& id, const auto& outcome) {
    CHECK(outcome);
    resumed.push_back(id);
  });
  REQUIRE(n);
  CHECK(n.value() == 2);
  std::sort(resumed.begin(), resumed.end());
  CHECK(resumed == cut);
  CHECK(j.status(tutti::run_id{1, 1}).value() == tutti::run_status::succeeded);
  CHECK(j.status(tutti::run_id{1, 3}).value() == tutti::run_status::succeeded);
  CHECK(j.status(o->id()).value() == tutti::run_status::running);  // another workflow's run
}

TEST_CASE("the steps of a nested workflow are journaled and restored one by one") {
  int inner_calls = 0, last_calls = 0;
  const auto inner = tutti::workflow<"inner">(
      tutti::step<"x">([&inner_calls] { ++inner_calls; return 3; }),
      tutti::step<"y">([&inner_calls](tutti::from<"x", int> x) { ++inner_calls; return *x * 2; }));
  const auto wf = tutti::workflow<"outer">(
      inner, tutti::step<"last">([&last_calls] { ++last_calls; return 1; }));
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(tutti::unit{});
  REQUIRE(r->has_value());
  const auto records = j.load(r->id()).value().records;
  // Cut right after inner/x's output: x is restored, y and last are called.
  std::size_t cut = 0;
  for (const auto& rec : records)
    if (rec.kind == tutti::record_kind::step_finished && rec.step == "inner/x") cut = rec.seq;
  REQUIRE(cut > 0);
  j.truncate(r->id(), cut);
  inner_calls = last_calls = 0;
  const auto resumed = durable.resume<tutti::unit>(r->id());
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(inner_calls == 1);  // y only
  CHECK(last_calls == 1);
  CHECK(resumed->get<"inner">() == 6);
  CHECK(resumed->value() == 1);
}

TEST_CASE("values round-trip through the serialization customization point") {
  CHECK(tutti::from_bytes<int>(tutti::to_bytes(-5)).value() == -5);
  const std::vector<std::string> v{"", "a\0b", std::string(300, 'z')};
  CHECK(tutti::from_bytes<std::vector<std::string>>(tutti::to_bytes(v)).value() == v);
  const std::optional<order> o = order{1, "x"};
  const auto back = tutti::from_bytes<std::optional<order>>(tutti::to_bytes(o)).value();
  REQUIRE(back.has_value());
  CHECK(back->id == 1);
  CHECK(back->customer == "x");
  // Too short, too long, impossible lengths: errors, never a crash.
  auto bytes = tutti::to_bytes(std::string("hello"));
  CHECK_FALSE(tutti::from_bytes<std::string>(std::span(bytes).first(bytes.size() - 1)));
  bytes.push_back(std::byte{0});
  CHECK_FALSE(tutti::from_bytes<std::string>(bytes));
  std::vector<std::byte> huge(8, std::byte{0xFF});
  CHECK_FALSE(tutti::from_bytes<std::string>(huge));
  CHECK_FALSE(tutti::from_bytes<std::vector<int>>(huge));
  STATIC_REQUIRE(tutti::serializable<order>);
  STATIC_REQUIRE(tutti::serializable<std::vector<std::optional<int>>>);
  STATIC_REQUIRE_FALSE(tutti::serializable<int*>);
  STATIC_REQUIRE_FALSE(tutti::serializable<std::map<int, int>>);
}

// ---- versions ---------------------------------------------------------------------------------

namespace {
/// Version 2 of the checkout: the same steps and a receipt at the end.
auto make_saga_v2(world& w) {
  return tutti::versioned<2>(tutti::workflow<"checkout">(
      tutti::step<"reserve">([&w](const order& o, const tutti::call_context& ctx) {
        ++w.calls["reserve"];
        w.keys.push_back(fmt::format("{}", ctx.key()));
        return std::string("hold-") + std::to_string(o.id);
      }).compensate_with([&w](const std::string&) { ++w.undos["reserve"]; }),
      tutti::step<"charge">([&w](tutti::from<"reserve", std::string> hold) -> tutti::result<int> {
        ++w.calls["charge"];
        return static_cast<int>(hold->size());
      }).compensate_with([&w](const int&) { ++w.undos["charge"]; }),
      tutti::pivot<"ship">([&w](tutti::from<"charge", int> amount) {
        ++w.calls["ship"];
        return *amount * 10;
      }),
      tutti::step<"receipt">([&w](tutti::from<"ship", int> shipped) {
        ++w.calls["receipt"];
        return *shipped + 1;
      }) | tutti::retry_forever{}));
}
}  // namespace

TEST_CASE("runs record their workflow's version and resume on it, and another version is refused",
          "[version]") {
  world w;
  const auto v1 = make_saga(w);
  const auto v2 = make_saga_v2(w);
  tutti::memory_journal j;
  const tutti::durable_workflow d1{v1, j};
  const tutti::durable_workflow d2{v2, j};
  STATIC_REQUIRE(decltype(d1)::version == 1);
  STATIC_REQUIRE(decltype(d2)::version == 2);
  // Two stranded runs (their engines died before claiming them), one per version.
  REQUIRE(j.start({1, 1}, "checkout", d1.identity<order>(), tutti::to_bytes(an_order)));
  REQUIRE(j.start({1, 2}, "checkout", d2.identity<order>(), tutti::to_bytes(an_order)));
  CHECK(j.load({1, 1}).value().summary.version == 1);
  CHECK(j.load({1, 2}).value().summary.version == 2);

  // A resume by the other version is refused, naming both, and the run is handed back.
  const auto refused = d2.resume<order>({1, 1});
  REQUIRE_FALSE(refused);
  CHECK(refused.error == tutti::journal_errc::fingerprint_mismatch);
  CHECK_THAT(refused.message, Catch::Contains("\"checkout\" version 1") &&
                                  Catch::Contains("\"checkout\" version 2"));
  CHECK(j.status({1, 1}).value() == tutti::run_status::running);
  CHECK(j.load({1, 1}).value().summary.owner.empty());

  // resume_all takes its own version's runs only: each version finishes its own.
  std::vector<tutti::run_id> by_2;
  CHECK(d2.resume_all<order>([&](const tutti::run_id& id, const auto& out) {
    CHECK(out);
    by_2.push_back(id);
  }).value() == 1);
  CHECK(by_2 == std::vector<tutti::run_id>{{1, 2}});
  CHECK(w.calls["receipt"] == 1);
  std::vector<tutti::run_id> by_1;
  CHECK(d1.resume_all<order>([&](const tutti::run_id& id, const auto&) { by_1.push_back(id); })
            .value() == 1);
  CHECK(by_1 == std::vector<tutti::run_id>{{1, 1}});
  CHECK(j.status({1, 1}).value() == tutti::run_status::succeeded);
  CHECK(w.calls["receipt"] == 1);  // version 1 has no receipt

  // New runs start on the version that starts them.
  const auto fresh = d2.run(an_order);
  REQUIRE(fresh);
  CHECK(fresh->value() == 71);  // "hold-42": 7 × 10, and the receipt
  CHECK(j.load(fresh->id()).value().summary.version == 2);
}

TEST_CASE("a run of another shape of the same version is parked once by resume_all, and an "
          "operator can move it to a version that finishes it",
          "[version]") {
  world w;
  const auto v1 = make_saga(w);
  const auto v2 = make_saga_v2(w);
  // A release that added "receipt" to version 1 without a new version: another shape.
  const auto v1_changed = tutti::workflow<"checkout">(
      tutti::step<"reserve">([](const order& o) { return std::to_string(o.id); }),
      tutti::step<"receipt">([](tutti::from<"reserve", std::string> r) { return r->size(); }));
  tutti::memory_journal j;
  const tutti::durable_workflow d1{v1, j};
  const tutti::durable_workflow changed{v1_changed, j};
  const auto first = d1.run(an_order);
  REQUIRE(first);
  j.truncate(first->id(), 5);  // died after reserve's result
  REQUIRE(j.status(first->id()).value() == tutti::run_status::running);

  int reported = 0;
  const auto n = changed.resume_all<order>([&](const tutti::run_id&, const auto& out) {
    ++reported;
    CHECK_FALSE(out);
    CHECK(out.error == tutti::journal_errc::fingerprint_mismatch);
  });
  CHECK(n.value() == 0);  // nothing resumed
  CHECK(reported == 1);
  const auto parked = j.load(first->id()).value();
  CHECK(parked.summary.status == tutti::run_status::dead_lettered);
  CHECK_THAT(parked.records.back().message, Catch::Contains("another shape of version 1"));
  // The next start-up does not claim it again.
  CHECK(changed.resume_all<order>([&](const tutti::run_id&, const auto&) { ++reported; }).value() == 0);
  CHECK(reported == 1);

  // Moved to version 2 (which has the same first steps): its journal is replayed there.
  w.reset_counts();
  REQUIRE(tutti::move_run(j, first->id(), 2, "v2 adds a receipt; compatible"));
  const tutti::durable_workflow d2{v2, j};
  const auto moved = d2.resume<order>(first->id());
  REQUIRE(moved);
  REQUIRE(moved->has_value());
  CHECK(w.calls["reserve"] == 0);  // restored from the journal
  CHECK(w.calls["charge"] == 1);
  CHECK(w.calls["receipt"] == 1);
  const auto done = j.load(first->id()).value();
  CHECK(done.summary.version == 2);
  CHECK(done.summary.status == tutti::run_status::succeeded);
}

namespace {
enum class tier : std::uint16_t { basic, gold };
struct money {
  std::int64_t cents = 0;
  std::string currency;
  template <class A>
  friend void serialize(A& ar, money& m) {
    ar(m.cents, m.currency);
  }
};
struct point {
  int x = 0, y = 0;
};
}  // namespace

TEST_CASE("a fingerprint covers each step's output type, described the same by every compiler",
          "[version]") {
  std::string t;
  tutti::detail::append_type<std::vector<std::optional<std::uint16_t>>>(t);
  CHECK(t == "vector<optional<u16>>");
  t.clear();
  tutti::detail::append_type<std::tuple<money, tier, std::pair<bool, double>>>(t);
  CHECK(t == "tuple<{i64,string},enum:u16,tuple<bool,f64>>");
  t.clear();
  tutti::detail::append_type<std::variant<point, std::array<float, 3>>>(t);
  CHECK(t == "variant<bytes8,array<f32,3>>");

  world w;
  const auto wf = make_saga(w);
  CHECK(tutti::shape_of<decltype(wf), order>() == "checkout(reserve~:string,charge~:i32,ship!:i32)");
  CHECK(tutti::shape_of<decltype(wf)>() == "checkout(reserve~,charge~,ship!)");
  // The same steps, "charge" now giving a 64-bit amount: the names agree, the types do not.
  const auto wider = tutti::workflow<"checkout">(
      tutti::step<"reserve">([](const order& o) { return std::to_string(o.id); })
          .compensate_with([](const std::string&) {}),
      tutti::step<"charge">([](tutti::from<"reserve", std::string> h) -> std::int64_t {
        return static_cast<std::int64_t>(h->size());
      }).compensate_with([](const std::int64_t&) {}),
      tutti::pivot<"ship">([](tutti::from<"charge", std::int64_t> a) { return static_cast<int>(*a); }));
  CHECK(tutti::fingerprint_of<decltype(wf)>() == tutti::fingerprint_of<decltype(wider)>());
  CHECK(tutti::fingerprint_of<decltype(wf), order>() != tutti::fingerprint_of<decltype(wider), order>());
  tutti::memory_journal j;
  const auto first = tutti::durable_workflow{wf, j}.run(an_order);
  REQUIRE(first);
  CHECK(j.load(first->id()).value().summary.fingerprint == tutti::fingerprint_of<decltype(wf), order>());
  j.truncate(first->id(), 5);
  const auto refused = tutti::durable_workflow{wider, j}.resume<order>(first->id());
  REQUIRE_FALSE(refused);
  CHECK(refused.error == tutti::journal_errc::fingerprint_mismatch);
  CHECK_THAT(refused.message, Catch::Contains("charge~:i64"));
  // A run an earlier tutti wrote, with the names-only fingerprint, still resumes.
  const tutti::durable_workflow d{wf, j};
  REQUIRE(j.start({3, 1}, "checkout", d.fingerprint(), tutti::to_bytes(an_order)));
  const auto legacy = d.resume<order>({3, 1});
  REQUIRE(legacy);
  CHECK(legacy->has_value());
}

// ---- business keys ----------------------------------------------------------------------------

TEST_CASE("a keyed workflow records each run's business key, and list finds the runs by it",
          "[search]") {
  world w;
  tutti::memory_journal j;
  // A data member pointer (an integer key) and a function (a text key).
  const auto by_id = tutti::keyed(make_saga(w), &order::id);
  const auto by_customer = tutti::keyed(make_saga(w), [](const order& o) { return "customer/" + o.customer; });
  const tutti::durable_workflow d{by_id, j};
  const tutti::durable_workflow dc{by_customer, j};
  // The key is no part of the shape: a keyed workflow resumes runs of the bare one.
  STATIC_REQUIRE(decltype(d)::version == 1);
  CHECK(d.fingerprint<order>() == tutti::durable_workflow<decltype(make_saga(w)), tutti::memory_journal>::fingerprint<order>());

  const tutti::run_id first_id{9, 1}, second_id{9, 2}, other_id{9, 3}, plain_id{9, 4};
  const auto first = d.run(order{8812, "ada"}, {.id = first_id});
  REQUIRE(first.run);
  CHECK(first.run->has_value());
  w.fail_charge = true;
  const auto second = d.run(order{8812, "ada"}, {.id = second_id});
  REQUIRE(second.run);
  CHECK_FALSE(second.run->has_value());
  w.fail_charge = false;
  const auto other = dc.run(order{9, "grace"}, {.id = other_id});
  REQUIRE(other.run);
  const auto queued = d.submit(order{77, "alan"});
  REQUIRE(queued);

  tutti::run_filter f;
  f.key = "8812";
  const auto found = j.list(f).value();
  REQUIRE(found.size() == 2);
  CHECK(found[0].key == "8812");
  std::set<tutti::run_id> ids{found[0].id, found[1].id};
  CHECK(ids == std::set<tutti::run_id>{first_id, second_id});
  f.status = tutti::run_status::compensated;
  const auto failed = j.list(f).value();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].id == second_id);
  CHECK(failed[0].failed_step == "charge");
  CHECK(failed[0].error_category == "tutti");
  CHECK(failed[0].error_value == static_cast<int>(tutti::errc::step_failed));
  CHECK(j.load(other_id).value().summary.key == "customer/grace");
  CHECK(j.load(queued.value().id).value().summary.key == "77");
  // An unkeyed workflow records no key.
  const auto bare = make_saga(w);
  const tutti::durable_workflow db{bare, j};
  const auto plain = db.run(order{1, "x"}, {.id = plain_id});
  REQUIRE(plain.run);
  CHECK(j.load(plain_id).value().summary.key.empty());
}

TEST_CASE("keyed and versioned compose in either order", "[search][version]") {
  world w;
  tutti::memory_journal j;
  const auto a = tutti::versioned<3>(tutti::keyed(make_saga(w), &order::customer));
  const auto b = tutti::keyed(tutti::versioned<3>(make_saga(w)), &order::customer);
  const tutti::durable_workflow da{a, j};
  const tutti::durable_workflow dbv{b, j};
  STATIC_REQUIRE(decltype(da)::version == 3);
  STATIC_REQUIRE(decltype(dbv)::version == 3);
  REQUIRE(da.run(order{1, "ada"}, {.id = tutti::run_id{10, 1}}).run);
  REQUIRE(dbv.run(order{2, "bob"}, {.id = tutti::run_id{10, 2}}).run);
  const auto sa = j.load(tutti::run_id{10, 1}).value().summary;
  const auto sb = j.load(tutti::run_id{10, 2}).value().summary;
  CHECK(sa.key == "ada");
  CHECK(sa.version == 3);
  CHECK(sb.key == "bob");
  CHECK(sb.version == 3);
}

TEST_CASE("a run's failure is the step its failure ended at, not a failure it survived",
          "[search]") {
  tutti::memory_journal j;
  bool charge_fails = true;
  // An optional branch fails first (the group survives it); then charge fails and ends the run.
  const auto wf = tutti::workflow<"order">(
      tutti::parallel<"enrich">(tutti::optional_branch(tutti::step<"score">(
          [](const order&) -> tutti::result<int> { return tutti::errc::circuit_open; }))),
      tutti::step<"charge">([&charge_fails](const order& o) -> tutti::result<int> {
        if (charge_fails) return std::make_error_code(std::errc::connection_refused);
        return o.id;
      }));
  const tutti::durable_workflow d{wf, j};
  REQUIRE(d.run(order{1, "ada"}, {.id = tutti::run_id{11, 1}}).run);
  const auto failed = j.load(tutti::run_id{11, 1}).value();
  CHECK(failed.summary.status == tutti::run_status::failed);
  CHECK(failed.summary.failed_step == "charge");
  CHECK(failed.summary.error_category == std::generic_category().name());
  CHECK(failed.summary.error_value == static_cast<int>(std::errc::connection_refused));
  // The branch's failure is in the journal all the same (the run survived it).
  CHECK(std::any_of(failed.records.begin(), failed.records.end(), [](const auto& r) {
    return r.kind == tutti::record_kind::step_finished && !r.ok && r.step == "enrich/score";
  }));
  tutti::run_filter f;
  f.failed_step = "enrich/score";
  CHECK(j.list(f).value().empty());
  // A run that survives the same branch failure and succeeds has no failure.
  charge_fails = false;
  REQUIRE(d.run(order{2, "bob"}, {.id = tutti::run_id{11, 2}}).run);
  const auto ok = j.load(tutti::run_id{11, 2}).value().summary;
  CHECK(ok.status == tutti::run_status::succeeded);
  CHECK(ok.failed_step.empty());
}
