// The journal conformance suite: one set of test cases that every journal backend must pass
// (records, status, listing, ownership and fencing, the queue, operator commands, a durable
// workflow and a runner on top). A test file defines TUTTI_CONFORMANCE_BACKENDS (the name of a
// std::tuple of the backend types it wants: a name, as the macro takes no commas) and TUTTI_CONFORMANCE_TAGS, then includes this header:
//   tests/journal/conformance_test.cpp   memory and SQLite
//   tests/postgres/conformance_test.cpp  PostgreSQL (a real server; tagged [postgres])
// A backend type makes a fresh store per test case and gives two journals on it
// (`journal()`, `other()`: two engines, two connections where the store has them), all judging
// leases by the test's manual clock.
#ifndef TUTTI_TESTS_SUPPORT_JOURNAL_CONFORMANCE_HPP
#define TUTTI_TESTS_SUPPORT_JOURNAL_CONFORMANCE_HPP

#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/runner.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#ifndef TUTTI_CONFORMANCE_BACKENDS
#error "define TUTTI_CONFORMANCE_BACKENDS (the name of a std::tuple of backend types) first"
#endif

namespace conformance {

using namespace std::chrono_literals;

inline std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

inline tutti::run_id id_of(std::uint64_t n) { return tutti::run_id{0xC0F0, n}; }

inline tutti::lease_request lease_of(std::string_view owner, std::chrono::milliseconds ms = 1000ms,
                                     std::string_view reclaim = {}) {
  return tutti::lease_request{owner, ms, reclaim};
}

inline tutti::record_view rec(tutti::record_kind k, std::uint64_t epoch, std::string_view step = {}) {
  tutti::record_view r;
  r.kind = k;
  r.epoch = epoch;
  r.step = step;
  return r;
}

template <class J>
std::size_t count_kind(J& j, const tutti::run_id& id, tutti::record_kind k) {
  const auto run = j.load(id).value();
  return static_cast<std::size_t>(std::count_if(run.records.begin(), run.records.end(),
                                                [k](const auto& r) { return r.kind == k; }));
}

/// Polls `pred` until it holds or `timeout` passes (for a runner's own threads).
template <class P>
bool eventually(P pred, std::chrono::milliseconds timeout = 20s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// The memory journal: one object, shared by both engines.
struct memory_backend {
  static constexpr const char* name = "memory";
  using journal_type = tutti::memory_journal;
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  std::unique_ptr<journal_type> j;
  explicit memory_backend(std::uint64_t max_queued = 0) {
    tutti::memory_journal_options o;
    o.lease_clock = tutti::any_clock{clock};
    o.max_queued = static_cast<std::size_t>(max_queued);
    j = std::make_unique<journal_type>(o);
  }
  journal_type& journal() { return *j; }
  journal_type& other() { return *j; }
};

/// A fixture per test case: the backend, and the manual clock its leases are judged by.
template <class B>
struct store {
  B backend;
  explicit store(std::uint64_t max_queued = 0) : backend(max_queued) {}
  auto& journal() { return backend.journal(); }
  auto& other() { return backend.other(); }
  void advance(std::chrono::milliseconds d) { backend.clock.advance(d); }
};

}  // namespace conformance

#define TUTTI_CONFORMANCE_CASE(name) \
  TEMPLATE_LIST_TEST_CASE(name, TUTTI_CONFORMANCE_TAGS, TUTTI_CONFORMANCE_BACKENDS)
/// A case with tags of its own besides the file's.
#define TUTTI_CONFORMANCE_CASE_TAGGED(name, tags) \
  TEMPLATE_LIST_TEST_CASE(name, TUTTI_CONFORMANCE_TAGS tags, TUTTI_CONFORMANCE_BACKENDS)

// ---- records --------------------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE("a journal gives back every field of every record, in order") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  const auto input = bytes({0, 1, 0, 255, 0});
  REQUIRE(j.start(id_of(1), "checkout", 0xFFFF'FFFF'FFFF'FFF0ULL, input));
  REQUIRE(j.start(id_of(2), "refund", 42, {}));
  tutti::record_view a = rec(tutti::record_kind::attempt_started, 0, "outer/reserve");
  a.attempt = 3;
  a.time_ns = -5;
  REQUIRE(j.append(id_of(1), a));
  tutti::record_view f = rec(tutti::record_kind::attempt_finished, 0, "outer/reserve");
  f.attempt = 3;
  f.error_category = "tutti";
  f.error_value = -17;
  f.message = std::string_view("bad\0thing", 9);
  f.time_ns = INT64_MAX;
  REQUIRE(j.append(id_of(1), f));
  const auto out = bytes({0, 0, 0, 7, 0});
  tutti::record_view sf = rec(tutti::record_kind::step_finished, 0, "outer/reserve");
  sf.ok = true;
  sf.payload = out;
  REQUIRE(j.append(id_of(1), sf));
  tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
  fin.outcome = 2;
  REQUIRE(j.append(id_of(1), fin));

  const auto run = j.load(id_of(1)).value();
  CHECK(run.summary.workflow == "checkout");
  CHECK(run.summary.fingerprint == 0xFFFF'FFFF'FFFF'FFF0ULL);
  CHECK(run.summary.status == tutti::run_status::compensated);
  CHECK(run.input == input);
  REQUIRE(run.records.size() == 5);
  CHECK(run.summary.records == 5);
  for (std::size_t i = 0; i < run.records.size(); ++i) CHECK(run.records[i].seq == i + 1);
  CHECK(run.records[0].kind == tutti::record_kind::run_started);
  CHECK(run.records[0].payload == input);
  CHECK(run.records[1].kind == tutti::record_kind::attempt_started);
  CHECK(run.records[1].step == "outer/reserve");
  CHECK(run.records[1].attempt == 3);
  CHECK(run.records[1].time_ns == -5);
  CHECK(run.records[2].error_category == "tutti");
  CHECK(run.records[2].error_value == -17);
  CHECK(run.records[2].message == std::string("bad\0thing", 9));
  CHECK(run.records[2].time_ns == INT64_MAX);
  CHECK_FALSE(run.records[2].ok);
  CHECK(run.records[3].ok);
  CHECK(run.records[3].payload == out);
  CHECK(run.records[4].outcome == 2);
  const auto empty = j.load(id_of(2)).value();
  CHECK(empty.input.empty());
  CHECK(empty.records.size() == 1);
  // The other connection reads the same.
  CHECK(s.other().load(id_of(1)).value().records.size() == 5);
}

TUTTI_CONFORMANCE_CASE("a journal keeps how each payload is encoded: the input's, started or "
                       "submitted, and each step output's") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  const std::string json_text = R"({"order":"A-1","cents":4200})";
  const auto text = std::as_bytes(std::span(json_text.data(), json_text.size()));
  tutti::workflow_version wv{7, 1};
  wv.input_encoding = tutti::payload_encoding::json;
  REQUIRE(j.start(id_of(1), "checkout", wv, text));
  REQUIRE(j.start(id_of(2), "checkout", 7, bytes({1, 2})));  // binary, as before
  tutti::submit_options o;
  o.id = id_of(3);
  REQUIRE(j.submit("checkout", wv, text, o));
  tutti::record_view as_json = rec(tutti::record_kind::step_finished, 0, "reserve");
  as_json.ok = true;
  as_json.payload = text;
  as_json.outcome = static_cast<std::uint8_t>(tutti::payload_encoding::json);
  REQUIRE(j.append(id_of(1), as_json));
  const auto raw = bytes({9, 9});
  tutti::record_view as_bytes = rec(tutti::record_kind::step_finished, 0, "charge");
  as_bytes.ok = true;
  as_bytes.payload = raw;
  REQUIRE(j.append(id_of(1), as_bytes));
  for (auto* jj : {&j, &s.other()}) {
    const auto one = jj->load(id_of(1)).value();
    CHECK(one.input_encoding == tutti::payload_encoding::json);
    CHECK(one.input == std::vector<std::byte>(text.begin(), text.end()));
    REQUIRE(one.records.size() == 3);
    CHECK(one.records[0].outcome == 1);
    CHECK(one.records[1].outcome == 1);
    CHECK(one.records[1].payload == std::vector<std::byte>(text.begin(), text.end()));
    CHECK(one.records[2].outcome == 0);
    CHECK(jj->load(id_of(2)).value().input_encoding == tutti::payload_encoding::binary);
    const auto queued = jj->load(id_of(3)).value();
    CHECK(queued.summary.status == tutti::run_status::queued);
    CHECK(queued.input_encoding == tutti::payload_encoding::json);
  }
  // A JSON step output does not count as a run's outcome: the run is still running.
  CHECK(j.status(id_of(1)).value() == tutti::run_status::running);
}

TUTTI_CONFORMANCE_CASE("a run started paused is held and paused from its first transaction, "
                       "and the rerun records are kept") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  tutti::workflow_version wv{7, 2, "order-1"};
  wv.paused = true;
  const auto claimed = j.start(id_of(1), "checkout", wv, bytes({1}), {"rerun#1"});
  REQUIRE(claimed);
  CHECK(j.status(id_of(1)).value() == tutti::run_status::paused);
  {
    const auto run = j.load(id_of(1)).value();
    REQUIRE(run.records.size() == 3);
    CHECK(run.records[1].kind == tutti::record_kind::claimed);
    CHECK(run.records[2].kind == tutti::record_kind::paused);
    CHECK(run.records[2].ok);  // began paused
    CHECK(tutti::plan_of(run).rerun_incomplete);
    CHECK(run.summary.owner == "rerun#1");
    CHECK(run.summary.version == 2);
    CHECK(run.summary.key == "order-1");
  }
  // Nobody claims it: not by id, not from the workflow's queue.
  const auto refused = s.other().claim(id_of(1), {"engine#2"});
  REQUIRE_FALSE(refused);
  CHECK((refused.error() == tutti::journal_errc::not_resumable ||
         refused.error() == tutti::journal_errc::owned));
  CHECK(s.other().claim_next("checkout", 5, {"engine#2"}).value().empty());
  // Its holder writes; the rerun records come back as written.
  tutti::record_view link = rec(tutti::record_kind::rerun_of, claimed.value().epoch, "charge");
  link.message = "0123";
  REQUIRE(j.append(id_of(1), link));
  // One command unpauses it and hands it back: any engine claims it now.
  tutti::record_view go = rec(tutti::record_kind::unpaused, 0);
  const tutti::run_status paused_only[] = {tutti::run_status::paused};
  CHECK(j.command(id_of(1), go, paused_only, true).value() == tutti::run_status::running);
  const auto taken = s.other().claim_next("checkout", 5, {"engine#2"});
  REQUIRE(taken.value().size() == 1);
  const auto run = j.load(id_of(1)).value();
  CHECK(run.records[3].kind == tutti::record_kind::rerun_of);
  CHECK(run.records[3].step == "charge");
  CHECK(run.records[3].message == "0123");
  // On an ended run an operator's rerun_as is written: a failed run is settled by it
  // (resolved), a succeeded one keeps its status.
  tutti::record_view as = rec(tutti::record_kind::rerun_as, 0, "charge");
  as.message = "4567";
  const tutti::run_status ended_ones[] = {tutti::run_status::failed, tutti::run_status::succeeded};
  for (const std::uint8_t outcome : {1, 0}) {
    const auto id = id_of(2 + outcome);
    REQUIRE(j.start(id, "checkout", 7, {}));
    tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
    fin.outcome = outcome;
    REQUIRE(j.append(id, fin));
    CHECK(j.command(id, as, ended_ones, false).value() ==
          (outcome == 1 ? tutti::run_status::resolved : tutti::run_status::succeeded));
    CHECK(s.other().load(id).value().records.back().kind == tutti::record_kind::rerun_as);
    CHECK(s.other().status(id).value() == j.status(id).value());
  }
}

TUTTI_CONFORMANCE_CASE("a journal keeps the status as status_after says") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  const std::pair<std::uint8_t, tutti::run_status> ends[] = {
      {0, tutti::run_status::succeeded}, {1, tutti::run_status::failed},
      {2, tutti::run_status::compensated}, {3, tutti::run_status::compensation_failed}};
  std::uint64_t n = 10;
  for (const auto& [outcome, status] : ends) {
    REQUIRE(j.start(id_of(++n), "wf", 1, {}));
    CHECK(j.status(id_of(n)).value() == tutti::run_status::running);
    REQUIRE(j.append(id_of(n), rec(tutti::record_kind::paused, 0)));
    CHECK(j.status(id_of(n)).value() == tutti::run_status::paused);
    REQUIRE(j.append(id_of(n), rec(tutti::record_kind::attempt_started, 0, "a")));
    CHECK(j.status(id_of(n)).value() == tutti::run_status::paused);  // kept
    REQUIRE(j.append(id_of(n), rec(tutti::record_kind::unpaused, 0)));
    CHECK(j.status(id_of(n)).value() == tutti::run_status::running);
    tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
    fin.outcome = outcome;
    REQUIRE(j.append(id_of(n), fin));
    CHECK(j.status(id_of(n)).value() == status);
    // An ended run takes no more records from an engine.
    const auto late = j.append(id_of(n), rec(tutti::record_kind::attempt_started, 0, "b"));
    REQUIRE_FALSE(late);
    CHECK(late.error() == tutti::journal_errc::fenced);
  }
}

