// The crash test's child: runs the payment-gateway workflow durably (SQLite journal + persisted
// service ledgers) and kills itself with SIGKILL at the K-th crash point. Driven by crash_test.cpp; see
// docs/durability/crash-test.md.
//
//   tutti_crash_child <journal> <ledger-dir> run <seed> [--fail-transfer] [--lose-reply]
//   tutti_crash_child <journal> <ledger-dir> resume-all
//   tutti_crash_child <journal> <ledger-dir> show <seed>
// options (run, resume-all):
//   --crash-at K      raise SIGKILL at the K-th crash point (first: 1), after writing
//                     "<K>\t<where>" to <ledger-dir>/crash-point
//   --count           print "points <n>": the crash points passed (the parent's N)
//   --trace           print "point <K> <where>" at every crash point
//   --grouped         grouped commits (sqlite_commit::grouped, every 3 records, no timer): a
//                     crash loses the journal's uncommitted tail
//   --attempt-in-key  a deliberately broken transfer step whose key changes with the attempt
//                     (the harness must catch it: its self-check)
//   --async           an async run (built with tutti::async): "authorize" and "transfer" are
//                     coroutines that yield to the executor before calling the service, the
//                     run and resume-all are awaited on an io_context in virtual time
//
// Crash points: before and after every journal write (start, append), and the services' own
// (pay::crash_point: on entry to every call that may change a ledger, and after the change is
// persisted, just before the reply).
//
// Exit status: 0 done (whatever the run's outcome: the parent reads it from the journal),
// 2 usage, 3 journal error, 4 a damaged ledger. Killed by SIGKILL at the crash point.
#if TUTTI_CRASH_ASYNC
#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include "crash_harness.hpp"
#include "../support/journal_forwarding.hpp"

#include <tutti/testing/manual_clock.hpp>
#include <tutti/testing/replace.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

std::uint64_t points_passed = 0;
std::uint64_t crash_at = 0;  // 0: never
std::string crash_note;      // <ledger-dir>/crash-point
bool trace = false;          // print every point as it is passed

/// One crash point: counted; the K-th writes where it is and kills the process.
void crash_point(std::string_view where) {
  ++points_passed;
  if (trace) fmt::print("point {} {}\n", points_passed, where);
  if (points_passed != crash_at) return;
  const std::string line = fmt::format("{}\t{}\n", points_passed, where);
  const int fd = ::open(crash_note.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    // The page cache outlives the process: no fsync needed for the parent to read it.
    [[maybe_unused]] const auto n = ::write(fd, line.data(), line.size());
    ::close(fd);
  }
  std::raise(SIGKILL);
}

/// A journal that passes a crash point before and after every write.
template <tutti::journal J>
class crashing_journal : public support::journal_forwarding<crashing_journal<J>> {
 public:
  explicit crashing_journal(J& inner) noexcept : inner_(&inner) {}

  J& target() { return *inner_; }
  const J& target() const { return *inner_; }

  tutti::result<tutti::run_claim> start(const tutti::run_id& id, std::string_view workflow,
                                        const tutti::workflow_version& fp, std::span<const std::byte> input,
                                        const tutti::lease_request& lease) {
    crash_point("journal: before run_started");
    auto r = inner_->start(id, workflow, fp, input, lease);
    crash_point("journal: after run_started");
    return r;
  }
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& rec) {
    const std::string what = fmt::format("{} {}", tutti::to_string(rec.kind), rec.step);
    crash_point(fmt::format("journal: before {}", what));
    auto r = inner_->append(id, rec);
    crash_point(fmt::format("journal: after {}", what));
    return r;
  }

 private:
  J* inner_;
};
static_assert(tutti::journal<crashing_journal<crash::journal_type>>);

