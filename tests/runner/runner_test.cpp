// The durable request queue and tutti::runner on the in-memory journal: submission with no
// runner up, dedup, partitions (FIFO, exclusive), priority, a bounded queue; the runner claims,
// runs, takes over stranded runs, applies operator commands on live runs, dead-letters, drains,
// reports stuck runs and its metrics.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/runner.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include "support/eventually.hpp"
#include "support/journal_forwarding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct job {
  std::string partition;
  int n = 0;
  template <class A>
  friend void serialize(A& ar, job& j) {
    ar(j.partition, j.n);
  }
};

/// The order in which jobs ran, per partition, and how often each key was called.
struct trace {
  std::mutex m;
  std::map<std::string, std::vector<int>> order;
  std::map<std::string, int> calls;
  std::vector<int> all;
  int concurrent = 0, most_concurrent = 0;
  void ran(const job& j, const tutti::call_context& ctx) {
    const std::lock_guard lock{m};
    order[j.partition].push_back(j.n);
    all.push_back(j.n);
    ++calls[fmt::format("{}", ctx.key())];
  }
};

auto make_jobs(trace& t) {
  return tutti::workflow<"jobs">(
      tutti::step<"work">([&t](const job& j, const tutti::call_context& ctx) {
        t.ran(j, ctx);
        return j.n;
      }),
      tutti::step<"done">([](tutti::from<"work", int> n) { return *n + 1; }));
}

using support::eventually;

}  // namespace

TEST_CASE("submit records requests with no runner up, dedup returns the first run",
          "[runner][queue]") {
  tutti::memory_journal j{{.max_queued = 3}};
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, j};
  const auto a = durable.submit(job{"p", 1}, {.dedup_key = "order-1"});
  REQUIRE(a);
  CHECK(a.value().created);
  const auto again = durable.submit(job{"p", 99}, {.dedup_key = "order-1"});
  REQUIRE(again);
  CHECK_FALSE(again.value().created);
  CHECK(again.value().id == a.value().id);
  CHECK(j.status(a.value().id).value() == tutti::run_status::queued);
  REQUIRE(durable.submit(job{"p", 2}));
  REQUIRE(durable.submit(job{"p", 3}));
  const auto full = durable.submit(job{"p", 4});
  CHECK(full.error() == tutti::journal_errc::queue_full);
  CHECK(j.queue_depth().value() == 3);
  CHECK(t.all.empty());  // nothing ran
  // A queued request can be cancelled (resolved) by an operator: it never runs.
  REQUIRE(tutti::resolve_run(j, a.value().id, "cancelled by the customer"));
  CHECK(j.queue_depth().value() == 2);
  REQUIRE(durable.submit(job{"p", 4}));
}

TEST_CASE("claims follow priority, FIFO within a partition, one at a time in an exclusive one",
          "[runner][queue]") {
  tutti::memory_journal j;
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, j};
  REQUIRE(durable.submit(job{"a", 1}, {.partition = "a", .exclusive = true}));
  REQUIRE(durable.submit(job{"a", 2}, {.partition = "a", .exclusive = true, .priority = 9}));
  REQUIRE(durable.submit(job{"b", 3}, {.partition = "b"}));
  REQUIRE(durable.submit(job{"b", 4}, {.partition = "b"}));
  REQUIRE(durable.submit(job{"", 5}, {.priority = 5}));
  const tutti::lease_request lease{.owner = "test#1"};
  const auto first = j.claim_next("jobs", 10, lease).value();
  // The unpartitioned priority 5, then a/1 (a/2's priority waits behind its partition's head),
  // then b/3; b/4 too (b is not exclusive, and b/3 is no longer queued); a/2 must wait for a/1.
  std::vector<int> got;
  for (const auto& c : first) {
    const auto in = tutti::from_bytes<job>(j.load(c.id).value().input).value();
    got.push_back(in.n);
    CHECK(c.from_queue);
    CHECK(c.epoch == 1);
  }
  CHECK(got == std::vector<int>{5, 1, 3, 4});
  CHECK(j.claim_next("jobs", 10, lease).value().empty());
  // a/1 ends: a/2 may go.
  const tutti::run_id a1 = first[1].id;
  tutti::record_view fin;
  fin.kind = tutti::record_kind::run_finished;
  fin.epoch = 1;
  REQUIRE(j.append(a1, fin));
  const auto next = j.claim_next("jobs", 10, lease).value();
  REQUIRE(next.size() == 1);
  CHECK(tutti::from_bytes<job>(j.load(next[0].id).value().input).value().n == 2);
}

