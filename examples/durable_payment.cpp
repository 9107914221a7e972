// Durable payment: the orchestrator is killed in the middle of a payment and resumed, and the
// customer is charged once.
//
//   tutti_example_durable_payment [DIR]     (DIR: where the journal and ledgers go; default ".")
//
// 1. A child process runs the payment gateway's workflow durably: every step's completion and
//    output is written to an SQLite journal (DIR/payments.db) before the run moves on, and the
//    simulated services keep their ledgers in files (DIR/*.ledger), as remote services would.
// 2. The clearing house moves the money; before its reply reaches the orchestrator, the child is
//    killed with SIGKILL. The journal says "transfer started", not "transfer finished".
// 3. This process, a new orchestrator, resumes the unfinished run from the journal: the steps
//    that finished are not called again (their outputs come from the journal); the transfer is
//    called again with the same idempotency key ("<run id>:transfer"), so the clearing house
//    answers with the transfer it already made instead of moving the money twice.
// 4. `tutti-journal DIR/payments.db list` and `show <run id>` show the run (scripts/demo does).
//
// Exit 0 when the run ended once, with one transfer and one capture; 1 otherwise. POSIX only
// (fork, SIGKILL).
#include "payment_gateway.hpp"

#include <tutti/journal/durable.hpp>
#include <tutti/journal/sqlite.hpp>
#include <tutti/tutti.hpp>

#include <fmt/format.h>

#include <csignal>   // SIGKILL
#include <cstdio>    // std::remove
#include <string>    // paths
#include <string_view>

#include <sys/wait.h>  // waitpid
#include <unistd.h>    // fork, _exit

namespace {

// The run's id is fixed so the demo can name it; real services let tutti draw one.
const tutti::run_id payment_id{0x7061796d656e7431ULL /* "payment1" */, 1};

std::string journal_path(const std::string& dir) { return dir + "/payments.db"; }

/// The child: runs the payment and is killed once the money has moved.
[[noreturn]] void run_until_killed(const std::string& dir) {
  pay::services svc;
  svc.persist_to(dir);  // fresh ledgers, written through on every change
  pay::crash_point = [](std::string_view where) {
    if (where == "clearing.transfer: after") {  // money moved, reply not yet sent
      std::fflush(stdout);
      std::raise(SIGKILL);
    }
  };
  auto journal = tutti::sqlite_journal::open(journal_path(dir));
  if (!journal) _exit(3);
  const auto payment = pay::make_payment_workflow(svc);
  const tutti::durable_workflow durable{payment, journal.value(), {.name = "payments"}};
  tutti::run_options opts;
  opts.id = payment_id;
  (void)durable.run(pay::sample_request(), opts);
  _exit(4);  // not reached: the crash point kills the process
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    fmt::print(stderr, "usage: {} [DIR]\n", argv[0]);
    return 2;
  }
  const std::string dir = argc == 2 ? argv[1] : ".";
  for (const char* f : {"/payments.db", "/payments.db-wal", "/payments.db-shm", "/cards.ledger",
                        "/fx.ledger", "/clearing.ledger", "/mail.ledger"})
    std::remove((dir + f).c_str());

  fmt::print("1. An orchestrator process starts payment {} ...\n", payment_id.hex());
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) run_until_killed(dir);
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    fmt::print("the orchestrator was not killed as planned (status {})\n", status);
    return 1;
  }
  fmt::print("2. ... and is killed (SIGKILL) after the clearing house moved the money, before the "
             "reply arrived.\n");

  // A new orchestrator: the services' ledgers are what the killed one left behind.
  pay::services svc;
  if (!svc.load_from(dir)) return 1;
  svc.persist_to(dir);
  fmt::print("   Transfers in the clearing house's ledger: {}\n", svc.clearing.transfers().size());

  std::string why;
  auto journal = tutti::sqlite_journal::open(journal_path(dir), {}, &why);
  if (!journal) {
    fmt::print("cannot open {}: {}\n", journal_path(dir), why);
    return 1;
  }
  const auto payment = pay::make_payment_workflow(svc);
  const tutti::durable_workflow durable{payment, journal.value(), {.name = "payments"}};
  fmt::print("3. A new orchestrator resumes the unfinished runs from {}:\n", journal_path(dir));
  int finished = 0;
  bool succeeded = false;
  const auto resumed = durable.resume_all<pay::payment_request>(
      [&](const tutti::run_id& id, const auto& out) {
        if (!out) {
          fmt::print("   run {}: not resumed: {} ({})\n", id.hex(), out.error.message(), out.message);
          return;
        }
        ++finished;
        succeeded = out->outcome() == tutti::run_outcome::succeeded;
        fmt::print("   run {} -> {}\n", id.hex(), tutti::to_string(out->outcome()));
        fmt::print("{}\n", out->report());
      });
  if (!resumed) return 1;

  fmt::print("   Service calls made by the new orchestrator:\n");
  for (const auto& call : pay::timeline) fmt::print("     {}\n", call);
  fmt::print("4. The ledgers now:\n");
  for (const auto& h : svc.cards.holds())
    fmt::print("     card network  {}  {}  {:<8}  {} request{} with key {}\n", h.id,
               pay::to_string(h.amount), h.state, h.requests, h.requests == 1 ? "" : "s", h.key);
  for (const auto& t : svc.clearing.transfers())
    fmt::print("     clearing      {}  {}  {}  key {}\n", t.id, pay::to_string(t.amount), t.state,
               t.key);
  for (const auto& m : svc.mail.sent()) fmt::print("     mailer        {}\n", m);

  const bool one_transfer = svc.clearing.transfers().size() == 1 &&
                            svc.clearing.transfers()[0].state == "settled";
  const bool one_capture =
      svc.cards.holds().size() == 1 && svc.cards.holds()[0].state == "captured";
  fmt::print("\nCharged once: {}. Inspect the run with:\n  tutti-journal {} list\n"
             "  tutti-journal {} show {}\n",
             one_transfer && one_capture ? "yes" : "NO", journal_path(dir), journal_path(dir),
             payment_id.hex());
  return finished == 1 && succeeded && one_transfer && one_capture ? 0 : 1;
}

// Expected output (the report's durations vary):
//
// $ tutti_example_durable_payment
// 1. An orchestrator process starts payment 7061796d656e74310000000000000001 ...
// 2. ... and is killed (SIGKILL) after the clearing house moved the money, before the reply arrived.
//    Transfers in the clearing house's ledger: 1
// 3. A new orchestrator resumes the unfinished runs from ./payments.db:
//    run 7061796d656e74310000000000000001 -> succeeded
// (the run report: authorize ... fx_quote restored from the journal, transfer and send_receipt
//  called)
//    Service calls made by the new orchestrator:
//      mailer        receipt for TRF-1 (EUR 120.00) to alice@example.com
// 4. The ledgers now:
//      card network  AUTH-1  USD 130.00  captured  1 request with key <run id>:authorize
//      clearing      TRF-1  EUR 120.00  settled  key <run id>:transfer
//      mailer        receipt for TRF-1 (EUR 120.00) to alice@example.com
//
// Charged once: yes. Inspect the run with:
//   tutti-journal ./payments.db list
//   tutti-journal ./payments.db show 7061796d656e74310000000000000001