TUTTI_CONFORMANCE_CASE("a journal lists runs newest first, filtered and limited") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  for (std::uint64_t i = 1; i <= 6; ++i)
    REQUIRE(j.start(id_of(i), i % 2 == 0 ? "even" : "odd", i, {}));
  tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
  REQUIRE(j.append(id_of(2), fin));
  const auto all = j.list({}).value();
  REQUIRE(all.size() == 6);
  for (std::size_t i = 1; i < all.size(); ++i) {
    const bool ordered = all[i - 1].started_unix_ms > all[i].started_unix_ms ||
                         (all[i - 1].started_unix_ms == all[i].started_unix_ms &&
                          all[i - 1].id < all[i].id);
    CHECK(ordered);
  }
  tutti::run_filter even;
  even.workflow = "even";
  const auto evens = j.list(even).value();
  CHECK(evens.size() == 3);
  for (const auto& e : evens) CHECK(e.workflow == "even");
  tutti::run_filter done;
  done.status = tutti::run_status::succeeded;
  const auto succeeded = j.list(done).value();
  REQUIRE(succeeded.size() == 1);
  CHECK(succeeded[0].id == id_of(2));
  CHECK(succeeded[0].records == 2);
  tutti::run_filter two;
  two.limit = 2;
  const auto first_two = j.list(two).value();
  REQUIRE(first_two.size() == 2);
  CHECK(first_two[0].id == all[0].id);
  CHECK(first_two[1].id == all[1].id);
  tutti::run_filter later;
  later.started_after_unix_ms = all.front().started_unix_ms + 1;
  CHECK(j.list(later).value().empty());
}

