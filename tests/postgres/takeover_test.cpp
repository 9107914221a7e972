// Replicas on PostgreSQL, as processes with real signals (tests/takeover/takeover_cases.hpp, the
// cases the SQLite journal passes too), on the server of TUTTI_PG_CONNINFO, each test in a
// schema of its own:
// - a zombie: a replica stopped with SIGSTOP in the middle of a step, taken over once its lease
//   expired, continued: it calls and writes nothing more;
// - chaos: three replicas, 1,000 queued runs of a saga with ledgers keyed by idempotency key,
//   seeded random SIGKILL and SIGSTOP/SIGCONT and one `pg_ctl restart -m immediate` of the
//   server mid-run: each run finished once, each effect once per key, compensations once,
//   epochs increasing, partition FIFO;
// - queue buffering: 10,000 submissions with no replica up, then three replicas: each once, in
//   partition order, all three taking part;
// - two replicas calling resume_all at start-up resume each stranded run once;
// - a deploy: runs of version 1 killed in flight, version 2 requests queued, the replica back
//   with versions 1 and 2: each run ends on its version, each effect once.
#include "postgres/pg_support.hpp"
#include "takeover/takeover_cases.hpp"

#ifdef TUTTI_TAKEOVER_CHILD

#include <cstdlib>

namespace {
/// A scratch directory (ledgers, logs) and a schema of its own on the server.
struct pg_scratch : takeover_cases::scratch {
  pg_support::schema schema{"tk"};
  explicit pg_scratch(const std::string& name) : scratch("pg-" + name) {
    spec = "postgres:" + schema.name;
  }
};
}  // namespace

TEST_CASE("PostgreSQL: two replicas calling resume_all at start-up resume each stranded run once",
          "[postgres][takeover]") {
  pg_scratch s("resume-all");
  takeover_cases::resume_all_case(s);
}

TEST_CASE("PostgreSQL: a zombie replica, stopped in a step and taken over, calls and writes nothing more",
          "[postgres][takeover]") {
  pg_scratch s("zombie");
  takeover_cases::zombie_case(s);
}

TEST_CASE("PostgreSQL: three replicas under SIGKILL, SIGSTOP and a server restart finish every run once",
          "[postgres][takeover][chaos]") {
  const std::uint64_t runs = takeover_cases::env_u64("TUTTI_TAKEOVER_RUNS", 1000);
  const std::uint64_t seed = takeover_cases::env_u64("TUTTI_TAKEOVER_SEED", 13);
  INFO("runs " << runs << ", seed " << seed << " (TUTTI_TAKEOVER_RUNS, TUTTI_TAKEOVER_SEED)");
  const char* pg_ctl = std::getenv("TUTTI_PG_CTL");
  // The restart needs the server's pg_ctl (scripts/test sets it); without it this test cannot
  // do what it says, so it fails rather than pass without the restart.
  REQUIRE(pg_ctl != nullptr);
  REQUIRE(*pg_ctl != '\0');
  pg_scratch s("chaos");
  bool restarted = false;
  takeover_cases::chaos_case(s, runs, seed, 3, [&] {
    const std::string cmd = std::string(pg_ctl) + " -m immediate -w -t 60 restart > /dev/null";
    restarted = std::system(cmd.c_str()) == 0;
  });
  CHECK(restarted);
}

TEST_CASE("PostgreSQL: requests queued with no replica up (10,000 by default) run once each, in order, on three replicas",
          "[postgres][takeover][queue]") {
  pg_scratch s("queue");
  const std::uint64_t runs = takeover_cases::env_u64("TUTTI_QUEUE_RUNS", TUTTI_QUEUE_DEFAULT_RUNS);
  INFO("requests " << runs << " (TUTTI_QUEUE_RUNS)");
  takeover_cases::queue_case(s, runs, 3);
}

TEST_CASE("PostgreSQL: a deploy: runs started on version 1 finish on it after a kill, new ones run "
          "on version 2",
          "[postgres][takeover][version]") {
  pg_scratch s("deploy");
  takeover_cases::deploy_case(s);
}

#endif  // TUTTI_TAKEOVER_CHILD
