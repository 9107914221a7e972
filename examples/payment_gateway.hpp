// Payment gateway: the workflow and the simulated services it drives, shared by the example's
// main (payment_gateway.cpp), its unit tests (tests/examples/payment_gateway_test.cpp), the
// diagram and trace tools and the crash test (tests/durability). See payment_gateway.cpp for the
// story.
//
// Durable runs: every value the workflow takes or produces has a `serialize` function, so
// `tutti::durable_workflow{make_payment_workflow(svc), journal}` can journal it.
//
// Instrumentation for the crash test (off unless asked for, and then tiny):
// * `services::persist_to(dir)`: each service writes its whole ledger to `<dir>/<service>.ledger`
//   after every change, atomically (temp file, fsync, rename), before it replies; and
//   `services::load_from(dir)` reads them back in a new process. A change is then atomic as seen
//   from outside, as a remote service's would be, and outlives the orchestrator's process.
// * `pay::crash_point`: when set, the services call it on entry to every call that may change a
//   ledger ("cards.authorize: before") and once the change is persisted, just before the reply
//   ("cards.authorize: after") — the "lost reply" window: the change happened, the caller never
//   learns it. The crash test kills the process from there.
#ifndef TUTTI_EXAMPLES_PAYMENT_GATEWAY_HPP
#define TUTTI_EXAMPLES_PAYMENT_GATEWAY_HPP

#include <tutti/tutti.hpp>
#include <tutti/journal/serialize.hpp>  // tutti::byte_writer / byte_reader: journal and ledger bytes

#include <fmt/format.h>  // fmt::format

#include <algorithm>     // std::find
#include <chrono>        // the retry delay
#include <cstddef>       // std::size_t
#include <cstdint>       // amounts in cents
#include <cstdio>        // ledger files
#include <filesystem>    // atomic rename of a ledger file
#include <map>           // idempotency keys seen by each service
#include <stdexcept>     // std::logic_error for a bug in this example
#include <string>        // ids, keys
#include <string_view>   // crash-point names
#include <system_error>  // std::error_code, std::error_category
#include <type_traits>   // std::true_type
#include <utility>       // std::forward
#include <vector>        // ledgers

#if __has_include(<unistd.h>)
#include <unistd.h>  // fsync: a ledger file is on disk before the service replies
#define TUTTI_EXAMPLE_HAVE_FSYNC 1
#endif

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
// Each type has a `serialize` function (found by argument-dependent lookup) naming its fields
// once for both directions: a durable run journals the request and every step's output.