TEST_CASE("a runner runs queued requests once each, in order within their partition",
          "[runner][queue][takeover]") {
  tutti::memory_journal j;
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, j};
  constexpr int per_partition = 50;
  for (int i = 0; i < per_partition; ++i)
    for (const char* p : {"x", "y", "z"})
      REQUIRE(durable.submit(job{p, i}, {.partition = p, .exclusive = true}));
  tutti::thread_pool pool{4};
  std::atomic<int> claimed{0};
  {
    tutti::runner r1{j, pool, {.name = "r1", .poll = 1ms}};
    tutti::runner r2{j, pool, {.name = "r2", .poll = 1ms}};
    r1.host<job>(wf, 4);
    r2.host<job>(wf, 4);
    r1.on_event([&](const tutti::runner_event& e) {
      if (e.kind == tutti::runner_event_kind::claimed) ++claimed;
    });
    r1.start();
    r2.start();
    REQUIRE(eventually([&] { return j.queue_depth().value() == 0; }));
    REQUIRE(r1.wait_idle(10s));
    REQUIRE(r2.wait_idle(10s));
    r1.stop();
    r2.stop();
    CHECK(r1.stats().claims + r2.stats().claims == 3 * per_partition);
    CHECK(r1.stats().claims == static_cast<std::uint64_t>(claimed.load()));
  }
  for (const char* p : {"x", "y", "z"}) {
    std::vector<int> expected(per_partition);
    for (int i = 0; i < per_partition; ++i) expected[static_cast<std::size_t>(i)] = i;
    CHECK(t.order[p] == expected);
  }
  for (const auto& [key, n] : t.calls) CHECK(n == 1);
  tutti::run_filter succeeded;
  succeeded.status = tutti::run_status::succeeded;
  const auto done = j.list(succeeded).value();
  CHECK(done.size() == 3 * per_partition);
}

TEST_CASE("a runner takes over a run whose engine died, and parks one that keeps dying",
          "[runner][takeover]") {
  tutti::testing::manual_clock store;
  tutti::memory_journal j{{.lease_clock = tutti::any_clock{store}}};
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, j};
  const auto sub = durable.submit(job{"", 7});
  REQUIRE(sub);
  const auto id = sub.value().id;
  // An engine claims it and dies (it never writes again).
  REQUIRE(j.claim(id, {.owner = "dead#1", .lease = 1000ms}));
  tutti::thread_pool pool{1};
  tutti::runner r{j, pool, {.name = "r", .lease = 1000ms, .max_recoveries = 1,
                            .lease_clock = tutti::any_clock{store}}};
  r.host<job>(wf, 2);
  std::vector<tutti::runner_event_kind> seen;
  std::mutex m;
  r.on_event([&](const tutti::runner_event& e) {
    const std::lock_guard lock{m};
    seen.push_back(e.kind);
  });
  CHECK(r.poll_once() == 0);  // its lease is live
  store.advance(1001ms);
  CHECK(r.poll_once() == 1);
  REQUIRE(r.wait_idle(10s));
  CHECK(j.status(id).value() == tutti::run_status::succeeded);
  CHECK(r.stats().takeovers == 1);
  CHECK(t.calls.size() == 1);

  // A run whose engines die again and again is dead-lettered with its history.
  REQUIRE(j.start({9, 9}, "jobs", durable.fingerprint(), tutti::to_bytes(job{"", 8}),
                  {.owner = "dead#1", .lease = 10ms}));
  store.advance(11ms);
  REQUIRE(j.claim({9, 9}, {.owner = "dead#2", .lease = 10ms}));  // recovery 1, dies too
  store.advance(11ms);
  CHECK(r.poll_once() == 1);  // recovery 2 > max_recoveries 1: parked, not run
  CHECK(j.status({9, 9}).value() == tutti::run_status::dead_lettered);
  CHECK(r.stats().dead_letters == 1);
  CHECK(t.calls.size() == 1);
  // An operator retries it: it runs once more.
  REQUIRE(tutti::retry_run(j, {9, 9}));
  CHECK(r.poll_once() == 1);
  REQUIRE(r.wait_idle(10s));
  CHECK(j.status({9, 9}).value() == tutti::run_status::succeeded);
  const std::lock_guard lock{m};
  CHECK(std::count(seen.begin(), seen.end(), tutti::runner_event_kind::took_over) == 2);
  CHECK(std::count(seen.begin(), seen.end(), tutti::runner_event_kind::resumed) == 1);  // revived
  CHECK(std::count(seen.begin(), seen.end(), tutti::runner_event_kind::dead_lettered) == 1);
}

