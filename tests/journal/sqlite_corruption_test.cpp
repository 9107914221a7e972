// Damaged and foreign files: each a clear error (code and message), never a crash, never wrong
// data, and a file that fails to open is left byte for byte as it was.
#include <catch2/catch.hpp>

#ifndef TUTTI_TEST_NO_SQLITE

#  include <algorithm>
#  include <chrono>
#  include <cstddef>
#  include <cstdint>
#  include <cstdio>
#  include <filesystem>
#  include <random>
#  include <string>
#  include <vector>

#  include <tutti/journal/sqlite.hpp>

#  include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

using support::temp_dir;

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

using file_bytes = std::vector<unsigned char>;

file_bytes read_file(const std::string& path) {
  file_bytes out(static_cast<std::size_t>(fs::file_size(path)));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fread(out.data(), 1, out.size(), f) == out.size());
  std::fclose(f);
  return out;
}

void write_file(const std::string& path, const file_bytes& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
  std::fclose(f);
}

file_bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  file_bytes out(n);
  for (auto& b : out) b = static_cast<unsigned char>(gen());
  return out;
}

tutti::run_id id_of(std::uint64_t n) { return {0x5151000000000000ULL + n, n}; }

std::vector<std::byte> payload_of(std::uint64_t run, std::uint64_t i, std::size_t size) {
  std::vector<std::byte> out(size);
  for (std::size_t k = 0; k < size; ++k)
    out[k] = static_cast<std::byte>((run * 31 + i * 7 + k) & 0xFF);
  if (!out.empty()) out[0] = std::byte{0};
  return out;
}

constexpr std::uint64_t run_count = 12;
constexpr std::uint64_t records_per_run = 8;

/// A closed, healthy journal: 12 runs of 9 records, payloads of 64..2000 bytes, one 10 KB
/// input (overflow pages), so the file has many pages of every kind.
void make_journal(const std::string& path) {
  std::string why;
  auto j = tutti::sqlite_journal::open(path, {}, &why);
  INFO(why);
  REQUIRE(j);
  for (std::uint64_t r = 1; r <= run_count; ++r) {
    const auto input = payload_of(r, 0, r == 1 ? 10000 : 16);
    REQUIRE(j.value().start(id_of(r), "wf" + std::to_string(r % 3), r, input));
    for (std::uint64_t i = 1; i <= records_per_run; ++i) {
      const auto payload = payload_of(r, i, 64 + (i * r * 37) % 2000);
      const std::string step = "step" + std::to_string(i);
      tutti::record_view rec;
      rec.kind = tutti::record_kind::step_finished;
      rec.step = step;
      rec.ok = true;
      rec.attempt = 1;
      rec.payload = payload;
      rec.time_ns = static_cast<std::int64_t>(i * 1000);
      REQUIRE(j.value().append(id_of(r), rec));
    }
  }
}

/// What make_journal wrote, checked against what a journal returns.
bool is_original(const tutti::stored_run& run, std::uint64_t r) {
  if (run.records.size() != records_per_run + 1) return false;
  if (run.input != payload_of(r, 0, r == 1 ? 10000 : 16)) return false;
  for (std::uint64_t i = 1; i <= records_per_run; ++i) {
    const auto& rec = run.records[i];
    if (rec.seq != i + 1 || rec.step != "step" + std::to_string(i) ||
        rec.payload != payload_of(r, i, 64 + (i * r * 37) % 2000) ||
        rec.time_ns != static_cast<std::int64_t>(i * 1000))
      return false;
  }
  return true;
}

/// Opening fails with `expected` and a message naming the file; the file is unchanged.
std::string expect_refused(const std::string& path, tutti::journal_errc expected,
                           const tutti::sqlite_options& o = {}) {
  const file_bytes before = fs::exists(path) ? read_file(path) : file_bytes{};
  std::string why;
  auto j = tutti::sqlite_journal::open(path, o, &why);
  INFO(why);
  REQUIRE_FALSE(j);
  CHECK(j.error() == expected);
  CHECK(contains(why, path));
  REQUIRE(fs::exists(path));
  const bool unchanged = read_file(path) == before;
  CHECK(unchanged);
  return why;
}