int usage() {
  std::fputs(
      "usage: tutti_crash_child <journal> <ledger-dir> run <seed> [--fail-transfer] [--lose-reply]\n"
      "                         [--crash-at K] [--count] [--trace] [--grouped] [--attempt-in-key]\n"
      "       tutti_crash_child <journal> <ledger-dir> resume-all [--crash-at K] [--count]\n"
      "                         [--trace] [--grouped] [--attempt-in-key]\n"
      "       tutti_crash_child <journal> <ledger-dir> show <seed>\n"
      "       (run and resume-all also take --async)\n",
      stderr);
  return 2;
}

bool parse_u64(const char* text, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(text, &end, 10);
  return end != text && *end == '\0';
}

/// Prints how a run (`what`: "run" or "resume") ended; its exit status (3: the journal failed).
template <class Out>
int report(std::string_view what, const tutti::run_id& id, const Out& out) {
  if (!out) {
    fmt::print("{} {} refused: {} ({})\n", what, crash::hex(id), out.error.message(), out.message);
    return 3;
  }
  fmt::print("{} {} -> {}\n", what, crash::hex(id), tutti::to_string(out->outcome()));
  if (out.error) {
    fmt::print("journal error: {}\n", out.error.message());
    return 3;
  }
  return 0;
}
/// Prints what resume_all did; its exit status given the runs' own.
template <class N>
int report_all(const N& n, int status) {
  if (!n) {
    fmt::print("resume-all: cannot list the runs: {}\n", n.error().message());
    return 3;
  }
  fmt::print("resumed {} run(s)\n", n.value());
  return status;
}

/// Runs or resumes the workflow `wf` over the journal; the exit status.
template <class Workflow>
int drive(const Workflow& wf, crash::journal_type& journal, bool resume_all, std::uint64_t seed) {
  crashing_journal<crash::journal_type> j{journal};
  const tutti::durable_workflow durable{wf, j, {.name = "crash-child"}};
  tutti::testing::manual_clock clock;  // the retry's backoff in virtual time
  tutti::null_observer none;
  tutti::run_options opts;
  if (!resume_all) {
    opts.id = crash::run_id_of(seed);
    return report("run", opts.id, durable.run(crash::request_of(seed), opts, clock));
  }
  int status = 0;
  const auto n = durable.template resume_all<pay::payment_request>(
      [&](const tutti::run_id& id, const auto& out) { status = std::max(status, report("resume", id, out)); },
      opts, clock, none);
  return report_all(n, status);
}

#if TUTTI_CRASH_ASYNC
/// As drive(), the run or the resume of every unfinished run awaited on an io_context.
template <class Workflow>
int drive_async(const Workflow& wf, crash::journal_type& journal, bool resume_all, std::uint64_t seed) {
  crashing_journal<crash::journal_type> j{journal};
  const tutti::durable_workflow durable{wf, j, {.name = "crash-child"}};
  asio::io_context io;
  tutti::testing::manual_clock clock;  // the retry's backoff in virtual time
  tutti::null_observer none;
  tutti::run_options opts;
  if (!resume_all) {
    opts.id = crash::run_id_of(seed);
    const pay::payment_request request = crash::request_of(seed);
    return report("run", opts.id,
                  tutti::testing::run_to_completion(io, clock, durable.async_run(request, opts, clock, none)));
  }
  int status = 0;
  auto each = [&](const tutti::run_id& id, const auto& out) { status = std::max(status, report("resume", id, out)); };
  const auto n = tutti::testing::run_to_completion(
      io, clock, durable.template async_resume_all<pay::payment_request>(each, opts, clock, none));
  return report_all(n, status);
}