TEST_CASE("a runner applies pause, unpause and resolve to live runs at step boundaries",
          "[runner]") {
  tutti::memory_journal j;
  std::mutex m;
  std::condition_variable cv;
  int step_a = 0;
  bool go = false;
  int step_b = 0;
  const auto wf = tutti::workflow<"two">(
      tutti::step<"a">([&](const int& x) {
        std::unique_lock lock{m};
        ++step_a;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
        go = false;
        return x;
      }),
      tutti::step<"b">([&](tutti::from<"a", int> x) {
        const std::lock_guard lock{m};
        ++step_b;
        return *x;
      }));
  const tutti::durable_workflow durable{wf, j};
  tutti::thread_pool pool{2};
  tutti::runner r{j, pool, {.name = "r", .poll = 1ms}};
  r.host<int>(wf, 2);
  r.start();
  const auto id = durable.submit(1).value().id;
  {
    std::unique_lock lock{m};
    REQUIRE(cv.wait_for(lock, 10s, [&] { return step_a == 1; }));
  }
  REQUIRE(tutti::pause_run(j, id));
  {
    const std::lock_guard lock{m};
    go = true;
    cv.notify_all();
  }
  REQUIRE(eventually([&] { return r.in_flight() == 0; }));
  CHECK(j.status(id).value() == tutti::run_status::paused);
  CHECK(step_b == 0);  // stopped before b
  CHECK(j.load(id).value().summary.owner.empty());  // handed back
  REQUIRE(tutti::unpause_run(j, id));  // the runner claims it again and finishes it
  REQUIRE(eventually([&] { return j.status(id).value() == tutti::run_status::succeeded; }));
  CHECK(step_a == 1);
  CHECK(step_b == 1);

  // Resolve of a live run: it stops at its next write, b is never called.
  const auto id2 = durable.submit(2).value().id;
  {
    std::unique_lock lock{m};
    REQUIRE(cv.wait_for(lock, 10s, [&] { return step_a == 2; }));
  }
  REQUIRE(tutti::resolve_run(j, id2, "done by hand"));
  {
    const std::lock_guard lock{m};
    go = true;
    cv.notify_all();
  }
  REQUIRE(eventually([&] { return r.stats().fenced == 1; }));
  r.stop();
  CHECK(j.status(id2).value() == tutti::run_status::resolved);
  CHECK(step_b == 1);
}

TEST_CASE("a runner drains on stop: in-flight runs finish, or are handed back", "[runner]") {
  tutti::memory_journal j;
  std::atomic<int> calls{0};
  std::atomic<bool> release{false};
  const auto wf = tutti::workflow<"slow">(
      tutti::step<"wait">([&] {
        ++calls;
        while (!release.load()) std::this_thread::sleep_for(1ms);
        return 1;
      }),
      tutti::step<"after">([](tutti::from<"wait", int> x) { return *x; }));
  const tutti::durable_workflow durable{wf, j};
  tutti::thread_pool pool{1};
  const auto id = durable.submit(tutti::unit{}).value().id;
  {
    tutti::runner r{j, pool, {.name = "drain", .poll = 1ms, .drain_timeout = 0ms}};
    r.host<tutti::unit>(wf, 1);
    r.start();
    REQUIRE(eventually([&] { return calls.load() == 1; }));
    std::thread releaser([&] {
      std::this_thread::sleep_for(20ms);  // stop() has begun: the run is told to hand back
      release = true;
    });
    r.stop();  // returns once the run stopped at its next step boundary
    releaser.join();
    CHECK(r.stats().handed_back == 1);
  }
  const auto run = j.load(id).value();
  CHECK(run.summary.status == tutti::run_status::running);
  CHECK(run.summary.owner.empty());
  CHECK(run.records.back().kind == tutti::record_kind::released);
  // Another runner continues it: "wait" is not called again.
  tutti::runner r2{j, pool, {.name = "next", .poll = 1ms}};
  r2.host<tutti::unit>(wf, 1);
  CHECK(r2.poll_once() == 1);
  REQUIRE(r2.wait_idle(10s));
  CHECK(j.status(id).value() == tutti::run_status::succeeded);
  CHECK(calls.load() == 1);
}

