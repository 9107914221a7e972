// Payment gateway: the workflow and the simulated services it drives, shared by the example's
// main (payment_gateway.cpp), its unit tests (tests/examples/payment_gateway_test.cpp) and the
// diagram and trace tools. See payment_gateway.cpp for the story.
#ifndef TUTTI_EXAMPLES_PAYMENT_GATEWAY_HPP
#define TUTTI_EXAMPLES_PAYMENT_GATEWAY_HPP

#include <tutti/tutti.hpp>

#include <fmt/format.h>  // fmt::format

#include <chrono>        // the retry delay
#include <cstddef>       // std::size_t
#include <cstdint>       // amounts in cents
#include <map>           // idempotency keys seen by each service
#include <stdexcept>     // std::logic_error for a bug in this example
#include <string>        // ids, keys
#include <system_error>  // std::error_code, std::error_category
#include <type_traits>   // std::true_type
#include <utility>       // std::forward
#include <vector>        // ledgers

// ---- the services' own error codes ----------------------------------------------------------

namespace pay {
enum class payment_errc {
  insufficient_funds = 1,
  card_declined,
  gateway_timeout,
  risk_rejected,
  pci_violation,
  beneficiary_rejected,
};

class payment_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "payment"; }
  [[nodiscard]] std::string message(int code) const override {
    switch (static_cast<payment_errc>(code)) {
      case payment_errc::insufficient_funds:
        return "insufficient funds";
      case payment_errc::card_declined:
        return "card declined";
      case payment_errc::gateway_timeout:
        return "no reply from the card network";
      case payment_errc::risk_rejected:
        return "rejected by the risk engine";
      case payment_errc::pci_violation:
        return "raw card number outside the vault";
      case payment_errc::beneficiary_rejected:
        return "the beneficiary's bank rejected the transfer";
    }
    return "unknown payment error";
  }
};

inline const std::error_category& payment_category() noexcept {
  static const payment_category_impl category;
  return category;
}
// Found by argument-dependent lookup: `return payment_errc::card_declined;` makes an error_code.
inline std::error_code make_error_code(payment_errc e) noexcept {
  return {static_cast<int>(e), payment_category()};
}
}  // namespace pay

template <>
struct std::is_error_code_enum<pay::payment_errc> : std::true_type {};

namespace pay {

// ---- data -------------------------------------------------------------------------------------

struct money {
  std::string currency;
  std::int64_t cents = 0;
};
inline std::string to_string(const money& m) {
  return fmt::format("{} {}.{:02}", m.currency, m.cents / 100, m.cents % 100);
}

/// The workflow input.
struct payment_request {
  std::string id;
  std::string card;             // a vault token, never the card number
  money debit;                  // what the card pays
  std::string credit_currency;  // what the beneficiary receives
  std::string beneficiary;
  std::string iban;
  std::string receipt_to;
};

// What the steps produce.
struct authorization {
  std::string id;
  money amount;
};
struct risk_assessment {
  int score = 0;  // 0 (safe) to 100
};
struct fx_quote {
  std::string id;
  money sell;
  money buy;
  std::int64_t rate_ppm = 0;  // units of `buy` per unit of `sell`, in millionths
};
struct transfer_receipt {
  std::string id;
  money amount;
};

inline std::string key_of(const tutti::call_context& ctx) { return fmt::format("{}", ctx.key()); }

/// Every service call in order: what the services saw, for the printout.
inline std::vector<std::string> timeline;
template <class... A>
void record(fmt::format_string<A...> f, A&&... a) {
  timeline.push_back(fmt::format(f, std::forward<A>(a)...));
}

// ---- simulated services: each keeps a ledger and deduplicates on the idempotency key ----------

class card_network {
 public:
  struct hold {
    std::string id, key, card, state;
    money amount;
    int requests = 0;
  };

  /// The reply to the first `n` new authorizations is lost (the hold is placed all the same).
  void lose_replies(int n) { lost_replies_ = n; }