TUTTI_CONFORMANCE_CASE("a journal refuses a second start and says which runs it does not have") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  REQUIRE(j.start(id_of(1), "wf", 1, bytes({1})));
  const auto again = j.start(id_of(1), "wf", 1, bytes({2}));
  REQUIRE_FALSE(again);
  CHECK(again.error() == tutti::journal_errc::run_exists);
  CHECK(j.load(id_of(1)).value().input == bytes({1}));  // the first one kept
  const auto missing = id_of(99);
  CHECK(j.load(missing).error() == tutti::journal_errc::run_not_found);
  CHECK(j.status(missing).error() == tutti::journal_errc::run_not_found);
  CHECK(j.append(missing, rec(tutti::record_kind::attempt_started, 0, "a")).error() ==
        tutti::journal_errc::run_not_found);
  CHECK(j.claim(missing, lease_of("e#1")).error() == tutti::journal_errc::run_not_found);
  const tutti::run_status any[] = {tutti::run_status::running};
  CHECK(j.command(missing, rec(tutti::record_kind::paused, 0), any, false).error() ==
        tutti::journal_errc::run_not_found);
}

TUTTI_CONFORMANCE_CASE("a journal takes appends from 4 threads to different runs") {
  using namespace conformance;
  store<TestType> s;
  constexpr int threads = 4;
  constexpr int per_thread = 25;
  for (int t = 0; t < threads; ++t)
    REQUIRE(s.journal().start(id_of(100 + static_cast<std::uint64_t>(t)), "wf", 1, {}));
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      // Half the threads write through the second journal (a second connection, if any).
      auto& j = t % 2 == 0 ? s.journal() : s.other();
      const auto id = id_of(100 + static_cast<std::uint64_t>(t));
      for (int i = 0; i < per_thread; ++i) {
        tutti::record_view r = rec(tutti::record_kind::attempt_started, 0, "s");
        r.attempt = static_cast<std::uint32_t>(i + 1);
        if (!j.append(id, r)) ++failures;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(failures.load() == 0);
  for (int t = 0; t < threads; ++t) {
    const auto run = s.journal().load(id_of(100 + static_cast<std::uint64_t>(t))).value();
    REQUIRE(run.records.size() == per_thread + 1);
    for (int i = 0; i < per_thread; ++i)
      CHECK(run.records[static_cast<std::size_t>(i + 1)].attempt == static_cast<std::uint32_t>(i + 1));
  }
}

// ---- ownership ------------------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE("a claim raises the epoch and a stale epoch's writes are refused") {
  using namespace conformance;
  store<TestType> s;
  auto& a = s.journal();
  auto& b = s.other();
  const auto c1 = a.start(id_of(1), "wf", 7, bytes({1}), lease_of("a#1", 1000ms)).value();
  CHECK(c1.epoch == 1);
  CHECK_FALSE(c1.takeover);
  REQUIRE(a.append(id_of(1), rec(tutti::record_kind::attempt_started, 1, "x")));
  // B cannot claim a run A holds.
  const auto held = b.claim(id_of(1), lease_of("b#1"));
  REQUIRE_FALSE(held);
  CHECK(held.error() == tutti::journal_errc::owned);
  // A's lease lapses (no write, no heartbeat): B takes over with epoch 2.
  s.advance(1001ms);
  const auto c2 = b.claim(id_of(1), lease_of("b#1")).value();
  CHECK(c2.epoch == 2);
  CHECK(c2.takeover);
  CHECK(c2.recoveries == 1);
  // A's writes, renewals and release are fenced; nothing of A's lands.
  const auto records = a.load(id_of(1)).value().records.size();
  CHECK(a.append(id_of(1), rec(tutti::record_kind::attempt_finished, 1, "x")).error() ==
        tutti::journal_errc::fenced);
  CHECK(a.renew(id_of(1), 1).error() == tutti::journal_errc::fenced);
  CHECK(a.release(id_of(1), 1).error() == tutti::journal_errc::fenced);
  CHECK(a.load(id_of(1)).value().records.size() == records);
  // B writes; its records carry epoch 2; a step finishing resets the recoveries.
  REQUIRE(b.append(id_of(1), rec(tutti::record_kind::attempt_started, 2, "x")));
  tutti::record_view done = rec(tutti::record_kind::step_finished, 2, "x");
  done.ok = true;
  REQUIRE(b.append(id_of(1), done));
  const auto run = b.load(id_of(1)).value();
  CHECK(run.summary.owner == "b#1");
  CHECK(run.summary.epoch == 2);
  CHECK(run.summary.recoveries == 0);
  CHECK(run.records.back().epoch == 2);
  std::uint64_t claims = 0;
  for (const auto& r : run.records)
    if (r.kind == tutti::record_kind::claimed) {
      ++claims;
      CHECK(r.epoch == claims);
    }
  CHECK(claims == 2);
  // A write renews the lease: B's holds a whole lease from its last write.
  const auto before = run.summary.lease_until_ms;
  s.advance(500ms);
  const auto renewed = b.renew(id_of(1), 2).value();
  CHECK(renewed == before + 500);
  s.advance(900ms);
  CHECK(a.claim(id_of(1), lease_of("a#1")).error() == tutti::journal_errc::owned);
}