TEST_CASE("a runner reports stuck runs and its metrics", "[runner]") {
  tutti::testing::manual_clock store;
  tutti::memory_journal j{{.lease_clock = tutti::any_clock{store}}};
  REQUIRE(j.start({1, 1}, "unhosted", 1, {}, {.owner = "gone#1", .lease = 100ms}));
  tutti::thread_pool pool{1};
  tutti::runner r{j, pool, {.name = "r", .stuck_after = 1s, .stuck_check_every = 0ms,
                            .lease_clock = tutti::any_clock{store}}};
  std::vector<std::string> stuck;
  r.on_event([&](const tutti::runner_event& e) {
    if (e.kind == tutti::runner_event_kind::stuck) stuck.emplace_back(e.message);
  });
  r.poll_once();
  CHECK(stuck.empty());
  store.advance(1200ms);
  r.poll_once();
  r.poll_once();  // reported once per run and epoch
  REQUIRE(stuck.size() == 1);
  CHECK_THAT(stuck[0], Catch::Contains("gone#1"));
  std::string text;
  r.write_prometheus(text);
  CHECK_THAT(text, Catch::Contains("tutti_runner_stuck_total 1"));
  CHECK_THAT(text, Catch::Contains("tutti_runner_queue_depth 0"));
  CHECK_THAT(text, Catch::Contains("tutti_runner_claims_total 0"));
}

namespace {
/// A memory journal that goes down when an attempt_started append fails (`fail_starts` of
/// them do): while `down`, releases, claims and renewals fail with io_error too, as a store that
/// cannot be reached; the test brings it back.
struct flaky_journal : support::journal_forwarding<flaky_journal> {
  tutti::memory_journal& inner;
  std::atomic<int> fail_starts{0};
  std::atomic<bool> down{false};
  explicit flaky_journal(tutti::memory_journal& j) : inner(j) {}
  tutti::memory_journal& target() { return inner; }
  const tutti::memory_journal& target() const { return inner; }
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& r) {
    if (down) return tutti::journal_errc::io_error;
    if (r.kind == tutti::record_kind::attempt_started && fail_starts.fetch_sub(1) > 0) {
      down = true;
      return tutti::journal_errc::io_error;
    }
    return inner.append(id, r);
  }
  tutti::result<void> release(const tutti::run_id& id, std::uint64_t epoch) {
    if (down) return tutti::journal_errc::io_error;
    return inner.release(id, epoch);
  }
  tutti::result<std::vector<tutti::run_claim>> claim_next(std::string_view wf, std::size_t max,
                                                          const tutti::lease_request& l) {
    if (down) return tutti::journal_errc::io_error;
    return inner.claim_next(wf, max, l);
  }
  tutti::result<std::int64_t> renew(const tutti::run_id& id, std::uint64_t epoch) {
    if (down) return tutti::journal_errc::io_error;
    return inner.renew(id, epoch);
  }
};
}  // namespace

TEST_CASE("a run a passing journal failure stopped carries on, one that fails again and again is let go",
          "[runner]") {
  tutti::memory_journal mem;
  flaky_journal j{mem};
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, mem};
  tutti::thread_pool pool{1};
  tutti::runner r{j, pool, {.name = "r", .max_recoveries = 2}};
  r.host<job>(wf, 1);
  SECTION("the store comes back: the run goes on with its epoch, each step called once") {
    const auto id = durable.submit(job{"", 1}).value().id;
    j.fail_starts = 1;  // the first step's start cannot be written: the store goes down
    CHECK(r.poll_once() == 1);
    REQUIRE(r.wait_idle(10s));
    CHECK(r.stats().journal_errors >= 1);
    CHECK(mem.status(id).value() == tutti::run_status::running);  // still held, not released
    CHECK(mem.load(id).value().summary.owner == r.owner());
    r.poll_once();  // the store is still down: the renewal fails, the run waits
    CHECK(r.stats().revalidated == 0);
    j.down = false;
    r.poll_once();  // re-validated (a renewal with its epoch) and run again
    REQUIRE(r.wait_idle(10s));
    CHECK(r.stats().revalidated == 1);
    CHECK(r.stats().let_go == 0);
    CHECK(mem.status(id).value() == tutti::run_status::succeeded);
    CHECK(mem.load(id).value().summary.epoch == 1);  // no takeover: the same claim went on
    CHECK(t.all == std::vector<int>{1});
  }
  SECTION("the failure comes back after every restart: let go after max_recoveries restarts") {
    const auto id = durable.submit(job{"", 2}).value().id;
    j.fail_starts = 1000;
    r.poll_once();
    REQUIRE(r.wait_idle(10s));
    for (int round = 0; round < 4; ++round) {
      j.down = false;  // back, until the run's next start fails again
      r.poll_once();
      REQUIRE(r.wait_idle(10s));
    }
    CHECK(r.stats().revalidated == 2);  // max_recoveries restarts
    CHECK(r.stats().let_go == 1);
    CHECK(t.all.empty());  // the step was never called: its start could not be written
    CHECK(mem.load(id).value().summary.owner == r.owner());  // its lease expires; then a takeover
    j.fail_starts = 0;
    j.down = false;
  }
  r.stop();
}

