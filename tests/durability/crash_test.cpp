// The crash test: a child process (tutti_crash_child) runs the payment gateway durably and is
// killed with SIGKILL at a crash point chosen by a seeded generator; the run is then resumed
// (sometimes killed again while resuming) and the journal and the services' own ledgers must show
// it completed or fully compensated, with no side effect applied twice and none lost. Three test
// cases: per-record commits (the main one, 1,000 points), grouped commits (every point once), and
// the harness's self-check. See docs/durability/crash-test.md.
//
// Environment: TUTTI_CRASH_SEED (default below), TUTTI_CRASH_POINTS (iterations of the
// per-record test, across the three modes; default 1000), TUTTI_CRASH_ONLY=<iteration> (replay one
// iteration of the schedule the seed and the number of points make), TUTTI_CRASH_KEEP=1 (keep
// every iteration's directory, not only failed ones).
//
// Without tutti::sqlite there is no child: tests/CMakeLists.txt defines TUTTI_CRASH_CHILD (its
// path) only with it, and this file compiles to no test case.
#ifdef TUTTI_CRASH_CHILD

#include "crash_harness.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;

// The build may set other defaults (tests/CMakeLists.txt: TUTTI_CRASH_POINTS, TUTTI_CRASH_SEED):
// scripts/test --all gives each of its two legs 500 points and a seed of its own.
#ifdef TUTTI_CRASH_DEFAULT_SEED
constexpr std::uint64_t default_seed = TUTTI_CRASH_DEFAULT_SEED;
#else
constexpr std::uint64_t default_seed = 20240605;
#endif
#ifdef TUTTI_CRASH_DEFAULT_POINTS
constexpr std::uint64_t default_points = TUTTI_CRASH_DEFAULT_POINTS;
#else
constexpr std::uint64_t default_points = 1000;
#endif

// ---- seeded choices (splitmix64: the same numbers with every standard library) ---------------

struct rng {
  std::uint64_t state;
  std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) (the modulo bias is below 2^-50 for the n used here).
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
};

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// ---- the modes ----------------------------------------------------------------------------------

struct mode_info {
  std::string_view name;
  std::vector<std::string> flags;  // for `run`
  tutti::run_status expected;
};
const std::vector<mode_info>& modes() {
  static const std::vector<mode_info> m{
      {"success", {}, tutti::run_status::succeeded},
      {"fail-transfer", {"--fail-transfer"}, tutti::run_status::compensated},
      {"lost-reply", {"--lose-reply"}, tutti::run_status::succeeded},
  };
  return m;
}

// ---- the child ----------------------------------------------------------------------------------

struct child_result {
  bool killed = false;  // by SIGKILL
  int exit_code = -1;   // when it exited
  int signal = 0;       // when another signal ended it
  std::string output;   // its stdout and stderr
  std::string command;  // as a shell line, for replays
};

std::string shell_line(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The children's environment: this process's, with LeakSanitizer's exit scan turned off when
/// ASAN_OPTIONS asks for it (a later flag overrides an earlier one). Most children are killed and
/// never reach it; the ones that exit ran the library code the unit tests check for leaks, and the
/// scan took a fifth of the whole crash test's time under AddressSanitizer.
const std::vector<char*>& child_environment() {
  static std::vector<std::string> strings = [] {
    std::vector<std::string> v;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string s = *e;
      if (s.rfind("ASAN_OPTIONS=", 0) == 0) s += ":detect_leaks=0";
      v.push_back(std::move(s));
    }
    return v;
  }();
  static std::vector<char*> pointers = [] {
    std::vector<char*> p;
    for (auto& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  }();
  return pointers;
}

/// Runs the child with `args` (after its path); its output goes to `log`.
child_result run_child(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all{TUTTI_CRASH_CHILD};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);

  child_result out;
  out.command = shell_line(all);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(),
                               child_environment().data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    out.output = fmt::format("posix_spawn failed: {}", std::strerror(rc));
    return out;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    out.killed = WTERMSIG(status) == SIGKILL;
    out.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  }
  out.output = read_file(log);
  return out;
}

std::string how_it_ended(const child_result& r) {
  if (r.killed) return "killed by SIGKILL";
  if (r.signal != 0) return fmt::format("killed by signal {}", r.signal);
  return fmt::format("exited with {}", r.exit_code);
}

