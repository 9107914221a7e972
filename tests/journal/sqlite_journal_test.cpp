// The SQLite journal through the journal concept: the same answers as the in-memory journal,
// durability across reopen, grouped commits, concurrency, schema migrations.
#include <catch2/catch.hpp>

#ifndef TUTTI_TEST_NO_SQLITE

#  include <atomic>
#  include <chrono>
#  include <cstddef>
#  include <cstdint>
#  include <filesystem>
#  include <string>
#  include <thread>
#  include <type_traits>
#  include <vector>

#  include <tutti/journal/durable.hpp>  // tutti::retry_run
#  include <tutti/journal/memory.hpp>
#  include <tutti/journal/sqlite.hpp>
#  include <tutti/testing/manual_clock.hpp>

#  include "support/temp_dir.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using support::temp_dir;

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

tutti::sqlite_journal open_ok(const std::string& path, const tutti::sqlite_options& o = {}) {
  std::string why;
  auto j = tutti::sqlite_journal::open(path, o, &why);
  INFO(why);
  REQUIRE(j);
  return std::move(j).value();
}

tutti::run_id id_of(std::uint64_t n) { return {0xABCD000000000000ULL + n, n * 7919}; }

tutti::record_view step_record(tutti::record_kind kind, std::string_view step,
                               std::span<const std::byte> payload = {}) {
  tutti::record_view r;
  r.kind = kind;
  r.step = step;
  r.attempt = 1;
  r.ok = true;
  r.payload = payload;
  r.time_ns = 1234;
  return r;
}