TEST_CASE("a running run nobody holds and nobody claims is reported stuck", "[runner]") {
  tutti::memory_journal j;  // the wall clock, as the runner's stuck check
  REQUIRE(j.start({2, 2}, "unhosted", 1, {}));  // running, unowned (as handed back, or swept)
  tutti::thread_pool pool{1};
  tutti::runner r{j, pool, {.name = "r", .stuck_after = 5ms, .stuck_check_every = 0ms}};
  std::vector<std::string> stuck;
  r.on_event([&](const tutti::runner_event& e) {
    if (e.kind == tutti::runner_event_kind::stuck) stuck.emplace_back(e.message);
  });
  REQUIRE(eventually([&] {
    r.poll_once();
    return !stuck.empty();
  }));
  r.poll_once();
  CHECK(stuck.size() == 1);  // once per run and epoch
  CHECK_THAT(stuck[0], Catch::Contains("unowned"));
}

TEST_CASE("a run this engine cannot run is parked, not claimed again and again", "[runner]") {
  tutti::memory_journal j;
  trace t;
  const auto wf = make_jobs(t);
  // Same name, another shape: written by another version of the workflow.
  REQUIRE(j.start({7, 1}, "jobs", 0xBAD, tutti::to_bytes(job{"", 1})));
  tutti::thread_pool pool{1};
  tutti::runner r{j, pool, {.name = "r"}};
  r.host<job>(wf, 1);
  CHECK(r.poll_once() == 1);
  REQUIRE(r.wait_idle(10s));
  CHECK(j.status({7, 1}).value() == tutti::run_status::dead_lettered);
  CHECK_THAT(j.load({7, 1}).value().records.back().message, Catch::Contains("another shape"));
  CHECK(r.poll_once() == 0);  // parked: not claimed again
  CHECK(r.stats().dead_letters == 1);
  CHECK(t.all.empty());
}

TEST_CASE("takeovers count as failed recoveries only until a step finishes, a revived dead "
          "letter goes on where it stopped", "[runner][ownership]") {
  tutti::testing::manual_clock store;
  tutti::memory_journal j{{.lease_clock = tutti::any_clock{store}}};
  const tutti::lease_request a{.owner = "a#1", .lease = 10ms};
  REQUIRE(j.start({8, 1}, "w", 1, {}, a));
  store.advance(11ms);
  auto c = j.claim({8, 1}, {.owner = "b#1", .lease = 10ms});
  REQUIRE(c);
  CHECK(c.value().recoveries == 1);
  tutti::record_view done;
  done.kind = tutti::record_kind::step_finished;
  done.ok = true;
  done.epoch = c.value().epoch;
  REQUIRE(j.append({8, 1}, done));  // progress: the takeover worked
  CHECK(j.load({8, 1}).value().summary.recoveries == 0);
  store.advance(11ms);
  c = j.claim({8, 1}, {.owner = "c#1", .lease = 10ms});
  REQUIRE(c);
  CHECK(c.value().recoveries == 1);

  // A dead-lettered run that was compensating: retry_run revives it, and it goes on
  // compensating (the failed step is not called again).
  std::vector<std::string> calls;
  const auto wf = tutti::workflow<"saga">(
      tutti::step<"a">([&calls] { calls.emplace_back("a"); return 1; })
          .compensate_with([&calls](const int&) { calls.emplace_back("undo a"); }),
      tutti::step<"b">([&calls]() -> tutti::result<int> {
        calls.emplace_back("b");
        return tutti::errc::step_failed;
      }));
  tutti::memory_journal m;
  const tutti::durable_workflow durable{wf, m, {.name = "d"}};
  const auto first = durable.run(tutti::unit{});
  REQUIRE(first);
  const auto id = first->id();
  // Cut the journal after b's failure (before the undo), then park it.
  const auto records = m.load(id).value().records;
  std::size_t cut = 0;
  for (const auto& rec : records)
    if (rec.kind == tutti::record_kind::step_finished && rec.step == "b") cut = rec.seq;
  REQUIRE(cut > 0);
  m.truncate(id, cut);
  const auto claimed = m.claim(id, {.owner = "x#1"});
  REQUIRE(claimed);
  tutti::record_view park;
  park.kind = tutti::record_kind::dead_lettered;
  park.epoch = claimed.value().epoch;
  REQUIRE(m.append(id, park));
  CHECK(m.status(id).value() == tutti::run_status::dead_lettered);
  REQUIRE(tutti::retry_run(m, id));
  CHECK(m.load(id).value().records.back().kind == tutti::record_kind::revived);
  calls.clear();
  const auto again = durable.resume<tutti::unit>(id);
  REQUIRE(again);
  CHECK(again->outcome() == tutti::run_outcome::compensated);
  CHECK(calls == std::vector<std::string>{"undo a"});
}