TUTTI_CONFORMANCE_CASE("a released run is claimable at once, a dead incarnation's by the same name") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  REQUIRE(j.start(id_of(1), "wf", 1, {}, lease_of("svc#100.a", 60'000ms)));
  REQUIRE(j.start(id_of(2), "wf", 1, {}, lease_of("svc#100.a", 60'000ms)));
  // Released: unowned, where it stands.
  REQUIRE(j.release(id_of(1), 1));
  const auto released = j.load(id_of(1)).value();
  CHECK(released.summary.owner.empty());
  CHECK(released.summary.lease_until_ms == 0);
  CHECK(released.summary.status == tutti::run_status::running);
  CHECK(released.records.back().kind == tutti::record_kind::released);
  CHECK(j.renew(id_of(1), 1).error() == tutti::journal_errc::fenced);  // nobody holds it
  const auto got = s.other().claim_next("wf", 5, lease_of("other#1")).value();
  REQUIRE(got.size() == 1);
  CHECK(got[0].id == id_of(1));
  CHECK_FALSE(got[0].takeover);
  CHECK(got[0].epoch == 2);
  // Run 2 is held by svc#100.a (alive as far as the store knows): a stranger cannot take it,
  // a restarted svc (same name, another incarnation) reclaims it at once.
  CHECK(s.other().claim_next("wf", 5, lease_of("other#1")).value().empty());
  CHECK(s.other().claim(id_of(2), lease_of("svc#200.b", 1000ms, "svc#")).value().takeover);
  // The same incarnation never reclaims from itself.
  CHECK(j.claim(id_of(2), lease_of("svc#200.b", 1000ms, "svc#")).error() ==
        tutti::journal_errc::owned);
}

TUTTI_CONFORMANCE_CASE("claim_next takes expired runs first and counts takeovers") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  for (std::uint64_t i = 1; i <= 3; ++i)
    REQUIRE(j.start(id_of(i), "wf", 1, {}, lease_of("dead#1", 100ms)));
  REQUIRE(j.start(id_of(4), "other-wf", 1, {}, lease_of("dead#1", 100ms)));
  CHECK(s.other().claim_next("wf", 10, lease_of("live#1")).value().empty());
  s.advance(101ms);
  const auto got = s.other().claim_next("wf", 2, lease_of("live#1")).value();
  REQUIRE(got.size() == 2);
  for (const auto& c : got) {
    CHECK(c.takeover);
    CHECK(c.epoch == 2);
    CHECK(c.recoveries == 1);
    CHECK(c.workflow == "wf");
    CHECK_FALSE(c.from_queue);
  }
  const auto rest = s.other().claim_next("wf", 10, lease_of("live#1")).value();
  REQUIRE(rest.size() == 1);  // the third; never the other workflow's
  std::set<tutti::run_id> ids{got[0].id, got[1].id, rest[0].id};
  CHECK(ids == std::set<tutti::run_id>{id_of(1), id_of(2), id_of(3)});
  // Taken over again after another lapse: the recoveries add up.
  s.advance(1001ms);
  const auto again = j.claim(id_of(1), lease_of("third#1")).value();
  CHECK(again.recoveries == 2);
  CHECK(again.epoch == 3);
}

TUTTI_CONFORMANCE_CASE("two engines claiming from one queue at once never claim a run twice") {
  using namespace conformance;
  store<TestType> s;
  constexpr int runs = 60;
  for (int i = 0; i < runs; ++i)
    REQUIRE(s.journal().submit("wf", 1, bytes({i}), {}).value().created);
  std::mutex m;
  std::vector<tutti::run_id> claimed;
  std::atomic<int> errors{0};
  const auto claimer = [&](auto& j, std::string owner) {
    for (;;) {
      auto got = j.claim_next("wf", 3, lease_of(owner));
      if (!got) {
        ++errors;
        return;
      }
      if (got.value().empty()) return;
      const std::lock_guard lock{m};
      for (const auto& c : got.value()) {
        CHECK(c.from_queue);
        CHECK(c.epoch == 1);
        claimed.push_back(c.id);
      }
    }
  };
  std::thread t1([&] { claimer(s.journal(), "one#1"); });
  std::thread t2([&] { claimer(s.other(), "two#1"); });
  t1.join();
  t2.join();
  CHECK(errors.load() == 0);
  CHECK(claimed.size() == runs);
  CHECK(std::set<tutti::run_id>(claimed.begin(), claimed.end()).size() == runs);
}

TUTTI_CONFORMANCE_CASE("two engines claiming an exclusive partition at once run its runs one at a time, in order") {
  using namespace conformance;
  store<TestType> s;
  constexpr int per_partition = 12;
  for (int i = 0; i < per_partition; ++i)
    for (const char* p : {"a", "b"})
      REQUIRE(s.journal()
                  .submit("wf", 1, bytes({p[0], i}), {.partition = p, .exclusive = true})
                  .value()
                  .created);
  std::mutex m;
  std::map<int, std::vector<int>> order;        // partition letter -> the runs' numbers as claimed
  std::map<int, tutti::run_id> last;            // partition letter -> the run claimed before
  int overlaps = 0;  // claims made while the partition's previous run had not ended
  std::atomic<int> errors{0}, done{0};
  const auto engine = [&](auto& j, std::string owner) {
    for (int idle = 0; done.load() < 2 * per_partition && idle < 20'000; ++idle) {
      auto got = j.claim_next("wf", 2, lease_of(owner));
      if (!got) {
        ++errors;
        return;
      }
      for (const auto& c : got.value()) {
        const auto in = j.load(c.id).value().input;
        const int p = std::to_integer<int>(in.at(0));
        {
          const std::lock_guard lock{m};
          order[p].push_back(std::to_integer<int>(in.at(1)));
          if (const auto prev = last.find(p); prev != last.end()) {
            const auto st = j.status(prev->second);
            if (!st || !tutti::ended(st.value())) ++overlaps;
          }
          last[p] = c.id;
        }
        tutti::record_view fin = rec(tutti::record_kind::run_finished, c.epoch);
        if (!j.append(c.id, fin)) ++errors;
        ++done;
        idle = 0;
      }
    }
  };
  std::thread t1([&] { engine(s.journal(), "one#1"); });
  std::thread t2([&] { engine(s.other(), "two#1"); });
  t1.join();
  t2.join();
  CHECK(errors.load() == 0);
  CHECK(overlaps == 0);
  CHECK(done.load() == 2 * per_partition);
  std::vector<int> expected(per_partition);
  for (int i = 0; i < per_partition; ++i) expected[static_cast<std::size_t>(i)] = i;
  CHECK(order['a'] == expected);
  CHECK(order['b'] == expected);
}

// ---- the queue ------------------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE("submit records requests, a dedup key returns the first run") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  const auto first = j.submit("wf", 3, bytes({1}), {.dedup_key = "order-1"}).value();
  CHECK(first.created);
  const auto second = s.other().submit("wf", 3, bytes({2}), {.dedup_key = "order-1"}).value();
  CHECK_FALSE(second.created);
  CHECK(second.id == first.id);
  CHECK(j.load(first.id).value().input == bytes({1}));
  // The same key in another workflow is another request.
  CHECK(j.submit("other", 3, bytes({3}), {.dedup_key = "order-1"}).value().created);
  const tutti::run_id chosen{0xAB, 0xCD};
  CHECK(j.submit("wf", 3, {}, {.id = chosen}).value().id == chosen);
  CHECK(j.submit("wf", 3, {}, {.id = chosen}).error() == tutti::journal_errc::run_exists);
  const auto run = j.load(first.id).value();
  CHECK(run.summary.status == tutti::run_status::queued);
  CHECK(run.summary.dedup_key == "order-1");
  CHECK(run.summary.epoch == 0);
  CHECK(run.summary.owner.empty());
  if constexpr (requires { j.queue_depth(); }) CHECK(j.queue_depth().value() == 3);
}

TUTTI_CONFORMANCE_CASE("claims follow priority, FIFO within a partition, one at a time in an exclusive one") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  const auto sub = [&](int n, tutti::submit_options o) {
    return j.submit("jobs", 1, bytes({n}), o).value().id;
  };
  sub(1, {.partition = "a", .exclusive = true});
  sub(2, {.partition = "a", .exclusive = true, .priority = 9});
  sub(3, {.partition = "b"});
  sub(4, {.partition = "b"});
  sub(5, {.priority = 5});
  const auto lease = lease_of("test#1");
  const auto first = s.other().claim_next("jobs", 10, lease).value();
  std::vector<int> got;
  for (const auto& c : first) {
    got.push_back(std::to_integer<int>(j.load(c.id).value().input.at(0)));
    CHECK(c.from_queue);
    CHECK(c.epoch == 1);
  }
  CHECK(got == std::vector<int>{5, 1, 3, 4});
  CHECK(j.claim_next("jobs", 10, lease).value().empty());
  tutti::record_view fin = rec(tutti::record_kind::run_finished, 1);
  REQUIRE(j.append(first[1].id, fin));  // a/1 ends: a/2 may go
  const auto next = s.other().claim_next("jobs", 10, lease).value();
  REQUIRE(next.size() == 1);
  CHECK(std::to_integer<int>(j.load(next[0].id).value().input.at(0)) == 2);
}

TUTTI_CONFORMANCE_CASE("a bounded queue refuses a submission when full, and takes one again after a claim") {
  using namespace conformance;
  store<TestType> s(2);
  auto& j = s.journal();
  REQUIRE(j.submit("wf", 1, {}, {}));
  REQUIRE(j.submit("wf", 1, {}, {}));
  const auto full = s.other().submit("wf", 1, {}, {});
  REQUIRE_FALSE(full);
  CHECK(full.error() == tutti::journal_errc::queue_full);
  // A dedup hit records nothing: it is answered even when the queue is full.
  REQUIRE(j.claim_next("wf", 1, lease_of("e#1")).value().size() == 1);
  REQUIRE(j.submit("wf", 1, {}, {.dedup_key = "k"}).value().created);
  CHECK(j.submit("wf", 1, {}, {.dedup_key = "k"}).value().created == false);
  CHECK(j.submit("wf", 1, {}, {}).error() == tutti::journal_errc::queue_full);
}

// ---- operator commands ----------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE("operator commands are checked against the status and fence the owner") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  REQUIRE(j.start(id_of(1), "wf", 1, {}, lease_of("eng#1")));
  const tutti::run_status only_paused[] = {tutti::run_status::paused};
  const auto refused = j.command(id_of(1), rec(tutti::record_kind::unpaused, 0), only_paused, false);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == tutti::journal_errc::invalid_command);
  CHECK(j.load(id_of(1)).value().records.size() == 2);  // nothing written
  const tutti::run_status live[] = {tutti::run_status::running, tutti::run_status::paused};
  // A pause does not fence: the engine stops at its next step boundary by itself.
  CHECK(s.other().command(id_of(1), rec(tutti::record_kind::paused, 0), live, false).value() ==
        tutti::run_status::paused);
  REQUIRE(j.append(id_of(1), rec(tutti::record_kind::attempt_started, 1, "x")));
  // A resolve fences: the engine's next write is refused, the owner is gone.
  CHECK(s.other().command(id_of(1), rec(tutti::record_kind::resolved, 0), live, true).value() ==
        tutti::run_status::resolved);
  CHECK(j.append(id_of(1), rec(tutti::record_kind::attempt_finished, 1, "x")).error() ==
        tutti::journal_errc::fenced);
  const auto run = j.load(id_of(1)).value();
  CHECK(run.summary.epoch == 2);
  CHECK(run.summary.owner.empty());
  CHECK(run.summary.lease_until_ms == 0);
  CHECK(run.records.back().kind == tutti::record_kind::resolved);
  CHECK(run.records.back().epoch == 2);
  // A queued run can be cancelled (resolved) before anyone claims it.
  const auto q = j.submit("wf", 1, {}, {}).value().id;
  const tutti::run_status queued[] = {tutti::run_status::queued};
  CHECK(j.command(q, rec(tutti::record_kind::resolved, 0), queued, true).value() ==
        tutti::run_status::resolved);
  CHECK(j.claim_next("wf", 5, lease_of("eng#1")).value().empty());
}

