// Unit tests of the payment gateway example (examples/payment_gateway.hpp): the real workflow
// type, with some steps replaced by mocks. The worked example of docs/testing.md.
#include "payment_gateway.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::step_status;
using tutti::testing::mock;
using tutti::testing::mock_compensation;
using tutti::testing::replace;
using tutti::testing::replace_compensation;

namespace {
// The timeline entry the services recorded first among those containing `text`.
std::ptrdiff_t position_of(std::string_view text) {
  const auto it =
      std::find_if(pay::timeline.begin(), pay::timeline.end(),
                   [&](const std::string& line) { return line.find(text) != std::string::npos; });
  return it == pay::timeline.end() ? -1 : it - pay::timeline.begin();
}
std::string key_for(const tutti::run_id& run, std::string_view step) {
  return fmt::format("{}", tutti::idempotency_key{run, step});
}
}  // namespace

TEST_CASE("the sample payment goes through with the real (simulated) services",
          "[examples][payment]") {
  pay::services svc;
  const pay::payment_workflow payment = pay::make_payment_workflow(svc);
  tutti::testing::manual_clock clock;
  const auto run = payment.run(pay::sample_request(), {}, clock);
  REQUIRE(run);
  CHECK(run.get<"transfer">().amount.cents == 12000);  // USD 130.00 at 0.923077
  CHECK(svc.cards.holds().at(0).state == "captured");
  CHECK(svc.fx.quotes().at(0).state == "used");
  CHECK(svc.mail.sent().size() == 1);
}

TEST_CASE("a rejected transfer releases the FX quote, then voids the authorization",
          "[examples][payment][saga]") {
  pay::services svc;
  pay::timeline.clear();
  // The pivot, replaced: it takes what the real step takes and fails as the bank would.
  mock<tutti::result<pay::transfer_receipt>(const pay::payment_request&,
                                            tutti::from<"authorize", pay::authorization>,
                                            tutti::from<"fx_quote", pay::fx_quote>)>
      transfer{"transfer"};
  transfer.fail(pay::payment_errc::beneficiary_rejected);
  const auto payment = replace<"transfer">(pay::make_payment_workflow(svc), transfer);

  tutti::testing::manual_clock clock;
  const auto run = payment.run(pay::sample_request(), {}, clock);

  REQUIRE_FALSE(run);
  CHECK(run.failed_step() == "transfer");
  CHECK(run.error() == pay::payment_errc::beneficiary_rejected);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  const tutti::run_report report = run.report();
  CHECK(report.step("authorize").status == step_status::compensated);
  CHECK(report.step("risk_check").status == step_status::succeeded);  // nothing to undo
  CHECK(report.step("pci_compliance").status == step_status::succeeded);
  CHECK(report.step("fx_quote").status == step_status::compensated);
  CHECK(report.step("transfer").status == step_status::failed);
  CHECK(report.step("send_receipt").status == step_status::not_started);

  // Undone in reverse order: the quote first, then the hold.
  const auto released = position_of("fx desk       release FXQ-1");
  const auto voided = position_of("card network  void AUTH-1");
  REQUIRE(released >= 0);
  REQUIRE(voided >= 0);
  CHECK(released < voided);
  CHECK(svc.fx.quotes().at(0).state == "released");
  CHECK(svc.cards.holds().at(0).state == "voided");
  CHECK(svc.clearing.transfers().empty());  // the real clearing house was never called

  // The mock received the outputs of the steps it reads.
  REQUIRE(transfer.call_count() == 1);
  const auto call = transfer.last_call();
  CHECK(call.arg<0>().iban == pay::sample_request().iban);
  CHECK(call.arg<1>().id == "AUTH-1");
  CHECK(call.arg<2>().id == "FXQ-1");
  CHECK(call.key == key_for(run.id(), "transfer"));
}

TEST_CASE("a lost authorization reply is retried with the same idempotency key: one hold",
          "[examples][payment][idempotency]") {
  pay::services svc;
  svc.cards.lose_replies(1);  // the hold is placed, the reply never arrives
  // A spy: a mock that calls the real card network and logs every call.
  mock<tutti::result<pay::authorization>(const pay::payment_request&, const tutti::call_context&)>
      authorize;
  authorize.does(
      [&cards = svc.cards](const pay::payment_request& p, const tutti::call_context& ctx) {
        return cards.authorize(pay::key_of(ctx), p.card, p.debit);
      });
  const auto payment = replace<"authorize">(pay::make_payment_workflow(svc), authorize);

  tutti::testing::manual_clock clock;
  const auto run = payment.run(pay::sample_request(), {}, clock);

  REQUIRE(run);
  CHECK(run.report().step("authorize").attempts == 2);
  CHECK(clock.slept() == 10ms);  // the retry's backoff, on virtual time
  const auto calls = authorize.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].error == pay::payment_errc::gateway_timeout);
  CHECK_FALSE(calls[1].error);
  CHECK(calls[0].key == calls[1].key);  // the retry carried the same key...
  CHECK(calls[0].key == key_for(run.id(), "authorize"));
  REQUIRE(svc.cards.holds().size() == 1);  // ...so the network placed one hold, not two
  CHECK(svc.cards.holds()[0].requests == 2);
  CHECK(svc.cards.holds()[0].key == calls[0].key);
  CHECK(svc.cards.holds()[0].state == "captured");
}

