// Payment gateway: a cross-currency card payment as a saga, with idempotent service calls.
//
//   authorize -> risk_check -> pci_compliance -> fx_quote -> transfer -> send_receipt
//   undo: void                                   undo:       (pivot)     (retried)
//   (retried)                                    release
//
// * Every service call carries the step's idempotency key (`ctx.key()`: "<run id>:<step>"). The
//   simulated services remember the keys they have seen, so a repeated call (a retry after a lost
//   reply) returns the first answer instead of charging the card twice.
// * transfer is the pivot: if it fails, the quote is released and the authorization voided, in
//   reverse order; once it succeeds the money has moved and nothing is undone any more, so the
//   step after it (send_receipt) must be retriable.
// * Errors are values: the services answer with `payment_errc`, an error-code enum of their own
//   with its std::error_category, and the run report shows them by name.
//
//   tutti_example_payment_gateway                   the payment goes through
//   tutti_example_payment_gateway --fail-transfer   the beneficiary's bank rejects the transfer
//
// Both modes exit 0 when the run ends as intended (the failure and its compensation are the
// behaviour shown); any other ending exits 1.
#include "payment_gateway.hpp"

#include <tutti/tutti.hpp>

#include <fmt/format.h>  // fmt::print

#include <cstddef>       // std::size_t
#include <cstdio>        // stderr, the demo's files
#include <cstdlib>       // std::getenv
#include <string>        // the list of undone steps
#include <string_view>   // command-line flag

namespace {
bool write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace pay;
  using namespace std::chrono_literals;

  const bool fail_transfer = argc > 1 && std::string_view{argv[1]} == "--fail-transfer";
  if (argc > 2 || (argc == 2 && !fail_transfer)) {
    fmt::print(stderr, "usage: {} [--fail-transfer]\n", argv[0]);
    return 2;
  }

  services svc;
  auto& cards = svc.cards;
  auto& fx = svc.fx;
  auto& clearing = svc.clearing;
  auto& mail = svc.mail;
  cards.lose_replies(1);  // the first authorization's reply is lost: authorize is retried
  if (fail_transfer) clearing.reject_transfers();

  const auto payment = make_payment_workflow(svc);
  const payment_request request = sample_request();
  tutti::observe::trace_recorder trace;  // the run on a timeline, for Perfetto
  const auto run = payment.run(request, tutti::run_options{.timing = true}, trace);
  const tutti::run_report report = run.report();  // a view, valid while `run` lives

  // What happened, at a glance.
  const fx_quote* quote = run.find<"fx_quote">();
  fmt::print("Payment 1: {} from card {} -> {} to {}\n", to_string(request.debit), request.card,
             quote != nullptr ? to_string(quote->buy) : request.credit_currency,
             request.beneficiary);
  if (const transfer_receipt* t = run.find<"transfer">()) {
    fmt::print("  result: success — {} credited as {}, receipt sent to {}\n", to_string(t->amount),
               t->id, request.receipt_to);
  } else {
    fmt::print("  result: FAILED at step {}: {}\n", run.failed_step(), run.error().message());
    std::string undone;
    for (std::size_t i = report.size(); i-- > 0;)  // compensations run in reverse order
      if (report[i].status == tutti::step_status::compensated)
        undone += fmt::format("{}{}", undone.empty() ? "" : ", then ", report[i].name);
    fmt::print("  undone, last done first: {}\n", undone.empty() ? "nothing" : undone);
    if (run.outcome() == tutti::run_outcome::compensation_failed)
      fmt::print("  WARNING: an undo failed; see the report\n");
  }

  fmt::print("\nService calls, in order:\n");
  for (std::size_t i = 0; i < timeline.size(); ++i) fmt::print("  {}. {}\n", i + 1, timeline[i]);

  fmt::print("\n{}\n", report);

  fmt::print("Ledgers after the run:\n");
  for (const auto& h : cards.holds())
    fmt::print("  card network  {}  {}  {:<8}  {} request{} with key {}\n", h.id,
               to_string(h.amount), h.state, h.requests, h.requests == 1 ? "" : "s", h.key);
  for (const auto& e : fx.quotes())
    fmt::print("  fx desk       {}   {} -> {}  {}\n", e.quote.id, to_string(e.quote.sell),
               to_string(e.quote.buy), e.state);
  for (const auto& e : clearing.transfers())
    fmt::print("  clearing      {}   {} to {}  {}\n", e.id, to_string(e.amount), e.iban, e.state);
  for (const auto& s : mail.sent()) fmt::print("  mailer        {}\n", s);

