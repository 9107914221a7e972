// Parallel groups and conditional steps in journaled runs: each branch is journaled under its
// own path ("group/branch"), a resume restores the finished branches and calls only the others.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>

#include <catch2/catch.hpp>

#include <atomic>
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
        const std::string name = std::string{s}.substr(std::string{s}.find('/') + 1);
        INFO("step " << s);
        // A finished step or branch is restored, not called; the others run once at most.
        if (finished) CHECK(w.calls_of(name) == 0);
        else CHECK(w.calls_of(name) <= 1);
      }
      for (const char* s : {"reserve", "g/a", "g/b"}) {
        const auto it = plan.steps.find(s);
        const bool undone = it != plan.steps.end() && it->second.compensated;
        const std::string name = std::string{s}.substr(std::string{s}.find('/') + 1);
        INFO("compensation of " << s);
        if (undone) CHECK(w.undos_of(name) == 0);
        else CHECK(w.undos_of(name) == (fail ? 1 : 0));
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
