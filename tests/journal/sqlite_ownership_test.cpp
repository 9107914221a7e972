// Owned runs on the SQLite journal, with two connections in one process (as two processes
// would have): operator pauses racing runs are atomic, concurrent resume_all resumes each run
// once, a stale epoch is refused across connections, a lease is judged on the lease clock.
#include <catch2/catch.hpp>

#ifndef TUTTI_TEST_NO_SQLITE

#  include <atomic>
#  include <chrono>
#  include <map>
#  include <mutex>
#  include <string>
#  include <thread>
#  include <vector>

#  include <fmt/format.h>

#  include <tutti/tutti.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/sqlite.hpp>
#  include <tutti/testing/manual_clock.hpp>

#  include "support/temp_dir.hpp"

using namespace std::chrono_literals;

namespace {

tutti::sqlite_journal open_ok(const std::string& path, tutti::sqlite_options o = {}) {
  o.power_safe = false;  // the test kills no machine
  std::string why;
  auto j = tutti::sqlite_journal::open(path, o, &why);
  INFO(why);
  REQUIRE(j);
  return std::move(j).value();
}

struct counter {
  std::mutex m;
  std::map<std::string, int> calls;
  void call(const tutti::call_context& ctx) {
    const std::lock_guard lock{m};
    ++calls[fmt::format("{}", ctx.key())];
  }
};

auto make_workflow(counter& c) {
  return tutti::workflow<"pay">(
      tutti::step<"a">([&c](const int& x, const tutti::call_context& ctx) { c.call(ctx); return x; }),
      tutti::step<"b">([&c](tutti::from<"a", int> x, const tutti::call_context& ctx) {
        c.call(ctx);
        return *x + 1;
      }),
      tutti::pivot<"c">([&c](tutti::from<"b", int> x, const tutti::call_context& ctx) {
        c.call(ctx);
        return *x + 1;
      }));
}

}  // namespace

TEST_CASE("SQLite: a pause racing a run lands before its end or is refused", "[journal][sqlite][ownership]") {
  const support::temp_dir dir;
  const std::string path = dir.file("j.db");
  auto engine = open_ok(path);
  auto operator_side = open_ok(path);  // another connection, as tutti-journal would be
  counter c;
  const auto wf = make_workflow(c);
  const tutti::durable_workflow durable{wf, engine, {.name = "e"}};
  constexpr std::uint64_t runs = 100;
  std::atomic<bool> done{false};
  std::atomic<int> accepted{0};
  std::thread pauser([&] {
    while (!done.load())
      for (std::uint64_t i = 1; i <= runs; ++i)
        if (tutti::pause_run(operator_side, tutti::run_id{6, i})) ++accepted;
  });
  for (std::uint64_t i = 1; i <= runs; ++i) (void)durable.run(static_cast<int>(i), {.id = {6, i}});
  done = true;
  pauser.join();
  int paused = 0;
  for (std::uint64_t i = 1; i <= runs; ++i) {
    const auto run = engine.load({6, i}).value();
    bool ended = false;
    for (const auto& rec : run.records) {
      CHECK_FALSE(ended);  // nothing follows run_finished: no pause after the end
      ended = rec.kind == tutti::record_kind::run_finished;
    }
    const auto s = run.summary.status;
    CHECK((s == tutti::run_status::succeeded || s == tutti::run_status::paused));
    paused += s == tutti::run_status::paused ? 1 : 0;
  }
  // Every paused run is whole: unpaused, it finishes.
  for (std::uint64_t i = 1; i <= runs; ++i) {
    if (engine.status({6, i}).value() != tutti::run_status::paused) continue;
    REQUIRE(tutti::unpause_run(operator_side, {6, i}));
    const auto r = durable.resume<int>({6, i});
    REQUIRE(r);
    CHECK(r.error == std::error_code{});
    CHECK(engine.status({6, i}).value() == tutti::run_status::succeeded);
  }
  for (const auto& [key, n] : c.calls) CHECK(n == 1);
  INFO(accepted.load() << " pauses accepted, " << paused << " runs paused");
  CHECK(accepted.load() >= paused);
}