TEST_CASE("a runner hosting two versions runs each run on its own, parks retired ones and leaves "
          "newer ones",
          "[runner][version]") {
  tutti::memory_journal j;
  trace t;
  std::mutex m;
  std::vector<std::pair<int, int>> ran;  // (job, version that ran it)
  const auto versioned_jobs = [&](int version) {
    return tutti::workflow<"jobs">(
        tutti::step<"work">([&t, &m, &ran, version](const job& jb, const tutti::call_context& ctx) {
          t.ran(jb, ctx);
          const std::lock_guard lock{m};
          ran.emplace_back(jb.n, version);
          return jb.n;
        }));
  };
  const auto v1 = versioned_jobs(1);
  const auto v2 = tutti::versioned<2>(versioned_jobs(2));
  const auto v3 = tutti::versioned<3>(versioned_jobs(3));
  const auto v4 = tutti::versioned<4>(versioned_jobs(4));
  STATIC_REQUIRE(tutti::version_of<decltype(v1)> == 1);
  STATIC_REQUIRE(tutti::version_of<decltype(v3)> == 3);
  REQUIRE(tutti::durable_workflow{v1, j}.submit(job{"", 1}));
  REQUIRE(tutti::durable_workflow{v2, j}.submit(job{"", 2}));
  REQUIRE(tutti::durable_workflow{v3, j}.submit(job{"", 3}));
  REQUIRE(tutti::durable_workflow{v4, j}.submit(job{"", 4}));
  tutti::thread_pool pool{2};
  tutti::runner r{j, pool, {.name = "r"}};
  std::vector<std::string> parked;
  r.on_event([&](const tutti::runner_event& e) {
    if (e.kind != tutti::runner_event_kind::version_unregistered) return;
    const std::lock_guard lock{m};
    parked.emplace_back(e.message);
  });
  r.host<job>(v3, 2);
  r.host<job>(v2, 2);  // any order
  CHECK_THROWS_AS(r.host<job>(v2, 1), std::invalid_argument);
  // Up to version 3: runs 1 (v1, not hosted: parked), 2 and 3; never run 4 (v4: newer). (A run
  // ending on the pool claims the next one there, so the rounds' counts do not add up to 3.)
  const auto ended = [&] {
    std::size_t n = 0;
    for (const auto st : {tutti::run_status::succeeded, tutti::run_status::dead_lettered}) {
      tutti::run_filter f;
      f.status = st;
      n += j.list(f).value().size();
    }
    return n;
  };
  REQUIRE(eventually([&] {
    r.poll_once();
    return ended() == 3;
  }));
  REQUIRE(r.wait_idle(10s));
  CHECK(r.poll_once() == 0);  // nothing more: v1's run parked, v4's left alone
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::pair<int, int>>{{2, 2}, {3, 3}});
  tutti::run_filter f;
  f.workflow = "jobs";
  const auto runs = j.list(f).value();
  std::map<int, tutti::run_summary> by_version;
  for (const auto& s : runs) by_version[static_cast<int>(s.version)] = s;
  REQUIRE(by_version.size() == 4);
  CHECK(by_version[1].status == tutti::run_status::dead_lettered);
  CHECK(by_version[2].status == tutti::run_status::succeeded);
  CHECK(by_version[3].status == tutti::run_status::succeeded);
  CHECK(by_version[4].status == tutti::run_status::queued);
  REQUIRE(parked.size() == 1);
  CHECK_THAT(parked[0], Catch::Contains("version 1 of workflow \"jobs\" is not registered") &&
                            Catch::Contains("2, 3"));
  CHECK(j.load(by_version[1].id).value().records.back().message == parked[0]);
  CHECK(r.stats().unregistered_versions == 1);
  std::string metrics;
  r.write_prometheus(metrics);
  CHECK_THAT(metrics, Catch::Contains("tutti_runner_unregistered_versions_total 1"));

  // An operator moves the parked run to version 2: it runs there, once.
  REQUIRE(tutti::move_run(j, by_version[1].id, 2));
  CHECK(r.poll_once() == 1);
  REQUIRE(r.wait_idle(10s));
  CHECK(r.poll_once() == 0);
  CHECK(j.status(by_version[1].id).value() == tutti::run_status::succeeded);
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::pair<int, int>>{{1, 2}, {2, 2}, {3, 3}});
  CHECK(r.stats().unregistered_versions == 1);
}

