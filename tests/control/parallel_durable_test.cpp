// Parallel groups and conditional steps in journaled runs: each branch is journaled under its
// own path ("group/branch"), a resume restores the finished branches and calls only the others.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>

#include <catch2/catch.hpp>

#include "support/journal_copy.hpp"

#include <atomic>
#include <condition_variable>
#include <stop_token>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace {

using tutti::from;
using tutti::step;

/// What the services saw, across every incarnation of a run.
struct world {
  std::mutex m;
  std::map<std::string, int> calls;
  std::map<std::string, int> undos;
  bool fail_c = false;
  void call(const std::string& s) {
    const std::lock_guard lock{m};
    ++calls[s];
  }
  void undo(const std::string& s) {
    const std::lock_guard lock{m};
    ++undos[s];
  }
  int calls_of(const std::string& s) {
    const std::lock_guard lock{m};
    return calls[s];
  }
  int undos_of(const std::string& s) {
    const std::lock_guard lock{m};
    return undos[s];
  }
  void reset() {
    const std::lock_guard lock{m};
    calls.clear();
    undos.clear();
  }
};

template <class E>
auto make_flow(world& w, E& exec) {
  return tutti::workflow<"order">(
      step<"reserve">([&w](int x) {
        w.call("reserve");
        return x;
      }).compensate_with([&w](int) { w.undo("reserve"); }),
      tutti::parallel<"g">(
          exec,
          step<"a">([&w](from<"reserve", int> r) {
            w.call("a");
            return *r + 1;
          }).compensate_with([&w](int) { w.undo("a"); }),
          step<"b">([&w](from<"reserve", int> r) {
            w.call("b");
            return std::to_string(*r);
          }).compensate_with([&w](const std::string&) { w.undo("b"); }),
          step<"c">([&w]() -> tutti::result<int> {
            w.call("c");
            if (w.fail_c) return tutti::errc::step_failed;
            return 3;
          })),
      tutti::when([](from<"reserve", int> r) { return *r > 10; },
                  step<"big">([&w] {
                    w.call("big");
                    return 1;
                  })),
      tutti::pivot<"ship">([&w](from<"g", std::tuple<int, std::string, int>> g) {
        w.call("ship");
        return std::get<0>(*g) + std::get<2>(*g);
      }));
}

template <class E>
void check_every_cut(E& exec) {
  for (const bool fail : {false, true}) {
    world w;
    w.fail_c = fail;
    const auto wf = make_flow(w, exec);
    tutti::memory_journal reference;
    const auto full = tutti::durable_workflow{wf, reference}.run(20);
    REQUIRE(full);
    REQUIRE(full->has_value() == !fail);
    const std::size_t n = reference.load(full->id()).value().records.size();
    for (std::size_t cut = 1; cut < n; ++cut) {
      INFO("c fails: " << fail << ", journal cut after record " << cut << " of " << n);
      tutti::memory_journal j;
      tutti::durable_workflow durable{wf, j};
      w.reset();
      const auto first = durable.run(20, {.id = tutti::run_id{9, cut}});
      REQUIRE(first);
      // On a pool, how many branches start before a failure cancels the others varies from run
      // to run, and with it the number of records: a cut at or past this run's end is no crash.
      if (cut >= j.load(first->id()).value().records.size()) continue;
      j.truncate(first->id(), cut);
      const auto plan = tutti::plan_of(j.load(first->id()).value());
      w.reset();
      const auto resumed = durable.template resume<int>(first->id());
      REQUIRE(resumed);
      CHECK(resumed->outcome() == full->outcome());
      if (!fail) CHECK(resumed->value() == 24);
      for (const char* s : {"reserve", "g/a", "g/b", "g/c", "big", "ship"}) {
        const auto it = plan.steps.find(s);
        const bool finished = it != plan.steps.end() && (it->second.succeeded || it->second.failed);
        const bool began = it != plan.steps.end() && it->second.attempts > 0;
        const std::string name = std::string{s}.substr(std::string{s}.find('/') + 1);
        INFO("step " << s);
        // A finished step or branch is restored, not called; one begun without an end is
        // called again (its effect may have landed); the others run once at most.
        if (finished) CHECK(w.calls_of(name) == 0);
        else if (began) CHECK(w.calls_of(name) == 1);
        else CHECK(w.calls_of(name) <= 1);
      }
      for (const char* s : {"reserve", "g/a", "g/b"}) {
        const auto it = plan.steps.find(s);
        const bool undone = it != plan.steps.end() && it->second.compensated;
        const bool succeeded = it != plan.steps.end() && it->second.succeeded;
        const std::string name = std::string{s}.substr(std::string{s}.find('/') + 1);
        INFO("compensation of " << s << " (in the journal: succeeded " << succeeded
                                   << "; calls on resume: " << w.calls_of(name) << ")");
        // Every success of a failed run is undone once: one the journal kept, or one of the
        // resumed run. On a pool a branch that had not started when "c" failed never starts
        // (nothing to undo), so what the resumed run called decides.
        if (undone) CHECK(w.undos_of(name) == 0);
        else CHECK(w.undos_of(name) == (fail && (succeeded || w.calls_of(name) == 1) ? 1 : 0));
      }
    }
  }
}

}  // namespace

