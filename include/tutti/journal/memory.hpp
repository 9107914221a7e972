// tutti — an in-memory journal: for tests, and for runs that need resume within one process.
#ifndef TUTTI_JOURNAL_MEMORY_HPP
#define TUTTI_JOURNAL_MEMORY_HPP

#include <algorithm>  // sorting summaries
#include <chrono>     // wall-clock stamps for listing
#include <cstdint>    // counters
#include <map>        // runs by id
#include <mutex>      // thread safety
#include <string>     // owned copies
#include <utility>    // std::pair: dedup keys
#include <vector>     // records

#include "../clock.hpp"
#include "../config.hpp"
#include "journal.hpp"

TUTTI_BEGIN_NAMESPACE

/// How a `memory_journal` judges leases and bounds its queue.
struct memory_journal_options {
  /// The store's clock for leases (default: the wall clock, as `sqlite_journal` and a
  /// `tutti::runner`'s stuck check). A test passes its manual clock and expires a lease by
  /// advancing it.
  any_clock lease_clock{detail::default_wall_clock()};
  /// The clock of runs' start and update times and of the census (Unix time; default: the wall
  /// clock). A test that prints listings passes a manual clock: the times come out the same on
  /// every run.
  any_clock wall_clock{detail::default_wall_clock()};
  /// The most queued runs `submit` accepts (then `journal_errc::queue_full`); 0: no bound.
  std::size_t max_queued = 0;
};

/**
 * A journal kept in memory: every record is kept until the journal is destroyed, or its run
 * purged (`purge_ended`) or erased. Thread-safe
 * (one mutex: every member is one atomic step, as a transaction of a database). For tests
 * (inspect `load(id)` after a run, simulate a crash by resuming a run whose records stop
 * anywhere: `truncate(id, n)`), for resume within one process, and for several engines
 * (threads) of one process sharing runs.
 */
class memory_journal {
 public:
  memory_journal() = default;
  explicit memory_journal(const memory_journal_options& options) : options_(options) {}
  memory_journal(const memory_journal&) = delete;
  memory_journal& operator=(const memory_journal&) = delete;

