// The takeover tests' cases, for any shared journal: several engine processes (real fork/exec,
// real signals) on one journal, given as a spec (a path: SQLite; "postgres:<schema>": the
// PostgreSQL server of TUTTI_PG_CONNINFO). tests/takeover/takeover_test.cpp runs them on SQLite,
// tests/postgres/takeover_test.cpp on PostgreSQL:
// - two processes calling resume_all at start-up resume each stranded run once;
// - a zombie (SIGSTOP in the middle of a step, lease expired, run taken over, SIGCONT) calls
//   and writes nothing more;
// - runners under random SIGKILL and SIGSTOP/SIGCONT (and, on PostgreSQL, a server restart)
//   finish every queued run once, partition FIFO kept;
// - 10,000 requests queued with no runner up run once each, in order, shared by the runners.
// The engines are tests/takeover/takeover_child.cpp; see takeover_shared.hpp for the ledgers.
#ifndef TUTTI_TESTS_TAKEOVER_CASES_HPP
#define TUTTI_TESTS_TAKEOVER_CASES_HPP

// The queue tests' requests unless TUTTI_QUEUE_RUNS says otherwise (CMake: TUTTI_QUEUE_RUNS).
#ifndef TUTTI_QUEUE_DEFAULT_RUNS
#  define TUTTI_QUEUE_DEFAULT_RUNS 10000
#endif

#include <catch2/catch.hpp>

#ifdef TUTTI_TAKEOVER_CHILD

