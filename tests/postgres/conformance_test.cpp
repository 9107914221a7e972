// The journal conformance suite (tests/support/journal_conformance.hpp) on PostgreSQL: the same
// test cases as the in-memory and SQLite journals pass, against a real server, each in a schema
// of its own, with two connections (two engines).
#include "postgres/pg_support.hpp"

#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <tuple>

namespace conformance {
struct postgres_backend {
  static constexpr const char* name = "postgres";
  using journal_type = tutti::postgres_journal;
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  pg_support::schema schema{"conf"};
  std::unique_ptr<journal_type> a, b;
  explicit postgres_backend(std::uint64_t max_queued = 0) {
    tutti::postgres_options o;
    o.schema = schema.name;
    o.lease_clock = tutti::any_clock{clock};
    o.max_queued = max_queued;
    o.synchronous_commit = false;
    std::string why;
    auto first = journal_type::open(pg_support::conninfo(), o, &why);
    INFO(why);
    REQUIRE(first);
    a = std::make_unique<journal_type>(std::move(first.value()));
    auto second = journal_type::open(pg_support::conninfo(), o, &why);
    INFO(why);
    REQUIRE(second);
    b = std::make_unique<journal_type>(std::move(second.value()));
  }
  journal_type& journal() { return *a; }
  journal_type& other() { return *b; }
};
}  // namespace conformance

namespace conformance {
using backends = std::tuple<postgres_backend>;
}
#define TUTTI_CONFORMANCE_BACKENDS conformance::backends
#define TUTTI_CONFORMANCE_TAGS "[journal][conformance][postgres]"
#include "support/journal_conformance.hpp"
