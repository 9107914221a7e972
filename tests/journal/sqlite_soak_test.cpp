// The retention soak test: 100,000 runs (TUTTI_SOAK_RUNS; scripts/test --all's sanitizer legs
// send 20,000) go through a runner on an SQLite journal with retention on. Requests are submitted in waves that keep the queue short, as a
// service's traffic would; the runner runs them and purges the ended ones as it goes. The
// journal's file must stay the size its live runs need — the pages purged runs leave are reused
// — while every run is run once. (`list` on a journal after such a history costs what it costs on
// a fresh journal of the same runs: measured by benchmarks/journal_bench.cpp,
// BM_sqlite_list_after_churn against BM_sqlite_list_fresh, not timed here.)
#include <catch2/catch.hpp>

#ifndef TUTTI_TEST_NO_SQLITE

#  include <algorithm>
#  include <atomic>
#  include <chrono>
#  include <cstdint>
#  include <cstdlib>
#  include <filesystem>
#  include <string>
#  include <vector>

#  include <fmt/format.h>

#  include <tutti/tutti.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/sqlite.hpp>
#  include <tutti/runner.hpp>

#  include "support/eventually.hpp"
#  include "support/temp_dir.hpp"

using namespace std::chrono_literals;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

/// The journal's bytes on disk: the database and its write-ahead log.
std::uintmax_t file_bytes(const std::string& path) {
  std::uintmax_t n = 0;
  for (const std::string& f : {path, path + "-wal"}) {
    std::error_code ec;
    const auto s = std::filesystem::file_size(f, ec);
    if (!ec) n += s;
  }
  return n;
}

}  // namespace

TEST_CASE("with retention on, TUTTI_SOAK_RUNS runs through a runner leave the journal's file bounded",
          "[journal][sqlite][retention][soak]") {
  const std::uint64_t runs = env_u64("TUTTI_SOAK_RUNS", 100'000);
  REQUIRE(runs >= 10'000);
  REQUIRE(runs % 5'000 == 0);  // whole waves in each tenth
  INFO(runs << " runs");
  constexpr std::uint64_t wave = 500;         // submitted at once
  constexpr std::uint64_t most_queued = 1000;  // the next wave waits below this
  support::temp_dir dir;
  const std::string path = dir.file("soak.db");
  tutti::sqlite_options o;
  o.power_safe = false;  // the test kills no machine
  std::string why;
  auto opened = tutti::sqlite_journal::open(path, o, &why);
  INFO(why);
  REQUIRE(opened);
  tutti::sqlite_journal& j = opened.value();

  std::atomic<std::uint64_t> calls{0};
  const auto wf = tutti::workflow<"order">(
      tutti::step<"reserve">([&calls](const std::uint64_t& n) {
        ++calls;
        return n;
      }),
      tutti::step<"confirm">([&calls](tutti::from<"reserve", std::uint64_t> n) {
        ++calls;
        return *n + 1;
      }));
  const tutti::durable_workflow durable{wf, j};

  tutti::thread_pool pool{2};
  tutti::runner r{j, pool,
                  {.name = "soak",
                   .poll = 1ms,
                   .retention = {.keep = 1ms, .every = 20ms, .batch = 500, .max_batches = 20}}};
  r.host<std::uint64_t>(wf, 8);
  r.start();

  // The file's size each time another tenth of the runs has been submitted.
  std::vector<std::uintmax_t> sizes;
  std::uint64_t submitted = 0;
  while (submitted < runs) {
    // The next wave when the queue is short and retention has caught up: the journal holds at
    // most a few thousand runs at any time, whatever the load on the machine.
    REQUIRE(support::eventually(
        [&] {
          return j.queue_depth().value() < most_queued &&
                 submitted - r.stats().purged <= 2 * most_queued;
        },
        60s));
    const std::uint64_t n = std::min(wave, runs - submitted);
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(durable.submit(submitted + i));
    submitted += n;
    if (submitted % (runs / 10) < wave) sizes.push_back(file_bytes(path));
  }
  // Every run ends and is purged.
  REQUIRE(support::eventually([&] { return r.stats().purged == runs; }, 120s));
  r.stop();
  const tutti::runner_stats st = r.stats();
  CHECK(st.claims == runs);
  CHECK(st.journal_errors == 0);
  CHECK(calls.load() == 2 * runs);  // each step of each run once
  CHECK(j.list({}).value().empty());
  REQUIRE(j.verify());

  // Bounded: once the first fifth has been submitted, the file grows no more than a quarter
  // (the live runs are the same few hundred all along; purged runs' pages are reused).
  REQUIRE(sizes.size() >= 9);
  const std::uintmax_t early = sizes[1];
  std::string seen;
  for (const auto s : sizes) seen += fmt::format(" {}", s);
  INFO("file sizes (bytes) at each tenth:" << seen);
  CHECK(*std::max_element(sizes.begin(), sizes.end()) <= early + early / 4);
  CHECK(file_bytes(path) <= early + early / 4);
}

#endif  // TUTTI_TEST_NO_SQLITE