TEST_CASE("a runner with retention purges ended runs in batches and keeps the rest",
          "[runner][retention]") {
  tutti::memory_journal j;
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, j};
  constexpr int jobs = 40;
  for (int i = 0; i < jobs; ++i) REQUIRE(durable.submit(job{"", i}));
  // A run of a workflow nobody hosts stays queued: retention never touches a run that has not
  // ended.
  const auto other = tutti::workflow<"other">(tutti::step<"x">([](const job& jb) { return jb.n; }));
  const tutti::durable_workflow waiting{other, j};
  const auto queued = waiting.submit(job{"", -1});
  REQUIRE(queued);

  tutti::thread_pool pool{2};
  std::mutex m;
  std::uint64_t purged_in_events = 0;
  std::size_t purge_events = 0;
  tutti::runner r{j, pool,
                  {.name = "r1",
                   .poll = 1ms,
                   .retention = {.keep = 1ms, .every = 1ms, .batch = 3, .max_batches = 2}}};
  r.host<job>(wf, 4);
  r.on_event([&](const tutti::runner_event& e) {
    if (e.kind != tutti::runner_event_kind::purged) return;
    const std::lock_guard lock{m};
    ++purge_events;
    purged_in_events += std::stoull(std::string{e.message});
  });
  r.start();
  // Every run of "jobs" ends and is purged; the queued one is left.
  REQUIRE(eventually([&] { return r.stats().purged == jobs; }));
  const auto left = j.list({}).value();
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == queued.value().id);
  CHECK(left[0].status == tutti::run_status::queued);
  r.stop();
  for (const auto& [key, n] : t.calls) CHECK(n == 1);
  CHECK(t.all.size() == jobs);
  const std::lock_guard lock{m};
  CHECK(purged_in_events == jobs);
  // At most batch × max_batches (6) per purge: at least seven purges for forty runs.
  CHECK(purge_events >= 7);
  std::string metrics;
  r.write_prometheus(metrics);
  CHECK(metrics.find(fmt::format("\ntutti_runner_purged_total {}\n", jobs)) != std::string::npos);
}

namespace {
/// A journal without purge_ended.
struct unpurgeable_journal : support::journal_forwarding<unpurgeable_journal> {
  tutti::memory_journal inner;
  tutti::memory_journal& target() { return inner; }
  const tutti::memory_journal& target() const { return inner; }
};
}  // namespace

TEST_CASE("retention on a journal that cannot purge is refused when the runner is made",
          "[runner][retention]") {
  unpurgeable_journal j;
  tutti::thread_pool pool{1};
  CHECK_THROWS_WITH((tutti::runner{j, pool, {.retention = {.keep = 1h}}}),
                    Catch::Contains("no purge_ended"));
  CHECK_NOTHROW((tutti::runner{j, pool, {}}));  // retention off: nothing to purge with
}

