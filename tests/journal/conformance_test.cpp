// The journal conformance suite (tests/support/journal_conformance.hpp) on the in-memory and the
// SQLite journal; tests/postgres/conformance_test.cpp runs the same suite on PostgreSQL.
#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <tuple>

#ifndef TUTTI_TEST_NO_SQLITE
#include <tutti/journal/sqlite.hpp>

#include "support/temp_dir.hpp"

#include <memory>
#include <tuple>

namespace conformance {
/// An SQLite file, opened twice (two connections, as two engine processes would).
struct sqlite_backend {
  static constexpr const char* name = "sqlite";
  using journal_type = tutti::sqlite_journal;
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  support::temp_dir dir;
  std::unique_ptr<journal_type> a, b;
  explicit sqlite_backend(std::uint64_t max_queued = 0) {
    tutti::sqlite_options o;
    o.lease_clock = tutti::any_clock{clock};
    o.max_queued = max_queued;
    o.power_safe = false;
    std::string why;
    auto first = journal_type::open(dir.file("runs.db"), o, &why);
    INFO(why);
    REQUIRE(first);
    a = std::make_unique<journal_type>(std::move(first.value()));
    auto second = journal_type::open(dir.file("runs.db"), o, &why);
    INFO(why);
    REQUIRE(second);
    b = std::make_unique<journal_type>(std::move(second.value()));
  }
  journal_type& journal() { return *a; }
  journal_type& other() { return *b; }
};
}  // namespace conformance

namespace conformance {
struct memory_backend;  // in journal_conformance.hpp
using backends = std::tuple<memory_backend, sqlite_backend>;
}  // namespace conformance
#else
namespace conformance {
struct memory_backend;
using backends = std::tuple<memory_backend>;
}  // namespace conformance
#endif
#define TUTTI_CONFORMANCE_BACKENDS conformance::backends
#define TUTTI_CONFORMANCE_TAGS "[journal][conformance]"
#include "support/journal_conformance.hpp"