  /// A new run, unclaimed (epoch 0): what a test writes by hand to stand for a run whose
  /// engine died before it ever claimed. Engines use the overload with a lease.
  result<void> start(const run_id& id, std::string_view workflow, const workflow_version& version,
                     std::span<const std::byte> input) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (runs_.count(id) != 0) return journal_errc::run_exists;
    create(id, workflow, version, input, run_status::running);
    return outcome::success();
  }

  result<run_claim> start(const run_id& id, std::string_view workflow,
                          const workflow_version& version, std::span<const std::byte> input,
                          const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (runs_.count(id) != 0) return journal_errc::run_exists;
    entry& e = create(id, workflow, version, input, run_status::running);
    run_claim c = take(e, lease, now_ms());
    if (version.paused) {
      record_view p;
      p.kind = record_kind::paused;
      p.ok = true;  // began paused
      p.epoch = c.epoch;
      add(e, p);
    }
    return c;
  }

  result<submitted> submit(std::string_view workflow, const workflow_version& version,
                           std::span<const std::byte> input, const submit_options& o) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!o.dedup_key.empty()) {
      const auto it = dedup_.find({std::string(workflow), std::string(o.dedup_key)});
      if (it != dedup_.end()) return submitted{it->second, false};
    }
    if (options_.max_queued != 0 && queued_ >= options_.max_queued)
      return journal_errc::queue_full;
    const run_id id = o.id.empty() ? run_id::generate() : o.id;
    if (runs_.count(id) != 0) return journal_errc::run_exists;
    entry& e = create(id, workflow, version, input, run_status::queued);
    e.run.summary.partition.assign(o.partition);
    e.run.summary.exclusive = o.exclusive && !o.partition.empty();
    e.run.summary.priority = o.priority;
    e.run.summary.dedup_key.assign(o.dedup_key);
    e.queue_seq = ++queue_seq_;
    e.queued_at = now_ms();
    ++queued_;
    if (!o.dedup_key.empty()) dedup_[{std::string(workflow), std::string(o.dedup_key)}] = id;
    return submitted{id, true};
  }

  result<run_claim> claim(const run_id& id, const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    entry& e = it->second;
    const run_status s = e.run.summary.status;
    if (s != run_status::running && s != run_status::queued) return journal_errc::not_resumable;
    const std::int64_t now = now_ms();
    if (!claimable(e.run.summary.owner, e.run.summary.lease_until_ms, now, lease))
      return journal_errc::owned;
    return take(e, lease, now);
  }

  result<std::vector<run_claim>> claim_next(std::string_view workflow, std::size_t max,
                                            const lease_request& lease) {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::vector<run_claim> out;
    const std::int64_t now = now_ms();
    // 1. Running runs nobody holds (their engine died or handed them back): oldest first.
    std::vector<entry*> stranded;
    const auto runnable = [&lease](const entry& e) {
      return lease.max_version == 0 || e.run.summary.version <= lease.max_version;
    };
    for (auto& [id, e] : runs_)
      if (e.run.summary.workflow == workflow && e.run.summary.status == run_status::running &&
          runnable(e) && claimable(e.run.summary.owner, e.run.summary.lease_until_ms, now, lease))
        stranded.push_back(&e);
    std::stable_sort(stranded.begin(), stranded.end(), [](const entry* a, const entry* b) {
      return a->run.summary.started_unix_ms < b->run.summary.started_unix_ms;
    });
    for (entry* e : stranded) {
      if (out.size() >= max) return out;
      out.push_back(take(*e, lease, now));
    }
    // 2. Queued runs: by priority, then submission order; a partition's oldest first, and an
    // exclusive partition only while none of its runs is in flight.
    while (out.size() < max) {
      entry* best = nullptr;
      for (auto& [id, e] : runs_) {
        if (e.run.summary.workflow != workflow || e.run.summary.status != run_status::queued ||
            !runnable(e))
          continue;
        if (!e.run.summary.partition.empty() && !partition_head(e)) continue;
        if (best != nullptr && (e.run.summary.priority < best->run.summary.priority ||
                                (e.run.summary.priority == best->run.summary.priority &&
                                 e.queue_seq > best->queue_seq)))
          continue;
        best = &e;
      }
      if (best == nullptr) break;
      out.push_back(take(*best, lease, now));
    }
    return out;
  }

  result<std::int64_t> renew(const run_id& id, std::uint64_t epoch) {
    const std::lock_guard<std::mutex> lock(mutex_);
    entry* e = nullptr;
    if (auto f = fence(id, epoch, e); !f) return f.error();
    if (e->run.summary.owner.empty()) return journal_errc::fenced;  // released: nobody holds it
    e->run.summary.lease_until_ms = now_ms() + e->lease_ms;
    return e->run.summary.lease_until_ms;
  }

  result<void> release(const run_id& id, std::uint64_t epoch) {
    const std::lock_guard<std::mutex> lock(mutex_);
    entry* e = nullptr;
    if (auto f = fence(id, epoch, e); !f) return f.error();
    record_view r;
    r.kind = record_kind::released;
    r.epoch = epoch;
    r.message = e->run.summary.owner;
    add(*e, r);
    e->run.summary.owner.clear();
    e->run.summary.lease_until_ms = 0;
    return outcome::success();
  }

  result<void> append(const run_id& id, const record_view& rec) {
    const std::lock_guard<std::mutex> lock(mutex_);
    entry* e = nullptr;
    if (auto f = fence(id, rec.epoch, e); !f) return f.error();
    add(*e, rec);
    run_summary& s = e->run.summary;
    if (ended(s.status)) {
      s.owner.clear();
      s.lease_until_ms = 0;
    } else if (!s.owner.empty()) {
      s.lease_until_ms = now_ms() + e->lease_ms;  // every write renews the lease
    }
    return outcome::success();
  }

  result<run_status> command(const run_id& id, const record_view& rec,
                             std::span<const run_status> allowed, bool fence_engine) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    entry& e = it->second;
    run_summary& s = e.run.summary;
    if (std::find(allowed.begin(), allowed.end(), s.status) == allowed.end())
      return journal_errc::invalid_command;
    const run_status before = s.status;
    record_view r = rec;
    if (fence_engine) {
      ++s.epoch;  // the engine running it is refused at its next write
      s.owner.clear();
      s.lease_until_ms = 0;
    }
    r.epoch = s.epoch;
    add(e, r);
    if (r.kind == record_kind::moved) s.version = r.attempt;
    if (before == run_status::queued && s.status != run_status::queued) --queued_;
    if (ended(s.status)) {
      s.owner.clear();
      s.lease_until_ms = 0;
    }
    if (before == run_status::dead_lettered && s.status == run_status::running) s.recoveries = 0;
    return s.status;
  }

  [[nodiscard]] result<stored_run> load(const run_id& id) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    return it->second.run;
  }

  [[nodiscard]] result<std::vector<run_summary>> list(const run_filter& f) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::vector<run_summary> out;
    for (const auto& [id, e] : runs_)
      if (f.matches(e.run.summary)) out.push_back(e.run.summary);
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
    return it->second.run.summary.status;
  }

  /// How many runs are queued (submitted, not claimed).
  [[nodiscard]] result<std::uint64_t> queue_depth() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::uint64_t>(queued_);
  }

  /// Runs by status and the oldest running, queued and paused ones (`run_census`): one pass
  /// over the runs under the journal's lock.
  [[nodiscard]] result<run_census> census() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    run_census c;
    c.now_unix_ms = wall_ms();
    for (const auto& [id, e] : runs_) c.add(e.run.summary.status, e.run.summary.started_unix_ms);
    return c;
  }

  /**
   * Retention: deletes ended runs (succeeded, failed, compensated, compensation_failed,
   * resolved, dead_lettered) last written before `before_unix_ms` (wall clock), oldest first,
   * `batch` per step under the journal's lock, until a batch finds fewer or `max_batches` ran
   * (0: no limit). Returns how many; `batch` 0 deletes nothing. A purged run's dedup key is
   * forgotten. As the SQLite journal's `purge_ended` (PostgreSQL's takes no order).
   */
  result<std::uint64_t> purge_ended(std::int64_t before_unix_ms, std::size_t batch = 500,
                                    std::size_t max_batches = 0) {
    std::uint64_t total = 0;
    if (batch == 0) return total;
    for (std::size_t round = 0; max_batches == 0 || round < max_batches; ++round) {
      const std::lock_guard<std::mutex> lock(mutex_);
      std::vector<std::map<run_id, entry>::iterator> due;
      for (auto it = runs_.begin(); it != runs_.end(); ++it) {
        const run_summary& s = it->second.run.summary;
        if (ended(s.status) && s.updated_unix_ms < before_unix_ms) due.push_back(it);
      }
      std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
        return a->second.run.summary.started_unix_ms < b->second.run.summary.started_unix_ms;
      });
      if (due.size() > batch) due.resize(batch);
      for (const auto& it : due) {
        const run_summary& s = it->second.run.summary;
        if (!s.dedup_key.empty()) dedup_.erase({s.workflow, s.dedup_key});
        runs_.erase(it);
      }
      total += due.size();
      if (due.size() < batch) break;
    }
    return total;
  }

  /// The time leases are judged by (`memory_journal_options::lease_clock`), in milliseconds:
  /// compare with `run_summary::lease_until_ms` (`tutti::lease_state_of`).
  [[nodiscard]] std::int64_t lease_now_ms() const noexcept { return now_ms(); }

  // ---- for tests ----

  /// Keeps only the first `n` records of run `id`, as if the process had died after writing
  /// them (the status is recomputed from what is left; ownership stays as it was).
  void truncate(const run_id& id, std::size_t n) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return;
    stored_run& r = it->second.run;
    if (r.records.size() > n) r.records.resize(n);
    run_status s = it->second.first_status;
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
    const auto it = runs_.find(id);
    if (it == runs_.end()) return false;
    if (it->second.run.summary.status == run_status::queued) --queued_;
    const run_summary& s = it->second.run.summary;
    if (!s.dedup_key.empty()) dedup_.erase({s.workflow, s.dedup_key});
    runs_.erase(it);
    return true;
  }
  /// Records written so far (all runs).
  [[nodiscard]] std::uint64_t writes() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return writes_;
  }

 private:
  struct entry {
    stored_run run;
    run_status first_status = run_status::running;
    std::int64_t lease_ms = 0;
    std::uint64_t queue_seq = 0;
    std::int64_t queued_at = 0;
  };

  [[nodiscard]] std::int64_t now_ms() const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease_clock.now())
        .count();
  }
  [[nodiscard]] std::int64_t wall_ms() const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options_.wall_clock.now())
        .count();
  }
  /// The oldest queued run of its partition, and (exclusive) none of it in flight.
  bool partition_head(const entry& e) const {
    for (const auto& [id, o] : runs_) {
      if (&o == &e || o.run.summary.partition != e.run.summary.partition ||
          o.run.summary.workflow != e.run.summary.workflow)
        continue;
      if (o.run.summary.status == run_status::queued && o.queue_seq < e.queue_seq) return false;
      if (e.run.summary.exclusive &&
          (o.run.summary.status == run_status::running || o.run.summary.status == run_status::paused))
        return false;
    }
    return true;
  }

  entry& create(const run_id& id, std::string_view workflow, const workflow_version& version,
                std::span<const std::byte> input, run_status status) {
    entry& e = runs_[id];
    stored_run& r = e.run;
    r.summary.id = id;
    r.summary.workflow.assign(workflow);
    r.summary.version = version.version;
    r.summary.fingerprint = version.fingerprint;
    r.summary.key.assign(version.key);
    r.summary.status = status;
    e.first_status = status;
    r.summary.started_unix_ms = r.summary.updated_unix_ms = wall_ms();
    r.input.assign(input.begin(), input.end());
    r.input_encoding = version.input_encoding;
    stored_record first;
    first.seq = 1;
    first.kind = record_kind::run_started;
    first.outcome = static_cast<std::uint8_t>(version.input_encoding);
    first.payload = r.input;
    r.records.push_back(std::move(first));
    r.summary.records = 1;
    ++writes_;
    return e;
  }

  /// Claims `e` for `lease` (the caller checked that it may): a new epoch and a `claimed` record.
  run_claim take(entry& e, const lease_request& lease, std::int64_t now) {
    run_summary& s = e.run.summary;
    run_claim c;
    c.id = s.id;
    c.workflow = s.workflow;
    c.version = s.version;
    const record_view r = detail::take_claim(
        {s.owner, s.epoch, e.lease_ms, s.lease_until_ms, s.recoveries}, s.status, e.queued_at,
        lease, now, c);
    if (c.from_queue) --queued_;
    add(e, r);  // queued -> running
    return c;
  }

  /// The run, if `epoch` is its current one and it has not ended; else `fenced`.
  result<void> fence(const run_id& id, std::uint64_t epoch, entry*& out) {
    const auto it = runs_.find(id);
    if (it == runs_.end()) return journal_errc::run_not_found;
    const run_summary& s = it->second.run.summary;
    if (s.epoch != epoch || ended(s.status)) return journal_errc::fenced;
    out = &it->second;
    return outcome::success();
  }

  void add(entry& e, const record_view& rec) {
    stored_run& r = e.run;
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
    out.epoch = rec.epoch;
    r.records.push_back(std::move(out));
    r.summary.records = r.records.size();
    r.summary.status = status_after(r.summary.status, rec);
    apply_failure(r.summary, rec);
    r.summary.updated_unix_ms = wall_ms();
    if (rec.kind == record_kind::step_finished || rec.kind == record_kind::compensation_finished)
      r.summary.recoveries = 0;  // the run moved on: earlier takeovers were no failed recovery
    ++writes_;
  }

  memory_journal_options options_{};
  mutable std::mutex mutex_;
  std::map<run_id, entry> runs_;
  std::map<std::pair<std::string, std::string>, run_id> dedup_;
  std::uint64_t writes_ = 0;
  std::uint64_t queue_seq_ = 0;
  std::size_t queued_ = 0;
};

static_assert(journal<memory_journal>);

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_MEMORY_HPP