TEST_CASE("a risk rejection voids the authorization and goes no further",
          "[examples][payment][saga]") {
  pay::services svc;
  mock<tutti::result<pay::risk_assessment>(const pay::payment_request&)> risk;
  risk.fail(pay::payment_errc::risk_rejected);
  const auto payment = replace<"risk_check">(pay::make_payment_workflow(svc), risk);

  tutti::testing::manual_clock clock;
  const auto run = payment.run(pay::sample_request(), {}, clock);

  REQUIRE_FALSE(run);
  CHECK(run.failed_step() == "risk_check");
  CHECK(run.error() == pay::payment_errc::risk_rejected);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  const auto report = run.report();
  CHECK(report.step("authorize").status == step_status::compensated);
  CHECK(report.step("authorize").compensation_attempts == 1);
  CHECK(report.count(step_status::not_started) == 4);
  CHECK(svc.cards.holds().at(0).state == "voided");
  CHECK(svc.fx.quotes().empty());
  CHECK(svc.clearing.transfers().empty());
  CHECK(risk.call_count() == 1);  // a rejection is not retried
}

TEST_CASE("a receipt that fails twice is retried and the payment succeeds",
          "[examples][payment][retry]") {
  pay::services svc;
  mock<tutti::result<void>(tutti::from<"transfer", pay::transfer_receipt>)> send_receipt;
  send_receipt.fail(std::make_error_code(std::errc::connection_refused)).times(2).then_succeed();
  const auto payment = replace<"send_receipt">(pay::make_payment_workflow(svc), send_receipt);

  tutti::testing::manual_clock clock;
  const auto run = payment.run(pay::sample_request(), {}, clock);

  REQUIRE(run);
  CHECK(run.outcome() == tutti::run_outcome::succeeded);
  CHECK(run.report().step("send_receipt").attempts == 3);
  REQUIRE(send_receipt.call_count() == 3);
  for (const auto& c : send_receipt.calls()) {
    CHECK(c.arg<0>().id == "TRF-1");
    CHECK(c.key == key_for(run.id(), "send_receipt"));
  }
  CHECK(svc.clearing.transfers().at(0).state == "settled");
  CHECK(svc.cards.holds().at(0).state == "captured");
}

TEST_CASE("after the pivot nothing is undone: a receipt that keeps failing fails the run only",
          "[examples][payment][saga]") {
  pay::services svc;
  mock<tutti::result<void>(tutti::from<"transfer", pay::transfer_receipt>)> send_receipt;
  send_receipt.fail(std::make_error_code(std::errc::connection_refused));
  const auto payment = replace<"send_receipt">(pay::make_payment_workflow(svc), send_receipt);

  const auto run = payment.run(pay::sample_request());

  REQUIRE_FALSE(run);
  CHECK(run.outcome() == tutti::run_outcome::failed);  // not "compensated": the money moved
  CHECK(run.report().step("send_receipt").attempts == 3);
  CHECK(run.report().step("authorize").status == step_status::succeeded);
  CHECK(svc.cards.holds().at(0).state == "captured");
}

TEST_CASE("a void that fails is reported, never dropped", "[examples][payment][saga]") {
  pay::services svc;
  svc.clearing.reject_transfers();
  mock_compensation<tutti::result<void>(const pay::authorization&)> void_hold;
  void_hold.fail(pay::payment_errc::gateway_timeout);
  const auto payment =
      replace_compensation<"authorize">(pay::make_payment_workflow(svc), void_hold);

  const auto run = payment.run(pay::sample_request());

  REQUIRE_FALSE(run);
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  const auto report = run.report();
  CHECK(report.step("fx_quote").status == step_status::compensated);  // the others still ran
  CHECK(report.step("authorize").status == step_status::compensation_failed);
  CHECK(report.step("authorize").compensation_error == pay::payment_errc::gateway_timeout);
  REQUIRE(void_hold.call_count() == 1);
  CHECK(void_hold.last_call().arg<0>().id == "AUTH-1");  // what authorize produced
  CHECK(svc.cards.holds().at(0).state == "held");        // left for an operator: the report says so
}

TEST_CASE("a card network slower than the run's deadline: the late hold is voided at once",
          "[examples][payment][deadline]") {
  pay::services svc;
  tutti::testing::manual_clock clock;
  mock<tutti::result<pay::authorization>(const pay::payment_request&, const tutti::call_context&)>
      authorize;
  authorize
      .does([&cards = svc.cards](const pay::payment_request& p, const tutti::call_context& ctx) {
        return cards.authorize(pay::key_of(ctx), p.card, p.debit);
      })
      .takes(3s, clock);  // every call takes three seconds of virtual time
  const auto payment = replace<"authorize">(pay::make_payment_workflow(svc), authorize);

  const auto run = payment.run(pay::sample_request(), {.deadline = 2s}, clock);

  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::timeout);
  const auto line = run.report().step("authorize");
  CHECK(line.timed_out);
  CHECK(line.late_compensated);
  CHECK(authorize.last_call().deadline == 2s);  // the step was told when to give up
  CHECK(svc.cards.holds().at(0).state == "voided");
  CHECK(clock.now() == 3s);
}