/// The same writes, to any journal: every field of a record used, payloads with zero bytes.
template <class J>
void write_script(J& j) {
  const auto input = bytes({0, 1, 0, 255, 0});
  REQUIRE(j.start(id_of(1), "checkout", 0xFFFF'FFFF'FFFF'FFF0ULL, input));
  REQUIRE(j.start(id_of(2), "refund", 42, {}));

  tutti::record_view a;
  a.kind = tutti::record_kind::attempt_started;
  a.step = "outer/reserve";
  a.attempt = 3;
  a.time_ns = -5;
  REQUIRE(j.append(id_of(1), a));

  tutti::record_view f;
  f.kind = tutti::record_kind::attempt_finished;
  f.step = "outer/reserve";
  f.attempt = 3;
  f.ok = false;
  f.error_category = "tutti";
  f.error_value = -17;
  f.message = std::string_view("bad\0thing", 9);
  f.time_ns = INT64_MAX;
  REQUIRE(j.append(id_of(1), f));

  const auto out = bytes({0, 0, 0, 7, 0});
  REQUIRE(j.append(id_of(1), step_record(tutti::record_kind::step_finished, "outer/reserve", out)));

  tutti::record_view p;
  p.kind = tutti::record_kind::paused;
  REQUIRE(j.append(id_of(2), p));

  tutti::record_view fin;
  fin.kind = tutti::record_kind::run_finished;
  fin.outcome = 2;  // compensated
  REQUIRE(j.append(id_of(1), fin));
}

void check_same_run(const tutti::stored_run& a, const tutti::stored_run& b) {
  CHECK(a.summary.id == b.summary.id);
  CHECK(a.summary.workflow == b.summary.workflow);
  CHECK(a.summary.fingerprint == b.summary.fingerprint);
  CHECK(a.summary.status == b.summary.status);
  CHECK(a.summary.records == b.summary.records);
  CHECK(a.input == b.input);
  REQUIRE(a.records.size() == b.records.size());
  for (std::size_t i = 0; i < a.records.size(); ++i) {
    const auto& x = a.records[i];
    const auto& y = b.records[i];
    INFO("record " << i + 1);
    CHECK(x.seq == y.seq);
    CHECK(x.kind == y.kind);
    CHECK(x.step == y.step);
    CHECK(x.attempt == y.attempt);
    CHECK(x.ok == y.ok);
    CHECK(x.outcome == y.outcome);
    CHECK(x.payload == y.payload);
    CHECK(x.error_category == y.error_category);
    CHECK(x.error_value == y.error_value);
    CHECK(x.message == y.message);
    CHECK(x.time_ns == y.time_ns);
  }
}

/// Reads through a second connection (as another process would): only committed data.
bool committed(const std::string& path, const tutti::run_id& id, std::uint64_t records) {
  auto other = open_ok(path);
  auto r = other.load(id);
  return r && r.value().records.size() == records;
}

}  // namespace

TEST_CASE("an SQLite journal is a journal, move-only", "[journal][sqlite]") {
  STATIC_REQUIRE(tutti::journal<tutti::sqlite_journal>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tutti::sqlite_journal>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<tutti::sqlite_journal>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<tutti::sqlite_journal>);
}

TEST_CASE("an SQLite journal loads what the in-memory journal loads", "[journal][sqlite]") {
  const temp_dir dir;
  auto mode = GENERATE(tutti::sqlite_commit::per_record, tutti::sqlite_commit::grouped);
  tutti::sqlite_options o;
  o.commit = mode;
  auto j = open_ok(dir.file("j.db"), o);
  tutti::memory_journal m;
  write_script(j);
  write_script(m);
  for (std::uint64_t n : {1, 2}) {
    auto a = j.load(id_of(n));
    auto b = m.load(id_of(n));
    REQUIRE(a);
    REQUIRE(b);
    check_same_run(a.value(), b.value());
    CHECK(a.value().summary.started_unix_ms > 0);
    CHECK(a.value().summary.updated_unix_ms >= a.value().summary.started_unix_ms);
    REQUIRE(j.status(id_of(n)));
    CHECK(j.status(id_of(n)).value() == m.status(id_of(n)).value());
  }
  CHECK(j.status(id_of(1)).value() == tutti::run_status::compensated);
  CHECK(j.status(id_of(2)).value() == tutti::run_status::paused);
  const auto run = j.load(id_of(1)).value();
  const auto& rec = run.records;
  CHECK(rec[0].payload == bytes({0, 1, 0, 255, 0}));  // run_started carries the input
  CHECK(rec[2].message.size() == 9);                  // text with a zero byte, whole
  CHECK(j.load(id_of(2)).value().input.empty());
}

TEST_CASE("an SQLite journal keeps the status as status_after says", "[journal][sqlite]") {
  const temp_dir dir;
  auto j = open_ok(dir.file("j.db"));
  tutti::memory_journal m;
  REQUIRE(j.start(id_of(1), "w", 1, {}));
  REQUIRE(m.start(id_of(1), "w", 1, {}));
  using k = tutti::record_kind;
  for (k kind : {k::attempt_started, k::paused, k::attempt_finished, k::unpaused, k::paused,
                 k::retry_requested, k::redrive_requested, k::step_finished, k::resolved}) {
    tutti::record_view r;
    r.kind = kind;
    REQUIRE(j.append(id_of(1), r));
    REQUIRE(m.append(id_of(1), r));
    INFO(tutti::to_string(kind));
    CHECK(j.status(id_of(1)).value() == m.status(id_of(1)).value());
  }
  CHECK(j.load(id_of(1)).value().summary.records == m.load(id_of(1)).value().summary.records);
  // An ended run takes no more records: an engine still writing to it is refused.
  tutti::record_view late;
  late.kind = k::attempt_started;
  CHECK(j.append(id_of(1), late).error() == tutti::journal_errc::fenced);
  CHECK(m.append(id_of(1), late).error() == tutti::journal_errc::fenced);
  for (std::uint8_t outcome : {0, 1, 2, 3, 9}) {
    const auto id = id_of(100 + outcome);
    REQUIRE(j.start(id, "w", 1, {}));
    REQUIRE(m.start(id, "w", 1, {}));
    tutti::record_view r;
    r.kind = k::run_finished;
    r.outcome = outcome;
    REQUIRE(j.append(id, r));
    REQUIRE(m.append(id, r));
    CHECK(j.status(id).value() == tutti::status_after_outcome(outcome));
    CHECK(m.status(id).value() == tutti::status_after_outcome(outcome));
    CHECK(j.append(id, r).error() == tutti::journal_errc::fenced);  // one run_finished, ever
    CHECK(m.append(id, r).error() == tutti::journal_errc::fenced);
    CHECK(j.load(id).value().records.size() == 2);
  }
}

TEST_CASE("an SQLite journal lists runs newest first, filtered and limited", "[journal][sqlite]") {
  const temp_dir dir;
  auto j = open_ok(dir.file("j.db"));
  tutti::memory_journal m;
  std::vector<std::int64_t> started;
  for (std::uint64_t n = 1; n <= 6; ++n) {
    const char* wf = n % 2 == 0 ? "even" : "odd";
    REQUIRE(j.start(id_of(n), wf, n, {}));
    REQUIRE(m.start(id_of(n), wf, n, {}));
    if (n % 3 == 0) {
      tutti::record_view p;
      p.kind = tutti::record_kind::paused;
      REQUIRE(j.append(id_of(n), p));
      REQUIRE(m.append(id_of(n), p));
    }
    started.push_back(j.load(id_of(n)).value().summary.started_unix_ms);
    std::this_thread::sleep_for(3ms);  // distinct start times: a defined order
  }
  const auto ids = [](const std::vector<tutti::run_summary>& v) {
    std::vector<tutti::run_id> out;
    for (const auto& s : v) out.push_back(s.id);
    return out;
  };
  tutti::run_filter f;
  CHECK(ids(j.list(f).value()) ==
        std::vector<tutti::run_id>{id_of(6), id_of(5), id_of(4), id_of(3), id_of(2), id_of(1)});
  f.status = tutti::run_status::paused;
  CHECK(ids(j.list(f).value()) == std::vector<tutti::run_id>{id_of(6), id_of(3)});
  CHECK(ids(j.list(f).value()) == ids(m.list(f).value()));
  f = {};
  f.workflow = "odd";
  CHECK(ids(j.list(f).value()) == std::vector<tutti::run_id>{id_of(5), id_of(3), id_of(1)});
  CHECK(ids(j.list(f).value()) == ids(m.list(f).value()));
  f.limit = 2;
  CHECK(ids(j.list(f).value()) == std::vector<tutti::run_id>{id_of(5), id_of(3)});
  f = {};
  f.started_after_unix_ms = started[2];   // runs 3..6
  f.started_before_unix_ms = started[5];  // not 6
  CHECK(ids(j.list(f).value()) == std::vector<tutti::run_id>{id_of(5), id_of(4), id_of(3)});
  f.workflow = "even";
  f.status = tutti::run_status::running;
  CHECK(ids(j.list(f).value()) == std::vector<tutti::run_id>{id_of(4)});
  f.workflow = "none";
  CHECK(j.list(f).value().empty());
  const auto s = j.list({}).value().back();
  CHECK(s.workflow == "odd");
  CHECK(s.fingerprint == 1);
  CHECK(s.records == 1);
  CHECK(s.status == tutti::run_status::running);
}

TEST_CASE("an SQLite journal refuses a second start and unknown runs", "[journal][sqlite]") {
  const temp_dir dir;
  auto mode = GENERATE(tutti::sqlite_commit::per_record, tutti::sqlite_commit::grouped);
  tutti::sqlite_options o;
  o.commit = mode;
  auto j = open_ok(dir.file("j.db"), o);
  CHECK(j.last_error_message().empty());
  REQUIRE(j.start(id_of(1), "w", 1, bytes({1})));
  auto again = j.start(id_of(1), "other", 2, bytes({2}));
  REQUIRE_FALSE(again);
  CHECK(again.error() == tutti::journal_errc::run_exists);
  CHECK(contains(j.last_error_message(), "already exists"));
  CHECK(j.load(id_of(1)).value().summary.workflow == "w");  // the first one is untouched

  const auto unknown = id_of(99);
  CHECK(j.append(unknown, step_record(tutti::record_kind::step_finished, "a")).error() ==
        tutti::journal_errc::run_not_found);
  const auto hex = unknown.hex();
  CHECK(contains(j.last_error_message(), std::string(hex.data(), hex.size())));
  CHECK(contains(j.last_error_message(), dir.file("j.db")));
  CHECK(j.load(unknown).error() == tutti::journal_errc::run_not_found);
  CHECK(j.status(unknown).error() == tutti::journal_errc::run_not_found);
  // Nothing half-written by the failures: the run goes on at seq 2.
  REQUIRE(j.append(id_of(1), step_record(tutti::record_kind::step_finished, "a")));
  REQUIRE(j.flush());
  const auto run = j.load(id_of(1)).value();
  REQUIRE(run.records.size() == 2);
  CHECK(run.records[1].seq == 2);
}

TEST_CASE("an SQLite journal takes appends from 4 threads to different runs",
          "[journal][sqlite][threads]") {
  const temp_dir dir;
  auto mode = GENERATE(tutti::sqlite_commit::per_record, tutti::sqlite_commit::grouped);
  tutti::sqlite_options o;
  o.commit = mode;
  o.group_records = 16;
  const std::string path = dir.file("j.db");
  constexpr int threads = 4;
  const int per_thread = mode == tutti::sqlite_commit::per_record ? 40 : 400;
  {
    auto j = open_ok(path, o);
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&j, &failures, t, per_thread] {
        const auto id = id_of(static_cast<std::uint64_t>(t + 1));
        if (!j.start(id, "w", 0, {})) ++failures;
        for (int i = 0; i < per_thread; ++i) {
          const auto payload = bytes({t, i & 0xFF, 0});
          tutti::record_view r = step_record(tutti::record_kind::step_finished, "s", payload);
          r.attempt = static_cast<std::uint32_t>(i);
          if (!j.append(id, r)) ++failures;
          if (i % 16 == 0 && !j.status(id)) ++failures;
        }
      });
    }
    for (auto& th : pool) th.join();
    CHECK(failures == 0);
  }
  auto j = open_ok(path);  // reopened: everything was committed
  for (int t = 0; t < threads; ++t) {
    const auto run = j.load(id_of(static_cast<std::uint64_t>(t + 1)));
    REQUIRE(run);
    REQUIRE(run.value().records.size() == static_cast<std::size_t>(per_thread + 1));
    for (int i = 0; i < per_thread; ++i) {
      const auto& r = run.value().records[static_cast<std::size_t>(i + 1)];
      CHECK(r.seq == static_cast<std::uint64_t>(i + 2));
      CHECK(r.attempt == static_cast<std::uint32_t>(i));
      CHECK(r.payload == bytes({t, i & 0xFF, 0}));
    }
  }
}