/// Every read either returns exactly what was written or says `corrupt`: never other data.
/// Returns how many reads said `corrupt`.
int reads_are_right_or_corrupt(const tutti::sqlite_journal& j) {
  int corrupt = 0;
  const auto listed = j.list({});
  if (!listed) {
    CHECK(listed.error() == tutti::journal_errc::corrupt);
    ++corrupt;
  } else {
    CHECK(listed.value().size() == run_count);
  }
  for (std::uint64_t r = 1; r <= run_count; ++r) {
    const auto run = j.load(id_of(r));
    if (run) {
      CHECK(is_original(run.value(), r));
    } else {
      INFO(j.last_error_message());
      CHECK(run.error() == tutti::journal_errc::corrupt);
      ++corrupt;
    }
  }
  return corrupt;
}

}  // namespace

TEST_CASE("a truncated journal is refused as corrupt", "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string original = dir.file("original.db");
  make_journal(original);
  const file_bytes whole = read_file(original);
  REQUIRE(whole.size() > 8 * 4096);
  for (std::size_t length :
       {std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{99}, std::size_t{100},
        std::size_t{512}, std::size_t{4095}, std::size_t{4096}, std::size_t{8192}, whole.size() / 2,
        whole.size() - 4096, whole.size() - 100, whole.size() - 1}) {
    INFO("cut at " << length << " of " << whole.size() << " bytes");
    const std::string path = dir.file("cut" + std::to_string(length) + ".db");
    write_file(path, file_bytes(whole.begin(), whole.begin() + static_cast<long>(length)));
    const std::string why = expect_refused(path, tutti::journal_errc::corrupt);
    CHECK(contains(why, "truncated"));
  }
}

TEST_CASE("an empty file becomes a journal only with create_if_missing",
          "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string path = dir.file("empty.db");
  write_file(path, {});
  tutti::sqlite_options no_create;
  no_create.create_if_missing = false;
  const std::string why = expect_refused(path, tutti::journal_errc::corrupt, no_create);
  CHECK(contains(why, "empty"));
  CHECK(fs::file_size(path) == 0);

  SECTION("with create_if_missing (the default) it is a new journal") {
    auto j = tutti::sqlite_journal::open(path);
    REQUIRE(j);
    CHECK(j.value().start(id_of(1), "w", 1, {}));
  }
  SECTION("not when a -wal file with content sits next to it") {
    write_file(path + "-wal", random_bytes(4096, 1));
    expect_refused(path, tutti::journal_errc::corrupt);
    CHECK(fs::file_size(path) == 0);
  }
}

TEST_CASE("garbage over the header is refused as corrupt", "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string original = dir.file("original.db");
  make_journal(original);
  const file_bytes whole = read_file(original);
  struct damage {
    std::size_t offset;
    std::size_t size;
    const char* expect;
  };
  for (const damage d :
       {damage{0, 100, "not an SQLite database"}, damage{0, 16, "not an SQLite database"},
        damage{16, 2, "page size"}, damage{68, 4, "not a tutti journal"},
        damage{0, 4096, "not an SQLite database"}}) {
    INFO("garbage at " << d.offset << ", " << d.size << " bytes");
    file_bytes bytes = whole;
    const file_bytes garbage = random_bytes(d.size, static_cast<std::uint32_t>(d.offset + d.size));
    std::copy(garbage.begin(), garbage.end(), bytes.begin() + static_cast<long>(d.offset));
    if (d.offset == 16) bytes[16] = 0x03, bytes[17] = 0x00;  // 768: not a power of two
    const std::string path =
        dir.file("header" + std::to_string(d.offset) + "_" + std::to_string(d.size) + ".db");
    write_file(path, bytes);
    const std::string why = expect_refused(path, tutti::journal_errc::corrupt);
    CHECK(contains(why, d.expect));
  }
}

