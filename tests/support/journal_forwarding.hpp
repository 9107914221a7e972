// Test support: a journal that forwards every member of `tutti::journal` to another journal, so
// a test's wrapper (one that fails, counts or crashes on some calls) overrides only those.
#pragma once

#include <tutti/journal/journal.hpp>

namespace support {

/// CRTP base: `Self::target()` returns the journal to forward to.
template <class Self>
class journal_forwarding {
 public:
  tutti::result<tutti::run_claim> start(const tutti::run_id& id, std::string_view wf,
                                        const tutti::workflow_version& fp, std::span<const std::byte> in,
                                        const tutti::lease_request& lease) {
    return t().start(id, wf, fp, in, lease);
  }
  tutti::result<tutti::submitted> submit(std::string_view wf, const tutti::workflow_version& fp,
                                         std::span<const std::byte> in,
                                         const tutti::submit_options& o) {
    return t().submit(wf, fp, in, o);
  }
  tutti::result<tutti::run_claim> claim(const tutti::run_id& id, const tutti::lease_request& l) {
    return t().claim(id, l);
  }
  tutti::result<std::vector<tutti::run_claim>> claim_next(std::string_view wf, std::size_t max,
                                                          const tutti::lease_request& l) {
    return t().claim_next(wf, max, l);
  }
  tutti::result<std::int64_t> renew(const tutti::run_id& id, std::uint64_t epoch) {
    return t().renew(id, epoch);
  }
  tutti::result<void> release(const tutti::run_id& id, std::uint64_t epoch) {
    return t().release(id, epoch);
  }
  tutti::result<void> append(const tutti::run_id& id, const tutti::record_view& r) {
    return t().append(id, r);
  }
  tutti::result<tutti::run_status> command(const tutti::run_id& id, const tutti::record_view& r,
                                           std::span<const tutti::run_status> allowed,
                                           bool fence) {
    return t().command(id, r, allowed, fence);
  }
  tutti::result<tutti::stored_run> load(const tutti::run_id& id) const { return t().load(id); }
  tutti::result<std::vector<tutti::run_summary>> list(const tutti::run_filter& f) const {
    return t().list(f);
  }
  tutti::result<tutti::run_status> status(const tutti::run_id& id) const { return t().status(id); }

 private:
  auto& t() { return static_cast<Self*>(this)->target(); }
  const auto& t() const { return static_cast<const Self*>(this)->target(); }
};

}  // namespace support
