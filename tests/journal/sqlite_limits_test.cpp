// The SQLite journal at its limits: a value over the size limit is `too_big` (not `corrupt`),
// nothing of it is written, and a durable run stops with the journal's own message.
#include <catch2/catch.hpp>

#ifndef TUTTI_TEST_NO_SQLITE

#  include <cstddef>
#  include <cstdint>
#  include <filesystem>
#  include <string>
#  include <vector>

#  include <tutti/tutti.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/sqlite.hpp>

#  include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

using support::temp_dir;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

tutti::sqlite_journal open_limited(const std::string& path, std::uint32_t max_value_bytes) {
  std::string why;
  auto j = tutti::sqlite_journal::open(path, {.max_value_bytes = max_value_bytes}, &why);
  INFO(why);
  REQUIRE(j);
  return std::move(j).value();
}

std::vector<std::byte> bytes_of(std::size_t n) {
  return std::vector<std::byte>(n, std::byte{0x5A});
}

}  // namespace

TEST_CASE("an SQLite journal refuses a payload over its size limit as too_big, writing nothing",
          "[journal][sqlite][limits]") {
  const temp_dir dir;
  auto j = open_limited(dir.file("j.db"), 4096);
  const tutti::run_id id{7, 1};
  REQUIRE(j.start(id, "w", 1, bytes_of(8)));
  tutti::record_view ok_rec;
  ok_rec.kind = tutti::record_kind::step_finished;
  ok_rec.step = "small";
  ok_rec.ok = true;
  const auto small = bytes_of(100);
  ok_rec.payload = small;
  REQUIRE(j.append(id, ok_rec));

  tutti::record_view big_rec = ok_rec;
  big_rec.step = "big";
  const auto big = bytes_of(5000);
  big_rec.payload = big;
  const auto w = j.append(id, big_rec);
  REQUIRE_FALSE(w);
  CHECK(w.error() == tutti::journal_errc::too_big);
  const std::string m = j.last_error_message();
  INFO(m);
  CHECK(contains(m, "record 3 of run"));
  CHECK(contains(m, "step 'big'"));
  CHECK(contains(m, "5000 bytes"));
  CHECK(contains(m, "limit of 4096 bytes"));
  CHECK_FALSE(contains(m, "already exists"));

  // Nothing of it was written, and the journal goes on: the run still has its two records,
  // and the next record (of a size that fits) is record 3.
  auto loaded = j.load(id);
  REQUIRE(loaded);
  CHECK(loaded.value().records.size() == 2);
  REQUIRE(j.append(id, ok_rec));
  loaded = j.load(id);
  REQUIRE(loaded);
  REQUIRE(loaded.value().records.size() == 3);
  CHECK(loaded.value().records[2].step == "small");
  CHECK(loaded.value().records[2].payload == small);
}

TEST_CASE("an SQLite journal refuses a run's input over its size limit as too_big",
          "[journal][sqlite][limits]") {
  const temp_dir dir;
  auto j = open_limited(dir.file("j.db"), 4096);
  const auto w = j.start(tutti::run_id{7, 2}, "w", 1, bytes_of(6000));
  REQUIRE_FALSE(w);
  CHECK(w.error() == tutti::journal_errc::too_big);
  CHECK(contains(j.last_error_message(), "run_started"));
  CHECK(contains(j.last_error_message(), "6000 bytes"));
  CHECK(j.status(tutti::run_id{7, 2}).error() == tutti::journal_errc::run_not_found);
}

TEST_CASE("a durable run whose step output is too big for the SQLite journal stops with too_big "
          "and the journal's message",
          "[journal][sqlite][limits][durable]") {
  const temp_dir dir;
  auto j = open_limited(dir.file("j.db"), 4096);
  const auto wf = tutti::workflow<"blob">(
      tutti::step<"make">([](int n) { return std::string(static_cast<std::size_t>(n), 'x'); }),
      tutti::step<"after">([](tutti::from<"make", std::string> s) { return s->size(); }));
  tutti::durable_workflow durable{wf, j};

  const auto fits = durable.run(100);
  REQUIRE(fits);
  CHECK(fits.error == std::error_code{});
  CHECK(fits->has_value());

  const auto r = durable.run(10000);
  REQUIRE(r);  // it ran, and stopped where the journal failed
  CHECK(r.error == tutti::journal_errc::too_big);
  CHECK(r.error != tutti::journal_errc::corrupt);
  INFO(r.message);
  CHECK(contains(r.message, "too big"));
  CHECK(contains(r.message, "step 'make'"));
  CHECK(contains(r.message, "limit of 4096 bytes"));
  CHECK(contains(r.message, dir.file("j.db")));
  // Write-ahead: the run stays `running` with what was written before the output.
  CHECK(j.status(r->id()).value() == tutti::run_status::running);
}

#endif  // TUTTI_TEST_NO_SQLITE