#include "takeover_shared.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace takeover_cases {
namespace {  // one test program includes this once

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

/// A scratch directory, removed at the end unless the test failed (then its path is printed).
struct scratch {
  fs::path dir;
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  explicit scratch(const std::string& name) {
    dir = fs::temp_directory_path() / fmt::format("tutti-takeover-{}-{}", name, ::getpid());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~scratch() {
    if (!keep && std::getenv("TUTTI_TAKEOVER_KEEP") == nullptr) fs::remove_all(dir);
  }
  bool keep = false;
  /// The journal every process of the test opens (`takeover::with_journal`).
  std::string spec;
  [[nodiscard]] const std::string& journal() const { return spec; }
};

/// An engine process: started with fork/exec, output in a log file.
struct process {
  pid_t pid = -1;
  int status = 0;
  bool exited = false;
};

process spawn(const std::vector<std::string>& args, const fs::path& log) {
  process p;
  p.pid = ::fork();
  if (p.pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  return p;
}

/// Waits up to `timeout` for `p` to exit; true if it did.
bool wait_exit(process& p, std::chrono::milliseconds timeout) {
  if (p.exited) return true;
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const pid_t r = ::waitpid(p.pid, &p.status, WNOHANG);
    if (r == p.pid) {
      p.exited = true;
      return true;
    }
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
}

/// Polls `pred` until true or `timeout`.
template <class P>
bool eventually(P pred, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string child_path() { return TUTTI_TAKEOVER_CHILD; }

std::vector<std::string> runner_args(const scratch& s, const std::string& name, int lease_ms,
                                     int poll_ms, std::vector<std::string> more = {}) {
  std::vector<std::string> a{child_path(),         "runner", s.journal(), s.dir.string(), name,
                             std::to_string(lease_ms), std::to_string(poll_ms)};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

/// One line of calls.log.
struct call {
  long pid = 0;
  std::string effect;
  std::string run;  // the run id's hex
  std::uint64_t epoch = 0;
};

std::vector<call> read_calls(const scratch& s) {
  std::vector<call> out;
  std::ifstream in(s.dir / "calls.log");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    call c;
    std::string key;
    ls >> c.pid >> c.effect >> key >> c.epoch;
    c.run = key.substr(0, key.find(':'));
    out.push_back(c);
  }
  return out;
}

std::string hex(const tutti::run_id& id) {
  const auto h = id.hex();
  return {h.data(), h.size()};
}

bool ledger_has(const scratch& s, const char* effect, const tutti::run_id& id) {
  return fs::exists(s.dir / "ledger" / effect / hex(id));
}

/// Checks every run of the journal: ended once, its effects as its outcome says (each once:
/// the ledgers are keyed; a notification for runs of version 2 only), its epochs increasing.
/// Returns the problems found.
template <class J>
std::vector<std::string> check_all_runs(const scratch& s, J& j, std::size_t expected_runs) {
  std::vector<std::string> problems;
  auto runs = j.list({});
  if (!runs) return {"cannot list the runs: " + j.last_error_message()};
  if (runs.value().size() != expected_runs)
    problems.push_back(fmt::format("{} runs, expected {}", runs.value().size(), expected_runs));
  for (const auto& sum : runs.value()) {
    auto run = j.load(sum.id);
    if (!run) {
      problems.push_back(fmt::format("run {} cannot be loaded", sum.id));
      continue;
    }
    std::size_t finished = 0;
    std::uint64_t last_claim = 0, last_epoch = 0;
    bool after_finish = false;
    for (const auto& rec : run.value().records) {
      if (after_finish) problems.push_back(fmt::format("run {}: a record after run_finished", sum.id));
      if (rec.kind == tutti::record_kind::run_finished) {
        ++finished;
        after_finish = true;
      }
      if (rec.kind == tutti::record_kind::claimed) {
        if (rec.epoch <= last_claim)
          problems.push_back(fmt::format("run {}: claim epoch {} after {}", sum.id, rec.epoch, last_claim));
        last_claim = rec.epoch;
      }
      if (rec.epoch < last_epoch)
        problems.push_back(fmt::format("run {}: record of epoch {} after epoch {}", sum.id, rec.epoch, last_epoch));
      last_epoch = std::max(last_epoch, rec.epoch);
    }
    if (finished != 1) problems.push_back(fmt::format("run {}: {} run_finished records", sum.id, finished));
    const auto st = sum.status;
    const bool fails = tutti::from_bytes<takeover::order>(run.value().input).value().n % 5 == 4;
    const auto expect = fails ? tutti::run_status::compensated : tutti::run_status::succeeded;
    if (st != expect)
      problems.push_back(fmt::format("run {}: {}, expected {}", sum.id, tutti::to_string(st),
                                     tutti::to_string(expect)));
    const bool effects_right =
        ledger_has(s, "reserve", sum.id) && ledger_has(s, "charge", sum.id) &&
        ledger_has(s, "release", sum.id) == fails && ledger_has(s, "refund", sum.id) == fails &&
        ledger_has(s, "capture", sum.id) == !fails &&
        ledger_has(s, "notify", sum.id) == (!fails && sum.version == 2);
    if (!effects_right) problems.push_back(fmt::format("run {}: the ledgers disagree with its outcome", sum.id));
    if (problems.size() > 20) break;
  }
  return problems;
}

/// Reports of a sanitizer in the engines' logs (the engines are built like the tests: a race
/// or a memory error in a runner process fails the test that ran it).
std::vector<std::string> sanitizer_reports(const scratch& s) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(s.dir)) {
    if (e.path().extension() != ".log") continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line))
      if (line.find("Sanitizer") != std::string::npos || line.find("runtime error") != std::string::npos)
        out.push_back(e.path().filename().string() + ": " + line);
  }
  return out;
}

/// Each run's request, by the run id's hex.
template <class J>
std::map<std::string, takeover::order> orders_of(J& j) {
  std::map<std::string, takeover::order> out;
  const auto listed = j.list({}).value();  // a variable: the range must outlive the loop
  for (const auto& sum : listed)
    out[hex(sum.id)] = tutti::from_bytes<takeover::order>(j.load(sum.id).value().input).value();
  return out;
}

/// Submits `runs` orders (numbered from `from`) over `partitions` exclusive partitions from a
/// process of its own, as version `version` of the saga.
void submit_orders(const scratch& s, std::uint64_t runs, int partitions, int from = 0,
                   int version = 1) {
  process sub = spawn({child_path(), "submit", s.journal(), s.dir.string(), std::to_string(runs),
                       std::to_string(partitions), "--from", std::to_string(from), "--version",
                       std::to_string(version)},
                      s.dir / "submit.log");
  REQUIRE(wait_exit(sub, 300s));
  REQUIRE(WEXITSTATUS(sub.status) == 0);
}

