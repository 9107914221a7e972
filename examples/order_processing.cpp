// Order processing: a saga that reserves stock, takes the payment and confirms the order, and
// undoes what it already did when a later step fails.
//
//   validate -> reserve_inventory -> process_payment -> confirm_order -> notify_user
//               undo: release         undo: refund       (pivot)          (retried)
//
// Until confirm_order (the pivot) succeeds, a failure releases the stock and refunds the card, in
// reverse order. After it, the order stands: notify_user must eventually succeed, so it carries a
// retry instead of a compensation.
//
//   tutti_example_order_processing                  the order goes through
//   tutti_example_order_processing --fail-payment   the card is declined: the stock is released
//
// The services are simulated in-process (small classes with state); in a real system they are
// other processes reached over the network.
#include <tutti/tutti.hpp>

#include <fmt/format.h>  // fmt::print

#include <cstdio>        // stderr
#include <map>           // the stock
#include <stdexcept>     // services report trouble by throwing
#include <string>        // ids, skus
#include <string_view>   // command-line flag
#include <system_error>  // std::errc for validation errors
#include <utility>       // std::move
#include <vector>        // order lines, ledgers

namespace shop {

struct order_line {
  std::string sku;
  int quantity = 0;
};

/// The workflow input: every step may take it as `const order&`.
struct order {
  std::string id;
  std::string customer;  // e-mail address
  std::vector<order_line> lines;
  long long total_cents = 0;
};

// What the steps produce. A compensation receives what its step produced.
struct reservation {
  std::string id;
  std::vector<order_line> lines;
};
struct payment {
  std::string charge_id;
  long long amount_cents = 0;
};
struct confirmation {
  std::string order_id;
  std::string reservation_id;
  std::string charge_id;
};

std::string eur(long long cents) { return fmt::format("EUR {}.{:02}", cents / 100, cents % 100); }

// ---- simulated services ------------------------------------------------------------------

class inventory_service {
 public:
  explicit inventory_service(std::map<std::string, int> stock) : stock_(std::move(stock)) {}

  reservation reserve(const order& o) {
    for (const auto& line : o.lines) {
      const auto it = stock_.find(line.sku);
      if (it == stock_.end() || it->second < line.quantity)
        throw std::runtime_error(fmt::format("not enough {} in stock", line.sku));
    }
    for (const auto& line : o.lines) stock_[line.sku] -= line.quantity;
    return reservation{fmt::format("R-{}", ++count_), o.lines};
  }
  void release(const reservation& r) {
    for (const auto& line : r.lines) stock_[line.sku] += line.quantity;
  }

  [[nodiscard]] std::string describe() const {
    std::string out;
    for (const auto& [sku, count] : stock_)
      out += fmt::format("{}{} {}", out.empty() ? "" : ", ", sku, count);
    return out;
  }

 private:
  std::map<std::string, int> stock_;
  int count_ = 0;
};

class payment_service {
 public:
  explicit payment_service(bool decline) : decline_(decline) {}

  payment charge(const order& o) {
    if (decline_) throw std::runtime_error("card declined by the issuer");
    payment p{fmt::format("CH-{}", ledger_.size() + 1), o.total_cents};
    ledger_.push_back(fmt::format("{} {} charged", p.charge_id, eur(p.amount_cents)));
    return p;
  }
  void refund(const payment& p) {
    ledger_.push_back(fmt::format("{} {} refunded", p.charge_id, eur(p.amount_cents)));
  }
  [[nodiscard]] const std::vector<std::string>& ledger() const noexcept { return ledger_; }

 private:
  bool decline_;
  std::vector<std::string> ledger_;
};

class order_book {
 public:
  confirmation confirm(const order& o, const reservation& r, const payment& p) {
    confirmed_.push_back(o.id);
    return confirmation{o.id, r.id, p.charge_id};
  }
  [[nodiscard]] const std::vector<std::string>& confirmed() const noexcept { return confirmed_; }

 private:
  std::vector<std::string> confirmed_;
};

/// A mail server that is busy for its first `busy_calls` calls.
class mail_service {
 public:
  explicit mail_service(int busy_calls) : busy_(busy_calls) {}

  tutti::result<void> send(const std::string& to, std::string text) {
    if (busy_ > 0) {
      --busy_;
      return std::make_error_code(std::errc::resource_unavailable_try_again);
    }
    sent_.push_back(fmt::format("to {}: \"{}\"", to, std::move(text)));
    return tutti::outcome::success();
  }
  [[nodiscard]] const std::vector<std::string>& sent() const noexcept { return sent_; }

 private:
  int busy_;
  std::vector<std::string> sent_;
};

// ---- a step that needs no service: a plain function ----------------------------------------

tutti::result<void> validate(const order& o) {
  if (o.lines.empty() || o.total_cents <= 0)
    return std::make_error_code(std::errc::invalid_argument);
  for (const auto& line : o.lines)
    if (line.quantity <= 0) return std::make_error_code(std::errc::invalid_argument);
  return tutti::outcome::success();
}

}  // namespace shop