TEST_CASE("a journaled group on the inline executor resumes after a cut at every record") {
  check_every_cut(tutti::detail::shared_executor<tutti::inline_executor>());
}

TEST_CASE("a journaled group on a thread pool resumes after a cut at every record") {
  tutti::thread_pool pool{3};
  check_every_cut(pool);
}

TEST_CASE("branches are journaled under group/branch paths and a skipped step is restored as skipped") {
  world w;
  auto& exec = tutti::detail::shared_executor<tutti::inline_executor>();
  const auto wf = make_flow(w, exec);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(5);  // "big" is skipped: 5 <= 10
  REQUIRE(r);
  REQUIRE(r->has_value());
  CHECK(r->report().step("big").status == tutti::step_status::skipped);
  const auto stored = j.load(r->id()).value();
  std::map<std::string, int> finished;
  for (const auto& rec : stored.records)
    if (rec.kind == tutti::record_kind::step_finished) ++finished[rec.step];
  for (const char* s : {"reserve", "g/a", "g/b", "g/c", "g", "big", "ship"}) {
    INFO(s);
    CHECK(finished[s] == 1);
  }
  // Cut before "ship": the skipped step comes back skipped, without asking its condition's step.
  const auto plan = tutti::plan_of(stored);
  std::size_t cut = 0;
  for (std::size_t i = 0; i < stored.records.size(); ++i)
    if (stored.records[i].kind == tutti::record_kind::step_finished && stored.records[i].step == "big")
      cut = i + 1;
  REQUIRE(cut > 0);
  tutti::memory_journal j2;
  tutti::durable_workflow d2{wf, j2};
  const auto first = d2.run(5, {.id = tutti::run_id{3, 3}});
  REQUIRE(first);
  j2.truncate(first->id(), cut);
  w.reset();
  const auto resumed = d2.resume<int>(first->id());
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(resumed->report().step("big").status == tutti::step_status::skipped);
  CHECK(resumed->report().step("big").restored);
  CHECK(w.calls_of("big") == 0);
  CHECK(w.calls_of("ship") == 1);
}

TEST_CASE("a resumed group undoes the branches it finished before, even when decided before they are restored") {
  // The journal of a crashed run: "a" and "b" finished, "c" never started. On the resume "c"
  // runs first and fails (the group is decided before "a" and "b" come back from the journal):
  // both are still restored and undone, last first.
  world w;
  auto& inline_exec = tutti::detail::shared_executor<tutti::inline_executor>();
  const auto wf = tutti::workflow<"order">(
      tutti::parallel<"g">(
          inline_exec,
          step<"c">([&w]() -> tutti::result<int> {
            w.call("c");
            if (w.fail_c) return tutti::errc::step_failed;
            return 3;
          }),
          step<"a">([&w](int x) {
            w.call("a");
            return x + 1;
          }).compensate_with([&w](int) { w.undo("a"); }),
          step<"b">([&w](int x) {
            w.call("b");
            return std::to_string(x);
          }).compensate_with([&w](const std::string&) { w.undo("b"); })));
  tutti::memory_journal reference;
  const auto full = tutti::durable_workflow{wf, reference}.run(20);
  REQUIRE(full);
  REQUIRE(full->has_value());
  const tutti::stored_run stored = reference.load(full->id()).value();
  tutti::memory_journal j;
  // The same run without "c"'s records and without the group's end (nor anything after it).
  support::copy_run(j, stored, support::before_end_of("g", "g/c"));
  const auto plan = tutti::plan_of(j.load(full->id()).value());
  REQUIRE(plan.steps.at("g/a").succeeded);
  REQUIRE(plan.steps.at("g/b").succeeded);
  REQUIRE(plan.steps.count("g/c") == 0);
  w.reset();
  w.fail_c = true;
  const auto resumed = tutti::durable_workflow{wf, j}.resume<int>(full->id());
  REQUIRE(resumed);
  CHECK(resumed->outcome() == tutti::run_outcome::compensated);
  CHECK(w.calls_of("c") == 1);
  CHECK(w.calls_of("a") == 0);  // restored, not called
  CHECK(w.calls_of("b") == 0);
  CHECK(w.undos_of("a") == 1);
  CHECK(w.undos_of("b") == 1);
}