TEST_CASE(
    "a grouped SQLite journal commits on flush, on run_finished, on a status change and "
    "after group_records",
    "[journal][sqlite][grouped]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  tutti::sqlite_options o;
  o.commit = tutti::sqlite_commit::grouped;
  o.group_records = 4;
  o.group_interval = 0ms;  // no timer: only the rules under test commit
  auto j = open_ok(path, o);
  const auto id = id_of(1);
  REQUIRE(j.start(id, "w", 1, {}));
  REQUIRE(j.append(id, step_record(tutti::record_kind::attempt_started, "a")));
  CHECK(j.load(id).value().records.size() == 2);  // this connection sees its own writes
  CHECK_FALSE(committed(path, id, 2));            // another one does not, yet

  REQUIRE(j.flush());
  CHECK(committed(path, id, 2));

  REQUIRE(j.append(id, step_record(tutti::record_kind::attempt_finished, "a")));
  CHECK_FALSE(committed(path, id, 3));
  tutti::record_view pause;
  pause.kind = tutti::record_kind::paused;
  REQUIRE(j.append(id, pause));  // an operator's command must be visible at once
  CHECK(committed(path, id, 4));

  for (int i = 0; i < 3; ++i)
    REQUIRE(j.append(id, step_record(tutti::record_kind::step_finished, "b")));
  CHECK_FALSE(committed(path, id, 7));
  REQUIRE(j.append(id, step_record(tutti::record_kind::step_finished, "b")));  // 4th of the group
  CHECK(committed(path, id, 8));

  REQUIRE(j.append(id, step_record(tutti::record_kind::step_finished, "c")));
  tutti::record_view fin;
  fin.kind = tutti::record_kind::run_finished;
  REQUIRE(j.append(id, fin));
  CHECK(committed(path, id, 10));
  auto other = open_ok(path);
  CHECK(other.status(id).value() == tutti::run_status::succeeded);
}