  tutti::result<authorization> authorize(const std::string& key, const std::string& card,
                                         const money& amount) {
    if (const auto it = by_key_.find(key); it != by_key_.end()) {
      hold& h = holds_[it->second];
      ++h.requests;
      record("card network  authorize {} again, same key: returns {}, no new hold",
             to_string(amount), h.id);
      return authorization{h.id, h.amount};
    }
    if (amount.cents > 500'000) return payment_errc::insufficient_funds;
    const std::string id = fmt::format("AUTH-{}", holds_.size() + 1);
    holds_.push_back(hold{id, key, card, "held", amount, 1});
    by_key_[key] = holds_.size() - 1;
    if (lost_replies_ > 0) {
      --lost_replies_;
      record("card network  authorize {}: hold {} placed, reply lost", to_string(amount), id);
      return payment_errc::gateway_timeout;
    }
    record("card network  authorize {}: hold {} placed", to_string(amount), id);
    return authorization{id, amount};
  }
  void capture(const authorization& a) { find(a.id).state = "captured"; }
  void void_hold(const authorization& a) {
    hold& h = find(a.id);
    if (h.state == "voided") return;  // a repeated void changes nothing
    h.state = "voided";
    record("card network  void {}", a.id);
  }

  [[nodiscard]] const std::vector<hold>& holds() const noexcept { return holds_; }

 private:
  hold& find(const std::string& id) {
    for (auto& h : holds_)
      if (h.id == id) return h;
    throw std::logic_error("card network: unknown hold " + id);
  }
  std::vector<hold> holds_;
  std::map<std::string, std::size_t> by_key_;
  int lost_replies_ = 0;
};

class risk_engine {
 public:
  tutti::result<risk_assessment> assess(const payment_request& p) const {
    const int score = p.debit.cents > 1'000'000 ? 90 : 12;
    record("risk engine   score {}/100: {}", score, score < 80 ? "accept" : "reject");
    if (score >= 80) return payment_errc::risk_rejected;
    return risk_assessment{score};
  }
};

class card_vault {
 public:
  tutti::result<void> check(const std::string& card) const {
    const bool token = card.rfind("tok_", 0) == 0;
    record("card vault    {} is {}", card, token ? "a vault token: compliant" : "NOT a token");
    if (!token) return payment_errc::pci_violation;
    return tutti::outcome::success();
  }
};

class fx_desk {
 public:
  struct entry {
    fx_quote quote;
    std::string key, state;
  };

  fx_quote quote(const std::string& key, const money& sell, const std::string& buy_currency) {
    for (const auto& e : quotes_)
      if (e.key == key) return e.quote;     // a repeat: the same quote
    const std::int64_t rate_ppm = 923'077;  // USD -> EUR
    fx_quote q{fmt::format("FXQ-{}", quotes_.size() + 1), sell,
               money{buy_currency, sell.cents * rate_ppm / 1'000'000}, rate_ppm};
    quotes_.push_back(entry{q, key, "locked"});
    record("fx desk       quote {}: {} -> {}", q.id, to_string(q.sell), to_string(q.buy));
    return q;
  }
  void use(const fx_quote& q) { find(q.id).state = "used"; }
  void release(const fx_quote& q) {
    entry& e = find(q.id);
    if (e.state == "released") return;
    e.state = "released";
    record("fx desk       release {}", q.id);
  }

  [[nodiscard]] const std::vector<entry>& quotes() const noexcept { return quotes_; }

 private:
  entry& find(const std::string& id) {
    for (auto& e : quotes_)
      if (e.quote.id == id) return e;
    throw std::logic_error("fx desk: unknown quote " + id);
  }
  std::vector<entry> quotes_;
};

/// Moves the money: captures the authorization, uses the quote, credits the beneficiary's bank.
class clearing_house {
 public:
  struct entry {
    std::string id, key, iban, state;
    money amount;
  };

  clearing_house(card_network& cards, fx_desk& fx) : cards_(cards), fx_(fx) {}
  void reject_transfers() { reject_ = true; }

  tutti::result<transfer_receipt> transfer(const std::string& key, const authorization& a,
                                           const fx_quote& q, const std::string& iban) {
    for (const auto& e : transfers_)
      if (e.key == key) return transfer_receipt{e.id, e.amount};  // a repeat: already moved
    const std::string id = fmt::format("TRF-{}", transfers_.size() + 1);
    if (reject_) {
      transfers_.push_back(entry{id, key, iban, "rejected", q.buy});
      record("clearing      transfer {} to {}: rejected by the beneficiary's bank",
             to_string(q.buy), iban);
      return payment_errc::beneficiary_rejected;
    }
    cards_.capture(a);
    fx_.use(q);
    transfers_.push_back(entry{id, key, iban, "settled", q.buy});
    record("clearing      transfer {} to {}: settled as {}", to_string(q.buy), iban, id);
    return transfer_receipt{id, q.buy};
  }