TEST_CASE("a resumed hedge starts a hedged copy an earlier incarnation finished, and undoes it") {
  // The journal of a crashed run: both copies finished, the group did not. Resumed, "a" comes
  // back first and wins; "b" is not due any more, but it ran: restored, and undone as a loser.
  tutti::thread_pool pool{2};
  world w;
  const auto copy = [&w](const char* name) {
    return [&w, name]() {
      w.call(name);
      return 1;
    };
  };
  const auto wf = tutti::workflow<"order">(tutti::hedge<"g">(
      pool, std::chrono::hours(1),
      step<"a">(copy("a")).compensate_with([&w](int) { w.undo("a"); }),
      step<"b">(copy("b")).compensate_with([&w](int) { w.undo("b"); })));
  // Both copies' records, as a group running both would write them.
  const auto both = tutti::workflow<"order">(tutti::parallel<"g">(
      pool, step<"a">([] { return 1; }).compensate_with([](int) {}),
      step<"b">([] { return 1; }).compensate_with([](int) {})));
  tutti::memory_journal reference;
  const auto full = tutti::durable_workflow{both, reference}.run(0);
  REQUIRE(full);
  tutti::stored_run stored = reference.load(full->id()).value();
  stored.summary.fingerprint = tutti::durable_workflow<decltype(wf), tutti::memory_journal>::fingerprint<int>();
  tutti::memory_journal j;
  support::copy_run(j, stored, support::before_end_of("g", ""));
  const auto resumed = tutti::durable_workflow{wf, j}.resume<int>(full->id());
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(w.calls_of("a") == 0);  // both restored, not called
  CHECK(w.calls_of("b") == 0);
  CHECK(w.undos_of("a") == 0);  // the winner is the group's output
  CHECK(w.undos_of("b") == 1);  // the loser is undone
}

TEST_CASE("a resumed first_of keeps the branch that won, not one that was undone") {
  // The first incarnation: "fast" wins on the inline executor order below only because "slow"
  // fails first; "slow" is then not a candidate. To get a loser that succeeded and was undone,
  // run on a pool where "slow" succeeds after "fast" won.
  tutti::thread_pool pool{2};
  std::atomic<bool> fast_done{false};
  std::atomic<bool> slow_started{false};
  std::atomic<int> slow_undone{0};
  const auto wf = tutti::workflow<"w">(
      tutti::first_of<"g">(pool,
                           step<"slow">([&](std::stop_token token) {
                             slow_started.store(true, std::memory_order_release);
                             slow_started.notify_all();
                             // Asked to stop once "fast" won; succeeds anyway: undone.
                             std::mutex m;
                             std::condition_variable_any cv;
                             std::unique_lock lock{m};
                             (void)cv.wait(lock, token, [] { return false; });
                             return 1;
                           }).compensate_with([&](int) { ++slow_undone; }),
                           step<"fast">([&] {
                             // Wins only once "slow" has started (else "slow" would be
                             // cancelled before it starts, and never undone).
                             slow_started.wait(false, std::memory_order_acquire);
                             fast_done.store(true, std::memory_order_release);
                             fast_done.notify_all();
                             return 2;
                           }).compensate_with([](int) {})),
      step<"use">([](from<"g", int> v) { return *v * 10; }));
  for (int i = 0; i < 20; ++i) {
    fast_done.store(false);
    slow_started.store(false);
    slow_undone = 0;
    tutti::memory_journal j;
    tutti::durable_workflow durable{wf, j};
    const auto first = durable.run(0, {.id = tutti::run_id{5, static_cast<std::uint64_t>(i)}});
    REQUIRE(first);
    REQUIRE(first->value() == 20);
    REQUIRE(slow_undone == 1);
    // Cut after the group's own record: both branches come back from the journal at once.
    const auto stored = j.load(first->id()).value();
    std::size_t cut = 0;
    for (std::size_t k = 0; k < stored.records.size(); ++k)
      if (stored.records[k].kind == tutti::record_kind::step_finished && stored.records[k].step == "g")
        cut = k + 1;
    REQUIRE(cut > 0);
    j.truncate(first->id(), cut);
    fast_done.store(true);  // nothing may block now: nothing is called again
    const auto resumed = durable.resume<int>(first->id());
    REQUIRE(resumed);
    REQUIRE(resumed->has_value());
    CHECK(resumed->value() == 20);  // "fast" again, never the undone "slow"
    CHECK(slow_undone == 1);
  }
}