/// The payment workflow with "authorize" and "transfer" as coroutines: each yields to the
/// executor, then calls its service (the services' crash points are inside the call).
auto make_async_payment_workflow(pay::services& svc) {
  auto with_authorize = tutti::testing::replace<"authorize">(
      pay::make_payment_workflow(svc),
      [&cards = svc.cards](const pay::payment_request& p, const tutti::call_context& ctx)
          -> tutti::awaitable<tutti::result<pay::authorization>> {
        co_await asio::post(asio::use_awaitable);
        co_return cards.authorize(pay::key_of(ctx), p.card, p.debit);
      });
  return tutti::testing::replace<"transfer">(
      with_authorize,
      [&clearing = svc.clearing](const pay::payment_request& p,
                                 tutti::from<"authorize", pay::authorization> auth,
                                 tutti::from<"fx_quote", pay::fx_quote> quote,
                                 const tutti::call_context& ctx)
          -> tutti::awaitable<tutti::result<pay::transfer_receipt>> {
        co_await asio::post(asio::use_awaitable);
        co_return clearing.transfer(pay::key_of(ctx), *auth, *quote, p.iban);
      });
}
#endif

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // what a killed child printed is not lost
  if (argc < 4) return usage();
  const std::string journal_path = argv[1];
  const std::string dir = argv[2];
  const std::string_view mode = argv[3];
  const bool run = mode == "run";
  const bool resume_all = mode == "resume-all";
  const bool show = mode == "show";
  if (!run && !resume_all && !show) return usage();

  std::uint64_t seed = 0;
  int i = 4;
  if (run || show) {
    if (argc < 5 || !parse_u64(argv[4], seed)) return usage();
    i = 5;
  }
  bool fail_transfer = false, lose_reply = false, count = false, attempt_in_key = false;
  bool grouped = false, async = false;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--fail-transfer" && run) fail_transfer = true;
    else if (a == "--lose-reply" && run) lose_reply = true;
    else if (a == "--count") count = true;
    else if (a == "--attempt-in-key") attempt_in_key = true;
    else if (a == "--trace") trace = true;
    else if (a == "--grouped") grouped = true;
    else if (a == "--async") async = true;
    else if (a == "--crash-at" && i + 1 < argc && parse_u64(argv[i + 1], crash_at)) ++i;
    else return usage();
  }

  std::string why;
  auto journal = crash::open_journal(journal_path, grouped, &why);
  if (!journal) {
    fmt::print("cannot open the journal {}: {} {}\n", journal_path, journal.error().message(), why);
    return 3;
  }

  // The services come back as the last process left them; from now on they persist each change.
  pay::services svc;
  if (!svc.load_from(dir)) {
    fmt::print("a ledger in {} is damaged\n", dir);
    return 4;
  }
  if (show) {
    fmt::print("{}", crash::describe(journal.value(), crash::run_id_of(seed), svc));
    return 0;
  }
  svc.persist_to(dir);
  if (fail_transfer) svc.clearing.reject_transfers();
  if (lose_reply) svc.cards.lose_replies(1);

  crash_note = dir + "/crash-point";
  pay::crash_point = &crash_point;

  int status = 0;
  if (async) {
#if TUTTI_CRASH_ASYNC
    if (attempt_in_key) return usage();
    status = drive_async(make_async_payment_workflow(svc), journal.value(), resume_all, seed);
#else
    std::fputs("tutti_crash_child: built without the async layer (tutti::async)\n", stderr);
    return 2;
#endif
  } else if (attempt_in_key) {
    // Broken on purpose: a key that changes with the attempt does not survive a resume.
    const auto broken = tutti::testing::replace<"transfer">(
        pay::make_payment_workflow(svc),
        [&clearing = svc.clearing](const pay::payment_request& p,
                                   tutti::from<"authorize", pay::authorization> auth,
                                   tutti::from<"fx_quote", pay::fx_quote> quote,
                                   const tutti::call_context& ctx) {
          return clearing.transfer(fmt::format("{}#{}", pay::key_of(ctx), ctx.attempt), *auth,
                                   *quote, p.iban);
        });
    status = drive(broken, journal.value(), resume_all, seed);
  } else {
    status = drive(pay::make_payment_workflow(svc), journal.value(), resume_all, seed);
  }
  pay::crash_point = nullptr;
  if (count) fmt::print("points {}\n", points_passed);
  std::fflush(stdout);
  return status;
}