TEST_CASE(
    "a grouped SQLite journal keeps a run's progress in its cached row until the group commits: "
    "its own reads and claims and other connections after the commit see it",
    "[journal][sqlite][grouped]") {
  // Inside an open group an append keeps the run's record count and lease in the connection's
  // cached run head; the row is written before the group commits or before any other statement
  // reads runs' rows. A stale row would show a wrong count, fail `load`'s check, or let this
  // connection's own claim take a run whose lease its appends renewed.
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  tutti::testing::manual_clock store;
  tutti::sqlite_options o;
  o.commit = tutti::sqlite_commit::grouped;
  o.group_records = 1000;
  o.group_interval = 0ms;  // no timer: only the rules under test commit
  o.lease_clock = tutti::any_clock{store};
  auto j = open_ok(path, o);
  const auto id = id_of(1);
  const auto claim = j.start(id, "w", 1, {}, {.owner = "a#1", .lease = 10s});  // committed
  REQUIRE(claim);
  auto record = step_record(tutti::record_kind::attempt_started, "a");
  record.epoch = claim.value().epoch;
  store.advance(8s);
  REQUIRE(j.append(id, record));  // the lease now runs to 18 s, in the head only
  store.advance(4s);              // 12 s: the row's last written lease (10 s) has passed
  CHECK(j.claim_next("w", 5, {.owner = "b#1", .lease = 10s}).value().empty());
  REQUIRE(j.append(id, record));  // 22 s
  REQUIRE(j.append(id, record));
  tutti::run_filter all;
  const auto listed = j.list(all).value();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].records == 5);  // run_started, claimed, three attempts
  CHECK(listed[0].lease_until_ms == 22'000);
  REQUIRE(j.append(id, record));
  const auto loaded = j.load(id);
  REQUIRE(loaded);
  CHECK(loaded.value().records.size() == 6);
  CHECK(loaded.value().summary.records == 6);
  REQUIRE(j.append(id, record));
  CHECK(committed(path, id, 3));  // another connection: up to the claim's commit only, yet
  REQUIRE(j.flush());
  tutti::sqlite_options per_record;
  per_record.lease_clock = tutti::any_clock{store};
  auto other = open_ok(path, per_record);
  const auto seen = other.list(all).value();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].records == 7);
  CHECK(seen[0].lease_until_ms == 22'000);
  CHECK(other.claim(id, {.owner = "b#1", .lease = 10s}).error() == tutti::journal_errc::owned);

  // More runs in one group than the connection caches heads (64): the heads are written when
  // the cache fills, none is lost.
  std::vector<tutti::run_id> many;
  for (std::uint64_t n = 100; n < 170; ++n) {
    many.push_back(id_of(n));
    const auto started = j.start(many.back(), "w", 1, {}, {.owner = "a#1", .lease = 10s});
    INFO(j.last_error_message());
    REQUIRE(started);
  }
  for (int round = 0; round < 2; ++round)
    for (const auto& m : many) {
      auto r = record;
      r.epoch = 1;
      REQUIRE(j.append(m, r));
    }
  REQUIRE(j.flush());
  for (const auto& m : many) {
    const auto s = other.load(m);
    REQUIRE(s);
    CHECK(s.value().summary.records == 4);
    CHECK(s.value().records.size() == 4);
  }
}

TEST_CASE("a grouped SQLite journal commits after group_interval, by its timer",
          "[journal][sqlite][grouped]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  tutti::sqlite_options o;
  o.commit = tutti::sqlite_commit::grouped;
  o.group_records = 1000;
  o.group_interval = 20ms;
  auto j = open_ok(path, o);
  const auto id = id_of(1);
  REQUIRE(j.start(id, "w", 1, {}));
  bool seen = false;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!seen && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
    seen = committed(path, id, 1);
  }
  CHECK(seen);
  // The timer survives a move of the journal.
  auto moved = std::move(j);
  REQUIRE(moved.append(id, step_record(tutti::record_kind::attempt_started, "a")));
  seen = false;
  while (!seen && std::chrono::steady_clock::now() < until + 5s) {
    std::this_thread::sleep_for(10ms);
    seen = committed(path, id, 2);
  }
  CHECK(seen);
}

TEST_CASE("an SQLite journal reopened after close has every record", "[journal][sqlite]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  auto mode = GENERATE(tutti::sqlite_commit::per_record, tutti::sqlite_commit::grouped);
  tutti::sqlite_options o;
  o.commit = mode;
  o.group_records = 1000;
  o.group_interval = 0ms;  // grouped: only the destructor commits
  tutti::memory_journal m;
  {
    auto j = open_ok(path, o);
    write_script(j);
    write_script(m);
    REQUIRE(j.append(id_of(2), step_record(tutti::record_kind::attempt_started, "x")));
    REQUIRE(m.append(id_of(2), step_record(tutti::record_kind::attempt_started, "x")));
  }
  auto j = open_ok(path, o);
  for (std::uint64_t n : {1, 2}) check_same_run(j.load(id_of(n)).value(), m.load(id_of(n)).value());
  CHECK(j.list({}).value().size() == 2);
  CHECK(j.verify());
  CHECK(j.verify(true));
  auto checked = o;
  checked.check_on_open = true;
  CHECK(tutti::sqlite_journal::open(path, checked));
}

TEST_CASE("an SQLite journal runs in WAL mode", "[journal][sqlite]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  {
    auto j = open_ok(path);
    REQUIRE(j.start(id_of(1), "w", 1, {}));
    CHECK(fs::exists(path + "-wal"));
    CHECK(fs::exists(path + "-shm"));
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))) == "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  CHECK_FALSE(fs::exists(path + "-wal"));  // checkpointed and removed on close
  CHECK(fs::file_size(path) % 4096 == 0);
}

TEST_CASE("an SQLite journal is created only where nothing is", "[journal][sqlite]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  tutti::sqlite_options o;
  o.create_if_missing = false;
  std::string why;
  auto r = tutti::sqlite_journal::open(path, o, &why);
  REQUIRE_FALSE(r);
  CHECK(r.error() == tutti::journal_errc::io_error);
  CHECK(contains(why, "does not exist"));
  CHECK(contains(why, path));
  CHECK_FALSE(fs::exists(path));

  auto missing_dir = tutti::sqlite_journal::open(dir.file("no/such/dir.db"), {}, &why);
  REQUIRE_FALSE(missing_dir);
  CHECK(missing_dir.error() == tutti::journal_errc::io_error);
  CHECK(contains(why, "unable to open"));  // SQLite's own text

  auto is_dir = tutti::sqlite_journal::open(dir.path.string(), {}, &why);
  REQUIRE_FALSE(is_dir);
  CHECK(is_dir.error() == tutti::journal_errc::io_error);

  tutti::sqlite_options bad;
  bad.commit = tutti::sqlite_commit::grouped;
  bad.group_records = 0;
  CHECK(tutti::sqlite_journal::open(path, bad).error() == std::errc::invalid_argument);
  CHECK(tutti::sqlite_journal::open("", {}).error() == std::errc::invalid_argument);
}