TUTTI_CONFORMANCE_CASE("a dead-lettered run is revived where it stopped, its recoveries reset") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  REQUIRE(j.start(id_of(1), "wf", 1, {}, lease_of("a#1", 100ms)));
  s.advance(101ms);
  REQUIRE(j.claim(id_of(1), lease_of("b#1", 100ms)).value().recoveries == 1);
  s.advance(101ms);
  const auto c = j.claim(id_of(1), lease_of("c#1", 100ms)).value();
  CHECK(c.recoveries == 2);
  tutti::record_view dl = rec(tutti::record_kind::dead_lettered, c.epoch);
  dl.message = "taken over 2 times without progress";
  REQUIRE(j.append(id_of(1), dl));
  auto parked = j.load(id_of(1)).value();
  CHECK(parked.summary.status == tutti::run_status::dead_lettered);
  CHECK(parked.summary.owner.empty());
  CHECK(j.claim_next("wf", 5, lease_of("d#1")).value().empty());
  const tutti::run_status dead[] = {tutti::run_status::dead_lettered};
  CHECK(j.command(id_of(1), rec(tutti::record_kind::revived, 0), dead, true).value() ==
        tutti::run_status::running);
  const auto back = j.load(id_of(1)).value();
  CHECK(back.summary.recoveries == 0);
  const auto again = j.claim_next("wf", 5, lease_of("d#1")).value();
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].takeover);
  CHECK(again[0].recoveries == 0);
}

// ---- workflow versions -------------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE_TAGGED("a journal keeps each run's workflow version, claims up to a version, and moves runs between versions",
                              "[version]") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  REQUIRE(j.start(id_of(1), "order", 7, {}));  // a bare fingerprint: version 1
  REQUIRE(j.submit("order", tutti::workflow_version{8, 2}, bytes({1}), {.id = id_of(2)}));
  REQUIRE(j.submit("order", tutti::workflow_version{9, 3}, bytes({2}), {.id = id_of(3)}));
  CHECK(j.load(id_of(1)).value().summary.version == 1);
  const auto two = j.load(id_of(2)).value();
  CHECK(two.summary.version == 2);
  CHECK(two.summary.fingerprint == 8);
  tutti::run_filter of_two;
  of_two.workflow = "order";
  of_two.version = 2;
  const auto listed = j.list(of_two).value();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == id_of(2));
  CHECK(listed[0].version == 2);
  // A dedup key is the workflow's, whatever the version.
  REQUIRE(j.submit("order", tutti::workflow_version{8, 2}, {}, {.id = id_of(4), .dedup_key = "k"}));
  const auto again = j.submit("order", tutti::workflow_version{9, 3}, {}, {.id = id_of(5), .dedup_key = "k"});
  REQUIRE(again);
  CHECK_FALSE(again.value().created);
  CHECK(again.value().id == id_of(4));

  // Up to version 2: runs 1, 2 and 4, never run 3; each claim says its version.
  auto up_to_2 = lease_of("a#1");
  up_to_2.max_version = 2;
  const auto first = j.claim_next("order", 10, up_to_2).value();
  std::map<tutti::run_id, std::uint32_t> claimed;
  for (const auto& c : first) claimed[c.id] = c.version;
  CHECK(claimed == std::map<tutti::run_id, std::uint32_t>{{id_of(1), 1}, {id_of(2), 2}, {id_of(4), 2}});
  const auto rest = j.claim_next("order", 10, lease_of("b#1")).value();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].id == id_of(3));
  CHECK(rest[0].version == 3);

  // Moving a live run: its version changes, its owner is fenced.
  const std::uint64_t epoch = first[0].id == id_of(2) ? first[0].epoch
                              : first[1].id == id_of(2) ? first[1].epoch
                                                        : first[2].epoch;
  REQUIRE(tutti::move_run(j, id_of(2), 5, "v5 finishes it"));
  const auto moved = j.load(id_of(2)).value();
  CHECK(moved.summary.version == 5);
  CHECK(moved.summary.status == tutti::run_status::running);
  CHECK(moved.summary.owner.empty());
  CHECK(moved.records.back().kind == tutti::record_kind::moved);
  CHECK(moved.records.back().attempt == 5);
  CHECK(moved.records.back().message == "v5 finishes it");
  CHECK(j.append(id_of(2), rec(tutti::record_kind::attempt_started, epoch, "a")).error() ==
        tutti::journal_errc::fenced);
  CHECK(tutti::plan_of(moved).moved);
  // A dead-lettered run moved goes on, its recoveries reset; an ended run or version 0 is
  // refused.
  s.advance(1001ms);  // b#1's lease ran out: c#1 takes run 3 over
  const auto taken = j.claim(id_of(3), lease_of("c#1")).value();
  REQUIRE(taken.recoveries == 1);
  tutti::record_view dl = rec(tutti::record_kind::dead_lettered, taken.epoch);
  dl.message = "version 3 is not registered";
  REQUIRE(j.append(id_of(3), dl));
  REQUIRE(j.load(id_of(3)).value().summary.status == tutti::run_status::dead_lettered);
  REQUIRE(j.load(id_of(3)).value().summary.recoveries == 1);
  REQUIRE(tutti::move_run(j, id_of(3), 2));
  const auto revived = j.load(id_of(3)).value();
  CHECK(revived.summary.status == tutti::run_status::running);
  CHECK(revived.summary.version == 2);
  CHECK(revived.summary.recoveries == 0);
  CHECK(tutti::move_run(j, id_of(3), 0).error() == tutti::journal_errc::invalid_command);
  REQUIRE(tutti::resolve_run(j, id_of(1), "settled"));
  CHECK(tutti::move_run(j, id_of(1), 2).error() == tutti::journal_errc::invalid_command);
  CHECK(j.load(id_of(1)).value().summary.version == 1);
}

