// The PostgreSQL journal beyond the conformance suite, against a real server: the versioned
// schema and its migrations, leases on the database's clock, fencing while another connection
// claims, a write-once record (a conflict is a divergence, never an overwrite), the sweep, the
// purge, lock_timeout, a lost connection (the journal reconnects with back-off) and a runner
// that carries on after its connection was cut.
#include "postgres/pg_support.hpp"

#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/runner.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct pay {
  int n = 0;
  template <class A>
  friend void serialize(A& ar, pay& p) {
    ar(p.n);
  }
};

tutti::lease_request lease_of(std::string_view owner, std::chrono::milliseconds ms = 1000ms) {
  return tutti::lease_request{owner, ms, {}};
}

tutti::record_view rec(tutti::record_kind k, std::uint64_t epoch, std::string_view step = {}) {
  tutti::record_view r;
  r.kind = k;
  r.epoch = epoch;
  r.step = step;
  return r;
}

tutti::postgres_journal open_ok(const pg_support::schema& s, tutti::postgres_options o = {}) {
  o.schema = s.name;
  std::string why;
  auto j = tutti::postgres_journal::open(pg_support::conninfo(), o, &why);
  INFO(why);
  REQUIRE(j);
  return std::move(j.value());
}

/// One value of a query on a connection of its own ("" on error).
std::string query1(const std::string& sql) {
  PGconn* c = PQconnectdb(pg_support::conninfo().c_str());
  std::string out;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

std::int64_t server_now_ms() {
  return std::stoll(query1("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"));
}

/// Ends every connection of the journals on schema `s` (as a server restart would, for them).
int cut_connections(const pg_support::schema& s) {
  return std::stoi(query1(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = "
      "'tutti:" + s.name + "'"));
}

template <class P>
bool eventually(P pred, std::chrono::milliseconds timeout = 20s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a new PostgreSQL journal has the current schema version, replicas opening at once migrate it once",
          "[postgres][schema]") {
  pg_support::schema s;
  std::vector<std::thread> ts;
  std::atomic<int> opened{0};
  std::mutex m;
  std::vector<std::string> why_all;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      tutti::postgres_options o;
      o.schema = s.name;
      std::string why;
      if (auto j = tutti::postgres_journal::open(pg_support::conninfo(), o, &why)) {
        ++opened;
      } else {
        const std::lock_guard lock{m};
        why_all.push_back(why);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(why_all == std::vector<std::string>{});
  CHECK(opened.load() == 4);
  CHECK(query1("SELECT value FROM \"" + s.name + "\".meta WHERE key = 'schema_version'") ==
        std::to_string(tutti::postgres_journal_schema_version));
  CHECK(query1("SELECT count(*) FROM pg_tables WHERE schemaname = '" + s.name + "'") == "3");
}

/// Takes a current journal's `runs` table back to schema 2: no search columns, no search indexes.
constexpr const char* pg_drop_search_sql =
    "DROP INDEX runs_by_key; DROP INDEX runs_by_failed_step; DROP INDEX runs_by_error; "
    "ALTER TABLE runs DROP COLUMN run_key, DROP COLUMN failed_step, DROP COLUMN error_category, "
    "DROP COLUMN error_value; ";

TEST_CASE("a schema-1 PostgreSQL journal is migrated to the current schema: its runs are version 1, its functions new",
          "[postgres][schema][version]") {
  pg_support::schema s;
  {
    auto j = open_ok(s);
    REQUIRE(j.start(tutti::run_id{1, 1}, "checkout", 7, {}));
  }
  // What schema 1 had: no version column, and functions without versions (claim_next and
  // start_run with schema 1's signatures stand for them all).
  const std::string q = "\"" + s.name + "\"";
  REQUIRE(pg_support::exec(
              "SET search_path = " + q + "; " + pg_drop_search_sql + "ALTER TABLE runs DROP COLUMN version; "
              "DROP FUNCTION claim_next; DROP FUNCTION start_run; "
              "CREATE FUNCTION claim_next(p_wf text, p_max bigint, p_owner text, p_lease_ms bigint, "
              "p_reclaim text, p_lock_timeout text, p_now bigint) RETURNS void LANGUAGE sql AS $$ $$; "
              "CREATE FUNCTION start_run(p_id uuid, p_wf text, p_fp bigint, p_input bytea, "
              "p_owner text, p_lease_ms bigint, p_now bigint) RETURNS void LANGUAGE sql AS $$ $$; "
              "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
              .empty());
  auto j = open_ok(s);
  CHECK(query1("SELECT value FROM " + q + ".meta WHERE key = 'schema_version'") ==
        std::to_string(tutti::postgres_journal_schema_version));
  CHECK(j.load(tutti::run_id{1, 1}).value().summary.version == 1);
  const auto claimed = j.claim_next("checkout", 5, {"a#1"});
  REQUIRE(claimed);
  REQUIRE(claimed.value().size() == 1);
  CHECK(claimed.value()[0].version == 1);
  REQUIRE(j.submit("checkout", tutti::workflow_version{8, 2}, {}, {.id = tutti::run_id{1, 2}}));
  CHECK(j.load(tutti::run_id{1, 2}).value().summary.version == 2);
  REQUIRE(j.start(tutti::run_id{1, 3}, "checkout", tutti::workflow_version{8, 3}, {}, {"b#1"}));
  CHECK(j.load(tutti::run_id{1, 3}).value().summary.version == 3);
  // One function of each name: schema 1's were dropped, not left beside the new ones.
  CHECK(query1("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
               "WHERE n.nspname = '" + s.name + "' AND p.proname IN ('claim_next', 'start_run')") == "2");
}

TEST_CASE("a schema-2 PostgreSQL journal is migrated to 3: its runs' failures are read from their records",
          "[postgres][schema][search]") {
  pg_support::schema s;
  const auto failed = [](std::string_view step, int value) {
    tutti::record_view r;
    r.kind = tutti::record_kind::step_finished;
    r.step = step;
    r.error_category = "tutti";
    r.error_value = value;
    return r;
  };
  const auto finished = [](std::uint8_t outcome) {
    tutti::record_view r;
    r.kind = tutti::record_kind::run_finished;
    r.outcome = outcome;
    return r;
  };
  const tutti::run_id a{2, 1}, b{2, 2}, c{2, 3};
  {
    auto j = open_ok(s);
    // a: charge, then ship failed: failed at charge. b: a failure, a retry, another: failed at
    // the second. c: a step failed, the run succeeded: no failure.
    REQUIRE(j.start(a, "checkout", 7, {}));
    REQUIRE(j.append(a, failed("charge", 3)));
    REQUIRE(j.append(a, failed("ship", 4)));
    REQUIRE(j.append(a, finished(1)));
    REQUIRE(j.start(b, "checkout", 7, {}));
    REQUIRE(j.append(b, failed("charge", 3)));
    REQUIRE(j.append(b, finished(1)));
    REQUIRE(tutti::retry_run(j, b));
    REQUIRE(j.append(b, failed("reserve", 5)));
    REQUIRE(j.append(b, finished(2)));
    REQUIRE(j.start(c, "checkout", 7, {}));
    REQUIRE(j.append(c, failed("charge", 3)));
    REQUIRE(j.append(c, finished(0)));
  }
  const std::string q = "\"" + s.name + "\"";
  REQUIRE(pg_support::exec("SET search_path = " + q + "; " + pg_drop_search_sql +
                           "UPDATE meta SET value = '2' WHERE key = 'schema_version'")
              .empty());
  auto j = open_ok(s);
  CHECK(query1("SELECT value FROM " + q + ".meta WHERE key = 'schema_version'") ==
        std::to_string(tutti::postgres_journal_schema_version));
  const auto sa = j.load(a).value().summary;
  CHECK(sa.failed_step == "charge");
  CHECK(sa.error_category == "tutti");
  CHECK(sa.error_value == 3);
  CHECK(j.load(b).value().summary.failed_step == "reserve");
  CHECK(j.load(c).value().summary.failed_step.empty());
  tutti::run_filter f;
  f.error_category = "tutti";
  f.error_value = 5;
  REQUIRE(j.list(f).value().size() == 1);
  CHECK(j.list(f).value()[0].id == b);
  REQUIRE(j.start(tutti::run_id{2, 4}, "checkout", {7, 1, "order-4"}, {}));
  CHECK(j.load(tutti::run_id{2, 4}).value().summary.key == "order-4");
}

TEST_CASE("a schema-3 PostgreSQL journal is migrated to 4: its runs read as binary, new runs "
          "record a JSON input",
          "[postgres][schema][json]") {
  pg_support::schema s;
  const std::string input = R"({"order":"A-1"})";
  const auto text = std::as_bytes(std::span(input.data(), input.size()));
  {
    auto j = open_ok(s);
    REQUIRE(j.start(tutti::run_id{4, 1}, "checkout", 7, text));
  }
  // What schema 3 had: start_run and submit_run without the input's encoding.
  const std::string q = "\"" + s.name + "\"";
  REQUIRE(pg_support::exec(
              "SET search_path = " + q + "; DROP FUNCTION start_run; DROP FUNCTION submit_run; "
              "CREATE FUNCTION start_run(p_id uuid, p_wf text, p_fp bigint, p_input bytea, "
              "p_owner text, p_lease_ms bigint, p_now bigint, p_version bigint, p_key text) "
              "RETURNS void LANGUAGE sql AS $$ $$; "
              "CREATE FUNCTION submit_run(p_id uuid, p_wf text, p_fp bigint, p_input bytea, "
              "p_dedup text, p_partition text, p_exclusive boolean, p_priority bigint, "
              "p_max_queued bigint, p_now bigint, p_version bigint, p_key text) "
              "RETURNS void LANGUAGE sql AS $$ $$; "
              "UPDATE meta SET value = '3' WHERE key = 'schema_version'")
              .empty());
  auto j = open_ok(s);
  CHECK(query1("SELECT value FROM " + q + ".meta WHERE key = 'schema_version'") ==
        std::to_string(tutti::postgres_journal_schema_version));
  CHECK(j.load(tutti::run_id{4, 1}).value().input_encoding == tutti::payload_encoding::binary);
  tutti::workflow_version wv{7, 1};
  wv.input_encoding = tutti::payload_encoding::json;
  REQUIRE(j.start(tutti::run_id{4, 2}, "checkout", wv, text, {"a#1"}));
  REQUIRE(j.submit("checkout", wv, text, {.id = tutti::run_id{4, 3}}));
  for (const std::uint64_t n : {2u, 3u}) {
    const auto run = j.load(tutti::run_id{4, n}).value();
    CHECK(run.input_encoding == tutti::payload_encoding::json);
    CHECK(run.input == std::vector<std::byte>(text.begin(), text.end()));
  }
  CHECK(query1("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
               "WHERE n.nspname = '" + s.name + "' AND p.proname IN ('start_run', 'submit_run')") == "2");
}

TEST_CASE("a PostgreSQL journal refuses a newer schema and migrates an older one",
          "[postgres][schema]") {
  {
    pg_support::schema s;
    { auto j = open_ok(s); }
    REQUIRE(pg_support::exec("UPDATE \"" + s.name + "\".meta SET value = '99' WHERE key = 'schema_version'").empty());
    tutti::postgres_options o;
    o.schema = s.name;
    std::string why;
    const auto j = tutti::postgres_journal::open(pg_support::conninfo(), o, &why);
    REQUIRE_FALSE(j);
    CHECK(j.error() == tutti::journal_errc::unknown_schema);
    CHECK(why.find("schema version 99") != std::string::npos);
    CHECK(query1("SELECT value FROM \"" + s.name + "\".meta WHERE key = 'schema_version'") == "99");
  }
  {
    // A version-0 schema (the bootstrap only, as a crash after it leaves): migrated on open.
    pg_support::schema s;
    REQUIRE(pg_support::exec("CREATE SCHEMA \"" + s.name + "\"; SET search_path = \"" + s.name +
                             "\"; " + tutti::detail::pg_bootstrap_sql)
                .empty());
    auto j = open_ok(s);
    CHECK(query1("SELECT value FROM \"" + s.name + "\".meta WHERE key = 'schema_version'") ==
          std::to_string(tutti::postgres_journal_schema_version));
    CHECK(j.start(tutti::run_id{1, 1}, "wf", 1, {}));
  }
  {
    pg_support::schema s;
    tutti::postgres_options o;
    o.schema = s.name;
    o.create_if_missing = false;
    std::string why;
    const auto j = tutti::postgres_journal::open(pg_support::conninfo(), o, &why);
    REQUIRE_FALSE(j);
    CHECK(why.find("create_if_missing") != std::string::npos);
  }
  {
    std::string why;
    const auto bad = tutti::postgres_journal::open("host=/nonexistent-dir-of-tutti dbname=x", {}, &why);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == tutti::journal_errc::io_error);
    CHECK(why.find("cannot connect to PostgreSQL") != std::string::npos);
    tutti::postgres_options o;
    o.schema = "";
    CHECK(tutti::postgres_journal::open(pg_support::conninfo(), o).error() ==
          std::errc::invalid_argument);
  }
}

TEST_CASE("PostgreSQL leases are judged on the database's clock", "[postgres][ownership]") {
  pg_support::schema s;
  auto a = open_ok(s);
  auto b = open_ok(s);
  const std::int64_t before = server_now_ms();
  const auto c = a.start(tutti::run_id{1, 1}, "wf", 1, {}, lease_of("a#1", 300ms)).value();
  const std::int64_t after = server_now_ms();
  CHECK(c.lease_until_ms - 300 >= before);
  CHECK(c.lease_until_ms - 300 <= after);
  CHECK(b.claim(tutti::run_id{1, 1}, lease_of("b#1")).error() == tutti::journal_errc::owned);
  // Once the server's clock passes the lease, B takes the run over.
  REQUIRE(eventually([&] { return server_now_ms() > c.lease_until_ms; }));
  const auto taken = b.claim(tutti::run_id{1, 1}, lease_of("b#1")).value();
  CHECK(taken.takeover);
  CHECK(taken.epoch == 2);
  CHECK(a.append(tutti::run_id{1, 1}, rec(tutti::record_kind::attempt_started, 1, "x")).error() ==
        tutti::journal_errc::fenced);
}

TEST_CASE("an engine writing while another connection claims its run: nothing of the old epoch after the claim",
          "[postgres][ownership]") {
  pg_support::schema s;
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  tutti::postgres_options o;
  o.lease_clock = tutti::any_clock{clock};
  auto a = open_ok(s, o);
  auto b = open_ok(s, o);
  const tutti::run_id id{2, 2};
  REQUIRE(a.start(id, "wf", 1, {}, lease_of("a#1", 100ms)));
  std::atomic<bool> fenced{false}, fenced_stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (std::uint32_t i = 1; i < 1'000'000 && !fenced && !fenced_stop; ++i) {
      tutti::record_view r = rec(tutti::record_kind::attempt_started, 1, "x");
      r.attempt = i;
      auto w = a.append(id, r);
      if (!w) {
        fenced = w.error() == tutti::journal_errc::fenced;
        break;
      }
      ++written;
    }
  });
  eventually([&] { return written.load() > 20; });
  // A's writes renew its lease (on this clock): B moves the clock past it and claims, until a
  // claim lands between two of A's writes (A's last write then renewed an expired lease).
  std::optional<tutti::run_claim> c;
  for (int tries = 0; tries < 10'000 && !c && !fenced; ++tries) {
    clock.advance(1000ms);
    auto got = b.claim(id, lease_of("b#1"));
    if (got) c = got.value();
    else if (got.error() != tutti::journal_errc::owned) break;
  }
  if (!c) fenced_stop = true;  // no claim landed: stop A (and fail below)
  writer.join();
  REQUIRE(c);
  CHECK(fenced.load());
  CHECK(c->epoch == 2);
  const auto run = b.load(id).value();
  bool after_claim = false;
  for (const auto& r : run.records) {
    if (r.kind == tutti::record_kind::claimed && r.epoch == 2) after_claim = true;
    else if (after_claim) CHECK(r.epoch == 2);
  }
  CHECK(after_claim);
  CHECK(run.records.back().kind == tutti::record_kind::claimed);
}