TEST_CASE("an SQLite journal appends after what another connection appended", "[journal][sqlite]") {
  // Two journals on one file, as the engine and the tutti-journal tool: each append's seq and
  // each status come from the file, never from what one connection remembers of its own writes.
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  auto mode = GENERATE(tutti::sqlite_commit::per_record, tutti::sqlite_commit::grouped);
  tutti::sqlite_options o;
  o.commit = mode;
  o.group_interval = 0ms;  // grouped: only run ends, status changes and flush() commit
  auto engine = open_ok(path, o);
  auto tool = open_ok(path);  // per record, as the tool opens it
  const auto id = id_of(1);
  REQUIRE(engine.start(id, "w", 1, {}));
  REQUIRE(engine.append(id, step_record(tutti::record_kind::attempt_started, "a")));
  REQUIRE(engine.append(id, step_record(tutti::record_kind::attempt_finished, "a")));
  REQUIRE(engine.flush());
  CHECK(engine.status(id).value() == tutti::run_status::running);

  tutti::record_view pause;
  pause.kind = tutti::record_kind::paused;
  REQUIRE(tool.append(id, pause));  // record 4, by the other connection
  CHECK(engine.status(id).value() == tutti::run_status::paused);
  REQUIRE(engine.append(id, step_record(tutti::record_kind::step_finished, "a")));  // record 5
  CHECK(engine.status(id).value() == tutti::run_status::paused);
  tutti::record_view unpause;
  unpause.kind = tutti::record_kind::unpaused;
  REQUIRE(engine.append(id, unpause));  // record 6, commits at once (a status change)
  REQUIRE(tool.append(id, step_record(tutti::record_kind::attempt_started, "b")));     // 7
  REQUIRE(engine.append(id, step_record(tutti::record_kind::attempt_finished, "b")));  // 8
  REQUIRE(engine.flush());

  for (auto* j : {&engine, &tool}) {
    const auto run = j->load(id);
    REQUIRE(run);
    const auto& r = run.value().records;
    REQUIRE(r.size() == 8);
    for (std::size_t i = 0; i < r.size(); ++i) CHECK(r[i].seq == i + 1);
    CHECK(r[3].kind == tutti::record_kind::paused);
    CHECK(r[4].kind == tutti::record_kind::step_finished);
    CHECK(r[5].kind == tutti::record_kind::unpaused);
    CHECK(r[6].step == "b");
    CHECK(r[7].kind == tutti::record_kind::attempt_finished);
    CHECK(run.value().summary.records == 8);
    CHECK(j->status(id).value() == tutti::run_status::running);
  }
  CHECK(engine.verify());
}

TEST_CASE("a per-record SQLite journal's failed append leaves nothing behind",
          "[journal][sqlite]") {
  // A run_finished whose record is written but whose status update fails (a trigger stands in
  // for a full disk) is rolled back whole: the next append follows the last record that stands.
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  auto j = open_ok(path);
  const auto id = id_of(1);
  REQUIRE(j.start(id, "w", 1, {}));
  REQUIRE(j.append(id, step_record(tutti::record_kind::attempt_started, "a")));
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TRIGGER no_status BEFORE UPDATE OF status ON runs "
                         "WHEN NEW.status <> OLD.status "
                         "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  tutti::record_view fin;
  fin.kind = tutti::record_kind::run_finished;
  const auto failed = j.append(id, fin);
  REQUIRE_FALSE(failed);
  CHECK(contains(j.last_error_message(), "simulated failure"));
  CHECK(j.status(id).value() == tutti::run_status::running);
  REQUIRE(j.append(id, step_record(tutti::record_kind::attempt_finished, "a")));
  const auto run = j.load(id).value();
  REQUIRE(run.records.size() == 3);
  CHECK(run.records[2].seq == 3);
  CHECK(run.records[2].kind == tutti::record_kind::attempt_finished);
}

// ---- schema versions and migrations ----

namespace {
std::vector<int>* applied = nullptr;  // what the fake migrations did, in order

int fake_step(sqlite3* db, std::string& error, int from) {
  applied->push_back(from);
  const std::string sql = "CREATE TABLE t" + std::to_string(from) + "(x)";
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) error = sqlite3_errmsg(db);
  return rc;
}
int fake_0(sqlite3* db, std::string& e) { return fake_step(db, e, 0); }
int fake_1(sqlite3* db, std::string& e) { return fake_step(db, e, 1); }
int fake_2(sqlite3* db, std::string& e) { return fake_step(db, e, 2); }
int failing(sqlite3* db, std::string& error) {
  applied->push_back(-1);
  sqlite3_exec(db, "CREATE TABLE half_done(x)", nullptr, nullptr, nullptr);  // rolled back
  error = "simulated failure";
  return SQLITE_ERROR;
}

std::int64_t query_int(sqlite3* db, const char* sql) {
  std::int64_t v = -1;
  REQUIRE(tutti::detail::sqlite_query_int(db, sql, v) == SQLITE_OK);
  return v;
}

struct raw_db {
  sqlite3* db = nullptr;
  explicit raw_db(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close(db); }
  void exec(const char* sql) const {
    INFO(sql);
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  }
};
}  // namespace