TEST_CASE("SQLite: engines on two connections resume each stranded run once, epochs fence",
          "[journal][sqlite][ownership]") {
  const support::temp_dir dir;
  const std::string path = dir.file("j.db");
  tutti::testing::manual_clock store;
  tutti::sqlite_options o;
  o.lease_clock = tutti::any_clock{store};
  auto j1 = open_ok(path, o);
  auto j2 = open_ok(path, o);
  counter c;
  const auto wf = make_workflow(c);
  const tutti::durable_workflow e1{wf, j1, {.name = "one"}};
  const tutti::durable_workflow e2{wf, j2, {.name = "two"}};
  for (std::uint64_t i = 1; i <= 100; ++i)
    REQUIRE(j1.start({3, i}, "pay", e1.fingerprint(), tutti::to_bytes(static_cast<int>(i))));
  std::atomic<std::size_t> resumed{0};
  std::atomic<int> errors{0};
  const auto sweep = [&](const auto& e) {
    for (int round = 0; round < 3; ++round) {
      const auto n = e.template resume_all<int>([&](const tutti::run_id&, const auto& r) {
        if (r.error) ++errors;
      });
      if (n) resumed += n.value();
      else ++errors;
    }
  };
  std::thread t1([&] { sweep(e1); });
  std::thread t2([&] { sweep(e2); });
  t1.join();
  t2.join();
  CHECK(errors.load() == 0);
  CHECK(resumed.load() == 100);
  CHECK(c.calls.size() == 300);
  for (const auto& [key, n] : c.calls) CHECK(n == 1);

  // Fencing across connections, leases on the lease clock.
  const tutti::run_id id{4, 1};
  REQUIRE(j1.start(id, "pay", 1, {}, {.owner = "one#1", .lease = 1000ms}));
  CHECK(j2.claim(id, {.owner = "two#1", .lease = 1000ms}).error() == tutti::journal_errc::owned);
  store.advance(1001ms);
  const auto taken = j2.claim(id, {.owner = "two#1", .lease = 1000ms});
  REQUIRE(taken);
  CHECK(taken.value().takeover);
  CHECK(taken.value().epoch == 2);
  tutti::record_view r;
  r.kind = tutti::record_kind::attempt_started;
  r.epoch = 1;
  CHECK(j1.append(id, r).error() == tutti::journal_errc::fenced);  // j1 read its head before
  CHECK(j1.renew(id, 1).error() == tutti::journal_errc::fenced);
  r.epoch = 2;
  CHECK(j2.append(id, r));
  CHECK(j1.load(id).value().summary.owner == "two#1");
}

TEST_CASE("SQLite: list, load and verify read one snapshot while another connection writes",
          "[journal][sqlite][ownership]") {
  // Each of them reads with several statements (the rows, then the run count; a run's row, then
  // its records): another connection's commit between two of them once made them disagree and
  // pass for a damaged file ("the journal counts 70 runs and its listing finds 69").
  support::temp_dir dir;
  const std::string path = dir.file("snap.db");
  auto writer = open_ok(path);
  auto reader = open_ok(path);
  const tutti::run_id busy{0x5A, 0};
  REQUIRE(writer.start(busy, "wf", 1, {}));
  std::atomic<bool> done{false};
  std::thread w([&] {
    for (std::uint64_t i = 1; i <= 1500; ++i) {
      (void)writer.start(tutti::run_id{0x5A, i}, "wf", 1, {});
      tutti::record_view r;
      r.kind = tutti::record_kind::attempt_started;
      r.step = "s";
      (void)writer.append(busy, r);
    }
    done = true;
  });
  int reads = 0;
  std::string first_error;
  while (!done.load() || reads < 3) {
    ++reads;
    const auto l = reader.list({});
    const auto one = reader.load(busy);
    if (first_error.empty() && !l) first_error = "list: " + reader.last_error_message();
    if (first_error.empty() && !one) first_error = "load: " + reader.last_error_message();
    if (first_error.empty() && one && one.value().records.size() != one.value().summary.records)
      first_error = "load: a run's records and its count disagree";
  }
  w.join();
  INFO(reads << " reads");
  CHECK(first_error == "");  // shows the first failed read, if any
  const auto all = reader.list({});
  REQUIRE(all);
  CHECK(all.value().size() == 1501);
  CHECK(reader.load(busy).value().records.size() == 1501);  // run_started and 1,500 more
  CHECK(reader.verify());
}
#endif  // TUTTI_TEST_NO_SQLITE
