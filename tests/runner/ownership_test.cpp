// Owned runs on the in-memory journal: claims, epochs and fencing; an engine whose run was taken
// over stops at once; concurrent resume_all and a sweeper thread run nothing twice; operator
// commands on live runs are atomic and fenced.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// What the services saw, keyed by idempotency key: thread-safe, as a real ledger.
struct ledger {
  std::mutex m;
  std::map<std::string, int> calls;  // "<run>:<step>" -> calls
  std::map<std::string, int> undos;
  std::map<std::string, std::uint64_t> epochs;  // highest epoch a call carried, per key
  void call(const tutti::call_context& ctx) {
    const std::lock_guard lock{m};
    const std::string k = fmt::format("{}", ctx.key());
    ++calls[k];
    epochs[k] = std::max(epochs[k], ctx.epoch);
  }
  void undo(const std::string& k) {
    const std::lock_guard lock{m};
    ++undos[k];
  }
  int max_calls() {
    const std::lock_guard lock{m};
    int most = 0;
    for (const auto& [k, n] : calls) most = std::max(most, n);
    return most;
  }
  std::size_t keys() {
    const std::lock_guard lock{m};
    return calls.size();
  }
};

/// A gate a step waits at, so a test can hold an engine in the middle of a step.
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool entered = false;
  bool open = false;
  void pass() {
    std::unique_lock lock{m};
    entered = true;
    cv.notify_all();
    cv.wait(lock, [this] { return open; });
  }
  bool wait_entered(std::chrono::milliseconds timeout) {
    std::unique_lock lock{m};
    return cv.wait_for(lock, timeout, [this] { return entered; });
  }
  void release() {
    const std::lock_guard lock{m};
    open = true;
    cv.notify_all();
  }
};

auto make_payment(ledger& l, gate* hold_in_charge = nullptr) {
  return tutti::workflow<"payment">(
      tutti::step<"reserve">([&l](const int& cents, const tutti::call_context& ctx) {
        l.call(ctx);
        return cents;
      }).compensate_with([&l](const int&, const tutti::call_context& ctx) {
        l.undo(fmt::format("{}", ctx.key()));
      }),
      tutti::step<"charge">([&l, hold_in_charge](tutti::from<"reserve", int> c,
                                                 const tutti::call_context& ctx) {
        l.call(ctx);
        if (hold_in_charge != nullptr) hold_in_charge->pass();
        return *c * 2;
      }).compensate_with([&l](const int&, const tutti::call_context& ctx) {
        l.undo(fmt::format("{}", ctx.key()));
      }),
      tutti::pivot<"capture">([&l](tutti::from<"charge", int> c, const tutti::call_context& ctx) {
        l.call(ctx);
        return *c + 1;
      }));
}

