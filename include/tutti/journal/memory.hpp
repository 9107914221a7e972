// tutti — an in-memory journal: for tests, and for runs that need resume within one process.
#ifndef TUTTI_JOURNAL_MEMORY_HPP
#define TUTTI_JOURNAL_MEMORY_HPP

#include <algorithm>  // sorting summaries
#include <chrono>     // wall-clock stamps for listing
#include <cstdint>    // counters
#include <map>        // runs by id
#include <mutex>      // thread safety
#include <string>     // owned copies
#include <vector>     // records

#include "../config.hpp"
#include "journal.hpp"

TUTTI_BEGIN_NAMESPACE

/**
 * A journal kept in memory: every record is kept until the journal is destroyed. Thread-safe
 * (one mutex). For tests (inspect `load(id)` after a run, simulate a crash by resuming a run whose
 * records stop anywhere: `truncate(id, n)`) and for resume within one process.
 */
class memory_journal {
 public:
  memory_journal() = default;
  memory_journal(const memory_journal&) = delete;
  memory_journal& operator=(const memory_journal&) = delete;

  result<void> start(const run_id& id, std::string_view workflow, std::uint64_t fingerprint,
                     std::span<const std::byte> input) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (runs_.count(id) != 0) return journal_errc::run_exists;
    stored_run& r = runs_[id];
    r.summary.id = id;
    r.summary.workflow.assign(workflow);
    r.summary.fingerprint = fingerprint;
    r.summary.status = run_status::running;
    r.summary.started_unix_ms = r.summary.updated_unix_ms = now_ms();
    r.input.assign(input.begin(), input.end());
    stored_record first;
    first.seq = 1;
    first.kind = record_kind::run_started;
    first.payload = r.input;
    r.records.push_back(std::move(first));
    r.summary.records = 1;
    ++writes_;
    return outcome::success();
  }

  result<void> append(const run_id& id, const record_view& rec) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    stored_run& r = it->second;
    stored_record out;
    out.seq = r.records.size() + 1;
    out.kind = rec.kind;
    out.step.assign(rec.step);
    out.attempt = rec.attempt;
    out.ok = rec.ok;
    out.outcome = rec.outcome;
    out.payload.assign(rec.payload.begin(), rec.payload.end());
    out.error_category.assign(rec.error_category);
    out.error_value = rec.error_value;
    out.message.assign(rec.message);
    out.time_ns = rec.time_ns;
    r.records.push_back(std::move(out));
    r.summary.records = r.records.size();
    r.summary.status = status_after(r.summary.status, rec);
    r.summary.updated_unix_ms = now_ms();
    ++writes_;
    return outcome::success();
  }

  [[nodiscard]] result<stored_run> load(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    return it->second;
  }

  [[nodiscard]] result<std::vector<run_summary>> list(const run_filter& f) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::vector<run_summary> out;
    for (const auto& [id, r] : runs_) {
      const run_summary& s = r.summary;
      if (f.status && s.status != *f.status) continue;
      if (!f.workflow.empty() && s.workflow != f.workflow) continue;
      if (s.started_unix_ms < f.started_after_unix_ms) continue;
      if (f.started_before_unix_ms != 0 && s.started_unix_ms >= f.started_before_unix_ms) continue;
      out.push_back(s);
    }
    std::stable_sort(out.begin(), out.end(), [](const run_summary& a, const run_summary& b) {
      return a.started_unix_ms > b.started_unix_ms;
    });
    if (f.limit != 0 && out.size() > f.limit) out.resize(f.limit);
    return out;
  }

  [[nodiscard]] result<run_status> status(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    return it->second.summary.status;
  }

  // ---- for tests ----

  /// Keeps only the first `n` records of run `id`, as if the process had died after writing
  /// them (the status is recomputed from what is left).
  void truncate(const run_id& id, std::size_t n) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return;
    stored_run& r = it->second;
    if (r.records.size() > n) r.records.resize(n);
    run_status s = run_status::running;
    for (const auto& rec : r.records) {
      record_view v;
      v.kind = rec.kind;
      v.outcome = rec.outcome;
      s = status_after(s, v);
    }
    r.summary.status = s;
    r.summary.records = r.records.size();
  }
  /// Forgets run `id` (a finished run that is no longer needed); false if there was none.
  bool erase(const run_id& id) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return runs_.erase(id) != 0;
  }
  /// Records written so far (all runs).
  [[nodiscard]] std::uint64_t writes() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return writes_;
  }

 private:
  static std::int64_t now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  mutable std::mutex mutex_;
  std::map<run_id, stored_run> runs_;
  std::uint64_t writes_ = 0;
};

static_assert(journal<memory_journal>);

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_MEMORY_HPP