/// "points <n>" in a child's output.
std::uint64_t points_in(const std::string& output) {
  const auto at = output.rfind("points ");
  return at == std::string::npos ? 0 : std::strtoull(output.c_str() + at + 7, nullptr, 10);
}

/// "journal: before attempt_started transfer" -> "journal: before attempt_started".
std::string kind_of_point(std::string where) {
  if (const auto nl = where.find('\n'); nl != std::string::npos) where.resize(nl);
  if (const auto tab = where.find('\t'); tab != std::string::npos) where.erase(0, tab + 1);
  if (where.rfind("journal: ", 0) == 0) {
    const auto third = where.find(' ', where.find(' ', 9) + 1);
    if (third != std::string::npos) where.resize(third);
  }
  return where;
}

// ---- the checks ---------------------------------------------------------------------------------

/// What is wrong with the run and the ledgers once everything was resumed (empty: all good).
std::vector<std::string> check_run(const mode_info& m, const tutti::run_id& id,
                                   const tutti::result<tutti::stored_run>& run,
                                   const pay::services& s) {
  std::vector<std::string> bad;
  const auto expect = [&bad](bool ok, std::string what) {
    if (!ok) bad.push_back(std::move(what));
  };
  if (!run) {
    bad.push_back("the run is not in the journal: the order was lost");
    return bad;
  }
  const tutti::run_status status = run.value().summary.status;
  expect(status == m.expected, fmt::format("the run is {}, expected {}", tutti::to_string(status),
                                           tutti::to_string(m.expected)));
  const bool succeeded = status == tutti::run_status::succeeded;
  const bool compensated = status == tutti::run_status::compensated;

  // The journal: one end per step, per compensation and for the run.
  std::map<std::string, int> finished, undone;
  int run_finished = 0;
  for (const auto& r : run.value().records) {
    if (r.kind == tutti::record_kind::step_finished) ++finished[r.step];
    if (r.kind == tutti::record_kind::compensation_finished && r.ok) ++undone[r.step];
    if (r.kind == tutti::record_kind::run_finished) ++run_finished;
  }
  expect(run_finished == 1, fmt::format("the journal has {} run_finished records", run_finished));
  for (const auto& [step, n] : finished)
    expect(n == 1, fmt::format("the journal finishes step {} {} times", step, n));
  for (const auto& [step, n] : undone)
    expect(n == 1, fmt::format("the journal compensates step {} {} times", step, n));

  const std::string prefix = crash::hex(id) + ":";
  // Card network: one hold per idempotency key, never left held.
  std::set<std::string> keys;
  for (const auto& h : s.cards.holds()) {
    expect(keys.insert(h.key).second, fmt::format("two holds with key {}: the card was held twice", h.key));
    expect(h.key == prefix + "authorize", fmt::format("hold {} has key {}", h.id, h.key));
  }
  expect(s.cards.holds().size() == 1,
         fmt::format("{} holds, expected exactly 1", s.cards.holds().size()));

  // Clearing house: at most one settled transfer; exactly one when the run succeeded.
  int settled = 0, rejected = 0;
  keys.clear();
  for (const auto& t : s.clearing.transfers()) {
    expect(keys.insert(t.key).second, fmt::format("two transfers with key {}", t.key));
    settled += t.state == "settled" ? 1 : 0;
    rejected += t.state == "rejected" ? 1 : 0;
  }
  expect(settled <= 1, fmt::format("{} transfers settled: money moved twice", settled));
  if (succeeded) expect(settled == 1, "the run succeeded but no transfer settled");
  if (compensated) {
    expect(settled == 0, "the run was compensated but a transfer settled");
    expect(rejected == 1, fmt::format("{} rejected transfers, expected 1", rejected));
  }

  // The hold: captured iff a transfer settled, voided iff compensated.
  for (const auto& h : s.cards.holds()) {
    expect(h.state != "held", fmt::format("hold {} is still held", h.id));
    expect((h.state == "captured") == (settled == 1),
           fmt::format("hold {} is {} with {} settled transfers", h.id, h.state, settled));
    expect((h.state == "voided") == compensated,
           fmt::format("hold {} is {} and the run is {}", h.id, h.state, tutti::to_string(status)));
  }

  // FX desk: one quote, used iff settled, released iff compensated, never left locked.
  keys.clear();
  for (const auto& q : s.fx.quotes()) {
    expect(keys.insert(q.key).second, fmt::format("two quotes with key {}", q.key));
    expect(q.state != "locked", fmt::format("quote {} is still locked", q.quote.id));
    expect((q.state == "used") == (settled == 1),
           fmt::format("quote {} is {} with {} settled transfers", q.quote.id, q.state, settled));
    expect((q.state == "released") == compensated,
           fmt::format("quote {} is {} and the run is {}", q.quote.id, q.state, tutti::to_string(status)));
  }
  expect(s.fx.quotes().size() == 1, fmt::format("{} quotes, expected exactly 1", s.fx.quotes().size()));

  // Mailer: one receipt iff the run succeeded.
  expect(s.mail.sent().size() == (succeeded ? 1U : 0U),
         fmt::format("{} receipts sent and the run is {}", s.mail.sent().size(), tutti::to_string(status)));
  return bad;
}