void stop_all(const scratch& s, std::vector<process>& ps) {
  { std::ofstream(s.dir / "stop") << "stop\n"; }
  for (auto& p : ps) {
    if (p.exited) continue;
    ::kill(p.pid, SIGCONT);
    if (!wait_exit(p, 60s)) {
      ::kill(p.pid, SIGKILL);
      wait_exit(p, 10s);
    }
  }
}

/// A journal that the test process itself reads (through `takeover::with_journal`).
template <class F>
void with_journal(const scratch& s, F&& f) {
  std::string why;
  const int rc = takeover::with_journal(s.journal(), [&](auto& j) {
    f(j);
    return 0;
  }, &why);
  INFO(why);
  REQUIRE(rc == 0);
}

/// Runs not yet ended (queued, running), or SIZE_MAX while the journal cannot say.
template <class J>
std::size_t unfinished(J& j) {
  std::size_t n = 0;
  for (auto st : {tutti::run_status::queued, tutti::run_status::running}) {
    tutti::run_filter f;
    f.status = st;
    auto l = j.list(f);
    if (!l) return SIZE_MAX;
    n += l.value().size();
  }
  return n;
}

inline void resume_all_case(scratch& s) {
  constexpr std::uint64_t stranded = 200;
  with_journal(s, [&](auto& j) {
    // Runs an engine of an earlier version left behind: started, never claimed, no step done.
    takeover::services none;
    const auto saga = takeover::make_saga(none);
    const tutti::durable_workflow durable{saga, j};
    for (std::uint64_t i = 0; i < stranded; ++i)
      REQUIRE(j.start(tutti::run_id{0x5245, i + 1}, "order", durable.fingerprint(),
                      tutti::to_bytes(takeover::order{static_cast<std::uint32_t>(i), ""})));
  });
  std::vector<process> ps;
  for (int k = 0; k < 2; ++k)
    ps.push_back(spawn({child_path(), "resume-all", s.journal(), s.dir.string(), "--work-us", "300"},
                       s.dir / fmt::format("resume-{}.log", k)));
  for (auto& p : ps) {
    REQUIRE(wait_exit(p, 120s));
    CHECK(WIFEXITED(p.status));
    CHECK(WEXITSTATUS(p.status) == 0);
  }
  // Each call made once: no run was resumed by both.
  std::map<std::pair<std::string, std::string>, int> calls;
  std::set<long> pids;
  for (const auto& c : read_calls(s)) {
    ++calls[{c.effect, c.run}];
    pids.insert(c.pid);
  }
  int twice = 0;
  for (const auto& [k, n] : calls) twice += n > 1 ? 1 : 0;
  CHECK(twice == 0);
  CHECK(pids.size() == 2);  // both worked
  CHECK(sanitizer_reports(s) == std::vector<std::string>{});
  with_journal(s, [&](auto& j) {
    const auto problems = check_all_runs(s, j, stranded);
    s.keep = !problems.empty();
    CHECK(problems == std::vector<std::string>{});
  });
}