TEST_CASE("a PostgreSQL record is written once: a conflicting row is a reported divergence",
          "[postgres]") {
  pg_support::schema s;
  auto j = open_ok(s);
  const tutti::run_id id{3, 3};
  REQUIRE(j.start(id, "wf", 1, {}, lease_of("a#1", 60'000ms)));
  // A row at the run's next seq that the run's row does not count (damage, or a second writer
  // bypassing the journal).
  REQUIRE(pg_support::exec("INSERT INTO \"" + s.name + "\".records(run_id, seq, kind, unix_ms, message) "
                           "VALUES ('00000000-0000-0003-0000-000000000003', 3, 4, 0, 'x')")
              .empty());
  const auto w = j.append(id, rec(tutti::record_kind::attempt_started, 1, "x"));
  REQUIRE_FALSE(w);
  CHECK(w.error() == tutti::journal_errc::corrupt);
  CHECK(j.last_error_message().find("diverged") != std::string::npos);
  // Nothing overwritten, nothing counted: the row still says 2 records.
  CHECK(query1("SELECT kind FROM \"" + s.name + "\".records WHERE seq = 3") == "4");
  CHECK(query1("SELECT last_seq FROM \"" + s.name + "\".runs") == "2");
  // A load sees the extra record: the run's records do not match its row.
  CHECK(j.load(id).error() == tutti::journal_errc::corrupt);
}

TEST_CASE("records written together land together or not at all, fenced and numbered as appends",
          "[postgres]") {
  pg_support::schema s;
  auto j = open_ok(s);
  const tutti::run_id id{4, 4};
  const auto c = j.start(id, "wf", 1, {}, lease_of("a#1", 60'000ms)).value();
  tutti::record_view fin = rec(tutti::record_kind::attempt_finished, c.epoch, "x");
  fin.ok = true;
  fin.message = std::string_view("a\0b", 3);
  const auto out = std::vector<std::byte>{std::byte{7}, std::byte{0}};
  tutti::record_view done = rec(tutti::record_kind::step_finished, c.epoch, "x");
  done.ok = true;
  done.payload = out;
  const tutti::record_view both[] = {fin, done};
  REQUIRE(j.append_batch(id, both));
  auto run = j.load(id).value();
  REQUIRE(run.records.size() == 4);
  CHECK(run.records[2].kind == tutti::record_kind::attempt_finished);
  CHECK(run.records[2].message == std::string("a\0b", 3));
  CHECK(run.records[3].seq == 4);
  CHECK(run.records[3].payload == out);
  // Fenced: neither lands.
  tutti::record_view stale[] = {fin, done};
  stale[0].epoch = stale[1].epoch = c.epoch + 5;
  CHECK(j.append_batch(id, stale).error() == tutti::journal_errc::fenced);
  CHECK(j.load(id).value().records.size() == 4);
  // The second conflicts (a row at its seq the run's row does not count): the first is rolled
  // back with it.
  REQUIRE(pg_support::exec("INSERT INTO \"" + s.name + "\".records(run_id, seq, kind, unix_ms) "
                           "VALUES ('00000000-0000-0004-0000-000000000004', 6, 4, 0)")
              .empty());
  CHECK(j.append_batch(id, both).error() == tutti::journal_errc::corrupt);
  CHECK(query1("SELECT last_seq FROM \"" + s.name + "\".runs") == "4");
  CHECK(query1("SELECT count(*) FROM \"" + s.name + "\".records WHERE seq = 5") == "0");
  // And the connection is usable after the failed pipeline.
  CHECK(j.status(id).value() == tutti::run_status::running);
}

TEST_CASE("a durable run on PostgreSQL writes the records a run on the memory journal writes, in order",
          "[postgres]") {
  pg_support::schema s;
  auto pj = open_ok(s);
  tutti::memory_journal mj;
  int failures_left = 1;
  const auto wf = tutti::workflow<"flaky">(
      tutti::step<"a">([](const int& n) { return n + 1; }),
      tutti::step<"b">([&failures_left](tutti::from<"a", int> n) -> tutti::result<int> {
        if (failures_left-- > 0) return tutti::errc::step_failed;  // one retry
        return *n * 2;
      }) | tutti::retry{tutti::constant_backoff{}, tutti::max_attempts{3}});
  const auto kinds = [](const tutti::stored_run& r) {
    std::vector<std::pair<tutti::record_kind, std::string>> out;
    for (const auto& rec : r.records) out.emplace_back(rec.kind, rec.step);
    return out;
  };
  const auto on_pg = tutti::durable_workflow{wf, pj}.run(4);
  REQUIRE(on_pg);
  REQUIRE(on_pg->has_value());
  failures_left = 1;
  const auto on_mem = tutti::durable_workflow{wf, mj}.run(4);
  REQUIRE(on_mem);
  CHECK(on_pg->value() == on_mem->value());
  const auto pg_run = pj.load(on_pg->id()).value();
  const auto mem_run = mj.load(on_mem->id()).value();
  CHECK(kinds(pg_run) == kinds(mem_run));
  CHECK(pg_run.records.size() == 11);  // started, claimed, a: 3, b: 2 per attempt + 1, finished
  for (const auto& r : pg_run.records) {
    if (r.kind == tutti::record_kind::attempt_finished && r.step == "b" && r.attempt == 1) {
      CHECK_FALSE(r.ok);
      CHECK(r.error_value == static_cast<int>(tutti::errc::step_failed));
    }
  }
}

TEST_CASE("the sweep returns expired runs to the queue, fences their owners, skips live ones",
          "[postgres][sweep]") {
  pg_support::schema s;
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  tutti::postgres_options o;
  o.lease_clock = tutti::any_clock{clock};
  auto a = open_ok(s, o);
  auto b = open_ok(s, o);
  for (std::uint64_t i = 1; i <= 3; ++i)
    REQUIRE(a.start(tutti::run_id{9, i}, "wf", 1, {}, lease_of("dead#1", 100ms)));
  REQUIRE(a.start(tutti::run_id{9, 4}, "wf", 1, {}, lease_of("live#1", 100ms)));
  CHECK(b.sweep(100, "b#1").value() == 0);  // nothing expired yet
  clock.advance(80ms);
  REQUIRE(a.renew(tutti::run_id{9, 4}, 1));  // live#1 renews in time
  clock.advance(40ms);
  // Two sweepers at once: each expired run is swept once.
  std::uint64_t by_a = 0, by_b = 0;
  std::thread t([&] { by_a = a.sweep(100, "a#1").value(); });
  by_b = b.sweep(100, "b#1").value();
  t.join();
  CHECK(by_a + by_b == 3);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const auto run = b.load(tutti::run_id{9, i}).value();
    CHECK(run.summary.owner.empty());
    CHECK(run.summary.epoch == 2);
    CHECK(run.summary.recoveries == 1);
    CHECK(run.records.back().kind == tutti::record_kind::released);
    CHECK(run.records.back().ok);
    CHECK(run.records.back().message.find("lease of 'dead#1' expired") != std::string::npos);
    // The zombie is fenced before anyone claims the run.
    CHECK(a.append(tutti::run_id{9, i}, rec(tutti::record_kind::attempt_started, 1, "x")).error() ==
          tutti::journal_errc::fenced);
  }
  CHECK(b.load(tutti::run_id{9, 4}).value().summary.owner == "live#1");
  const auto claimed = b.claim_next("wf", 10, lease_of("b#1")).value();
  CHECK(claimed.size() == 3);
  for (const auto& c : claimed) {
    CHECK(c.epoch == 3);
    CHECK(c.takeover);        // of a dead owner's run, through the sweep
    CHECK(c.recoveries == 1);  // counted once, by the sweep
  }
}

TEST_CASE("a runner sweeps a dead replica's run and takes it over, counted once",
          "[postgres][sweep][runner]") {
  pg_support::schema s;
  auto dead = open_ok(s);
  auto live = open_ok(s);
  std::atomic<int> calls{0};
  const auto wf = tutti::workflow<"sw">(tutti::step<"a">([&calls](const pay& p) {
    ++calls;
    return p.n;
  }));
  const tutti::durable_workflow durable{wf, dead};
  const tutti::run_id id{8, 8};
  REQUIRE(dead.start(id, "sw", durable.fingerprint(), tutti::to_bytes(pay{3}),
                     lease_of("gone#1", 200ms)));
  tutti::thread_pool pool{1};
  // Claims never find it themselves here: the runner's poll is long, its sweep short.
  tutti::runner r{live, pool, {.name = "live", .poll = 60'000ms, .sweep_every = 20ms}};
  r.host<pay>(wf, 1);
  std::atomic<int> took_over{0};
  r.on_event([&](const tutti::runner_event& e) {
    if (e.kind == tutti::runner_event_kind::took_over) ++took_over;
  });
  REQUIRE(eventually([&] { return server_now_ms() > dead.load(id).value().summary.lease_until_ms; }));
  // The sweep fences the dead replica before anyone claims the run.
  REQUIRE(eventually([&] {
    r.poll_once();
    return r.stats().swept == 1;
  }));
  CHECK(dead.append(id, rec(tutti::record_kind::attempt_started, 1, "a")).error() ==
        tutti::journal_errc::fenced);
  REQUIRE(eventually([&] {
    r.poll_once();
    const auto st = live.status(id);
    return st && st.value() == tutti::run_status::succeeded;
  }));
  REQUIRE(r.wait_idle(10s));
  CHECK(took_over.load() == 1);
  CHECK(r.stats().takeovers == 1);
  CHECK(calls.load() == 1);
  const auto run = live.load(id).value();
  CHECK(run.summary.epoch == 3);  // claimed 1, swept 2, taken over 3
  std::size_t releases = 0;
  for (const auto& rr : run.records) releases += rr.kind == tutti::record_kind::released;
  CHECK(releases == 1);
}

TEST_CASE("finished runs are purged in batches, the others kept", "[postgres][purge]") {
  pg_support::schema s;
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  tutti::postgres_options o;
  o.lease_clock = tutti::any_clock{clock};
  auto j = open_ok(s, o);
  for (std::uint64_t i = 1; i <= 25; ++i) {
    REQUIRE(j.start(tutti::run_id{5, i}, "wf", 1, {}));
    if (i <= 20) {
      tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
      fin.outcome = static_cast<std::uint8_t>(i % 4);
      REQUIRE(j.append(tutti::run_id{5, i}, fin));
    }
  }
  clock.advance(1000ms);
  REQUIRE(j.start(tutti::run_id{5, 26}, "wf", 1, {}));
  tutti::record_view fin = rec(tutti::record_kind::run_finished, 0);
  REQUIRE(j.append(tutti::run_id{5, 26}, fin));  // ended, but after the cut-off
  const std::int64_t cutoff = std::chrono::duration_cast<std::chrono::milliseconds>(clock.now()).count();
  CHECK(j.purge_ended(cutoff, 7).value() == 20);
  CHECK(j.list({}).value().size() == 6);
  CHECK(j.status(tutti::run_id{5, 3}).error() == tutti::journal_errc::run_not_found);
  CHECK(j.status(tutti::run_id{5, 21}).value() == tutti::run_status::running);
  CHECK(j.status(tutti::run_id{5, 26}).value() == tutti::run_status::succeeded);
  CHECK(query1("SELECT count(*) FROM \"" + s.name + "\".records") == "7");
}

TEST_CASE("a claim waits at most lock_timeout for a row another transaction holds, claim_next skips it",
          "[postgres][ownership]") {
  pg_support::schema s;
  tutti::postgres_options o;
  o.lock_timeout = 100ms;
  auto j = open_ok(s, o);
  const auto q = j.submit("wf", 1, {}, {}).value().id;
  REQUIRE(j.submit("wf", 1, {}, {}));
  // Another session holds the first run's row.
  PGconn* holder = PQconnectdb(pg_support::conninfo().c_str());
  REQUIRE(PQstatus(holder) == CONNECTION_OK);
  PQclear(PQexec(holder, "BEGIN"));
  std::string uuid(q.hex().view());  // as PostgreSQL writes a uuid: 8-4-4-4-12 hex digits
  for (const std::size_t at : {20, 16, 12, 8}) uuid.insert(at, "-");
  PGresult* locked = PQexec(holder, ("SELECT 1 FROM \"" + s.name + "\".runs WHERE run_id = '" +
                                     uuid + "'::uuid FOR UPDATE")
                                        .c_str());
  REQUIRE(PQresultStatus(locked) == PGRES_TUPLES_OK);
  CHECK(PQntuples(locked) == 1);
  PQclear(locked);
  const auto t0 = std::chrono::steady_clock::now();
  const auto c = j.claim(q, lease_of("e#1"));
  REQUIRE_FALSE(c);
  CHECK(c.error() == tutti::journal_errc::io_error);
  CHECK(j.last_error_message().find("lock") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  // claim_next skips the locked row and takes the next.
  const auto next = j.claim_next("wf", 5, lease_of("e#1")).value();
  REQUIRE(next.size() == 1);
  CHECK(next[0].id != q);
  PQclear(PQexec(holder, "ROLLBACK"));
  PQfinish(holder);
  CHECK(j.claim(q, lease_of("e#1")).value().epoch == 1);
}

TEST_CASE("a PostgreSQL journal whose connection is cut fails the call, then reconnects with back-off",
          "[postgres][reconnect]") {
  pg_support::schema s;
  tutti::postgres_options o;
  o.reconnect_min = 200ms;
  o.reconnect_max = 400ms;
  auto j = open_ok(s, o);
  const tutti::run_id id{7, 7};
  const auto c = j.start(id, "wf", 1, {}, lease_of("a#1", 60'000ms)).value();
  REQUIRE(cut_connections(s) == 1);
  const auto lost = j.append(id, rec(tutti::record_kind::attempt_started, c.epoch, "x"));
  REQUIRE_FALSE(lost);
  CHECK(lost.error() == tutti::journal_errc::io_error);
  CHECK(j.last_error_message().find("lost the connection") != std::string::npos);
  // Within the back-off, calls fail at once without touching the server.
  const auto waiting = j.status(id);
  REQUIRE_FALSE(waiting);
  CHECK(j.last_error_message().find("reconnecting in") != std::string::npos);
  // After it, the journal reconnects and goes on; nothing was lost or written twice.
  REQUIRE(eventually([&] { return static_cast<bool>(j.status(id)); }, 10s));
  CHECK(j.reconnects() == 1);
  REQUIRE(j.append(id, rec(tutti::record_kind::attempt_started, c.epoch, "x")));
  CHECK(j.load(id).value().records.size() == 3);
}


TEST_CASE("a runner whose connection is cut mid-run reconnects, re-validates its leases and carries on",
          "[postgres][reconnect][runner]") {
  pg_support::schema s;
  tutti::postgres_options o;
  o.reconnect_min = 20ms;
  o.reconnect_max = 100ms;
  auto j = open_ok(s, o);
  std::mutex m;
  std::map<std::string, int> calls;
  std::atomic<int> steps{0};
  std::atomic<bool> in_step{false}, cut{false};
  const auto wf = tutti::workflow<"pay">(
      tutti::step<"a">([&](const pay& p, const tutti::call_context& ctx) {
        {
          const std::lock_guard lock{m};
          ++calls[fmt::format("{}", ctx.key())];
        }
        ++steps;
        if (p.n == 5) {  // the connection is cut while this call is out: its next write fails
          in_step = true;
          eventually([&] { return cut.load(); }, 10s);
        }
        std::this_thread::sleep_for(1ms);
        return p.n;
      }),
      tutti::step<"b">([&](tutti::from<"a", int> n, const tutti::call_context& ctx) {
        {
          const std::lock_guard lock{m};
          ++calls[fmt::format("{}", ctx.key())];
        }
        ++steps;
        std::this_thread::sleep_for(1ms);
        return *n + 1;
      }));
  const tutti::durable_workflow durable{wf, j};
  constexpr int runs = 60;
  for (int i = 0; i < runs; ++i) REQUIRE(durable.submit(pay{i}));
  tutti::thread_pool pool{2};
  tutti::runner r{j, pool, {.name = "cut", .lease = 60'000ms, .poll = 2ms}};
  r.host<pay>(wf, 2);
  r.start();
  REQUIRE(eventually([&] { return in_step.load(); }));
  REQUIRE(cut_connections(s) == 1);
  cut = true;
  tutti::run_filter done;
  done.status = tutti::run_status::succeeded;
  auto reader = open_ok(s);
  // Every run finishes long before any lease (60 s) could expire: the runner carried on.
  REQUIRE(eventually([&] {
    const auto l = reader.list(done);
    return l && l.value().size() == runs;
  }, 30s));
  r.stop();
  CHECK(r.stats().journal_errors >= 1);
  CHECK(j.reconnects() >= 1);
  CHECK(r.stats().let_go == 0);
  CHECK(r.stats().revalidated >= 1);  // run 5 at least: stopped by the cut, carried on
  // Each step at most twice (a call whose record was lost with the connection is made again,
  // with the same idempotency key), and nearly all once.
  int twice = 0;
  for (const auto& [k, n] : calls) {
    CHECK(n <= 2);
    twice += n == 2 ? 1 : 0;
  }
  CHECK(twice <= 2);
  CHECK(calls.size() == 2 * runs);
}