/// The journal's run and the ledgers as the processes left them.
struct final_state {
  tutti::result<tutti::stored_run> run{tutti::journal_errc::run_not_found};
  pay::services services;
  std::string printout;
  std::string error;  // the journal or a ledger could not be read
};
void read_state(const fs::path& dir, const tutti::run_id& id, final_state& st) {
  std::string why;
  auto journal = crash::open_journal((dir / "journal.db").string(), false, &why);
  if (!journal) {
    st.error = fmt::format("cannot open the journal: {} {}", journal.error().message(), why);
    return;
  }
  if (!st.services.load_from(dir.string())) st.error = "a ledger is damaged";
  st.run = journal.value().load(id);
  st.printout = crash::describe(journal.value(), id, st.services);
}

/// A fresh directory for one test case: on /dev/shm when there is one (fsync is cheap there).
fs::path scratch_root(std::string_view name) {
  std::error_code ec;
  const fs::path shm{"/dev/shm"};
  const fs::path base =
      fs::is_directory(shm, ec) && ::access(shm.c_str(), W_OK) == 0 ? shm : fs::temp_directory_path();
  fs::path root = base / fmt::format("tutti-crash-{}-{}", ::getpid(), name);
  fs::remove_all(root, ec);
  fs::create_directories(root);
  return root;
}

template <class... More>
std::vector<std::string> with(std::vector<std::string> a, More... more) {
  (a.push_back(std::string{more}), ...);
  return a;
}
/// The child's arguments for a run of mode `m` in `dir`.
std::vector<std::string> run_args(const fs::path& dir, const mode_info& m, std::uint64_t seed,
                                  bool grouped, bool async = false) {
  std::vector<std::string> a{(dir / "journal.db").string(), dir.string(), "run", std::to_string(seed)};
  a.insert(a.end(), m.flags.begin(), m.flags.end());
  if (grouped) a.emplace_back("--grouped");
  if (async) a.emplace_back("--async");
  return a;
}
/// ... and for the restarted service's resume of every unfinished run.
std::vector<std::string> resume_args(const fs::path& dir, bool grouped, bool async = false) {
  std::vector<std::string> a{(dir / "journal.db").string(), dir.string(), "resume-all"};
  if (grouped) a.emplace_back("--grouped");
  if (async) a.emplace_back("--async");
  return a;
}