TEST_CASE("the migration runner applies each step in order, one transaction each",
          "[journal][sqlite][schema]") {
  std::vector<int> log;
  applied = &log;
  const raw_db m(":memory:");
  m.exec(
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value); "
      "INSERT INTO meta VALUES ('schema_version', 0)");
  // Out of order in the table: the runner looks each step up by its `from`.
  const tutti::detail::sqlite_migration steps[] = {
      {1, "second", &fake_1}, {0, "first", &fake_0}, {2, "third", &fake_2}};
  std::string why;
  auto reached = tutti::detail::sqlite_run_migrations(m.db, 3, steps, why);
  REQUIRE(reached);
  CHECK(reached.value() == 3);
  CHECK(log == std::vector<int>{0, 1, 2});
  CHECK(query_int(m.db, "SELECT value FROM meta WHERE key = 'schema_version'") == 3);
  CHECK(query_int(m.db, "SELECT count(*) FROM sqlite_master WHERE name IN ('t0','t1','t2')") == 3);

  SECTION("at the target already: nothing runs") {
    log.clear();
    CHECK(tutti::detail::sqlite_run_migrations(m.db, 3, steps, why).value() == 3);
    CHECK(log.empty());
  }
  SECTION("a failing step keeps the versions before it and rolls itself back") {
    log.clear();
    const tutti::detail::sqlite_migration more[] = {{3, "fourth", &failing}};
    auto r = tutti::detail::sqlite_run_migrations(m.db, 5, more, why);
    REQUIRE_FALSE(r);
    CHECK(log == std::vector<int>{-1});
    CHECK(contains(why, "3 -> 4"));
    CHECK(contains(why, "simulated failure"));
    CHECK(query_int(m.db, "SELECT value FROM meta WHERE key = 'schema_version'") == 3);
    CHECK(query_int(m.db, "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == 0);
  }
  SECTION("a missing step is an unknown schema") {
    auto r = tutti::detail::sqlite_run_migrations(m.db, 5, steps, why);
    REQUIRE_FALSE(r);
    CHECK(r.error() == tutti::journal_errc::unknown_schema);
    CHECK(contains(why, "no migration from schema version 3"));
  }
  applied = nullptr;
}

TEST_CASE("the real migration table has one step per version, from 0",
          "[journal][sqlite][schema]") {
  for (int v = 0; v < tutti::sqlite_journal_schema_version; ++v) {
    const auto* step = tutti::detail::sqlite_migrate_from(v);
    REQUIRE(step != nullptr);
    CHECK(step->from == v);
  }
  CHECK(tutti::detail::sqlite_migrate_from(tutti::sqlite_journal_schema_version) == nullptr);
}

TEST_CASE("a version-0 journal (bootstrap only) is migrated on open", "[journal][sqlite][schema]") {
  const temp_dir dir;
  const std::string path = dir.file("v0.db");
  {
    // What a crash between creating a journal and its first migration leaves.
    const raw_db raw(path);
    raw.exec(
        "PRAGMA application_id = 1414878292; "
        "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID; "
        "INSERT INTO meta VALUES ('schema_version', 0)");
  }
  {
    auto j = open_ok(path);
    REQUIRE(j.start(id_of(1), "w", 1, bytes({0, 1})));
    CHECK(j.load(id_of(1)).value().input == bytes({0, 1}));
  }
  const raw_db raw(path);
  CHECK(query_int(raw.db, "SELECT value FROM meta WHERE key = 'schema_version'") ==
        tutti::sqlite_journal_schema_version);
  CHECK(query_int(raw.db, "PRAGMA application_id") == tutti::sqlite_journal_application_id);
}

namespace {
/// One record of a version-1 journal, with the checksum version 1 wrote.
void insert_v1_record(const raw_db& raw, const tutti::run_id& id, std::uint64_t seq,
                      tutti::record_kind kind, std::string_view step,
                      const std::vector<std::byte>& payload, std::uint8_t outcome = 0) {
  const auto idb = tutti::detail::sqlite_id_to_bytes(id);
  const tutti::detail::sqlite_record_fields f{
      seq, static_cast<std::uint8_t>(kind),     step, 1, true, outcome, payload, {}, 0,
      {},  static_cast<std::int64_t>(seq * 100)};
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.db,
                             "INSERT INTO records VALUES (?1, ?2, ?3, ?4, 1, 1, ?5, ?6, '', 0, '', "
                             "?7, ?8)",
                             -1, &s, nullptr) == SQLITE_OK);
  sqlite3_bind_blob(s, 1, idb.data(), 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(seq));
  sqlite3_bind_int(s, 3, static_cast<int>(kind));
  sqlite3_bind_text(s, 4, step.data(), static_cast<int>(step.size()), SQLITE_STATIC);
  sqlite3_bind_int(s, 5, outcome);
  sqlite3_bind_blob(s, 6, payload.empty() ? "" : static_cast<const void*>(payload.data()),
                    static_cast<int>(payload.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 7, static_cast<sqlite3_int64>(seq * 100));
  sqlite3_bind_int64(s, 8,
                     static_cast<sqlite3_int64>(tutti::detail::sqlite_record_checksum(id, f)));
  CHECK(sqlite3_step(s) == SQLITE_DONE);
  sqlite3_finalize(s);
}

void insert_v1_run(const raw_db& raw, const tutti::run_id& id, const char* workflow, int status,
                   std::int64_t started, std::int64_t updated, std::int64_t records,
                   const std::vector<std::byte>& input) {
  const auto idb = tutti::detail::sqlite_id_to_bytes(id);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.db, "INSERT INTO runs VALUES (?1, ?2, 7, ?3, ?4, ?5, ?6, ?7)", -1,
                             &s, nullptr) == SQLITE_OK);
  sqlite3_bind_blob(s, 1, idb.data(), 16, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, workflow, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 3, status);
  sqlite3_bind_int64(s, 4, started);
  sqlite3_bind_int64(s, 5, updated);
  sqlite3_bind_int64(s, 6, records);
  sqlite3_bind_blob(s, 7, input.empty() ? "" : static_cast<const void*>(input.data()),
                    static_cast<int>(input.size()), SQLITE_STATIC);
  CHECK(sqlite3_step(s) == SQLITE_DONE);
  sqlite3_finalize(s);
}
}  // namespace