TEST_CASE("a file of random bytes or text is refused as corrupt", "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string random = dir.file("random.db");
  write_file(random, random_bytes(64 * 1024, 7));
  CHECK(contains(expect_refused(random, tutti::journal_errc::corrupt), "not an SQLite database"));

  const std::string text = dir.file("notes.txt");
  const std::string hello = "hello, this is not a journal\n";
  write_file(text, file_bytes(hello.begin(), hello.end()));
  CHECK(contains(expect_refused(text, tutti::journal_errc::corrupt), "truncated"));
}

TEST_CASE("another application's SQLite database is refused as corrupt",
          "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string path = dir.file("other.db");
  const char* setup = GENERATE(
      "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
      "INSERT INTO customers(name) VALUES ('ada'), ('grace');",
      "PRAGMA journal_mode = WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);",
      "PRAGMA user_version = 7;",  // an empty database, one page
      "PRAGMA application_id = 42; CREATE TABLE meta(key, value);");
  INFO(setup);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, setup, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string why = expect_refused(path, tutti::journal_errc::corrupt);
  CHECK(contains(why, "not a tutti journal"));
  CHECK_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("a file with tutti's application_id but no usable schema is refused as corrupt",
          "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string path = dir.file("half.db");
  const char* setup = GENERATE(
      "PRAGMA application_id = 1414878292; CREATE TABLE unrelated(x);",
      "PRAGMA application_id = 1414878292; CREATE TABLE meta(key TEXT PRIMARY KEY, value);",
      "PRAGMA application_id = 1414878292; CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
      "INSERT INTO meta VALUES ('schema_version', 'one');",
      "PRAGMA application_id = 1414878292; CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
      "INSERT INTO meta VALUES ('schema_version', 1);");  // version 1 without its tables
  INFO(setup);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, setup, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  tutti::sqlite_options o;
  const std::string why = expect_refused(path, tutti::journal_errc::corrupt, o);
  CHECK(contains(why, "schema"));
}

TEST_CASE("a journal from a newer tutti is refused as an unknown schema",
          "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string path = dir.file("future.db");
  make_journal(path);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "UPDATE meta SET value = 99 WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string why = expect_refused(path, tutti::journal_errc::unknown_schema);
  CHECK(contains(why, "schema version 99"));
  CHECK(contains(why, "up to " + std::to_string(tutti::sqlite_journal_schema_version)));
  CHECK_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("garbage over any page in the middle is found, never returned as data",
          "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string original = dir.file("original.db");
  make_journal(original);
  const file_bytes whole = read_file(original);
  constexpr std::size_t page = 4096;
  REQUIRE(whole.size() % page == 0);
  const std::size_t pages = whole.size() / page;
  int found_by_reads = 0;
  for (std::size_t p = 1; p < pages; ++p) {  // page 0 holds the header: tested above
    INFO("page " << p + 1 << " of " << pages);
    file_bytes bytes = whole;
    const file_bytes garbage = random_bytes(page, static_cast<std::uint32_t>(1000 + p));
    std::copy(garbage.begin(), garbage.end(), bytes.begin() + static_cast<long>(p * page));
    const std::string path = dir.file("page" + std::to_string(p + 1) + ".db");
    write_file(path, bytes);

    // A full check on open finds it, and leaves the file alone.
    tutti::sqlite_options checked;
    checked.check_on_open = true;
    expect_refused(path, tutti::journal_errc::corrupt, checked);

    // Without it: whatever is read is either right or `corrupt`, and verify() finds it.
    std::string why;
    auto j = tutti::sqlite_journal::open(path, {}, &why);
    if (!j) {
      CHECK(j.error() == tutti::journal_errc::corrupt);
      CHECK(contains(why, path));
      continue;
    }
    found_by_reads += reads_are_right_or_corrupt(j.value()) > 0 ? 1 : 0;
    const auto verified = j.value().verify();
    REQUIRE_FALSE(verified);
    CHECK(verified.error() == tutti::journal_errc::corrupt);
    CHECK(contains(j.value().last_error_message(), path));
  }
  CHECK(found_by_reads > 0);
}

TEST_CASE("one flipped bit anywhere: every run read is whole and right, or corrupt",
          "[journal][sqlite][corruption]") {
  // 250 seeded single-bit flips over the whole file (not the 100-byte header, tested above).
  // Whatever a read returns is what was written: never fewer records (a damaged index or a lost
  // tail is caught by the record count kept in the run's row), never other bytes.
  const temp_dir dir;
  const std::string original = dir.file("original.db");
  make_journal(original);
  const file_bytes whole = read_file(original);
  std::mt19937_64 rng(20261206);
  std::uniform_int_distribution<std::size_t> where(100, whole.size() - 1);
  std::uniform_int_distribution<int> bit(0, 7);
  const std::string path = dir.file("flipped.db");
  int refused_on_open = 0, found_by_reads = 0;
  for (int n = 0; n < 250; ++n) {
    const std::size_t at = where(rng);
    const int b = bit(rng);
    INFO("flip " << n << ": byte " << at << ", bit " << b);
    file_bytes bytes = whole;
    bytes[at] = static_cast<unsigned char>(bytes[at] ^ (1U << b));
    fs::remove(path + "-wal");
    fs::remove(path + "-shm");
    write_file(path, bytes);
    std::string why;
    auto j = tutti::sqlite_journal::open(path, {}, &why);
    if (!j) {
      CHECK(j.error() == tutti::journal_errc::corrupt);
      ++refused_on_open;
      continue;
    }
    found_by_reads += reads_are_right_or_corrupt(j.value()) > 0 ? 1 : 0;
  }
  // Most flips land in unused bytes or are caught; some are seen: the test saw damage.
  CHECK(refused_on_open + found_by_reads > 0);
}

TEST_CASE("a damaged byte inside a payload fails its record's checksum",
          "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  const std::vector<std::byte> payload(200, std::byte{0x5A});
  {
    auto j = tutti::sqlite_journal::open(path);
    REQUIRE(j);
    REQUIRE(j.value().start(id_of(1), "w", 1, {}));
    tutti::record_view rec;
    rec.kind = tutti::record_kind::step_finished;
    rec.payload = payload;
    REQUIRE(j.value().append(id_of(1), rec));
  }
  file_bytes bytes = read_file(path);
  const file_bytes pattern(200, 0x5A);
  const auto at = std::search(bytes.begin(), bytes.end(), pattern.begin(), pattern.end());
  REQUIRE(at != bytes.end());
  at[100] = 0x5B;  // one bit: SQLite's page structure is intact, only the content is wrong
  write_file(path, bytes);

  auto j = tutti::sqlite_journal::open(path);
  REQUIRE(j);  // the structure is fine...
  const auto run = j.value().load(id_of(1));
  REQUIRE_FALSE(run);  // ...but the record is not returned
  CHECK(run.error() == tutti::journal_errc::corrupt);
  CHECK(contains(j.value().last_error_message(), "checksum"));
  CHECK(j.value().verify().error() == tutti::journal_errc::corrupt);
  CHECK(j.value().status(id_of(1)).value() == tutti::run_status::running);
}

TEST_CASE("a run whose records and header disagree is corrupt", "[journal][sqlite][corruption]") {
  const temp_dir dir;
  const std::string path = dir.file("j.db");
  make_journal(path);
  const auto edit = [&](const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  };
  SECTION("a record missing in the middle") {
    edit("DELETE FROM records WHERE seq = 4");
    auto j = tutti::sqlite_journal::open(path);
    REQUIRE(j);
    const auto run = j.value().load(id_of(2));
    REQUIRE_FALSE(run);
    CHECK(run.error() == tutti::journal_errc::corrupt);
    CHECK(contains(j.value().last_error_message(), "records are missing"));
  }
  SECTION("a run whose records are gone is corrupt, even after one more append") {
    edit("DELETE FROM records WHERE run_id = (SELECT run_id FROM runs WHERE fingerprint = 2)");
    auto j = tutti::sqlite_journal::open(path);
    REQUIRE(j);
    tutti::record_view rec;
    rec.kind = tutti::record_kind::attempt_started;
    (void)j.value().append(id_of(2), rec);  // appends read the run's row, not its records
    const auto run = j.value().load(id_of(2));
    REQUIRE_FALSE(run);
    CHECK(run.error() == tutti::journal_errc::corrupt);
    CHECK(contains(j.value().last_error_message(), "records are missing"));
    CHECK(j.value().verify().error() == tutti::journal_errc::corrupt);
  }
  SECTION("a run whose last records are gone (a missing tail) is corrupt, not shorter") {
    edit("DELETE FROM records WHERE run_id = (SELECT run_id FROM runs WHERE fingerprint = 2) "
         "AND seq >= 3");
    auto j = tutti::sqlite_journal::open(path);
    REQUIRE(j);
    const auto run = j.value().load(id_of(2));
    REQUIRE_FALSE(run);
    CHECK(run.error() == tutti::journal_errc::corrupt);
    CHECK(contains(j.value().last_error_message(), "has 2 records where its row says"));
  }
  SECTION("grouped: a write that fails half-way loses its group and stops all writes") {
    // A run's end whose record is written but whose status update fails (a trigger stands in
    // for a full disk or an I/O error).
    edit(
        "CREATE TRIGGER no_status BEFORE UPDATE OF status ON runs "
        "WHEN NEW.status <> OLD.status BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");
    tutti::sqlite_options o;
    o.commit = tutti::sqlite_commit::grouped;
    o.group_records = 100;
    o.group_interval = std::chrono::milliseconds(0);
    {
      auto j = tutti::sqlite_journal::open(path, o);
      REQUIRE(j);
      const tutti::run_id fresh{1, 1};
      REQUIRE(j.value().start(fresh, "w", 1, {}));  // a start commits at once, even grouped
      tutti::record_view fin;
      fin.kind = tutti::record_kind::run_finished;
      const auto failed = j.value().append(id_of(2), fin);  // writes its record, then fails
      REQUIRE_FALSE(failed);
      CHECK(failed.error() == tutti::journal_errc::io_error);
      CHECK(contains(j.value().last_error_message(), "simulated failure"));
      CHECK(contains(j.value().last_error_message(), "rolled back"));
      CHECK(j.value().load(fresh).value().records.size() == 1);  // not lost with the group
      CHECK(j.value().load(id_of(2)).value().records.size() == records_per_run + 1);
      tutti::record_view rec;
      rec.kind = tutti::record_kind::attempt_started;
      CHECK(j.value().append(id_of(3), rec).error() == tutti::journal_errc::io_error);
      CHECK(j.value().start(tutti::run_id{2, 2}, "w", 1, {}).error() ==
            tutti::journal_errc::io_error);
      CHECK(contains(j.value().last_error_message(), "refuses writes until it is reopened"));
      CHECK(j.value().flush().error() == tutti::journal_errc::io_error);
      CHECK(j.value().load(id_of(3)));  // reads still work
    }
    auto j = tutti::sqlite_journal::open(path, o);  // reopened: writes work again
    REQUIRE(j);
    tutti::record_view rec;
    rec.kind = tutti::record_kind::attempt_started;
    CHECK(j.value().append(id_of(3), rec));
    CHECK(j.value().load(id_of(3)).value().records.size() == records_per_run + 2);
    CHECK(j.value().load(id_of(2)).value().records.size() == records_per_run + 1);
  }
}

#endif  // TUTTI_TEST_NO_SQLITE
