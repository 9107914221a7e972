// Several engine processes on one SQLite journal, with real signals (tests/takeover/
// takeover_cases.hpp): two processes calling resume_all at start-up; a zombie; three runners
// under random SIGKILL and SIGSTOP/SIGCONT with restarts; 10,000 requests queued with no runner
// up; a deploy from version 1 to versions 1 and 2. tests/postgres/takeover_test.cpp runs the same
// cases on PostgreSQL.
#include "takeover_cases.hpp"

#ifdef TUTTI_TAKEOVER_CHILD

namespace {
/// A scratch directory whose journal is the SQLite file runs.db in it.
struct sqlite_scratch : takeover_cases::scratch {
  explicit sqlite_scratch(const std::string& name) : scratch(name) {
    spec = (dir / "runs.db").string();
  }
};
}  // namespace

TEST_CASE("two processes calling resume_all at start-up resume each stranded run once",
          "[takeover]") {
  sqlite_scratch s("resume-all");
  takeover_cases::resume_all_case(s);
}

TEST_CASE("a zombie engine, stopped in a step and taken over, calls and writes nothing more",
          "[takeover]") {
  sqlite_scratch s("zombie");
  takeover_cases::zombie_case(s);
}

TEST_CASE("three runners under SIGKILL and SIGSTOP/SIGCONT finish every queued run once",
          "[takeover]") {
  const std::uint64_t runs = takeover_cases::env_u64("TUTTI_TAKEOVER_RUNS", 1000);
  const std::uint64_t seed = takeover_cases::env_u64("TUTTI_TAKEOVER_SEED", 12);
  INFO("runs " << runs << ", seed " << seed << " (TUTTI_TAKEOVER_RUNS, TUTTI_TAKEOVER_SEED)");
  sqlite_scratch s("chaos");
  takeover_cases::chaos_case(s, runs, seed, 3);
}

TEST_CASE("requests queued with no runner up (10,000 by default) run once each, in order, when runners come",
          "[takeover]") {
  sqlite_scratch s("queue");
  const std::uint64_t runs = takeover_cases::env_u64("TUTTI_QUEUE_RUNS", TUTTI_QUEUE_DEFAULT_RUNS);
  INFO("requests " << runs << " (TUTTI_QUEUE_RUNS)");
  takeover_cases::queue_case(s, runs, 2);
}

TEST_CASE("a deploy: runs started on version 1 finish on it after a kill, new ones run on version 2",
          "[takeover][version]") {
  sqlite_scratch s("deploy");
  takeover_cases::deploy_case(s);
}

#endif  // TUTTI_TAKEOVER_CHILD