inline void zombie_case(scratch& s) {
  with_journal(s, [&](auto& j) {
    takeover::services none;
    const auto saga = takeover::make_saga(none);
    REQUIRE(tutti::durable_workflow{saga, j}.submit(takeover::order{1, ""}));
  });
  // A: holds its charge for 1.5 s; lease 300 ms.
  std::vector<process> ps;
  ps.push_back(spawn(runner_args(s, "a", 300, 10, {"--slow-charge", "1500"}), s.dir / "a.log"));
  const pid_t a = ps[0].pid;
  const fs::path in_charge = s.dir / fmt::format("in-charge.{}", a);
  REQUIRE(eventually([&] { return fs::exists(in_charge); }, 30s));
  REQUIRE(::kill(a, SIGSTOP) == 0);
  // B takes the run over once A's lease expires, and finishes it.
  ps.push_back(spawn(runner_args(s, "b", 300, 10), s.dir / "b.log"));
  with_journal(s, [&](auto& j) {
    tutti::run_filter all;
    const auto id = j.list(all).value().at(0).id;
    REQUIRE(eventually([&] {
      const auto st = j.status(id);
      return st && st.value() == tutti::run_status::succeeded;
    }, 30s));
    const auto records_before = j.load(id).value().records.size();
    // A goes on: its charge returns, its next write is refused, it stops.
    REQUIRE(::kill(a, SIGCONT) == 0);
    REQUIRE(eventually([&] {
      for (const auto& c : read_calls(s))
        if (c.pid == a && c.effect == "charge") return true;
      return false;
    }, 5s));
    // The zombie's charge returns (1.5 s after it began); its next write is refused.
    const auto a_log = [&] {
      std::ifstream in(s.dir / "a.log");
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    REQUIRE(eventually([&] { return a_log().find("fenced") != std::string::npos; }, 30s));
    stop_all(s, ps);
    for (auto& p : ps) CHECK((WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0));
    CHECK(sanitizer_reports(s) == std::vector<std::string>{});

    const auto run = j.load(id).value();
    CHECK(run.records.size() == records_before);  // nothing written after B finished
    std::size_t finished = 0;
    for (const auto& rec : run.records) finished += rec.kind == tutti::record_kind::run_finished;
    CHECK(finished == 1);
    // B's claim raised the epoch (a sweep by B, where the journal has one, raised it once more
    // before): every record after B's claim is B's.
    std::uint64_t b_epoch = 0;
    for (const auto& rec : run.records)
      if (rec.kind == tutti::record_kind::claimed && rec.epoch >= 2) b_epoch = rec.epoch;
    REQUIRE(b_epoch >= 2);
    CHECK(run.summary.epoch == b_epoch);
    bool b_claimed = false;
    for (const auto& rec : run.records) {
      if (rec.kind == tutti::record_kind::claimed && rec.epoch == b_epoch) b_claimed = true;
      if (b_claimed) CHECK(rec.epoch == b_epoch);
    }
    CHECK(b_claimed);
    // The ledgers: A called reserve and charge (epoch 1) and nothing else; B charged again
    // with the same key (the service kept one effect) and captured once.
    std::map<std::string, int> by_a, by_b;
    for (const auto& c : read_calls(s)) {
      if (c.pid == a) ++by_a[c.effect];
      else ++by_b[c.effect];
    }
    CHECK(by_a == std::map<std::string, int>{{"reserve", 1}, {"charge", 1}});
    CHECK(by_b == std::map<std::string, int>{{"charge", 1}, {"capture", 1}});
    CHECK(ledger_has(s, "capture", id));
    CHECK_FALSE(ledger_has(s, "release", id));
    CHECK_FALSE(ledger_has(s, "refund", id));
  });
}

/// `runner_count` runners under seeded random SIGKILL (then a restart under the same name) and
/// SIGSTOP/SIGCONT until every queued run ended; `mid_run` is called once, when about a third
/// of the runs have ended (the PostgreSQL test restarts the server there).
inline void chaos_case(scratch& s, std::uint64_t runs, std::uint64_t seed, int runner_count,
                       const std::function<void()>& mid_run = {}) {
  constexpr int partitions = 8;
  submit_orders(s, runs, partitions);
  constexpr int lease_ms = 300;
  std::vector<std::string> names;
  for (int i = 0; i < runner_count; ++i) names.push_back(fmt::format("r{}", i));
  std::vector<process> ps;
  for (const auto& n : names)
    ps.push_back(spawn(runner_args(s, n, lease_ms, 5, {"--work-us", "200"}),
                       s.dir / fmt::format("{}.log", n)));
  with_journal(s, [&](auto& j) {
    std::mt19937_64 rng(seed);
    int kills = 0, stops = 0;
    bool mid_done = !mid_run;
    const auto deadline = std::chrono::steady_clock::now() + 600s;
    for (;;) {
      const std::size_t left = unfinished(j);
      if (left == 0 || std::chrono::steady_clock::now() >= deadline) break;
      if (!mid_done && left != SIZE_MAX && left * 3 <= runs * 2) {
        mid_run();
        mid_done = true;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 100));
      const std::size_t k = rng() % ps.size();
      if (rng() % 2 == 0) {  // SIGKILL, then a restart under the same name
        ::kill(ps[k].pid, SIGKILL);
        REQUIRE(wait_exit(ps[k], 10s));
        ps[k] = spawn(runner_args(s, names[k], lease_ms, 5, {"--work-us", "200"}),
                      s.dir / fmt::format("{}.log", names[k]));
        ++kills;
      } else {  // SIGSTOP for about one to two leases: its runs are taken over meanwhile
        ::kill(ps[k].pid, SIGSTOP);
        std::this_thread::sleep_for(std::chrono::milliseconds(lease_ms + rng() % (2 * lease_ms)));
        ::kill(ps[k].pid, SIGCONT);
        ++stops;
      }
    }
    stop_all(s, ps);
    INFO(kills << " kills, " << stops << " stops");
    CHECK(sanitizer_reports(s) == std::vector<std::string>{});
    REQUIRE(unfinished(j) == 0);
    CHECK(mid_done);
    CHECK(kills + stops > 3);
    const auto problems = check_all_runs(s, j, runs);
    s.keep = !problems.empty();
    INFO("scratch: " << s.dir);
    CHECK(problems == std::vector<std::string>{});

    // FIFO within each (exclusive) partition: the runs of a partition first appear in
    // calls.log in submission order (a run's first call comes after its predecessor ended, so
    // after that one's first call; a zombie's late call of an old run is no new claim and does
    // not count).
    const auto order_of = orders_of(j);
    std::set<std::string> seen;
    std::map<std::string, std::uint32_t> next_in;  // partition -> the order expected next
    int out_of_order = 0;
    for (const auto& c : read_calls(s)) {
      if (!seen.insert(c.run).second) continue;
      const auto& o = order_of.at(c.run);
      if (c.effect != "reserve" || o.n != next_in[o.partition]) ++out_of_order;
      next_in[o.partition] = o.n + 1;
    }
    CHECK(out_of_order == 0);
  });
}