TEST_CASE("a runner takes the journal's census: gauges, the census itself, and each paused run reported once per pause",
          "[runner][census]") {
  tutti::memory_journal j;
  trace t;
  const auto wf = make_jobs(t);
  const tutti::durable_workflow durable{wf, j};
  constexpr int jobs = 5;
  for (int i = 0; i < jobs; ++i) REQUIRE(durable.submit(job{"", i}));
  // Two runs of a workflow nobody hosts: one waits in the queue, one an operator paused.
  const auto other = tutti::workflow<"other">(tutti::step<"x">([](const job& jb) { return jb.n; }));
  const tutti::durable_workflow waiting{other, j};
  const auto queued = waiting.submit(job{"", -1});
  REQUIRE(queued);
  const tutti::run_id paused_id{0x9A, 0x5E};
  REQUIRE(j.start(paused_id, "other", 1, {}));
  REQUIRE(tutti::pause_run(j, paused_id));

  tutti::thread_pool pool{2};
  std::mutex m;
  std::vector<tutti::run_id> paused_events;
  std::vector<tutti::observe::alert_kind> alert_kinds;
  std::vector<std::string> alert_texts;
  tutti::runner r{j, pool, {.name = "r1", .poll = 1ms, .census_every = 1ms}};
  r.host<job>(wf, 2);
  r.on_event([&](const tutti::runner_event& e) {
    const std::lock_guard lock{m};
    if (e.kind == tutti::runner_event_kind::run_paused) paused_events.push_back(e.run);
    if (auto a = tutti::alert_of(e)) {
      alert_kinds.push_back(a->kind);
      alert_texts.push_back(tutti::observe::describe(*a));
    }
  });
  CHECK_FALSE(r.census());  // none taken yet
  r.start();
  REQUIRE(eventually([&] {
    const auto c = r.census();
    return c && c->count(tutti::run_status::succeeded) == jobs;
  }));
  // Several more censuses: the pause is still reported once.
  const auto taken = r.census()->now_unix_ms;
  REQUIRE(eventually([&] { return r.census()->now_unix_ms > taken + 5; }));
  const tutti::run_census c = *r.census();
  CHECK(c.count(tutti::run_status::queued) == 1);
  CHECK(c.count(tutti::run_status::paused) == 1);
  CHECK(c.count(tutti::run_status::running) == 0);
  CHECK(c.total() == jobs + 2);
  const auto listed = j.list({}).value();
  for (const auto& s : listed) {
    if (s.id == queued.value().id) CHECK(c.oldest_queued_unix_ms == s.started_unix_ms);
    if (s.id == paused_id) CHECK(c.oldest_paused_unix_ms == s.started_unix_ms);
  }
  {
    const std::lock_guard lock{m};
    REQUIRE(paused_events.size() == 1);
    CHECK(paused_events[0] == paused_id);
    REQUIRE(alert_kinds.size() == 1);
    CHECK(alert_kinds[0] == tutti::observe::alert_kind::run_paused);
    CHECK(alert_texts[0].find("other") == 0);
    CHECK(alert_texts[0].find("run paused: paused (started ") != std::string::npos);
  }
  std::string metrics;
  r.write_prometheus(metrics);
  CHECK(metrics.find(fmt::format("\ntutti_journal_runs{{status=\"succeeded\"}} {}\n", jobs)) != std::string::npos);
  CHECK(metrics.find("\ntutti_journal_runs{status=\"paused\"} 1\n") != std::string::npos);
  CHECK(metrics.find("\ntutti_journal_runs{status=\"queued\"} 1\n") != std::string::npos);
  CHECK(metrics.find("\ntutti_journal_runs{status=\"running\"} 0\n") != std::string::npos);
  CHECK(metrics.find("\ntutti_journal_oldest_running_age_seconds 0.000\n") != std::string::npos);
  CHECK(metrics.find("# TYPE tutti_journal_oldest_queued_age_seconds gauge\n") != std::string::npos);
  CHECK(metrics.find("# TYPE tutti_journal_oldest_paused_age_seconds gauge\n") != std::string::npos);

  // Unpaused (a census sees it running), then paused again: reported again.
  REQUIRE(tutti::unpause_run(j, paused_id));
  REQUIRE(eventually([&] { return r.census()->count(tutti::run_status::paused) == 0; }));
  REQUIRE(tutti::pause_run(j, paused_id));
  REQUIRE(eventually([&] {
    const std::lock_guard lock{m};
    return paused_events.size() == 2;
  }));
  r.stop();
  const std::lock_guard lock{m};
  CHECK(paused_events[1] == paused_id);
}

TEST_CASE("a runner with the census off takes none, and the runner events that call for an alert give one",
          "[runner][census]") {
  tutti::memory_journal j;
  tutti::thread_pool pool{1};
  tutti::runner r{j, pool, {.poll = 1ms, .census_every = 0ms}};
  for (int i = 0; i < 3; ++i) r.poll_once();
  CHECK_FALSE(r.census());
  std::string metrics;
  r.write_prometheus(metrics);
  CHECK(metrics.find("tutti_journal_runs") == std::string::npos);

  tutti::runner_event e;
  e.workflow = "payment";
  e.run = tutti::run_id{0xabc, 0xdef};
  e.message = "disk I/O error";
  e.kind = tutti::runner_event_kind::journal_error;
  auto a = tutti::alert_of(e);
  REQUIRE(a);
  CHECK(a->kind == tutti::observe::alert_kind::journal_failed);
  CHECK(a->error == tutti::errc::journal_failed);
  CHECK(tutti::observe::describe(*a) ==
        "payment 0000000000000abc0000000000000def  journal FAILED: the run's journal could not be "
        "written [tutti:13]; disk I/O error");
  e.kind = tutti::runner_event_kind::stuck;
  a = tutti::alert_of(e);
  REQUIRE(a);
  CHECK(a->kind == tutti::observe::alert_kind::run_stuck);
  CHECK(a->run == e.run);
  for (const auto k : {tutti::runner_event_kind::claimed, tutti::runner_event_kind::finished,
                       tutti::runner_event_kind::purged, tutti::runner_event_kind::dead_lettered}) {
    e.kind = k;
    CHECK_FALSE(tutti::alert_of(e));
  }
}