TEST_CASE("a version-1 journal is migrated to the current version on open", "[journal][sqlite][schema][version]") {
  // A version-1 file as that version wrote it: its tables (the 0 -> 1 migration, kept
  // unchanged), runs with their record count and update time, records with their checksums.
  const temp_dir dir;
  const std::string path = dir.file("v1.db");
  using k = tutti::record_kind;
  const auto input = bytes({0, 1, 0, 255});
  const auto out = bytes({7, 0, 7});
  {
    const raw_db raw(path);
    raw.exec(
        "PRAGMA application_id = 1414878292; "
        "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID; "
        "INSERT INTO meta VALUES ('schema_version', 0)");
    std::string error;
    REQUIRE(tutti::detail::sqlite_migrate_0_to_1(raw.db, error) == SQLITE_OK);
    raw.exec("UPDATE meta SET value = 1 WHERE key = 'schema_version'");
    // Run 1: running, three records. Run 2: paused. Run 3: succeeded.
    insert_v1_run(raw, id_of(1), "checkout", 1, 1000, 5000, 3, input);
    insert_v1_record(raw, id_of(1), 1, k::run_started, "", input);
    insert_v1_record(raw, id_of(1), 2, k::attempt_started, "reserve", {});
    insert_v1_record(raw, id_of(1), 3, k::step_finished, "reserve", out);
    insert_v1_run(raw, id_of(2), "checkout", 2, 2000, 6000, 2, {});
    insert_v1_record(raw, id_of(2), 1, k::run_started, "", {});
    insert_v1_record(raw, id_of(2), 2, k::paused, "", {});
    insert_v1_run(raw, id_of(3), "refund", 3, 3000, 7000, 2, {});
    insert_v1_record(raw, id_of(3), 1, k::run_started, "", {});
    insert_v1_record(raw, id_of(3), 2, k::run_finished, "", {}, 0);
  }
  {
    auto j = open_ok(path);
    const auto a = j.load(id_of(1));
    REQUIRE(a);
    CHECK(a.value().input == input);
    CHECK(a.value().summary.workflow == "checkout");
    CHECK(a.value().summary.fingerprint == 7);
    CHECK(a.value().summary.version == 1);  // schema 4: runs of older schemas are version 1
    CHECK(a.value().summary.status == tutti::run_status::running);
    CHECK(a.value().summary.started_unix_ms == 1000);
    CHECK(a.value().summary.updated_unix_ms == 5000);
    CHECK(a.value().summary.records == 3);
    REQUIRE(a.value().records.size() == 3);
    CHECK(a.value().records[1].step == "reserve");
    CHECK(a.value().records[2].payload == out);
    CHECK(a.value().records[2].time_ns == 300);
    CHECK(j.load(id_of(2)).value().summary.updated_unix_ms == 6000);
    CHECK(j.status(id_of(2)).value() == tutti::run_status::paused);
    CHECK(j.status(id_of(3)).value() == tutti::run_status::succeeded);

    const auto all = j.list({}).value();
    REQUIRE(all.size() == 3);
    CHECK(all[0].id == id_of(3));  // newest first
    CHECK(all[0].records == 2);
    CHECK(all[0].updated_unix_ms == 7000);
    CHECK(all[2].records == 3);
    CHECK(all[2].updated_unix_ms == 5000);
    tutti::run_filter f;
    f.status = tutti::run_status::succeeded;
    REQUIRE(j.list(f).value().size() == 1);
    CHECK(j.list(f).value()[0].id == id_of(3));
    f.status = tutti::run_status::running;
    f.workflow = "checkout";
    REQUIRE(j.list(f).value().size() == 1);
    CHECK(j.list(f).value()[0].id == id_of(1));
    CHECK(j.verify(true));

    // The runs go on where version 1 left them.
    REQUIRE(j.append(id_of(1), step_record(k::attempt_started, "charge")));
    tutti::record_view fin;
    fin.kind = k::run_finished;
    REQUIRE(j.append(id_of(1), fin));
    const auto more = j.load(id_of(1)).value();
    REQUIRE(more.records.size() == 5);
    CHECK(more.records[3].seq == 4);
    CHECK(more.summary.status == tutti::run_status::succeeded);
    CHECK(more.summary.updated_unix_ms > 5000);
    REQUIRE(j.start(id_of(4), "checkout", 7, input));
    CHECK(j.load(id_of(4)).value().input == input);
  }
  const raw_db raw(path);
  CHECK(query_int(raw.db, "SELECT value FROM meta WHERE key = 'schema_version'") == 5);
  CHECK(query_int(raw.db, "SELECT count(*) FROM pragma_table_info('runs')") == 22);
  CHECK(query_int(raw.db, "SELECT count(*) FROM pragma_table_info('records')") == 15);
  CHECK(query_int(raw.db, "SELECT count(*) FROM runs WHERE version <> 1") == 0);
  // Version 3's backfill: each run's record count, from its records.
  CHECK(query_int(raw.db, "SELECT count(*) FROM runs WHERE last_seq <> "
                          "(SELECT max(seq) FROM records WHERE records.run_id = runs.run_id)") == 0);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                  "('runs_by_started', 'runs_by_status', 'runs_by_workflow')") == 2);
  CHECK(query_int(raw.db, "SELECT count(*) FROM sqlite_master WHERE name = 'runs_v2'") == 0);
  // The backfill: a run's first record has its start time, its last its update time.
  CHECK(query_int(raw.db,
                  "SELECT unix_ms FROM records WHERE seq = 1 AND run_id = "
                  "(SELECT run_id FROM runs WHERE fingerprint = 7 AND started_ms = 2000)") == 2000);
  CHECK(query_int(raw.db,
                  "SELECT unix_ms FROM records WHERE seq = 2 AND run_id = "
                  "(SELECT run_id FROM runs WHERE started_ms = 2000)") == 6000);
  CHECK(query_int(raw.db,
                  "SELECT unix_ms FROM records WHERE seq = 2 AND run_id = "
                  "(SELECT run_id FROM runs WHERE started_ms = 1000)") == 0);
}

/// Takes a current journal's tables back to version 4: no search columns, no search indexes.
constexpr const char* drop_search_sql =
    "DROP INDEX runs_by_key; DROP INDEX runs_by_failed_step; DROP INDEX runs_by_error; "
    "ALTER TABLE runs DROP COLUMN run_key; ALTER TABLE runs DROP COLUMN failed_step; "
    "ALTER TABLE runs DROP COLUMN error_category; ALTER TABLE runs DROP COLUMN error_value;";