std::size_t count_kind(const tutti::stored_run& r, tutti::record_kind k) {
  std::size_t n = 0;
  for (const auto& rec : r.records) n += rec.kind == k ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("a claim raises the epoch, a stale epoch's writes are refused", "[runner][ownership]") {
  tutti::testing::manual_clock store;
  tutti::memory_journal j{{.lease_clock = tutti::any_clock{store}}};
  const tutti::run_id id{1, 1};
  const auto a = j.start(id, "w", 1, {}, {.owner = "a#1", .lease = 1000ms});
  REQUIRE(a);
  CHECK(a.value().epoch == 1);
  CHECK_FALSE(a.value().takeover);
  // Held by a live lease: another engine cannot claim it.
  CHECK(j.claim(id, {.owner = "b#1", .lease = 1000ms}).error() == tutti::journal_errc::owned);
  tutti::record_view rec;
  rec.kind = tutti::record_kind::attempt_started;
  rec.epoch = 1;
  REQUIRE(j.append(id, rec));  // a write renews the lease
  store.advance(900ms);
  CHECK(j.claim(id, {.owner = "b#1", .lease = 1000ms}).error() == tutti::journal_errc::owned);
  store.advance(200ms);  // 1100 ms after the last write: expired
  const auto b = j.claim(id, {.owner = "b#1", .lease = 1000ms});
  REQUIRE(b);
  CHECK(b.value().epoch == 2);
  CHECK(b.value().takeover);
  CHECK(b.value().recoveries == 1);
  // a's writes, renewals and release are refused now; b's go through.
  CHECK(j.append(id, rec).error() == tutti::journal_errc::fenced);
  CHECK(j.renew(id, 1).error() == tutti::journal_errc::fenced);
  CHECK(j.release(id, 1).error() == tutti::journal_errc::fenced);
  rec.epoch = 2;
  CHECK(j.append(id, rec));
  const auto run = j.load(id).value();
  CHECK(run.summary.owner == "b#1");
  CHECK(run.summary.epoch == 2);
  CHECK(count_kind(run, tutti::record_kind::claimed) == 2);
  // After the run's end nothing more is written, not even by its owner.
  rec.kind = tutti::record_kind::run_finished;
  REQUIRE(j.append(id, rec));
  CHECK(j.append(id, rec).error() == tutti::journal_errc::fenced);
  CHECK(j.claim(id, {.owner = "c#1"}).error() == tutti::journal_errc::not_resumable);
  CHECK(j.load(id).value().summary.owner.empty());
}

TEST_CASE("a released run is claimable at once, a dead incarnation's runs by the same name",
          "[runner][ownership]") {
  tutti::testing::manual_clock store;
  tutti::memory_journal j{{.lease_clock = tutti::any_clock{store}}};
  const tutti::run_id id{1, 2};
  REQUIRE(j.start(id, "w", 1, {}, {.owner = "pay#100.a", .lease = 60s}));
  // Another engine of another name waits for the lease...
  CHECK(j.claim(id, {.owner = "other#1", .lease = 60s, .reclaim = "other#"}).error() ==
        tutti::journal_errc::owned);
  // ...the same name in another incarnation (a restart) recovers it at once...
  const auto again = j.claim(id, {.owner = "pay#200.b", .lease = 60s, .reclaim = "pay#"});
  REQUIRE(again);
  CHECK(again.value().takeover);
  // ...but not from itself (a sweeper next to a worker of the same engine).
  CHECK(j.claim(id, {.owner = "pay#200.b", .lease = 60s, .reclaim = "pay#"}).error() ==
        tutti::journal_errc::owned);
  REQUIRE(j.release(id, again.value().epoch));
  const auto taken = j.claim(id, {.owner = "other#1", .lease = 60s});
  REQUIRE(taken);
  CHECK_FALSE(taken.value().takeover);  // handed back: not a recovery
  CHECK(taken.value().recoveries == 1);
}

TEST_CASE("an engine whose run was taken over calls nothing more and writes nothing more",
          "[runner][ownership][takeover]") {
  // The in-process zombie: engine A is held inside `charge` while its lease expires; B takes
  // the run over and finishes it; then A's charge returns.
  tutti::testing::manual_clock store;
  tutti::memory_journal j{{.lease_clock = tutti::any_clock{store}}};
  ledger l;
  gate hold;
  const auto slow = make_payment(l, &hold);
  const auto fast = make_payment(l);
  const tutti::durable_workflow a{slow, j, {.name = "a", .lease = 1000ms}};
  const tutti::durable_workflow b{fast, j, {.name = "b", .lease = 1000ms}};
  const tutti::run_id id{2, 1};

  std::optional<decltype(a.run(100))> first;
  std::thread engine_a([&] { first.emplace(a.run(100, {.id = id})); });
  REQUIRE(hold.wait_entered(10s));
  CHECK(b.resume<int>(id).error == tutti::journal_errc::owned);  // A's lease is live
  store.advance(1500ms);
  const auto second = b.resume<int>(id);
  REQUIRE(second);
  REQUIRE(second->has_value());
  CHECK(second->value() == 201);  // 100 * 2 + 1
  hold.release();
  engine_a.join();

  REQUIRE(first.has_value());
  CHECK(first->error == tutti::journal_errc::fenced);
  CHECK_THAT(first->message, Catch::Contains("taken over"));
  // A called charge once (in flight when it lost the run) and nothing after: no capture, no
  // undo; B called charge again (same key, a later epoch) and capture once.
  const std::string key = fmt::format("{}", id);
  CHECK(l.calls[key + ":reserve"] == 1);
  CHECK(l.calls[key + ":charge"] == 2);
  CHECK(l.calls[key + ":capture"] == 1);
  CHECK(l.undos.empty());
  CHECK(l.epochs[key + ":capture"] == 2);
  const auto run = j.load(id).value();
  CHECK(count_kind(run, tutti::record_kind::run_finished) == 1);
  CHECK(run.summary.status == tutti::run_status::succeeded);
  // Every record after B's claim carries B's epoch: none of A's got in.
  bool after_claim = false;
  for (const auto& rec : run.records) {
    if (rec.kind == tutti::record_kind::claimed && rec.epoch == 2) after_claim = true;
    if (after_claim) CHECK(rec.epoch == 2);
  }
  CHECK(after_claim);
}

TEST_CASE("concurrent resume_all and a sweeper thread resume each run once",
          "[runner][ownership][takeover]") {
  tutti::memory_journal j;
  ledger l;
  const auto wf = make_payment(l);
  // 300 runs stranded by a dead engine (unclaimed, records cut after reserve's start).
  std::vector<tutti::run_id> ids;
  {
    const tutti::durable_workflow dead{wf, j};
    for (std::uint64_t i = 1; i <= 300; ++i) {
      const tutti::run_id id{3, i};
      REQUIRE(j.start(id, "payment", dead.fingerprint(), tutti::to_bytes(static_cast<int>(i))));
      ids.push_back(id);
    }
  }
  // Four engines (two share one durable_workflow, as a worker and its sweeper do) call
  // resume_all at once, and a fifth starts new runs meanwhile.
  const tutti::durable_workflow e1{wf, j};
  const tutti::durable_workflow e2{wf, j};
  const tutti::durable_workflow e3{wf, j, {.name = "same"}};
  std::atomic<std::size_t> resumed{0};
  std::atomic<int> errors{0};  // Catch2 assertions are for the main thread only
  std::vector<std::thread> threads;
  for (const auto* e : {&e1, &e2, &e3, &e3}) {
    threads.emplace_back([e, &resumed, &errors] {
      for (int round = 0; round < 3; ++round) {
        const auto n = e->resume_all<int>([&errors](const tutti::run_id&, const auto& r) {
          if (r.error) ++errors;
        });
        if (!n) ++errors;
        else resumed += n.value();
      }
    });
  }
  threads.emplace_back([&] {
    for (std::uint64_t i = 1; i <= 100; ++i) (void)e3.run(static_cast<int>(i), {.id = {4, i}});
  });
  for (auto& t : threads) t.join();
  CHECK(errors.load() == 0);
  CHECK(resumed.load() == 300);
  CHECK(l.max_calls() == 1);  // every idempotency key called once
  CHECK(l.keys() == 400 * 3);
  for (const auto& id : ids) {
    const auto run = j.load(id).value();
    CHECK(run.summary.status == tutti::run_status::succeeded);
    CHECK(count_kind(run, tutti::record_kind::run_finished) == 1);
  }
}

TEST_CASE("resolving a live run stops it at its next write, nothing more is called",
          "[runner][ownership]") {
  tutti::memory_journal j;
  ledger l;
  gate hold;
  const auto wf = make_payment(l, &hold);
  const tutti::durable_workflow durable{wf, j};
  const tutti::run_id id{5, 1};
  std::optional<decltype(durable.run(1))> out;
  std::thread engine([&] { out.emplace(durable.run(7, {.id = id})); });
  REQUIRE(hold.wait_entered(10s));
  REQUIRE(tutti::resolve_run(j, id, "settled by phone"));
  hold.release();
  engine.join();
  REQUIRE(out.has_value());
  CHECK(out->error == tutti::journal_errc::fenced);
  const std::string key = fmt::format("{}", id);
  CHECK(l.calls[key + ":capture"] == 0);  // the pivot was never called
  CHECK(l.undos.empty());                 // nothing undone: the operator settled it
  const auto run = j.load(id).value();
  CHECK(run.summary.status == tutti::run_status::resolved);
  CHECK(run.records.back().kind == tutti::record_kind::resolved);
  CHECK(count_kind(run, tutti::record_kind::run_finished) == 0);
}

TEST_CASE("operator commands racing runs are checked and written atomically",
          "[runner][ownership]") {
  // Pauses fired at runs while they run: each either lands before the run's end (the run stops
  // at its next step and is paused, or had passed its last step check and ends normally) or is
  // refused; a finished run is never paused, and no record follows run_finished.
  tutti::memory_journal j;
  ledger l;
  const auto wf = make_payment(l);
  const tutti::durable_workflow durable{wf, j};
  constexpr std::uint64_t runs = 200;
  std::atomic<bool> done{false};
  std::atomic<int> accepted{0}, refused{0};
  std::thread pauser([&] {
    while (!done.load()) {
      for (std::uint64_t i = 1; i <= runs; ++i) {
        const auto r = tutti::pause_run(j, tutti::run_id{6, i});
        if (r) ++accepted;
        else ++refused;
      }
    }
  });
  for (std::uint64_t i = 1; i <= runs; ++i) (void)durable.run(static_cast<int>(i), {.id = {6, i}});
  done = true;
  pauser.join();
  for (std::uint64_t i = 1; i <= runs; ++i) {
    const auto run = j.load({6, i}).value();
    const auto s = run.summary.status;
    CHECK((s == tutti::run_status::succeeded || s == tutti::run_status::paused));
    bool ended = false;
    for (const auto& rec : run.records) {
      CHECK_FALSE(ended);  // nothing after run_finished
      ended = rec.kind == tutti::record_kind::run_finished;
    }
    if (s == tutti::run_status::paused) CHECK(count_kind(run, tutti::record_kind::run_finished) == 0);
  }
  CHECK(accepted.load() + refused.load() > 0);
}