int main(int argc, char** argv) {
  using shop::confirmation;
  using shop::order;
  using shop::payment;
  using shop::reservation;

  const bool fail_payment = argc > 1 && std::string_view{argv[1]} == "--fail-payment";
  if (argc > 2 || (argc == 2 && !fail_payment)) {
    fmt::print(stderr, "usage: {} [--fail-payment]\n", argv[0]);
    return 2;
  }

  shop::inventory_service inventory{{{"apple", 10}, {"pear", 4}}};
  shop::payment_service payments{/*decline=*/fail_payment};
  shop::order_book orders;
  shop::mail_service mail{/*busy_calls=*/1};  // the first e-mail attempt fails: retried

  // The workflow holds references to the services; it is built once and can run many orders.
  const auto place_order = tutti::workflow<"place_order">(
      tutti::step<"validate">(shop::validate),

      tutti::step<"reserve_inventory">([&inventory](const order& o) {
        return inventory.reserve(o);
      }).compensate_with([&inventory](const reservation& r) { inventory.release(r); }),

      tutti::step<"process_payment">([&payments](const order& o) {
        return payments.charge(o);
      }).compensate_with([&payments](const payment& p) { payments.refund(p); }),

      // The point of no return. It reads two earlier outputs by name and type.
      tutti::pivot<"confirm_order">([&orders](const order& o,
                                              tutti::from<"reserve_inventory", reservation> r,
                                              tutti::from<"process_payment", payment> p) {
        return orders.confirm(o, *r, *p);
      }),

      tutti::step<"notify_user">([&mail](const order& o) {
        return mail.send(o.customer, fmt::format("Your order {} is confirmed", o.id));
      }) | tutti::retry{tutti::max_attempts{3}});

  const order o{"A-1001", "ada@example.com", {{"apple", 3}, {"pear", 2}}, 1250};
  fmt::print("Order {} for {}: 3 apple, 2 pear, {}{}\n", o.id, o.customer, shop::eur(o.total_cents),
             fail_payment ? " (the card will be declined)" : "");
  fmt::print("inventory before: {}\n\n", inventory.describe());

  const auto run = place_order.run(o);  // timing is off by default: the output is reproducible
  fmt::print("{}\n", run.report());

  fmt::print("inventory after:  {}\n", inventory.describe());
  for (const auto& line : payments.ledger()) fmt::print("payment:          {}\n", line);
  for (const auto& line : mail.sent()) fmt::print("e-mail:           {}\n", line);

  // The last step returns nothing, so read the pivot's output by name.
  if (const confirmation* c = run.find<"confirm_order">()) {
    fmt::print("\norder {} confirmed (reservation {}, charge {})\n", c->order_id, c->reservation_id,
               c->charge_id);
  } else {
    fmt::print("\norder {} not placed: {} failed\n", o.id, run.failed_step());
    fmt::print("  error:   {}\n  message: {}\n", tutti::describe(run.error()), run.message());
  }

  // Exit 0 when the run ended as this mode intends (declined payment: compensated).
  const auto expected =
      fail_payment ? tutti::run_outcome::compensated : tutti::run_outcome::succeeded;
  return run.outcome() == expected ? 0 : 1;
}

// Expected output (the run id varies between runs; it is shown as <run id>):
//
// $ tutti_example_order_processing
// Order A-1001 for ada@example.com: 3 apple, 2 pear, EUR 12.50
// inventory before: apple 10, pear 4
//
// workflow "place_order"  run <run id>  -> succeeded
//    1. validate           succeeded            1 attempt
//    2. reserve_inventory  succeeded            1 attempt
//    3. process_payment    succeeded            1 attempt
//    4. confirm_order      succeeded            1 attempt
//    5. notify_user        succeeded            2 attempts
//
// inventory after:  apple 7, pear 2
// payment:          CH-1 EUR 12.50 charged
// e-mail:           to ada@example.com: "Your order A-1001 is confirmed"
//
// order A-1001 confirmed (reservation R-1, charge CH-1)
//
// $ tutti_example_order_processing --fail-payment
// Order A-1001 for ada@example.com: 3 apple, 2 pear, EUR 12.50 (the card will be declined)
// inventory before: apple 10, pear 4
//
// workflow "place_order"  run <run id>  -> failed, compensated
//    1. validate           succeeded            1 attempt
//    2. reserve_inventory  compensated          1 attempt
//       undone by its compensation (1 call)
//    3. process_payment    failed               1 attempt
//       error: a user callable threw an exception [tutti:2]
//       message: card declined by the issuer
//    4. confirm_order      not started
//    5. notify_user        not started
//
// inventory after:  apple 10, pear 4
//
// order A-1001 not placed: process_payment failed
//   error:   a user callable threw an exception [tutti:2]
//   message: card declined by the issuer