  // scripts/demo sets TUTTI_DEMO_OUT: the diagram (drawn from the workflow's type) and the trace
  // go there; the demo renders the .dot to SVG.
  if (const char* out = std::getenv("TUTTI_DEMO_OUT"); out != nullptr && *out != '\0') {
    const std::string dir{out};
    const std::string trace_file =
        dir + (fail_transfer ? "/payment_gateway-fail-transfer.trace.json" : "/payment_gateway.trace.json");
    const bool written = write_file(dir + "/payment_gateway.dot", tutti::to_dot(payment)) &&
                         write_file(dir + "/payment_gateway.mmd", tutti::to_mermaid(payment)) &&
                         trace.save(trace_file).has_value();
    fmt::print("\n{} {}/payment_gateway.dot, .mmd and {} (open it in https://ui.perfetto.dev)\n",
               written ? "Wrote" : "FAILED to write", dir, trace_file);
    if (!written) return 1;
  }

  // Exit 0 when the run ended as this mode intends (a rejected transfer: compensated).
  const auto expected =
      fail_transfer ? tutti::run_outcome::compensated : tutti::run_outcome::succeeded;
  return run.outcome() == expected ? 0 : 1;
}

// Expected output. The run id and the timings vary between runs: they are shown as <run id>
// and <t>, a duration with two decimals in us, ms or s ("10.26 ms", "9.77 us"), right-aligned
// in the report's last column.
//
// $ tutti_example_payment_gateway
// Payment 1: USD 130.00 from card tok_visa_4242 -> EUR 120.00 to Alice Martin
//   result: success — EUR 120.00 credited as TRF-1, receipt sent to alice@example.com
//
// Service calls, in order:
//   1. card network  authorize USD 130.00: hold AUTH-1 placed, reply lost
//   2. card network  authorize USD 130.00 again, same key: returns AUTH-1, no new hold
//   3. risk engine   score 12/100: accept
//   4. card vault    tok_visa_4242 is a vault token: compliant
//   5. fx desk       quote FXQ-1: USD 130.00 -> EUR 120.00
//   6. clearing      transfer EUR 120.00 to NL91ABNA0417164300: settled as TRF-1
//   7. mailer        receipt for TRF-1 (EUR 120.00) to alice@example.com
//
// workflow "payment"  run <run id>  -> succeeded  (<t>)
//    1. authorize       succeeded            2 attempts   <t>
//    2. risk_check      succeeded            1 attempt    <t>
//    3. pci_compliance  succeeded            1 attempt    <t>
//    4. fx_quote        succeeded            1 attempt    <t>
//    5. transfer        succeeded            1 attempt    <t>
//    6. send_receipt    succeeded            1 attempt    <t>
//
// Ledgers after the run:
//   card network  AUTH-1  USD 130.00  captured  2 requests with key <run id>:authorize
//   fx desk       FXQ-1   USD 130.00 -> EUR 120.00  used
//   clearing      TRF-1   EUR 120.00 to NL91ABNA0417164300  settled
//   mailer        receipt for TRF-1 (EUR 120.00) to alice@example.com
//
// $ tutti_example_payment_gateway --fail-transfer
// Payment 1: USD 130.00 from card tok_visa_4242 -> EUR 120.00 to Alice Martin
//   result: FAILED at step transfer: the beneficiary's bank rejected the transfer
//   undone, last done first: fx_quote, then authorize
//
// Service calls, in order:
//   1. card network  authorize USD 130.00: hold AUTH-1 placed, reply lost
//   2. card network  authorize USD 130.00 again, same key: returns AUTH-1, no new hold
//   3. risk engine   score 12/100: accept
//   4. card vault    tok_visa_4242 is a vault token: compliant
//   5. fx desk       quote FXQ-1: USD 130.00 -> EUR 120.00
//   6. clearing      transfer EUR 120.00 to NL91ABNA0417164300: rejected by the beneficiary's bank
//   7. fx desk       release FXQ-1
//   8. card network  void AUTH-1
//
// workflow "payment"  run <run id>  -> failed, compensated  (<t>)
//    1. authorize       compensated          2 attempts   <t>
//       undone by its compensation (1 call)
//    2. risk_check      succeeded            1 attempt    <t>
//    3. pci_compliance  succeeded            1 attempt    <t>
//    4. fx_quote        compensated          1 attempt    <t>
//       undone by its compensation (1 call)
//    5. transfer        failed               1 attempt    <t>
//       error: the beneficiary's bank rejected the transfer [payment:6]
//    6. send_receipt    not started
//
// Ledgers after the run:
//   card network  AUTH-1  USD 130.00  voided    2 requests with key <run id>:authorize
//   fx desk       FXQ-1   USD 130.00 -> EUR 120.00  released
//   clearing      TRF-1   EUR 120.00 to NL91ABNA0417164300  rejected
