// What the crash test's parent (crash_test.cpp) and child (crash_child.cpp) share: the SQLite
// journal they use, the run id and request of an iteration, and a printout of a run's journal
// and ledgers for failure messages. See docs/durability/crash-test.md.
#ifndef TUTTI_TESTS_DURABILITY_CRASH_HARNESS_HPP
#define TUTTI_TESTS_DURABILITY_CRASH_HARNESS_HPP

#include "payment_gateway.hpp"

#include <tutti/journal/durable.hpp>
#include <tutti/journal/journal.hpp>
#include <tutti/journal/sqlite.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace crash {

// ---- the journal ---------------------------------------------------------------------------------

using journal_type = tutti::sqlite_journal;

/// The crash test's journal: SQLite with a commit per record (each record is on disk when
/// `append` returns), or grouped commits: every 3 records, at a status change and at the run's
/// end, no timer (so that where a crash cuts the journal depends on K alone, and a crash loses
/// up to 2 records: the journal's tail, or the whole run when its first group was not full).
inline tutti::result<journal_type> open_journal(const std::string& path, bool grouped = false,
                                                std::string* why = nullptr) {
  tutti::sqlite_options o;
  o.commit = grouped ? tutti::sqlite_commit::grouped : tutti::sqlite_commit::per_record;
  o.group_records = 3;
  o.group_interval = std::chrono::milliseconds{0};
  return tutti::sqlite_journal::open(path, o, why);
}

// ---- one iteration's run ----------------------------------------------------------------------

/// The run id of iteration `seed`: fixed, so every process of the iteration names the same run.
inline tutti::run_id run_id_of(std::uint64_t seed) noexcept {
  return tutti::run_id{0x7475747469637261ULL /* "tutticra" */, seed};
}
inline std::string hex(const tutti::run_id& id) {
  const auto h = id.hex();
  return std::string{h.data(), h.size()};
}
/// The request of iteration `seed`: the example's, with an order id of its own.
inline pay::payment_request request_of(std::uint64_t seed) {
  pay::payment_request r = pay::sample_request();
  r.id = fmt::format("P-{}", seed);
  return r;
}

// ---- printouts ----------------------------------------------------------------------------------

inline std::string describe(const tutti::stored_record& r) {
  std::string s = fmt::format("{:>3}. {}", r.seq, tutti::to_string(r.kind));
  if (!r.step.empty()) s += fmt::format(" {}", r.step);
  if (r.kind == tutti::record_kind::attempt_started || r.kind == tutti::record_kind::attempt_finished ||
      r.kind == tutti::record_kind::step_finished)
    s += fmt::format(" #{}", r.attempt);
  if (r.kind == tutti::record_kind::attempt_finished || r.kind == tutti::record_kind::step_finished ||
      r.kind == tutti::record_kind::compensation_finished)
    s += r.ok ? " ok" : fmt::format(" FAILED {}:{} {}", r.error_category, r.error_value, r.message);
  if (r.kind == tutti::record_kind::run_finished)
    s += fmt::format(" -> {}", tutti::to_string(tutti::status_after_outcome(r.outcome)));
  return s;
}

/// The run's journal records and the four ledgers, one line each.
template <class Journal>
std::string describe(Journal& j, const tutti::run_id& id, const pay::services& s) {
  std::string out;
  if (auto run = j.load(id)) {
    out += fmt::format("journal: run {} is {}\n", hex(id),
                       tutti::to_string(run.value().summary.status));
    for (const auto& r : run.value().records) out += "  " + describe(r) + "\n";
  } else {
    out += fmt::format("journal: run not found ({})\n", run.error().message());
  }
  for (const auto& h : s.cards.holds())
    out += fmt::format("cards     {} {} {} requests={} key={}\n", h.id, pay::to_string(h.amount),
                       h.state, h.requests, h.key);
  for (const auto& e : s.fx.quotes())
    out += fmt::format("fx        {} {} key={}\n", e.quote.id, e.state, e.key);
  for (const auto& e : s.clearing.transfers())
    out += fmt::format("clearing  {} {} {} key={}\n", e.id, pay::to_string(e.amount), e.state, e.key);
  for (const auto& m : s.mail.sent()) out += fmt::format("mail      {}\n", m);
  return out;
}

}  // namespace crash

#endif  // TUTTI_TESTS_DURABILITY_CRASH_HARNESS_HPP