/// `runs` requests queued with no runner up, then `runner_count` runners: each run once, in
/// partition order, every runner taking part.
inline void queue_case(scratch& s, std::uint64_t runs, int runner_count) {
  constexpr int partitions = 16;
  submit_orders(s, runs, partitions);
  with_journal(s, [&](auto& j) {
    if constexpr (requires { j.queue_depth(); }) CHECK(j.queue_depth().value() == runs);
    CHECK(!fs::exists(s.dir / "calls.log"));  // nothing ran
    std::vector<process> ps;
    // Nobody dies here: a long lease, so that a replica slowed down by a loaded machine (a
    // sanitizer build on two cores) is not taken over, which would call a step again.
    for (int i = 0; i < runner_count; ++i)
      ps.push_back(spawn(runner_args(s, fmt::format("q{}", i), 30000, 5),
                         s.dir / fmt::format("q{}.log", i)));
    REQUIRE(eventually([&] { return unfinished(j) == 0; }, 600s));
    stop_all(s, ps);
    CHECK(sanitizer_reports(s) == std::vector<std::string>{});
    for (auto& p : ps) CHECK((WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0));
    const auto problems = check_all_runs(s, j, runs);
    s.keep = !problems.empty();
    CHECK(problems == std::vector<std::string>{});
    std::map<std::string, int> reserves;
    std::map<long, int> per_pid;
    std::map<std::string, std::int64_t> last_n;
    const auto order_of = orders_of(j);
    int out_of_order = 0;
    for (const auto& c : read_calls(s)) {
      if (c.effect != "reserve") continue;
      ++per_pid[c.pid];
      ++reserves[c.run];
      const auto& o = order_of.at(c.run);
      auto [it, fresh] = last_n.try_emplace(o.partition, -1);
      if (static_cast<std::int64_t>(o.n) != it->second + 1) ++out_of_order;
      it->second = o.n;
    }
    CHECK(reserves.size() == runs);
    const bool once_each =
        std::all_of(reserves.begin(), reserves.end(), [](const auto& kv) { return kv.second == 1; });
    if (!once_each) {
      // A run called again: taken over (its lease expired, the engine holding it stalled), or
      // a bug. The engines' logs say which; keep them.
      s.keep = true;
      for (const auto& e : fs::directory_iterator(s.dir)) {
        if (e.path().extension() != ".log") continue;
        std::ifstream in(e.path());
        std::string line;
        while (std::getline(in, line))
          if (line.find("took_over") != std::string::npos || line.find("fenced") != std::string::npos)
            UNSCOPED_INFO(e.path().filename().string() << ": " << line);
      }
      INFO("scratch: " << s.dir);
    }
    CHECK(once_each);
    CHECK(out_of_order == 0);
    // Every runner took part.
    CHECK(per_pid.size() == static_cast<std::size_t>(runner_count));
    for (const auto& [pid, n] : per_pid) INFO("runner " << pid << " ran " << n << " runs");
  });
}