// ---- a durable workflow and a runner on the backend ----------------------------------------

namespace conformance {
struct ledger {
  std::mutex m;
  std::map<std::string, int> calls;
  std::map<std::string, std::vector<int>> order;
  void call(const tutti::call_context& ctx, const std::string& partition = {}, int n = 0) {
    const std::lock_guard lock{m};
    ++calls[fmt::format("{}", ctx.key())];
    if (!partition.empty()) order[partition].push_back(n);
  }
};
struct job {
  std::string partition;
  int n = 0;
  template <class A>
  friend void serialize(A& ar, job& j) {
    ar(j.partition, j.n);
  }
};
inline auto make_payment(ledger& l) {
  return tutti::workflow<"payment">(
      tutti::step<"reserve">([&l](const job& in, const tutti::call_context& ctx) {
        l.call(ctx, in.partition, in.n);
        return in.n;
      }),
      tutti::step<"charge">([&l](tutti::from<"reserve", int> n, const tutti::call_context& ctx) {
        l.call(ctx);
        return *n * 2;
      }),
      tutti::step<"capture">([&l](tutti::from<"charge", int> c, const tutti::call_context& ctx) {
        l.call(ctx);
        return *c + 1;
      }));
}
}  // namespace conformance

TUTTI_CONFORMANCE_CASE("a durable run on the journal is resumed by a second engine after its lease, each step once") {
  using namespace conformance;
  store<TestType> s;
  ledger l;
  const auto wf = make_payment(l);
  tutti::durable_options named;
  named.name = "first";
  named.lease = 500ms;
  const tutti::durable_workflow a{wf, s.journal(), named};
  const auto done = a.run(job{"", 20});
  REQUIRE(done);
  REQUIRE(done->has_value());
  CHECK(done->value() == 41);
  // A run cut after its first step (its engine died holding the lease): the records a crash
  // leaves, written by hand with the engine's epoch.
  const auto c = s.journal()
                     .start(id_of(7), "payment", a.fingerprint(), tutti::to_bytes(job{"", 5}),
                            lease_of("first#1.x", 500ms))
                     .value();
  tutti::record_view st = rec(tutti::record_kind::attempt_started, c.epoch, "reserve");
  st.attempt = 1;
  REQUIRE(s.journal().append(id_of(7), st));
  tutti::record_view fi = rec(tutti::record_kind::attempt_finished, c.epoch, "reserve");
  fi.attempt = 1;
  fi.ok = true;
  REQUIRE(s.journal().append(id_of(7), fi));
  const auto out = tutti::to_bytes(5);
  tutti::record_view sf = rec(tutti::record_kind::step_finished, c.epoch, "reserve");
  sf.ok = true;
  sf.payload = out;
  REQUIRE(s.journal().append(id_of(7), sf));
  tutti::durable_options second;
  second.name = "second";
  second.lease = 500ms;
  const tutti::durable_workflow b{wf, s.other(), second};
  // Not before the lease expires...
  std::size_t resumed = 0;
  CHECK(b.template resume_all<job>([&](const tutti::run_id&, const auto&) { ++resumed; }).value() == 0);
  s.advance(501ms);
  CHECK(b.template resume_all<job>([&](const tutti::run_id& id, const auto& o) {
           CHECK(id == id_of(7));
           CHECK_FALSE(o.error);
           ++resumed;
         }).value() == 1);
  CHECK(resumed == 1);
  CHECK(s.other().status(id_of(7)).value() == tutti::run_status::succeeded);
  // reserve of run 7 was never called (it had finished), charge and capture once each.
  int run7 = 0;
  for (const auto& [key, n] : l.calls) {
    CHECK(n == 1);
    if (key.find(std::string(id_of(7).hex().view())) != std::string::npos) ++run7;
  }
  CHECK(run7 == 2);
  const auto run = s.journal().load(id_of(7)).value();
  CHECK(run.summary.epoch == 2);
  CHECK(run.records.back().kind == tutti::record_kind::run_finished);
}

TUTTI_CONFORMANCE_CASE("two runners on the journal run queued requests once each, in partition order") {
  using namespace conformance;
  store<TestType> s;
  ledger l;
  const auto wf = make_payment(l);
  const tutti::durable_workflow durable{wf, s.journal()};
  constexpr int per_partition = 15;
  for (int i = 0; i < per_partition; ++i)
    for (const char* p : {"x", "y", "z"})
      REQUIRE(durable.submit(job{p, i}, {.partition = p, .exclusive = true}));
  tutti::thread_pool pool{4};
  {
    tutti::runner r1{s.journal(), pool, {.name = "r1", .poll = 1ms}};
    tutti::runner r2{s.other(), pool, {.name = "r2", .poll = 1ms}};
    r1.template host<job>(wf, 3);
    r2.template host<job>(wf, 3);
    r1.start();
    r2.start();
    REQUIRE(eventually([&] {
      tutti::run_filter f;
      f.status = tutti::run_status::succeeded;
      const auto l2 = s.journal().list(f);
      return l2 && l2.value().size() == 3 * per_partition;
    }, 60s));
    r1.stop();
    r2.stop();
    CHECK(r1.stats().claims + r2.stats().claims == 3 * per_partition);
  }
  for (const char* p : {"x", "y", "z"}) {
    std::vector<int> expected(per_partition);
    for (int i = 0; i < per_partition; ++i) expected[static_cast<std::size_t>(i)] = i;
    CHECK(l.order[p] == expected);
  }
  CHECK(l.calls.size() == 3 * 3 * per_partition);
  for (const auto& [key, n] : l.calls) CHECK(n == 1);
}