struct money {
  std::string currency;
  std::int64_t cents = 0;
};
inline std::string to_string(const money& m) {
  return fmt::format("{} {}.{:02}", m.currency, m.cents / 100, m.cents % 100);
}
template <class Archive>
void serialize(Archive& ar, money& m) {
  ar(m.currency, m.cents);
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
template <class Archive>
void serialize(Archive& ar, payment_request& p) {
  ar(p.id, p.card, p.debit, p.credit_currency, p.beneficiary, p.iban, p.receipt_to);
}

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
template <class Archive>
void serialize(Archive& ar, authorization& a) {
  ar(a.id, a.amount);
}
template <class Archive>
void serialize(Archive& ar, risk_assessment& r) {
  ar(r.score);
}
template <class Archive>
void serialize(Archive& ar, fx_quote& q) {
  ar(q.id, q.sell, q.buy, q.rate_ppm);
}
template <class Archive>
void serialize(Archive& ar, transfer_receipt& t) {
  ar(t.id, t.amount);
}

inline std::string key_of(const tutti::call_context& ctx) { return fmt::format("{}", ctx.key()); }

/// Every service call in order: what the services saw, for the printout.
inline std::vector<std::string> timeline;
template <class... A>
void record(fmt::format_string<A...> f, A&&... a) {
  timeline.push_back(fmt::format(f, std::forward<A>(a)...));
}

// ---- instrumentation for the crash test (see the top of this file) ---------------------------

/// Called by the services where a crash matters ("fx.quote: before", "fx.quote: after"); the
/// crash test kills its process from here. Null (the default): nothing happens.
inline void (*crash_point)(std::string_view where) = nullptr;
inline void at_crash_point(std::string_view where) {
  if (crash_point != nullptr) crash_point(where);
}

/// Where a service keeps its ledger between processes; nowhere (the default) until `use(path)`.
class ledger_file {
 public:
  void use(std::string path) { path_ = std::move(path); }

  /// Replaces the file with `parts`, atomically: a temporary file, written, fsynced, renamed
  /// over the old one (a reader sees the old ledger or the new one, never half of one).
  template <class... T>
  void save(const T&... parts) const {
    if (path_.empty()) return;
    std::vector<std::byte> bytes;
    tutti::byte_writer out{bytes};
    out(parts...);
    const std::string tmp = path_ + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    bool ok = f != nullptr && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
              std::fflush(f) == 0;
#ifdef TUTTI_EXAMPLE_HAVE_FSYNC
    ok = ok && ::fsync(::fileno(f)) == 0;
#endif
    if (f != nullptr) ok = std::fclose(f) == 0 && ok;
    if (!ok) throw std::runtime_error("cannot write the ledger " + tmp);
    std::filesystem::rename(tmp, path_);
  }

  /// Reads `parts` back from the file; false when it is damaged. No file: an empty ledger.
  template <class... T>
  [[nodiscard]] bool load(T&... parts) const {
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    if (f == nullptr) return !std::filesystem::exists(path_);
    std::vector<std::byte> bytes;
    std::byte buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
      bytes.insert(bytes.end(), buf, buf + n);
    std::fclose(f);
    tutti::byte_reader in{bytes};
    in(parts...);
    return !in.failed() && in.remaining() == 0;
  }

 private:
  std::string path_;
};

// ---- simulated services: each keeps a ledger and deduplicates on the idempotency key ----------

class card_network {
 public:
  struct hold {
    std::string id, key, card, state;
    money amount;
    int requests = 0;
    template <class Archive>
    friend void serialize(Archive& ar, hold& h) {
      ar(h.id, h.key, h.card, h.state, h.amount, h.requests);
    }
  };

  /// The reply to the first `n` new authorizations is lost (the hold is placed all the same).
  void lose_replies(int n) {
    lost_replies_ = n;
    save();
  }

  tutti::result<authorization> authorize(const std::string& key, const std::string& card,
                                         const money& amount) {
    at_crash_point("cards.authorize: before");
    if (const auto it = by_key_.find(key); it != by_key_.end()) {
      hold& h = holds_[it->second];
      ++h.requests;
      save();
      record("card network  authorize {} again, same key: returns {}, no new hold",
             to_string(amount), h.id);
      at_crash_point("cards.authorize: after");
      return authorization{h.id, h.amount};
    }
    if (amount.cents > 500'000) return payment_errc::insufficient_funds;
    const std::string id = fmt::format("AUTH-{}", holds_.size() + 1);
    holds_.push_back(hold{id, key, card, "held", amount, 1});
    by_key_[key] = holds_.size() - 1;
    const bool lost = lost_replies_ > 0;
    if (lost) --lost_replies_;
    save();
    if (lost) {
      record("card network  authorize {}: hold {} placed, reply lost", to_string(amount), id);
      at_crash_point("cards.authorize: after");
      return payment_errc::gateway_timeout;
    }
    record("card network  authorize {}: hold {} placed", to_string(amount), id);
    at_crash_point("cards.authorize: after");
    return authorization{id, amount};
  }
  void capture(const authorization& a) {
    at_crash_point("cards.capture: before");
    find(a.id).state = "captured";
    save();
    at_crash_point("cards.capture: after");
  }
  void void_hold(const authorization& a) {
    at_crash_point("cards.void: before");
    hold& h = find(a.id);
    if (h.state != "voided") {  // a repeated void changes nothing
      h.state = "voided";
      save();
      record("card network  void {}", a.id);
    }
    at_crash_point("cards.void: after");
  }

  [[nodiscard]] const std::vector<hold>& holds() const noexcept { return holds_; }

  /// Crash-test instrumentation: keep the ledger in `path` from now on.
  void persist_to(std::string path) {
    file_.use(std::move(path));
    save();
  }
  /// Crash-test instrumentation: read the ledger a `persist_to(path)` wrote.
  [[nodiscard]] bool load_from(std::string path) {
    file_.use(std::move(path));
    if (!file_.load(holds_, lost_replies_)) return false;
    by_key_.clear();
    for (std::size_t i = 0; i < holds_.size(); ++i) by_key_[holds_[i].key] = i;
    return true;
  }

 private:
  hold& find(const std::string& id) {
    for (auto& h : holds_)
      if (h.id == id) return h;
    throw std::logic_error("card network: unknown hold " + id);
  }
  void save() const { file_.save(holds_, lost_replies_); }
  std::vector<hold> holds_;
  std::map<std::string, std::size_t> by_key_;
  int lost_replies_ = 0;
  ledger_file file_;
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
    template <class Archive>
    friend void serialize(Archive& ar, entry& e) {
      ar(e.quote, e.key, e.state);
    }
  };

  fx_quote quote(const std::string& key, const money& sell, const std::string& buy_currency) {
    at_crash_point("fx.quote: before");
    for (const auto& e : quotes_) {
      if (e.key == key) {  // a repeat: the same quote
        at_crash_point("fx.quote: after");
        return e.quote;
      }
    }
    const std::int64_t rate_ppm = 923'077;  // USD -> EUR
    fx_quote q{fmt::format("FXQ-{}", quotes_.size() + 1), sell,
               money{buy_currency, sell.cents * rate_ppm / 1'000'000}, rate_ppm};
    quotes_.push_back(entry{q, key, "locked"});
    save();
    record("fx desk       quote {}: {} -> {}", q.id, to_string(q.sell), to_string(q.buy));
    at_crash_point("fx.quote: after");
    return q;
  }
  void use(const fx_quote& q) {
    at_crash_point("fx.use: before");
    find(q.id).state = "used";
    save();
    at_crash_point("fx.use: after");
  }
  void release(const fx_quote& q) {
    at_crash_point("fx.release: before");
    entry& e = find(q.id);
    if (e.state != "released") {
      e.state = "released";
      save();
      record("fx desk       release {}", q.id);
    }
    at_crash_point("fx.release: after");
  }

  [[nodiscard]] const std::vector<entry>& quotes() const noexcept { return quotes_; }

  /// Crash-test instrumentation: keep the ledger in `path` from now on.
  void persist_to(std::string path) {
    file_.use(std::move(path));
    save();
  }
  /// Crash-test instrumentation: read the ledger a `persist_to(path)` wrote.
  [[nodiscard]] bool load_from(std::string path) {
    file_.use(std::move(path));
    return file_.load(quotes_);
  }

 private:
  entry& find(const std::string& id) {
    for (auto& e : quotes_)
      if (e.quote.id == id) return e;
    throw std::logic_error("fx desk: unknown quote " + id);
  }
  void save() const { file_.save(quotes_); }
  std::vector<entry> quotes_;
  ledger_file file_;
};

/// Moves the money: captures the authorization, uses the quote, credits the beneficiary's bank.
class clearing_house {
 public:
  struct entry {
    std::string id, key, iban, state;
    money amount;
    template <class Archive>
    friend void serialize(Archive& ar, entry& e) {
      ar(e.id, e.key, e.iban, e.state, e.amount);
    }
  };

  clearing_house(card_network& cards, fx_desk& fx) : cards_(cards), fx_(fx) {}
  void reject_transfers() {
    reject_ = true;
    save();
  }

  tutti::result<transfer_receipt> transfer(const std::string& key, const authorization& a,
                                           const fx_quote& q, const std::string& iban) {
    at_crash_point("clearing.transfer: before");
    for (const auto& e : transfers_) {
      if (e.key == key) {  // a repeat gets the first answer: moved, or rejected
        record("clearing      transfer {} again, same key: returns {} ({}), nothing moved",
               to_string(e.amount), e.id, e.state);
        at_crash_point("clearing.transfer: after");
        if (e.state == "rejected") return payment_errc::beneficiary_rejected;
        return transfer_receipt{e.id, e.amount};
      }
    }
    const std::string id = fmt::format("TRF-{}", transfers_.size() + 1);
    if (reject_) {
      transfers_.push_back(entry{id, key, iban, "rejected", q.buy});
      save();
      record("clearing      transfer {} to {}: rejected by the beneficiary's bank",
             to_string(q.buy), iban);
      at_crash_point("clearing.transfer: after");
      return payment_errc::beneficiary_rejected;
    }
    cards_.capture(a);
    fx_.use(q);
    transfers_.push_back(entry{id, key, iban, "settled", q.buy});
    save();
    record("clearing      transfer {} to {}: settled as {}", to_string(q.buy), iban, id);
    at_crash_point("clearing.transfer: after");
    return transfer_receipt{id, q.buy};
  }

  [[nodiscard]] const std::vector<entry>& transfers() const noexcept { return transfers_; }

  /// Crash-test instrumentation: keep the ledger in `path` from now on.
  void persist_to(std::string path) {
    file_.use(std::move(path));
    save();
  }
  /// Crash-test instrumentation: read the ledger a `persist_to(path)` wrote.
  [[nodiscard]] bool load_from(std::string path) {
    file_.use(std::move(path));
    return file_.load(transfers_, reject_);
  }

 private:
  void save() const { file_.save(transfers_, reject_); }
  card_network& cards_;
  fx_desk& fx_;
  std::vector<entry> transfers_;
  bool reject_ = false;
  ledger_file file_;
};

class mailer {
 public:
  tutti::result<void> send_receipt(const std::string& key, const std::string& to,
                                   const transfer_receipt& t) {
    at_crash_point("mail.send_receipt: before");
    if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) {  // else: already sent
      keys_.push_back(key);
      sent_.push_back(fmt::format("receipt for {} ({}) to {}", t.id, to_string(t.amount), to));
      save();
      record("mailer        {}", sent_.back());
    }
    at_crash_point("mail.send_receipt: after");
    return tutti::outcome::success();
  }
  [[nodiscard]] const std::vector<std::string>& sent() const noexcept { return sent_; }

  /// Crash-test instrumentation: keep the ledger in `path` from now on.
  void persist_to(std::string path) {
    file_.use(std::move(path));
    save();
  }
  /// Crash-test instrumentation: read the ledger a `persist_to(path)` wrote.
  [[nodiscard]] bool load_from(std::string path) {
    file_.use(std::move(path));
    return file_.load(keys_, sent_);
  }

 private:
  void save() const { file_.save(keys_, sent_); }
  std::vector<std::string> keys_;  // idempotency keys seen, one per receipt sent
  std::vector<std::string> sent_;
  ledger_file file_;
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

  /// Crash-test instrumentation: each service keeps its ledger in `dir` from now on
  /// (`<dir>/cards.ledger`, `fx.ledger`, `clearing.ledger`, `mail.ledger`), starting with what
  /// it holds now.
  void persist_to(const std::string& dir) {
    cards.persist_to(dir + "/cards.ledger");
    fx.persist_to(dir + "/fx.ledger");
    clearing.persist_to(dir + "/clearing.ledger");
    mail.persist_to(dir + "/mail.ledger");
  }
  /// Crash-test instrumentation: the ledgers a `persist_to(dir)` wrote (a missing file is an
  /// empty ledger); false when one is damaged. Call it on fresh services.
  [[nodiscard]] bool load_from(const std::string& dir) {
    return cards.load_from(dir + "/cards.ledger") && fx.load_from(dir + "/fx.ledger") &&
           clearing.load_from(dir + "/clearing.ledger") && mail.load_from(dir + "/mail.ledger");
  }
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