/// How many crash points a run of mode `m` passes when nothing kills it (asked twice: it must
/// not vary); that run must pass the checks too.
std::uint64_t count_points(const fs::path& root, const mode_info& m, bool grouped,
                           bool async = false) {
  std::uint64_t n[2] = {0, 0};
  for (int rep = 0; rep < 2; ++rep) {
    const fs::path dir = root / fmt::format("count-{}-{}", m.name, rep);
    fs::create_directories(dir);
    const std::uint64_t s = 1000 + static_cast<std::uint64_t>(rep);
    const auto r = run_child(with(run_args(dir, m, s, grouped, async), "--count"), dir / "log.txt");
    INFO(r.command << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    n[rep] = points_in(r.output);
    final_state st;
    read_state(dir, crash::run_id_of(s), st);
    INFO(st.printout);
    REQUIRE(st.error.empty());
    std::string bad;
    for (const auto& b : check_run(m, crash::run_id_of(s), st.run, st.services)) bad += b + "\n";
    INFO(bad);
    REQUIRE(bad.empty());
  }
  REQUIRE(n[0] > 0);
  REQUIRE(n[0] == n[1]);
  return n[0];
}

// ---- one iteration: kill, maybe kill the resume, resume, check ----------------------------------

struct iteration {
  std::size_t index = 0;
  const mode_info* mode = nullptr;
  std::uint64_t n = 0;         // the mode's crash points
  std::uint64_t k = 0;         // the first run dies at its k-th point
  bool crash_again = false;    // the first resume dies too ...
  std::uint64_t k2 = 0;        // ... at its k2-th point (if it gets that far)
  std::uint64_t run_seed = 0;  // the run id and order id
  bool grouped = false;        // grouped commits
  bool async = false;          // async runs and resumes (--async)
};

struct iteration_result {
  std::vector<std::string> problems;
  std::vector<std::string> commands;
  std::string first_point, second_point;  // kinds of point it died at ("" for none)
  bool second_tried = false, second_killed = false, resubmitted = false;
  std::string outcome;
  std::string printout;
};

iteration_result run_iteration(const iteration& it, const fs::path& dir) {
  iteration_result res;
  const mode_info& m = *it.mode;
  const tutti::run_id id = crash::run_id_of(it.run_seed);
  auto& problems = res.problems;

  // 1. The run, killed at its k-th crash point (a fresh run always gets there).
  const auto first = run_child(
      with(run_args(dir, m, it.run_seed, it.grouped, it.async), "--crash-at", std::to_string(it.k)),
      dir / "1-run.log");
  res.commands.push_back(first.command);
  if (!first.killed)
    problems.push_back(fmt::format("the run was to be killed at point {} of {}; it {}:\n{}", it.k,
                                   it.n, how_it_ended(first), first.output));
  res.first_point = kind_of_point(read_file(dir / "crash-point"));

  // 2. Sometimes the restarted service dies too while resuming (its k2-th point may lie beyond
  //    what a resume passes: then it finishes).
  if (it.crash_again && problems.empty()) {
    res.second_tried = true;
    fs::remove(dir / "crash-point");
    const auto again = run_child(
        with(resume_args(dir, it.grouped, it.async), "--crash-at", std::to_string(it.k2)),
        dir / "2-resume-crash.log");
    res.commands.push_back(again.command);
    if (again.killed) {
      res.second_killed = true;
      res.second_point = kind_of_point(read_file(dir / "crash-point"));
    } else if (again.exit_code != 0) {
      problems.push_back(fmt::format("the resume to be killed at point {} {}:\n{}", it.k2,
                                     how_it_ended(again), again.output));
    }
  }

  // 3. The service restarts and resumes every unfinished run.
  if (problems.empty()) {
    const auto resumed = run_child(resume_args(dir, it.grouped, it.async), dir / "3-resume.log");
    res.commands.push_back(resumed.command);
    if (resumed.exit_code != 0)
      problems.push_back(fmt::format("resume-all {}:\n{}", how_it_ended(resumed), resumed.output));
  }

  // 4. No run in the journal: the process died before the journal took it (per-record: before
  //    run_started was written, so no service may have been called; grouped: also when the
  //    group holding run_started was never committed). The client sends the same order again
  //    (same run id, same keys) and it goes through.
  if (problems.empty()) {
    final_state before;
    read_state(dir, id, before);
    if (!before.run && before.run.error() == tutti::journal_errc::run_not_found) {
      res.resubmitted = true;
      const auto& s = before.services;
      if (!it.grouped && (!s.cards.holds().empty() || !s.fx.quotes().empty() ||
                          !s.clearing.transfers().empty() || !s.mail.sent().empty()))
        problems.push_back("no run in the journal, yet the services were called:\n" + before.printout);
      const auto again = run_child(run_args(dir, m, it.run_seed, it.grouped, it.async), dir / "4-resubmit.log");
      res.commands.push_back(again.command);
      if (again.exit_code != 0)
        problems.push_back(fmt::format("the resubmitted run {}:\n{}", how_it_ended(again), again.output));
    }
  }

  // 5. The verdict, from the journal and the services' own ledgers.
  final_state st;
  read_state(dir, id, st);
  if (!st.error.empty()) problems.push_back(st.error);
  if (problems.empty()) {
    auto bad = check_run(m, id, st.run, st.services);
    problems.insert(problems.end(), bad.begin(), bad.end());
  }
  if (st.run) res.outcome = fmt::format("{} -> {}", m.name, tutti::to_string(st.run.value().summary.status));
  res.printout = std::move(st.printout);
  return res;
}

/// The failure message: what happened, what is wrong, the journal and ledgers, how to replay.
std::string failure_text(const iteration& it, const iteration_result& r, std::uint64_t seed,
                         std::uint64_t points, const fs::path& dir) {
  std::string text = fmt::format(
      "iteration {}: mode {}{}, killed at point {} of {} ({}){}\n", it.index, it.mode->name,
      it.grouped ? " (grouped commits)" : (it.async ? " (async)" : ""), it.k, it.n, r.first_point,
      it.crash_again ? fmt::format(", resume killed at point {} ({})", it.k2,
                                   r.second_point.empty() ? "not reached" : r.second_point)
                     : std::string{});
  for (const auto& p : r.problems) text += "  PROBLEM: " + p + "\n";
  text += r.printout;
  text += fmt::format(
      "replay: TUTTI_CRASH_SEED={} TUTTI_CRASH_POINTS={} TUTTI_CRASH_ONLY={} {} (directory kept: "
      "{}), or by hand in an empty directory:\n",
      seed, points, it.index, "tutti_test_durability_crash", dir.string());
  for (const auto& c : r.commands) text += "  " + c + "\n";
  return text;
}

/// Counts for the report.
struct tally {
  std::map<std::string, int> deaths, second_deaths, outcomes;
  int ran = 0, failures = 0, second_tries = 0, second_killed = 0, resubmitted = 0;

  void add(const iteration_result& r) {
    ++ran;
    ++deaths[r.first_point.empty() ? "(none)" : r.first_point];
    if (r.second_killed) ++second_deaths[r.second_point];
    second_tries += r.second_tried ? 1 : 0;
    second_killed += r.second_killed ? 1 : 0;
    resubmitted += r.resubmitted ? 1 : 0;
    if (!r.outcome.empty()) ++outcomes[r.outcome];
  }
  [[nodiscard]] std::string text() const {
    std::string s = fmt::format(
        "  resumes killed again: {} of {} tried; runs not in the journal, sent again by the "
        "client: {}\n",
        second_killed, second_tries, resubmitted);
    for (const auto& [o, c] : outcomes) s += fmt::format("  outcome {:<32} {:>4}\n", o, c);
    s += "  first deaths by kind of point:\n";
    for (const auto& [p, c] : deaths) s += fmt::format("    {:<44} {:>4}\n", p, c);
    s += "  deaths while resuming, by kind of point:\n";
    for (const auto& [p, c] : second_deaths) s += fmt::format("    {:<44} {:>4}\n", p, c);
    return s;
  }
};

/// Runs `schedule` (skipping all but `only` when set); failures are reported as they happen.
tally run_schedule(std::vector<iteration>& schedule, const fs::path& root, std::uint64_t seed,
                   std::uint64_t points, std::uint64_t only, bool keep) {
  tally t;
  for (auto& it : schedule) {
    if (only != ~std::uint64_t{0} && it.index != only) continue;
    const fs::path dir = root / fmt::format("{:04}-{}-K{}", it.index, it.mode->name, it.k);
    fs::create_directories(dir);
    const iteration_result r = run_iteration(it, dir);
    t.add(r);
    if (!r.problems.empty()) {
      ++t.failures;
      const std::string text = failure_text(it, r, seed, points, dir);
      // Also unwrapped (Catch2 wraps at 80 columns) and in the kept directory.
      fmt::print(stderr, "{}\n", text);
      std::ofstream{dir / "failure.txt"} << text;
      FAIL_CHECK(text);
      if (t.failures >= 5) break;
    } else if (!keep) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  return t;
}

/// How the child runs: grouped commits, async runs.
struct variant {
  bool grouped = false;
  bool async = false;
};
/// Every crash point of every mode once, a quarter of the resumes killed too; seeded.
std::vector<iteration> every_point(const fs::path& root, std::uint64_t seed, variant v) {
  std::vector<iteration> schedule;
  rng choose{seed};
  for (const auto& m : modes()) {
    const std::uint64_t n = count_points(root, m, v.grouped, v.async);
    for (std::uint64_t k = 1; k <= n; ++k) {
      iteration it{schedule.size(), &m, n, k};
      it.run_seed = choose.next() >> 1;
      it.crash_again = choose.below(4) == 0;
      it.k2 = 1 + choose.below(n);
      it.grouped = v.grouped;
      it.async = v.async;
      schedule.push_back(it);
    }
  }
  return schedule;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("a payment killed at any crash point and resumed ends completed or compensated, "
          "nothing twice, nothing lost",
          "[durability][crash]") {
  const std::uint64_t seed = env_u64("TUTTI_CRASH_SEED", default_seed);
  const std::uint64_t points = env_u64("TUTTI_CRASH_POINTS", default_points);
  const std::uint64_t only = env_u64("TUTTI_CRASH_ONLY", ~std::uint64_t{0});
  const bool keep = env_u64("TUTTI_CRASH_KEEP", 0) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path root = scratch_root("per-record");
  INFO("seed " << seed << ", " << points << " points, scratch " << root.string());

  const std::size_t mode_count = modes().size();
  std::vector<std::uint64_t> n_of;
  for (const auto& m : modes()) n_of.push_back(count_points(root, m, false));

  // The schedule: each mode gets its share of the points, first every K in 1..N once (every
  // step boundary and every point inside a step), then K drawn uniformly; all shuffled.
  rng choose{seed};
  std::vector<iteration> schedule;
  for (std::size_t m = 0; m < mode_count; ++m) {
    const std::uint64_t quota = points / mode_count + (m < points % mode_count ? 1 : 0);
    std::vector<std::uint64_t> ks;
    for (std::uint64_t k = 1; k <= n_of[m]; ++k) ks.push_back(k);
    for (std::size_t i = ks.size(); i > 1; --i) std::swap(ks[i - 1], ks[choose.below(i)]);
    if (ks.size() > quota) ks.resize(quota);
    while (ks.size() < quota) ks.push_back(1 + choose.below(n_of[m]));
    for (const auto k : ks) schedule.push_back({0, &modes()[m], n_of[m], k});
  }
  for (std::size_t i = schedule.size(); i > 1; --i) std::swap(schedule[i - 1], schedule[choose.below(i)]);
  std::vector<std::set<std::uint64_t>> distinct(mode_count);
  for (std::size_t i = 0; i < schedule.size(); ++i) {
    iteration& it = schedule[i];
    it.index = i;
    rng local{seed ^ (0xA0761D6478BD642FULL * (i + 1))};
    it.run_seed = local.next() >> 1;
    it.crash_again = local.below(4) == 0;  // a quarter of the resumes are killed too
    it.k2 = 1 + local.below(it.n);
    distinct[static_cast<std::size_t>(it.mode - modes().data())].insert(it.k);
  }

  const tally t = run_schedule(schedule, root, seed, points, only, keep);

  const double seconds = seconds_since(t0);
  std::string report = fmt::format(
      "crash test: seed {}, SQLite journal with per-record commits, {} iterations in {:.1f} s "
      "({:.1f} ms each), {} failed\n",
      seed, t.ran, seconds, t.ran > 0 ? 1000 * seconds / t.ran : 0.0, t.failures);
  for (std::size_t m = 0; m < mode_count; ++m)
    report += fmt::format("  mode {:<14} N = {:>3} crash points, {:>3} distinct K scheduled\n",
                          modes()[m].name, n_of[m], distinct[m].size());
  WARN(report + t.text());

  // Every step boundary and mid-step point, whenever the number of points allows it.
  for (std::size_t m = 0; m < mode_count; ++m) {
    const std::uint64_t quota = points / mode_count + (m < points % mode_count ? 1 : 0);
    if (quota >= n_of[m]) CHECK(distinct[m].size() == n_of[m]);
  }
  if (t.failures == 0 && !keep) {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
}

TEST_CASE("with grouped commits a crash loses the journal's tail, yet every effect is applied "
          "once (the run is resumed, or the order sent again)",
          "[durability][crash][grouped]") {
  // Every crash point of every mode once, plus a killed resume for a quarter of them. Grouped
  // commits put off writing records; a crash loses those not committed yet, so the journal is
  // behind the services. What the journal lost is done again, with the same idempotency keys.
  const std::uint64_t seed = env_u64("TUTTI_CRASH_SEED", default_seed);
  const bool keep = env_u64("TUTTI_CRASH_KEEP", 0) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path root = scratch_root("grouped");

  std::vector<iteration> schedule =
      every_point(root, seed ^ 0x67726F75706564ULL, {.grouped = true});
  const tally t = run_schedule(schedule, root, seed, 0, ~std::uint64_t{0}, keep);
  const double seconds = seconds_since(t0);
  WARN(fmt::format("crash test, grouped commits: {} iterations in {:.1f} s, {} failed\n", t.ran,
                   seconds, t.failures) +
       t.text());
  if (t.failures == 0 && !keep) {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
}

#if TUTTI_CRASH_ASYNC
TEST_CASE("an async payment killed at any crash point and resumed by an async engine ends "
          "completed or compensated, nothing twice, nothing lost",
          "[durability][crash][async]") {
  // Every crash point of every mode once, plus a killed resume for a quarter of them: the run
  // and the resume-all are awaited on an io_context, "authorize" and "transfer" are coroutines.
  const std::uint64_t seed = env_u64("TUTTI_CRASH_SEED", default_seed);
  const bool keep = env_u64("TUTTI_CRASH_KEEP", 0) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path root = scratch_root("async");

  std::vector<iteration> schedule = every_point(root, seed ^ 0x6173796E63ULL, {.async = true});
  const tally t = run_schedule(schedule, root, seed, 0, ~std::uint64_t{0}, keep);
  const double seconds = seconds_since(t0);
  WARN(fmt::format("crash test, async runs: {} iterations in {:.1f} s, {} failed\n", t.ran,
                   seconds, t.failures) +
       t.text());
  CHECK(static_cast<std::size_t>(t.ran) == schedule.size());
  if (t.failures == 0 && !keep) {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
}
#endif

TEST_CASE("the crash test catches a step whose idempotency key changes between attempts",
          "[durability][crash]") {
  // Its self-check: a transfer step that puts the attempt number in its key (a common mistake)
  // settles a second transfer when it is resumed after the clearing house moved the money but
  // before its reply arrived. The checks must say so.
  const fs::path root = scratch_root("self-check");
  const mode_info& m = modes()[0];
  const std::uint64_t s = 7;
  const fs::path probe = root / "probe";
  fs::create_directories(probe);
  const auto traced =
      run_child(with(run_args(probe, m, s, false), "--attempt-in-key", "--trace"), probe / "log.txt");
  INFO(traced.output);
  REQUIRE(traced.exit_code == 0);
  // "point <K> <where>" lines: the transfer's lost-reply window.
  std::uint64_t k = 0;
  std::istringstream lines{traced.output};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("point ", 0) == 0 && line.find("clearing.transfer: after") != std::string::npos)
      k = std::strtoull(line.c_str() + 6, nullptr, 10);
  REQUIRE(k > 0);

  const auto crash_and_resume = [&](const fs::path& dir, bool broken) {
    fs::create_directories(dir);
    auto run = with(run_args(dir, m, s, false), "--crash-at", std::to_string(k));
    auto resume = resume_args(dir, false);
    if (broken) {
      run.emplace_back("--attempt-in-key");
      resume.emplace_back("--attempt-in-key");
    }
    REQUIRE(run_child(run, dir / "1.log").killed);
    const auto resumed = run_child(resume, dir / "2.log");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    final_state st;
    read_state(dir, crash::run_id_of(s), st);
    INFO(st.printout);
    REQUIRE(st.error.empty());
    std::string all;
    for (const auto& b : check_run(m, crash::run_id_of(s), st.run, st.services)) all += b + "\n";
    return all;
  };

  const std::string broken = crash_and_resume(root / "broken", true);
  INFO(broken);
  CHECK(broken.find("2 transfers settled: money moved twice") != std::string::npos);
  // The same crash with the example's real step: nothing to complain about.
  CHECK(crash_and_resume(root / "good", false).empty());
  std::error_code ec;
  fs::remove_all(root, ec);
}

#endif  // TUTTI_CRASH_CHILD