// ---- retention ---------------------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE_TAGGED("a journal purges ended runs last written before a time, in batches, and keeps the rest",
                              "[retention]") {
  using namespace conformance;
  store<TestType> s;
  auto& j = s.journal();
  const auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // Runs 1-4 end with each outcome, 5 is resolved, 6 dead-lettered; 7 runs, 8 is paused, 9 is
  // queued; 10 (submitted with a dedup key) succeeds.
  for (std::uint8_t outcome = 0; outcome < 4; ++outcome) {
    REQUIRE(j.start(id_of(1 + outcome), "wf", 1, bytes({outcome})));
    REQUIRE(j.append(id_of(1 + outcome), rec(tutti::record_kind::attempt_started, 0, "a")));
    tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
    fin.outcome = outcome;
    REQUIRE(j.append(id_of(1 + outcome), fin));
  }
  REQUIRE(j.start(id_of(5), "wf", 1, {}));
  REQUIRE(tutti::resolve_run(j, id_of(5), "settled by hand"));
  REQUIRE(j.start(id_of(6), "wf", 1, {}));
  REQUIRE(j.append(id_of(6), rec(tutti::record_kind::dead_lettered, 0)));
  REQUIRE(j.start(id_of(7), "wf", 1, {}));
  REQUIRE(j.start(id_of(8), "wf", 1, {}));
  REQUIRE(j.append(id_of(8), rec(tutti::record_kind::paused, 0)));
  REQUIRE(j.submit("wf", 1, {}, {.id = id_of(9)}));
  REQUIRE(j.submit("other", 1, {}, {.id = id_of(10), .dedup_key = "order-10"}));
  const auto c = j.claim(id_of(10), lease_of("a#1")).value();
  REQUIRE(j.append(id_of(10), rec(tutti::record_kind::run_finished, c.epoch)));
  const std::set<tutti::run_status> ended_statuses = {
      tutti::run_status::succeeded, tutti::run_status::failed, tutti::run_status::compensated,
      tutti::run_status::compensation_failed, tutti::run_status::resolved,
      tutti::run_status::dead_lettered};
  std::set<tutti::run_status> seen;
  std::int64_t last_write = 0;
  const auto listed = j.list({}).value();
  for (const auto& r : listed) {
    if (tutti::ended(r.status)) seen.insert(r.status);
    last_write = std::max(last_write, r.updated_unix_ms);
  }
  REQUIRE(seen == ended_statuses);
  // Run 11 ends after the cut-off: the store's clock has passed every earlier write (the wall
  // clock for memory and SQLite; PostgreSQL's tests write with the manual clock).
  const std::int64_t cut = last_write + 1;
  REQUIRE(eventually([&] { return wall_ms() > cut; }));
  s.advance(10ms);
  REQUIRE(j.start(id_of(11), "wf", 1, {}));
  REQUIRE(j.append(id_of(11), rec(tutti::record_kind::run_finished, 0)));
  REQUIRE(j.load(id_of(11)).value().summary.updated_unix_ms >= cut);

  CHECK(j.purge_ended(cut, 0).value() == 0);  // a batch of 0 deletes nothing
  CHECK(j.purge_ended(cut, 3, 1).value() == 3);  // one batch of three
  CHECK(j.list({}).value().size() == 8);
  CHECK(j.purge_ended(cut, 3).value() == 4);  // batches until none is left
  CHECK(j.purge_ended(cut, 3).value() == 0);
  const auto left = j.list({}).value();
  std::set<tutti::run_id> kept;
  for (const auto& r : left) kept.insert(r.id);
  CHECK(kept == std::set<tutti::run_id>{id_of(7), id_of(8), id_of(9), id_of(11)});
  for (std::uint64_t n : {1, 2, 3, 4, 5, 6, 10})
    CHECK(j.load(id_of(n)).error() == tutti::journal_errc::run_not_found);
  if constexpr (requires { j.queue_depth(); }) CHECK(j.queue_depth().value() == 1);
  // The kept runs go on; a purged run's dedup key makes a new run.
  CHECK(j.append(id_of(7), rec(tutti::record_kind::attempt_started, 0, "a")));
  const auto claimed = j.claim_next("wf", 5, lease_of("b#1")).value();
  CHECK(std::any_of(claimed.begin(), claimed.end(), [](const auto& x) { return x.id == id_of(9); }));
  const auto again = j.submit("other", 1, {}, {.id = id_of(12), .dedup_key = "order-10"});
  REQUIRE(again);
  CHECK(again.value().created);
  CHECK(again.value().id == id_of(12));
  // Later, with a cut-off after every write: only run 11 is purged (7, 8, 9 have not ended).
  CHECK(j.purge_ended(wall_ms() + 60'000).value() == 1);
  CHECK(j.list({}).value().size() == 4);
}

TUTTI_CONFORMANCE_CASE_TAGGED("a journal's census counts its runs by status and finds the oldest running, queued and paused ones",
                              "[census]") {
  using namespace conformance;
  using tutti::run_status;
  store<TestType> s;
  auto& j = s.journal();
  {
    const tutti::run_census empty = j.census().value();
    CHECK(empty.total() == 0);
    CHECK(empty.oldest_running_unix_ms == 0);
    CHECK(empty.oldest_queued_unix_ms == 0);
    CHECK(empty.oldest_paused_unix_ms == 0);
    CHECK(empty.oldest_running_age() == 0ms);
    CHECK(empty.now_unix_ms > 0);
  }
  // Every status: runs 1-4 end with each outcome, 5 is resolved, 6 dead-lettered, 7 and 12
  // run, 8 is paused, 9 and 10 are queued, 11 succeeded twice over (a second succeeded run).
  for (std::uint8_t outcome = 0; outcome < 4; ++outcome) {
    REQUIRE(j.start(id_of(1 + outcome), "wf", 1, {}));
    tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
    fin.outcome = outcome;
    REQUIRE(j.append(id_of(1 + outcome), fin));
    s.advance(1ms);
  }
  REQUIRE(j.start(id_of(5), "wf", 1, {}));
  REQUIRE(tutti::resolve_run(j, id_of(5), "settled by hand"));
  REQUIRE(j.start(id_of(6), "wf", 1, {}));
  REQUIRE(j.append(id_of(6), rec(tutti::record_kind::dead_lettered, 0)));
  REQUIRE(j.start(id_of(7), "wf", 1, {}));
  s.advance(1ms);
  REQUIRE(j.start(id_of(8), "wf", 1, {}));
  REQUIRE(j.append(id_of(8), rec(tutti::record_kind::paused, 0)));
  REQUIRE(j.submit("wf", 1, {}, {.id = id_of(9)}));
  s.advance(1ms);
  REQUIRE(j.submit("wf", 1, {}, {.id = id_of(10)}));
  REQUIRE(j.start(id_of(11), "wf", 1, {}));
  REQUIRE(j.append(id_of(11), rec(tutti::record_kind::run_finished, 0)));
  REQUIRE(j.start(id_of(12), "wf", 1, {}));

  // What the census says is what the listing shows.
  const auto expect_listing = [&](const tutti::run_census& c) {
    const auto listed = j.list({}).value();
    std::map<run_status, std::uint64_t> by_status;
    std::map<run_status, std::int64_t> oldest;
    for (const auto& r : listed) {
      ++by_status[r.status];
      auto [it, fresh] = oldest.try_emplace(r.status, r.started_unix_ms);
      if (!fresh) it->second = std::min(it->second, r.started_unix_ms);
    }
    for (std::uint8_t v = 1; v <= 9; ++v) {
      const auto st = static_cast<run_status>(v);
      INFO(tutti::to_string(st));
      CHECK(c.count(st) == by_status[st]);
    }
    CHECK(c.total() == listed.size());
    CHECK(c.oldest_running_unix_ms == oldest[run_status::running]);
    CHECK(c.oldest_queued_unix_ms == oldest[run_status::queued]);
    CHECK(c.oldest_paused_unix_ms == oldest[run_status::paused]);
    CHECK(c.now_unix_ms >= c.oldest_running_unix_ms);
    CHECK(c.oldest_running_age() == std::chrono::milliseconds{c.now_unix_ms - c.oldest_running_unix_ms});
  };
  const tutti::run_census c = j.census().value();
  CHECK(c.count(run_status::succeeded) == 2);
  CHECK(c.count(run_status::failed) == 1);
  CHECK(c.count(run_status::compensated) == 1);
  CHECK(c.count(run_status::compensation_failed) == 1);
  CHECK(c.count(run_status::resolved) == 1);
  CHECK(c.count(run_status::dead_lettered) == 1);
  CHECK(c.count(run_status::running) == 2);
  CHECK(c.count(run_status::paused) == 1);
  CHECK(c.count(run_status::queued) == 2);
  CHECK(c.total() == 12);
  CHECK(c.oldest_running_unix_ms > 0);
  CHECK(c.oldest_queued_unix_ms > 0);
  CHECK(c.oldest_paused_unix_ms > 0);
  expect_listing(c);

  // The census follows the runs: a claim, an unpause, a run that ends, a purge.
  const auto claimed = j.claim(id_of(9), lease_of("a#1")).value();
  REQUIRE(tutti::unpause_run(j, id_of(8)));
  REQUIRE(j.append(id_of(7), rec(tutti::record_kind::run_finished, 0)));
  const tutti::run_census after = j.census().value();
  CHECK(after.count(run_status::queued) == 1);
  CHECK(after.count(run_status::paused) == 0);
  CHECK(after.oldest_paused_unix_ms == 0);
  CHECK(after.count(run_status::running) == 3);  // 8 (unpaused), 9 (claimed), 12
  CHECK(after.count(run_status::succeeded) == 3);
  CHECK(after.total() == 12);
  CHECK(claimed.epoch > 0);
  expect_listing(after);
  s.advance(10ms);
  const auto cut = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() + 60'000;
  REQUIRE(j.purge_ended(cut).value() == 8);
  const tutti::run_census purged = j.census().value();
  CHECK(purged.total() == 4);
  CHECK(purged.count(run_status::succeeded) == 0);
  expect_listing(purged);
}


// ---- search ------------------------------------------------------------------------------------

TUTTI_CONFORMANCE_CASE_TAGGED("a journal finds runs by business key, failed step and error code, alone or with status and time",
                              "[search]") {
  using namespace conformance;
  using tutti::run_status;
  store<TestType> s;
  auto& j = s.journal();
  const auto failed = [](std::string_view step, std::string_view category, int value) {
    tutti::record_view r = rec(tutti::record_kind::step_finished, 0, step);
    r.ok = false;
    r.error_category = category;
    r.error_value = value;
    r.message = "refused";
    return r;
  };
  // A run's end; a failed run's names the step its failure ended at, with the run's error.
  const auto finish = [](std::uint8_t outcome, std::string_view step = {},
                         std::string_view category = {}, int value = 0) {
    tutti::record_view r = rec(tutti::record_kind::run_finished, 0, step);
    r.outcome = outcome;
    r.error_category = category;
    r.error_value = value;
    return r;
  };
  // 1: order-1, an optional step (enrich) failed first, then charge (tutti 3) ended the run:
  // compensated, at charge — a failed step is not the run's failure, its end says which is.
  REQUIRE(j.start(id_of(1), "order", {7, 1, "order-1"}, {}));
  REQUIRE(j.append(id_of(1), failed("g/enrich", "generic", 5)));
  REQUIRE(j.append(id_of(1), failed("charge", "tutti", 3)));
  {
    const auto running = j.load(id_of(1)).value().summary;
    CHECK(running.failed_step.empty());  // not ended: no failure yet
  }
  REQUIRE(j.append(id_of(1), finish(2, "charge", "tutti", 3)));
  // 2: order-2, failed at reserve (generic 5).
  REQUIRE(j.start(id_of(2), "order", {7, 1, "order-2"}, {}));
  REQUIRE(j.append(id_of(2), failed("reserve", "generic", 5)));
  REQUIRE(j.append(id_of(2), finish(1, "reserve", "generic", 5)));
  // 3: order-1 again (a key is not unique); a step failed but the run succeeded.
  REQUIRE(j.start(id_of(3), "order", {7, 1, "order-1"}, {}));
  REQUIRE(j.append(id_of(3), failed("charge", "tutti", 3)));
  REQUIRE(j.append(id_of(3), finish(0)));
  // 4: no key; failed at charge, an operator retries, then it fails at ship (tutti 4).
  REQUIRE(j.start(id_of(4), "order", 7, {}));
  REQUIRE(j.append(id_of(4), finish(1, "charge", "tutti", 3)));
  CHECK(j.load(id_of(4)).value().summary.failed_step == "charge");
  REQUIRE(tutti::retry_run(j, id_of(4)));
  CHECK(j.load(id_of(4)).value().summary.failed_step.empty());
  REQUIRE(j.append(id_of(4), finish(1, "ship", "tutti", 4)));
  // 5: submitted with a key, still queued. 6: an end that names no step (an older engine's).
  REQUIRE(j.submit("order", {7, 1, "order-5"}, {}, {.id = id_of(5)}));
  REQUIRE(j.start(id_of(6), "order", 7, {}));
  REQUIRE(j.append(id_of(6), failed("charge", "tutti", 3)));
  REQUIRE(j.append(id_of(6), finish(1)));

  const auto ids = [&](tutti::run_filter f) {
    std::set<std::uint64_t> out;
    const auto listed = j.list(f).value();
    for (const auto& r : listed) out.insert(r.id.lo);
    return out;
  };
  const auto by_key = [](std::string k) {
    tutti::run_filter f;
    f.key = std::move(k);
    return f;
  };
  CHECK(ids(by_key("order-1")) == std::set<std::uint64_t>{1, 3});
  CHECK(ids(by_key("order-2")) == std::set<std::uint64_t>{2});
  CHECK(ids(by_key("order-5")) == std::set<std::uint64_t>{5});
  CHECK(ids(by_key("order-9")).empty());
  {
    auto f = by_key("order-1");
    f.status = run_status::compensated;
    CHECK(ids(f) == std::set<std::uint64_t>{1});
    f.status = run_status::succeeded;
    CHECK(ids(f) == std::set<std::uint64_t>{3});
    f.status.reset();
    f.workflow = "other";
    CHECK(ids(f).empty());
    f.workflow = "order";
    f.limit = 1;
    CHECK(j.list(f).value().size() == 1);
  }
  tutti::run_filter step;
  step.failed_step = "charge";  // run 1; 3 succeeded, 4 was retried, 6 named no step
  CHECK(ids(step) == std::set<std::uint64_t>{1});
  step.failed_step = "g/enrich";  // tolerated: never the run's failure
  CHECK(ids(step).empty());
  step.failed_step = "reserve";
  CHECK(ids(step) == std::set<std::uint64_t>{2});
  step.failed_step = "ship";
  CHECK(ids(step) == std::set<std::uint64_t>{4});
  tutti::run_filter error;
  error.error_category = "tutti";
  CHECK(ids(error) == std::set<std::uint64_t>{1, 4});
  error.error_value = 3;
  CHECK(ids(error) == std::set<std::uint64_t>{1});
  error.error_value = 4;
  CHECK(ids(error) == std::set<std::uint64_t>{4});
  error.error_value = 99;
  CHECK(ids(error).empty());
  error.error_category = "generic";
  error.error_value.reset();
  CHECK(ids(error) == std::set<std::uint64_t>{2});
  // Time bounds combine with a key: nothing started in the future.
  {
    auto f = by_key("order-1");
    f.started_after_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() + 60'000;
    CHECK(ids(f).empty());
    f.started_after_unix_ms = 0;
    f.started_before_unix_ms = 1;
    CHECK(ids(f).empty());
  }

  // The summary carries what was searched for, from `list` and from `load`.
  const auto all = j.list({}).value();
  for (const auto& r : all) {
    const auto loaded = j.load(r.id).value().summary;
    INFO(r.id.lo);
    CHECK(loaded.key == r.key);
    CHECK(loaded.failed_step == r.failed_step);
    CHECK(loaded.error_category == r.error_category);
    CHECK(loaded.error_value == r.error_value);
    switch (r.id.lo) {
      case 1:
        CHECK(r.key == "order-1");
        CHECK(r.failed_step == "charge");
        CHECK(r.error_category == "tutti");
        CHECK(r.error_value == 3);
        break;
      case 3:
        CHECK(r.key == "order-1");
        CHECK(r.failed_step.empty());
        CHECK(r.error_category.empty());
        CHECK(r.error_value == 0);
        break;
      case 4:
        CHECK(r.key.empty());
        CHECK(r.failed_step == "ship");
        CHECK(r.error_value == 4);
        break;
      case 5: CHECK(r.key == "order-5"); break;
      default: break;
    }
  }
  CHECK(j.load(id_of(6)).value().summary.failed_step.empty());
  // The unfiltered listing still finds every run (and the SQLite journal's count check holds).
  CHECK(j.list({}).value().size() == 6);
}

#endif  // TUTTI_TESTS_SUPPORT_JOURNAL_CONFORMANCE_HPP