TEST_CASE("a version-3 journal is migrated to version 4: its runs are version 1 of their workflow",
          "[journal][sqlite][schema][version]") {
  const temp_dir dir;
  const std::string path = dir.file("v3.db");
  {
    auto j = open_ok(path);
    REQUIRE(j.start(id_of(1), "checkout", 7, bytes({1})));
    REQUIRE(j.submit("checkout", 7, bytes({2}), {.id = id_of(2)}));
  }
  {
    // What version 3 had: no version column (nor version 5's search columns).
    const raw_db raw(path);
    raw.exec(drop_search_sql);
    raw.exec("ALTER TABLE runs DROP COLUMN version; "
             "UPDATE meta SET value = 3 WHERE key = 'schema_version'");
  }
  auto j = open_ok(path);
  CHECK(j.load(id_of(1)).value().summary.version == 1);
  const auto claimed = j.claim_next("checkout", 5, {"a#1"}).value();
  REQUIRE(claimed.size() == 2);
  CHECK(claimed[0].version == 1);
  CHECK(claimed[1].version == 1);
  REQUIRE(j.submit("checkout", tutti::workflow_version{8, 2}, {}, {.id = id_of(3)}));
  CHECK(j.load(id_of(3)).value().summary.version == 2);
  const raw_db raw(path);
  CHECK(query_int(raw.db, "SELECT value FROM meta WHERE key = 'schema_version'") ==
        tutti::sqlite_journal_schema_version);
}

TEST_CASE("a version-4 journal is migrated to version 5: its runs' failures are read from their records",
          "[journal][sqlite][schema][search]") {
  using k = tutti::record_kind;
  const temp_dir dir;
  const std::string path = dir.file("v4.db");
  const auto failed = [](std::string_view step, int value) {
    tutti::record_view r = step_record(k::step_finished, step);
    r.ok = false;
    r.error_category = "tutti";
    r.error_value = value;
    return r;
  };
  const auto finished = [](std::uint8_t outcome) {
    tutti::record_view r;
    r.kind = k::run_finished;
    r.outcome = outcome;
    return r;
  };
  {
    auto j = open_ok(path);
    // 1: charge failed, then ship: failed at charge. 2: a failure, a retry, another failure:
    // failed at the second. 3: a step failed, the run succeeded: no failure. 4: running.
    REQUIRE(j.start(id_of(1), "checkout", 7, {}));
    REQUIRE(j.append(id_of(1), failed("charge", 3)));
    REQUIRE(j.append(id_of(1), failed("ship", 4)));
    REQUIRE(j.append(id_of(1), finished(1)));
    REQUIRE(j.start(id_of(2), "checkout", 7, {}));
    REQUIRE(j.append(id_of(2), failed("charge", 3)));
    REQUIRE(j.append(id_of(2), finished(1)));
    REQUIRE(tutti::retry_run(j, id_of(2)));
    REQUIRE(j.append(id_of(2), failed("reserve", 5)));
    REQUIRE(j.append(id_of(2), finished(2)));
    REQUIRE(j.start(id_of(3), "checkout", 7, {}));
    REQUIRE(j.append(id_of(3), failed("charge", 3)));
    REQUIRE(j.append(id_of(3), finished(0)));
    REQUIRE(j.start(id_of(4), "checkout", 7, {}));
  }
  {
    // What version 4 had: no search columns, no search indexes.
    const raw_db raw(path);
    raw.exec(drop_search_sql);
    raw.exec("UPDATE meta SET value = 4 WHERE key = 'schema_version'");
  }
  auto j = open_ok(path);
  const auto one = j.load(id_of(1)).value().summary;
  CHECK(one.failed_step == "charge");
  CHECK(one.error_category == "tutti");
  CHECK(one.error_value == 3);
  const auto two = j.load(id_of(2)).value().summary;
  CHECK(two.failed_step == "reserve");
  CHECK(two.error_value == 5);
  CHECK(j.load(id_of(3)).value().summary.failed_step.empty());
  CHECK(j.load(id_of(4)).value().summary.failed_step.empty());
  CHECK(j.load(id_of(4)).value().summary.key.empty());
  tutti::run_filter f;
  f.failed_step = "charge";
  REQUIRE(j.list(f).value().size() == 1);
  CHECK(j.list(f).value()[0].id == id_of(1));
  // New runs record their keys.
  REQUIRE(j.start(id_of(5), "checkout", {7, 1, "order-5"}, {}));
  tutti::run_filter by_key;
  by_key.key = "order-5";
  REQUIRE(j.list(by_key).value().size() == 1);
  CHECK(j.verify(true));
  const raw_db raw(path);
  CHECK(query_int(raw.db, "SELECT value FROM meta WHERE key = 'schema_version'") == 5);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                  "('runs_by_key', 'runs_by_failed_step', 'runs_by_error')") == 3);
}

TEST_CASE("a new SQLite journal has the documented schema", "[journal][sqlite][schema]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  { auto j = open_ok(path); }
  const raw_db raw(path);
  CHECK(query_int(raw.db, "PRAGMA application_id") == 0x54555454);
  CHECK(query_int(raw.db, "SELECT value FROM meta WHERE key = 'schema_version'") == 5);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                  "('meta', 'runs', 'records', 'queue')") == 4);
  CHECK(query_int(raw.db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 4);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                  "('runs_by_started', 'runs_by_status', 'runs_by_dedup', 'runs_queued', "
                  "'runs_by_partition', 'runs_running', 'runs_by_key', 'runs_by_failed_step', "
                  "'runs_by_error')") == 9);
  CHECK(query_int(raw.db, "SELECT count(*) FROM pragma_table_info('records')") == 15);
  CHECK(query_int(raw.db, "SELECT count(*) FROM pragma_table_info('runs')") == 22);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN ('run_id', "
                  "'workflow', 'fingerprint', 'status', 'started_ms', 'owner', 'epoch', "
                  "'lease_ms', 'lease_until_ms', 'last_seq', 'recoveries', 'dedup_key', "
                  "'partition_key', 'exclusive', 'priority', 'queue_seq', 'queued_ms', "
                  "'version', 'run_key', 'failed_step', 'error_category', 'error_value')") == 22);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM pragma_table_info('records') WHERE name = 'epoch'") == 1);
  CHECK(query_int(raw.db,
                  "SELECT count(*) FROM pragma_table_info('records') WHERE name = 'unix_ms'") == 1);
}

#endif  // TUTTI_TEST_NO_SQLITE