TEST_CASE("a resumed choice runs the case it chose, without asking its selector again") {
  std::atomic<int> asked{0};
  std::atomic<int> courier{0}, post{0};
  const auto wf = tutti::workflow<"w">(
      tutti::choose<"ship">([&] { return static_cast<std::size_t>(asked++ % 2); },
                            step<"courier">([&] {
                              ++courier;
                              return 1;
                            }),
                            step<"post">([&] {
                              ++post;
                              return 2;
                            })),
      step<"done">([](from<"ship", int> v) { return *v; }));
  tutti::memory_journal reference;
  const auto full = tutti::durable_workflow{wf, reference}.run(0);
  REQUIRE(full);
  const std::size_t n = reference.load(full->id()).value().records.size();
  for (std::size_t cut = 1; cut < n; ++cut) {
    INFO("cut after record " << cut);
    tutti::memory_journal j;
    tutti::durable_workflow durable{wf, j};
    asked = 0, courier = 0, post = 0;
    const auto first = durable.run(0, {.id = tutti::run_id{6, cut}});  // asks once: case 0
    REQUIRE(first);
    j.truncate(first->id(), cut);
    const auto plan = tutti::plan_of(j.load(first->id()).value());
    // The choice is bound once its case has a record (its first attempt's start) or the choice
    // finished; before that nothing was called, and asking the selector again is safe.
    const auto it = plan.steps.find("ship");
    const bool chose = plan.steps.count("ship/courier") != 0 ||
                       (it != plan.steps.end() && it->second.succeeded);
    const auto resumed = durable.resume<int>(first->id());
    REQUIRE(resumed);
    REQUIRE(resumed->has_value());
    // Once bound, the resumed run keeps "courier" (case 0) although the selector would now
    // answer 1.
    if (chose) CHECK(resumed->value() == 1);
    CHECK(post == (chose ? 0 : 1));
  }
}

TEST_CASE("a first_of journals the branches it kept, and a resume reads them back") {
  const auto wf = tutti::workflow<"w">(
      tutti::first_of<"g">(step<"fast">([] { return 2; }), step<"slow">([] { return 1; })),
      step<"use">([](from<"g", int> v) { return *v * 10; }));
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(0, {.id = tutti::run_id{8, 1}});
  REQUIRE(first);
  REQUIRE(first->value() == 20);
  const auto stored = j.load(first->id()).value();
  std::size_t cut = 0;
  for (std::size_t k = 0; k < stored.records.size(); ++k)
    if (stored.records[k].kind == tutti::record_kind::step_finished && stored.records[k].step == "g")
      cut = k + 1;
  REQUIRE(cut > 0);
  j.truncate(first->id(), cut);
  const auto plan = tutti::plan_of(j.load(first->id()).value());
  REQUIRE(plan.steps.count("g") == 1);
  // Bit 0: "fast" was kept.
  CHECK(tutti::from_bytes<std::uint64_t>(plan.steps.at("g").payload).value() == 1u);
  const auto resumed = durable.resume<int>(first->id());
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(resumed->value() == 20);
  CHECK(resumed->report().step("g").restored == false);  // a group is entered again
}