/// A deploy: runs start on version 1; the service is killed with some in flight; requests of
/// version 2 are queued; the service comes back hosting versions 1 and 2. Every version-1 run
/// finishes on version 1 (no notification), every version-2 run on version 2 (notified once),
/// each effect once.
inline void deploy_case(scratch& s) {
  constexpr int partitions = 4;
  constexpr int old_runs = 24, new_runs = 16;
  submit_orders(s, old_runs, partitions, 0, 1);
  std::vector<process> ps;
  // Version 1 only, each charge 150 ms: several runs are in their charge when it is killed.
  ps.push_back(spawn(runner_args(s, "svc", 300, 5, {"--slow-charge", "150", "--versions", "1"}),
                     s.dir / "svc-v1.log"));
  const auto charges = [&] {
    int n = 0;
    for (const auto& c : read_calls(s)) n += c.effect == "charge" ? 1 : 0;
    return n;
  };
  REQUIRE(eventually([&] { return charges() >= 6; }, 60s));
  const long killed = ps[0].pid;
  ::kill(ps[0].pid, SIGKILL);
  REQUIRE(wait_exit(ps[0], 10s));
  std::set<std::string> begun_on_v1;
  for (const auto& c : read_calls(s)) begun_on_v1.insert(c.run);
  submit_orders(s, new_runs, partitions, old_runs, 2);
  // The new release: versions 1 and 2, under the same name (it recovers its dead incarnation's
  // runs at once).
  ps[0] = spawn(runner_args(s, "svc", 300, 5, {"--versions", "1,2"}), s.dir / "svc-v12.log");
  with_journal(s, [&](auto& j) {
    REQUIRE(eventually([&] { return unfinished(j) == 0; }, 120s));
    stop_all(s, ps);
    CHECK((WIFEXITED(ps[0].status) && WEXITSTATUS(ps[0].status) == 0));
    CHECK(sanitizer_reports(s) == std::vector<std::string>{});
    const auto problems = check_all_runs(s, j, old_runs + new_runs);
    s.keep = !problems.empty();
    INFO("scratch: " << s.dir);
    CHECK(problems == std::vector<std::string>{});
    // Each run on the version it was submitted with: orders 0..23 on 1, 24..39 on 2.
    int on_1 = 0, on_2 = 0;
    const auto listed = j.list({}).value();
    for (const auto& sum : listed) {
      const auto o = tutti::from_bytes<takeover::order>(j.load(sum.id).value().input).value();
      const int i = static_cast<int>(o.n) * partitions + std::stoi(o.partition.substr(1));
      const std::uint32_t expected = i < old_runs ? 1 : 2;
      CHECK(sum.version == expected);
      (sum.version == 1 ? on_1 : on_2) += 1;
    }
    CHECK(on_1 == old_runs);
    CHECK(on_2 == new_runs);
    // The killed process's runs in flight were finished by the new release, on version 1.
    std::set<std::string> finished_by_new;
    for (const auto& c : read_calls(s))
      if (c.pid != killed && begun_on_v1.count(c.run) != 0) finished_by_new.insert(c.run);
    CHECK_FALSE(finished_by_new.empty());
    for (const auto& c : read_calls(s))
      if (c.effect == "notify") CHECK(begun_on_v1.count(c.run) == 0);
  });
}

}  // namespace
}  // namespace takeover_cases

#endif  // TUTTI_TAKEOVER_CHILD

#endif  // TUTTI_TESTS_TAKEOVER_CASES_HPP