  [[nodiscard]] const std::vector<entry>& transfers() const noexcept { return transfers_; }

 private:
  card_network& cards_;
  fx_desk& fx_;
  std::vector<entry> transfers_;
  bool reject_ = false;
};

class mailer {
 public:
  tutti::result<void> send_receipt(const std::string& key, const std::string& to,
                                   const transfer_receipt& t) {
    if (seen_.count(key) != 0) return tutti::outcome::success();  // already sent
    seen_[key] = to;
    sent_.push_back(fmt::format("receipt for {} ({}) to {}", t.id, to_string(t.amount), to));
    record("mailer        {}", sent_.back());
    return tutti::outcome::success();
  }
  [[nodiscard]] const std::vector<std::string>& sent() const noexcept { return sent_; }

 private:
  std::map<std::string, std::string> seen_;
  std::vector<std::string> sent_;
};

}  // namespace pay

namespace pay {

/// The services one payment drives; the workflow holds references to them.
struct services {
  card_network cards;
  risk_engine risk;
  card_vault vault;
  fx_desk fx;
  clearing_house clearing{cards, fx};
  mailer mail;
};

/// The payment workflow over `s` (which must outlive it).
inline auto make_payment_workflow(services& s) {
  using namespace std::chrono_literals;
  // Retry only what is worth retrying: a lost reply, not a declined card.
  const auto on_timeout = [](const std::error_code& ec) {
    return ec == payment_errc::gateway_timeout;
  };

  return tutti::workflow<"payment">(
      tutti::step<"authorize">([&cards = s.cards](const payment_request& p, const tutti::call_context& ctx) {
        return cards.authorize(key_of(ctx), p.card, p.debit);
      }).compensate_with([&cards = s.cards](const authorization& a) { cards.void_hold(a); }) |
          tutti::retry{tutti::constant_backoff{10ms}, tutti::max_attempts{3}, on_timeout},

      tutti::step<"risk_check">([&risk = s.risk](const payment_request& p) { return risk.assess(p); }),

      tutti::step<"pci_compliance">(
          [&vault = s.vault](const payment_request& p) { return vault.check(p.card); }),

      tutti::step<"fx_quote">([&fx = s.fx](const payment_request& p, const tutti::call_context& ctx) {
        return fx.quote(key_of(ctx), p.debit, p.credit_currency);
      }).compensate_with([&fx = s.fx](const fx_quote& q) { fx.release(q); }),

      // The pivot reads two earlier outputs by name; their types are checked at compile time.
      tutti::pivot<"transfer">(
          [&clearing = s.clearing](const payment_request& p, tutti::from<"authorize", authorization> auth,
                      tutti::from<"fx_quote", fx_quote> quote, const tutti::call_context& ctx) {
            return clearing.transfer(key_of(ctx), *auth, *quote, p.iban);
          }),

      tutti::step<"send_receipt">([&mail = s.mail](const payment_request& p,
                                          tutti::from<"transfer", transfer_receipt> t,
                                          const tutti::call_context& ctx) {
        return mail.send_receipt(key_of(ctx), p.receipt_to, *t);
      }) | tutti::retry{tutti::max_attempts{3}});

}

/// The workflow's type: tests replace its steps by name, tools draw it.
using payment_workflow = decltype(make_payment_workflow(std::declval<services&>()));

/// The request the example pays.
inline payment_request sample_request() {
  return payment_request{.id = "P-1001",
                         .card = "tok_visa_4242",
                         .debit = money{"USD", 13000},
                         .credit_currency = "EUR",
                         .beneficiary = "Alice Martin",
                         .iban = "NL91ABNA0417164300",
                         .receipt_to = "alice@example.com"};
}

}  // namespace pay

#endif  // TUTTI_EXAMPLES_PAYMENT_GATEWAY_HPP
