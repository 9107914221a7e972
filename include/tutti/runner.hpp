// tutti — the runner: hosts durable workflows in a service; claims queued and stranded runs,
// runs them on an executor, renews their leases, and drains on stop.
#ifndef TUTTI_RUNNER_HPP
#define TUTTI_RUNNER_HPP

#include <algorithm>           // std::erase_if
#include <atomic>              // counters, the hand-back flag
#include <chrono>              // intervals
#include <condition_variable>  // the pump waits for work or capacity
#include <cstdint>             // counters
#include <functional>          // the event callback, hosted workflows (type-erased per run)
#include <map>                 // runs in flight
#include <memory>              // hosted workflows
#include <mutex>               // the pump's state
#include <optional>            // the next claim of a chain
#include <set>                 // stuck runs already reported
#include <stdexcept>           // a version hosted twice
#include <string>              // names
#include <string_view>         // names
#include <thread>              // the pump
#include <type_traits>         // the async layer, when included
#include <utility>             // std::move
#include <vector>              // hosted workflows

#include <fmt/format.h>  // the census gauges

#include "clock.hpp"
#include "config.hpp"
#include "error.hpp"
#include "executor.hpp"
#include "journal/durable.hpp"
#include "journal/journal.hpp"
#include "observe/alert.hpp"

TUTTI_BEGIN_NAMESPACE

/// What a runner reports, besides the events of the runs it runs (see `runner_event`).
enum class runner_event_kind : std::uint8_t {
  claimed,        ///< a queued run was claimed (`waited`: its time in the queue)
  took_over,      ///< a running run whose owner died (lease expired, or a dead incarnation of
                  ///< this engine's name) was claimed (`recoveries`)
  resumed,        ///< a running run nobody held was claimed: handed back (a drain, a pause
                  ///< then an unpause), retried or re-driven by an operator
  lease_renewed,  ///< a heartbeat renewed the lease of a run in flight
  fenced,         ///< the store refused this runner's write: another engine or an operator
                  ///< took the run; it was stopped at once
  dead_lettered,  ///< a run was parked: taken over more than `max_recoveries` times without
                  ///< progress, or one this runner cannot run (another shape of the workflow,
                  ///< an unreadable input)
  finished,       ///< a run ended (`message`: its outcome) or stopped (paused, handed back)
  handed_back,    ///< draining: a run was stopped at a step boundary and its lease released
  stuck,          ///< a run's lease expired more than `stuck_after` ago and nobody took it over
  journal_error,  ///< the journal failed a claim, a renewal or a run (`message`)
  version_unregistered,  ///< a run of an older version of a hosted workflow that this runner
                         ///< no longer hosts was parked as dead-lettered (`message`: which)
  purged,  ///< retention deleted ended runs older than `retention_policy::keep` (`message`:
           ///< how many)
  run_paused,  ///< the journal's census found a paused run: once while it stays paused, by
               ///< every runner on the journal; it waits for an operator's unpause or resolve
};

[[nodiscard]] constexpr std::string_view to_string(runner_event_kind k) noexcept {
  switch (k) {
    case runner_event_kind::claimed: return "claimed";
    case runner_event_kind::took_over: return "took_over";
    case runner_event_kind::resumed: return "resumed";
    case runner_event_kind::lease_renewed: return "lease_renewed";
    case runner_event_kind::fenced: return "fenced";
    case runner_event_kind::dead_lettered: return "dead_lettered";
    case runner_event_kind::finished: return "finished";
    case runner_event_kind::handed_back: return "handed_back";
    case runner_event_kind::stuck: return "stuck";
    case runner_event_kind::journal_error: return "journal_error";
    case runner_event_kind::version_unregistered: return "version_unregistered";
    case runner_event_kind::purged: return "purged";
    case runner_event_kind::run_paused: return "run_paused";
  }
  return "unknown";
}

/// One thing a runner did. The views are valid during the callback only.
struct runner_event {
  runner_event_kind kind = runner_event_kind::claimed;
  std::string_view workflow;
  run_id run;
  std::uint64_t epoch = 0;
  std::uint32_t recoveries = 0;
  std::chrono::milliseconds waited{0};  ///< claimed: time in the queue (store clock)
  std::string_view message;
};

/**
 * The alert a runner event calls for, if any: `journal_error` → `journal_failed`, `run_paused`
 * → `run_paused`, `stuck` → `run_stuck`. The alert's views point into `e`: use it during the
 * event's callback, as the alert hook's callback does with a run's alerts:
 *
 *     r.on_event([&](const tutti::runner_event& e) {
 *       if (auto a = tutti::alert_of(e)) page(*a);  // the callback of the run's alert_hook
 *     });
 */
[[nodiscard]] inline std::optional<observe::alert> alert_of(const runner_event& e) noexcept {
  observe::alert a{};
  switch (e.kind) {
    case runner_event_kind::journal_error:
      a.kind = observe::alert_kind::journal_failed;
      a.error = make_error_code(errc::journal_failed);
      break;
    case runner_event_kind::run_paused: a.kind = observe::alert_kind::run_paused; break;
    case runner_event_kind::stuck: a.kind = observe::alert_kind::run_stuck; break;
    default: return std::nullopt;
  }
  a.workflow = e.workflow;
  a.run = e.run;
  a.message = e.message;
  return a;
}

/**
 * Retention (`runner_options::retention`): how long ended runs — succeeded, failed,
 * compensated, compensation_failed, resolved, dead_lettered — stay in the journal. The runner
 * purges them with the journal's `purge_ended` (memory, SQLite, PostgreSQL), from its loop,
 * between claims: `batch` runs per write transaction and at most `max_batches` transactions per
 * purge, so a backlog is worked off over several purges and the runs in flight keep writing in
 * between.
 */
struct retention_policy {
  /// Ended runs last written longer ago than this (by this host's wall clock) are purged. 0:
  /// never — retention off.
  std::chrono::milliseconds keep{0};
  /// How often the runner purges.
  std::chrono::milliseconds every{60'000};
  std::size_t batch = 500;       ///< runs per write transaction (at least 1)
  std::size_t max_batches = 10;  ///< transactions per purge (at least 1)
};

/// How a runner claims and keeps runs.
struct runner_options {
  /// The engine's stable name (see `durable_options::name`): a restarted runner of the same
  /// name recovers the runs its dead incarnation held at once. Empty: host name; runs of a dead
  /// runner are recovered when their lease expires.
  std::string name{};
  /// A claim holds this long without a write or a heartbeat.
  std::chrono::milliseconds lease{30'000};
  /// Heartbeats renew the leases of runs in flight this often (0: a third of the lease).
  std::chrono::milliseconds heartbeat{0};
  /// The runner looks for work this often when it has capacity and found none (a run ending
  /// wakes it at once).
  std::chrono::milliseconds poll{100};
  /// A run recovered (taken over from a dead owner) more than this many times is parked as
  /// `dead_lettered`, with its history, for an operator (`retry_run` puts it back).
  std::uint32_t max_recoveries = 5;
  /// A run whose lease expired this long ago without a takeover is reported `stuck` (0: twice
  /// the lease).
  std::chrono::milliseconds stuck_after{0};
  /// How often the running runs of the journal are checked for stuck ones (0: every round).
  std::chrono::milliseconds stuck_check_every{1000};
  /// On `stop()`: how long in-flight runs may go on; then they stop at their next step boundary
  /// and are handed back. Zero: hand back at once.
  std::chrono::milliseconds drain_timeout{30'000};
  /// The store's clock for the stuck check: the journal's lease clock (the wall clock for
  /// SQLite; a test's manual clock for a memory journal made with it).
  any_clock lease_clock{detail::default_wall_clock()};
  /// On a journal with `sweep()` (PostgreSQL): how often this runner returns runs whose leases
  /// expired, of any workflow, to the queue (fencing their zombie engines at once). Any replica
  /// may sweep; none leads. 0: never (claims still take expired runs over).
  std::chrono::milliseconds sweep_every{1000};
  /// Ended runs older than `retention.keep` are purged (off by default). A runner with
  /// retention on needs a journal with `purge_ended`: else the constructor throws
  /// `std::invalid_argument`.
  retention_policy retention{};
  /// How often the runner takes the journal's census (`journal.census()`: runs by status, the
  /// oldest running, queued and paused runs) for `census()`, its `tutti_journal_*` gauges and
  /// the `run_paused` events. 0: never. Journals without a census are not asked. A census costs
  /// SQLite a fraction of a millisecond and PostgreSQL a scan of its runs (a quarter of a second
  /// per million on a small machine), once per replica.
  std::chrono::milliseconds census_every{60'000};
};

/// What a runner has done so far (monotonic counters).
struct runner_stats {
  std::uint64_t claims = 0;        ///< queued runs claimed
  std::uint64_t takeovers = 0;     ///< runs claimed from a dead owner
  std::uint64_t resumptions = 0;   ///< runs nobody held claimed (handed back, unpaused, retried)
  std::uint64_t renewals = 0;      ///< leases renewed by heartbeats
  std::uint64_t fenced = 0;        ///< runs stopped because the store refused this runner
  std::uint64_t dead_letters = 0;  ///< runs parked
  std::uint64_t finished = 0;      ///< runs that ended or stopped
  std::uint64_t handed_back = 0;   ///< runs handed back while draining
  std::uint64_t stuck = 0;         ///< stuck runs reported
  std::uint64_t unregistered_versions = 0;  ///< runs of versions no longer hosted, parked
  std::uint64_t journal_errors = 0;
  std::uint64_t revalidated = 0;    ///< runs stopped by a journal failure, carried on after it
  std::uint64_t let_go = 0;         ///< such runs not carried on: released, taken over or
                                    ///< ended meanwhile, or failing again after max_recoveries
  std::uint64_t swept = 0;          ///< expired runs this runner returned to the queue
  std::uint64_t purged = 0;         ///< ended runs retention deleted
  std::uint64_t queue_wait_ms = 0;  ///< total time in the queue of the claimed runs
  std::uint64_t in_flight = 0;      ///< runs being run now
};

namespace detail {
/// The async layer's way into a runner (host_async): defined by <tutti/async.hpp>.
template <class Runner>
struct async_runner_access;
template <class Runner, class In>
concept async_runner_included = requires { async_runner_access<Runner>::available; } && !std::is_void_v<In>;
}  // namespace detail

/**
 * Hosts durable workflows in a service: `tutti::runner r{journal, pool, {.name = "pay-1"}};
 * r.host<order>(payment, 8); r.start();` — then requests submitted to the journal
 * (`durable.submit(order)`, from any process, even while no runner is up) are run, as are runs
 * whose engine died (a takeover once their lease expires) and runs an operator unpaused,
 * retried or re-drove; a run an operator pauses or resolves stops at its next step boundary.
 *
 * The pump thread claims work (`claim_next`, at most the free concurrency of each workflow),
 * hands each run to the executor, renews the leases of runs in flight (heartbeat), parks runs
 * recovered too often (dead letter) and reports runs stuck with an expired lease. `stop()`
 * stops claiming and drains: in-flight runs finish, or after `drain_timeout` stop at their next
 * step boundary and are handed back. The destructor stops. Runner events go to `on_event`.
 * Thread-safety: `host` before `start`; the rest from any thread.
 */
template <journal J, executor E>
class runner {
 public:
  runner(J& journal, E& executor, runner_options options = {})
      : journal_(&journal), executor_(&executor), options_(std::move(options)),
        owner_(detail::owner_name(options_.name)),
        reclaim_(options_.name.empty() ? std::string() : options_.name + "#") {
    if (options_.heartbeat.count() <= 0)
      options_.heartbeat = std::max(std::chrono::milliseconds(1), options_.lease / 3);
    if (options_.stuck_after.count() <= 0) options_.stuck_after = 2 * options_.lease;
    if (options_.poll.count() <= 0) options_.poll = std::chrono::milliseconds(1);
    if (options_.retention.keep.count() > 0) {
      if constexpr (!purges) {
        throw std::invalid_argument(
            "tutti::runner: runner_options::retention is on, but this journal has no "
            "purge_ended(before_unix_ms, batch, max_batches)");
      }
      options_.retention.batch = std::max<std::size_t>(options_.retention.batch, 1);
      options_.retention.max_batches = std::max<std::size_t>(options_.retention.max_batches, 1);
    }
  }
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;
  ~runner() { stop(); }

  /**
   * Hosts workflow `wf` (input type `In`): at most `max_concurrency` of its runs at once, each
   * run with `clock` and `observer` (which must outlive the runner; one observer serves
   * concurrent runs, so it must be thread-safe).
   *
   * Versions (`tutti::versioned`): host each version of a workflow that runs may still be on;
   * a claimed run goes to the version it started with. The versions of one workflow share one
   * concurrency limit (the largest given) and are hosted alike (all with host(), or all with
   * host_async()). The runner claims no run of a newer version than it hosts (a newer replica's),
   * and parks a run of an older version it does not host as dead-lettered, once
   * (`runner_event_kind::version_unregistered`): `tutti-journal move` puts it on a version
   * that can finish it. Hosting one version twice throws `std::invalid_argument`.
   */
  template <class In, class W, tutti::clock C, observer O>
  runner& host(const W& wf, std::size_t max_concurrency, C& clock, O& obs) {
    auto durable = std::make_shared<durable_workflow<W, J>>(
        wf, *journal_, durable_options{options_.name, options_.lease});
    typename hosted::version_fns fns;
    fns.run = [durable, &clock, &obs](const run_claim& c, const claim_control& control) -> run_end {
      return end_of(durable->template resume_claimed<In>(c, run_options{}, clock, obs, control));
    };
    add_hosted<W>(max_concurrency, std::move(fns));
    return *this;
  }
  template <class In, class W>
  runner& host(const W& wf, std::size_t max_concurrency = 1) {
    static null_observer none;
    return host<In>(wf, max_concurrency, detail::default_clock(), none);
  }

  /**
   * Hosts workflow `wf` for async runs (`#include <tutti/async.hpp>`; the runner's executor is
   * a `tutti::asio_executor`): each run is a coroutine on that executor (`async_resume_claimed`),
   * so thousands may be in flight on a few threads; `max_concurrency` bounds them as for host().
   * The executor's io_context must run until the runner has stopped. See docs/async.md.
   */
  template <class In, class W, tutti::clock C, observer O>
  runner& host_async(const W& wf, std::size_t max_concurrency, C& clock, O& obs) {
    if constexpr (detail::async_runner_included<runner, In>) {
      auto durable = std::make_shared<durable_workflow<W, J>>(
          wf, *journal_, durable_options{options_.name, options_.lease});
      typename hosted::version_fns fns;
      fns.start = detail::async_runner_access<runner>::template starter<In>(std::move(durable),
                                                                           *executor_, clock, obs);
      add_hosted<W>(max_concurrency, std::move(fns));
      return *this;
    } else {
      static_assert(detail::async_runner_included<runner, In>,
                    "tutti: host_async() needs the async layer: #include <tutti/async.hpp> (it "
                    "needs Asio: the tutti::async CMake target), or host the workflow with host().");
    }
  }
  template <class In, class W, tutti::clock C = steady_clock>
  runner& host_async(const W& wf, std::size_t max_concurrency = 1, C& clock = detail::default_clock()) {
    static null_observer none;
    return host_async<In>(wf, max_concurrency, clock, none);
  }

  /// Runner events (claims, takeovers, fences, dead letters, stuck runs...). Before `start`.
  /// Called from the pump thread and the executor's threads at once: `f` must be thread-safe.
  void on_event(std::function<void(const runner_event&)> f) { on_event_ = std::move(f); }

  /// Starts the pump thread.
  void start() {
    const std::lock_guard lock{mutex_};
    if (pump_.joinable() || stopping_) return;
    pump_ = std::thread([this] { pump(); });
  }

  /**
   * Stops claiming and drains: waits for the runs in flight; after `drain_timeout`, asks them
   * to stop at their next step boundary and hand their runs back, and waits for that. Returns
   * when no run of this runner is in flight. Idempotent.
   */
  void stop() {
    {
      std::unique_lock lock{mutex_};
      if (stopping_ && !pump_.joinable()) return;
      stopping_ = true;
      wake_.notify_all();
    }
    if (pump_.joinable()) pump_.join();
  }

  /**
   * One round of the pump, on the calling thread (for a host that runs its own loop, and for
   * tests), instead of `start()`: claims what the free capacity allows and hands it to the
   * executor, renews the leases of runs in flight when a heartbeat is due, checks for stuck
   * runs when that is due. Returns how many runs it claimed (0 once `start()` was called: the
   * pump does the rounds then).
   */
  std::size_t poll_once() {
    {
      const std::lock_guard lock{mutex_};
      if (pump_.joinable()) return 0;  // the pump does the rounds once started
    }
    return round();
  }

  /// Runs in flight now.
  [[nodiscard]] std::size_t in_flight() const {
    const std::lock_guard lock{mutex_};
    return flights_.size();
  }
  /// Waits until no run is in flight, or `timeout` passed; true if none is.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return idle_.wait_for(lock, timeout, [this] { return flights_.empty(); });
  }

  [[nodiscard]] runner_stats stats() const {
    runner_stats s;
    s.claims = claims_.load();
    s.takeovers = takeovers_.load();
    s.resumptions = resumptions_.load();
    s.renewals = renewals_.load();
    s.fenced = fenced_.load();
    s.dead_letters = dead_letters_.load();
    s.finished = finished_.load();
    s.handed_back = handed_back_.load();
    s.stuck = stuck_.load();
    s.unregistered_versions = unregistered_.load();
    s.journal_errors = journal_errors_.load();
    s.revalidated = revalidated_.load();
    s.let_go = let_go_.load();
    s.swept = swept_.load();
    s.purged = purged_.load();
    s.queue_wait_ms = queue_wait_ms_.load();
    s.in_flight = in_flight();
    return s;
  }

  /**
   * The runner's metrics in Prometheus text format (append to `out`): tutti_runner_* counters,
   * runs in flight, and the journal's queue depth when the journal tells it (`queue_depth()`).
   */
  void write_prometheus(std::string& out) const {
    const runner_stats s = stats();
    const auto counter = [&out](std::string_view name, std::string_view help, std::uint64_t v,
                                std::string_view type = "counter") {
      write_sample(out, name, help, type, std::to_string(v));
    };
    counter("tutti_runner_claims_total", "Queued runs claimed.", s.claims);
    counter("tutti_runner_takeovers_total", "Runs taken over from a dead owner.", s.takeovers);
    counter("tutti_runner_resumptions_total",
            "Runs nobody held claimed (handed back, unpaused, retried, re-driven).", s.resumptions);
    counter("tutti_runner_lease_renewals_total", "Leases renewed by heartbeats.", s.renewals);
    counter("tutti_runner_fenced_total", "Runs stopped because the store refused a write.",
            s.fenced);
    counter("tutti_runner_dead_letters_total", "Runs parked after too many recoveries.",
            s.dead_letters);
    counter("tutti_runner_finished_total", "Runs that ended or stopped.", s.finished);
    counter("tutti_runner_stuck_total", "Runs reported stuck with an expired lease.", s.stuck);
    counter("tutti_runner_unregistered_versions_total",
            "Runs of a workflow version this runner no longer hosts, parked as dead-lettered.",
            s.unregistered_versions);
    counter("tutti_runner_handed_back_total", "Runs handed back while draining.", s.handed_back);
    counter("tutti_runner_journal_errors_total", "Claims, renewals or runs the journal failed.",
            s.journal_errors);
    counter("tutti_runner_revalidated_total",
            "Runs stopped by a journal failure that carried on once their lease was re-validated.",
            s.revalidated);
    counter("tutti_runner_let_go_total",
            "Runs stopped by a journal failure not carried on: released, taken over or ended "
            "meanwhile, or failing again and again.",
            s.let_go);
    counter("tutti_runner_swept_total", "Runs with expired leases this runner returned to the queue.",
            s.swept);
    counter("tutti_runner_purged_total", "Ended runs retention deleted from the journal.",
            s.purged);
    counter("tutti_runner_queue_wait_milliseconds_total",
            "Total time claimed runs waited in the queue.", s.queue_wait_ms);
    counter("tutti_runner_in_flight", "Runs being run now.", s.in_flight, "gauge");
    if constexpr (requires { journal_->queue_depth(); }) {
      if (auto d = journal_->queue_depth())
        counter("tutti_runner_queue_depth", "Runs waiting in the queue.", d.value(), "gauge");
    }
    if (const auto c = census()) write_census(out, *c);
  }

  /**
   * The journal's census as Prometheus gauges (append to `out`): `tutti_journal_runs{status}`,
   * `tutti_journal_oldest_{running,queued,paused}_age_seconds` (0 when there is none) and
   * `tutti_journal_census_timestamp_seconds`. Every replica on one journal reports the same
   * numbers: aggregate them with `max`, not `sum`.
   */
  static void write_census(std::string& out, const run_census& c) {
    out += "# HELP tutti_journal_runs Runs in the journal, by status (the journal's census).\n"
           "# TYPE tutti_journal_runs gauge\n";
    for (std::uint8_t v = 1; v < c.runs.size(); ++v) {
      out += "tutti_journal_runs{status=\"";
      out += to_string(static_cast<run_status>(v));
      out += "\"} ";
      out += std::to_string(c.runs[v]);
      out += '\n';
    }
    const auto gauge = [&out](std::string_view name, std::string_view help, std::int64_t ms) {
      write_sample(out, name, help, "gauge", fmt::format("{:.3f}", static_cast<double>(ms) / 1000.0));
    };
    gauge("tutti_journal_oldest_running_age_seconds",
          "Time since the oldest running run started (0: none runs).",
          c.oldest_running_age().count());
    gauge("tutti_journal_oldest_queued_age_seconds",
          "Time the oldest queued run has waited (0: none waits).", c.oldest_queued_age().count());
    gauge("tutti_journal_oldest_paused_age_seconds",
          "Time since the oldest paused run started (0: none is paused).",
          c.oldest_paused_age().count());
    gauge("tutti_journal_census_timestamp_seconds",
          "When the census was taken (the journal's clock, Unix time).", c.now_unix_ms);
  }

  /// One Prometheus metric with one sample: its HELP and TYPE lines, then `name value`.
  static void write_sample(std::string& out, std::string_view name, std::string_view help,
                           std::string_view type, std::string_view value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += value;
    out += '\n';
  }

  /// The owner name this runner claims with ("name#incarnation").
  [[nodiscard]] const std::string& owner() const noexcept { return owner_; }

  /// The journal's last census (`runner_options::census_every`), if one was taken.
  [[nodiscard]] std::optional<run_census> census() const {
    const std::lock_guard lock{mutex_};
    return census_;
  }

 private:
  struct run_end {
    bool ran = false;
    bool stopped = false;
    std::error_code error;
    std::string message;
    std::string outcome;
  };
  template <class R>
  friend struct detail::async_runner_access;

  struct hosted {
    std::string name;
    std::size_t max = 1;
    std::size_t in_flight = 0;  // guarded by mutex_
    bool async = false;         // hosted with host_async
    struct version_fns {
      /// A sync run, on the executor's thread.
      std::function<run_end(const run_claim&, const claim_control&)> run;
      /// An async run (host_async): started, it calls `done` on its executor when it ends.
      std::function<void(const run_claim&, const claim_control&, std::function<void(run_end)> done)>
          start;
    };
    std::map<std::uint32_t, version_fns> versions;  // by version; fixed once started
    [[nodiscard]] std::uint32_t newest() const noexcept { return versions.rbegin()->first; }
    [[nodiscard]] const version_fns& of(const run_claim& c) const { return versions.at(c.version); }
    [[nodiscard]] std::string hosted_versions() const {
      std::string out;
      for (const auto& [v, f] : versions) out += (out.empty() ? "" : ", ") + std::to_string(v);
      return out;
    }
  };
  /// Adds version `version_of<W>` of workflow `W` (a new hosted workflow, or a version of one).
  template <class W>
  void add_hosted(std::size_t max_concurrency, typename hosted::version_fns fns) {
    const std::string name(W::name.view());
    constexpr std::uint32_t v = version_of<W>;
    const bool async = static_cast<bool>(fns.start);
    const std::size_t max = max_concurrency == 0 ? 1 : max_concurrency;
    for (auto& h : hosted_) {
      if (h->name != name) continue;
      if (h->versions.count(v) != 0)
        throw std::invalid_argument("tutti::runner: version " + std::to_string(v) +
                                    " of workflow \"" + name + "\" is hosted already");
      if (h->async != async)
        throw std::invalid_argument("tutti::runner: the versions of workflow \"" + name +
                                    "\" must all be hosted with host(), or all with host_async()");
      h->versions.emplace(v, std::move(fns));
      h->max = std::max(h->max, max);
      return;
    }
    auto h = std::make_unique<hosted>();
    h->name = name;
    h->max = max;
    h->async = async;
    h->versions.emplace(v, std::move(fns));
    hosted_.push_back(std::move(h));
  }
  /// What the runner keeps of a resumed run's outcome.
  template <class Out>
  static run_end end_of(const Out& out) {
    run_end e;
    e.error = out.error;
    e.message = out.message;
    if (out.run) {
      e.ran = true;
      e.stopped = out.run->error() == errc::paused;  // paused, or handed back
      e.outcome = std::string(to_string(out.run->outcome()));
    }
    return e;
  }
  /// What a run's hooks are given: the drain's hand-back flag, the heartbeat's renewals.
  claim_control control_for(const std::atomic<std::int64_t>* renewed) noexcept {
    claim_control control;
    control.hand_back = &hand_back_;
    control.renewed_ns = renewed;
    control.park_unrunnable = true;
    return control;
  }
  struct flight {
    std::uint64_t epoch = 0;
    hosted* host = nullptr;
    /// The steady clock (ns) at the last heartbeat renewal: the run's hooks read it.
    std::shared_ptr<std::atomic<std::int64_t>> renewed_ns;
  };
  static std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  [[nodiscard]] lease_request lease() const noexcept {
    return {owner_, options_.lease, reclaim_};
  }

  void emit(runner_event_kind k, std::string_view workflow, const run_id& id,
            std::uint64_t epoch, std::string_view message = {}, std::uint32_t recoveries = 0,
            std::chrono::milliseconds waited = {}) {
    if (!on_event_) return;
    runner_event e;
    e.kind = k;
    e.workflow = workflow;
    e.run = id;
    e.epoch = epoch;
    e.message = message;
    e.recoveries = recoveries;
    e.waited = waited;
    on_event_(e);
  }

  void pump() {
    std::unique_lock lock{mutex_};
    while (!stopping_) {
      lock.unlock();
      round();
      lock.lock();
      if (stopping_) break;
      wake_.wait_for(lock, options_.poll, [this] { return stopping_ || woken_; });
      woken_ = false;
    }
    // Draining: no more claims; heartbeats go on while runs finish, then they are handed back.
    const auto drain_end = std::chrono::steady_clock::now() + options_.drain_timeout;
    while (!flights_.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= drain_end) hand_back_.store(true);
      auto until = now + options_.heartbeat;
      if (!hand_back_.load() && drain_end < until) until = drain_end;
      idle_.wait_until(lock, until, [this] { return flights_.empty(); });
      if (flights_.empty()) break;
      lock.unlock();
      heartbeat(true);
      lock.lock();
    }
    // Runs a journal failure stopped: handed back if the journal takes it now (else their
    // leases expire).
    std::vector<orphan> left;
    left.swap(orphans_);
    restarts_.clear();
    lock.unlock();
    for (const orphan& o : left) (void)journal_->release(o.claim.id, o.claim.epoch);
    lock.lock();
  }

  std::size_t round() {
    std::size_t claimed = 0;
    bool accepting = false;
    {
      const std::lock_guard lock{mutex_};
      accepting = !stopping_;
    }
    if (accepting) {
      revalidate();
      sweep();
      for (auto& h : hosted_) {
        std::size_t free = 0;
        {
          const std::lock_guard lock{mutex_};
          free = h->max > h->in_flight ? h->max - h->in_flight : 0;
        }
        if (free == 0) continue;
        // A named runner recovers its dead incarnation's runs in its first round; later no
        // other incarnation of its name can hold any (the name is one live engine's).
        lease_request l = lease();
        if (reclaimed_) l.reclaim = {};
        l.max_version = h->newest();
        auto claims = journal_->claim_next(h->name, free, l);
        if (!claims) {
          ++journal_errors_;
          const std::string why = detail::journal_failure(*journal_, claims.error());
          emit(runner_event_kind::journal_error, h->name, run_id{}, 0, why);
          continue;
        }
        for (run_claim& c : claims.value()) {
          ++claimed;
          dispatch(*h, std::move(c));
        }
      }
    }
    reclaimed_ = true;
    heartbeat(false);
    // After the heartbeats: a purge delays the next renewal by its own length only.
    if (accepting) purge();
    check_stuck();
    take_census();
    return claimed;
  }

  /**
   * Runs that stopped because the journal failed (a lost connection, a full disk) are still
   * this runner's until their lease expires: once the journal answers again, each lease is
   * re-validated (a renewal with the run's epoch). Still ours: the run carries on from its
   * journal. Fenced or gone: another engine (or an operator) has it; let go. The journal still
   * failing: try again next round.
   */
  void revalidate() {
    std::vector<orphan> pending;
    {
      const std::lock_guard lock{mutex_};
      pending.swap(orphans_);
    }
    std::vector<orphan> keep;
    for (auto& o : pending) {
      auto r = journal_->renew(o.claim.id, o.claim.epoch);
      const auto let_go = [&] {
        ++let_go_;
        const std::lock_guard lock{mutex_};
        restarts_.erase({o.claim.id, o.claim.epoch});
      };
      if (!r) {
        if (r.error() == journal_errc::fenced || r.error() == journal_errc::run_not_found)
          let_go();  // released, taken over or ended meanwhile
        else
          keep.push_back(std::move(o));  // the journal still fails: next round
        continue;
      }
      // Still ours. A run whose journal failure keeps coming back is let go after
      // max_recoveries restarts: its lease expires and takeovers count towards dead-lettering.
      if (o.restarts >= options_.max_recoveries) {
        let_go();
        continue;
      }
      bool room = false;
      {
        const std::lock_guard lock{mutex_};
        room = o.host->in_flight < o.host->max;
        if (room) ++o.host->in_flight;
      }
      if (!room) {  // the lease is renewed: it waits for a free place (next round)
        keep.push_back(std::move(o));
        continue;
      }
      ++revalidated_;
      o.claim.lease_until_ms = r.value();
      o.claim.takeover = false;
      o.claim.from_queue = false;
      {
        const std::lock_guard lock{mutex_};
        restarts_[{o.claim.id, o.claim.epoch}] = o.restarts + 1;
      }
      start_flight(*o.host, std::move(o.claim));
    }
    if (keep.empty()) return;
    const std::lock_guard lock{mutex_};
    for (auto& k : keep) orphans_.push_back(std::move(k));
  }

  /// Returns expired runs to the queue, on journals that can (`sweep`), every `sweep_every`.
  void sweep() {
    if constexpr (requires(J& j) { j.sweep(std::size_t{1}, std::string_view{}); }) {
      if (options_.sweep_every.count() <= 0) return;
      const auto now = std::chrono::steady_clock::now();
      if (now < next_sweep_) return;
      next_sweep_ = now + options_.sweep_every;
      auto n = journal_->sweep(100, owner_);
      if (n) {
        swept_ += n.value();
      } else {
        ++journal_errors_;
        emit(runner_event_kind::journal_error, {}, run_id{}, 0,
             detail::journal_failure(*journal_, n.error()));
      }
    }
  }

  /// Whether the journal can purge ended runs (retention).
  static constexpr bool purges = requires(J& j) {
    { j.purge_ended(std::int64_t{}, std::size_t{}, std::size_t{}) } -> std::same_as<result<std::uint64_t>>;
  };

  /// Retention: purges ended runs older than `retention.keep`, every `retention.every`.
  void purge() {
    if constexpr (purges) {
      const retention_policy& r = options_.retention;
      if (r.keep.count() <= 0) return;
      const auto now = std::chrono::steady_clock::now();
      if (now < next_purge_) return;
      next_purge_ = now + r.every;
      const std::int64_t wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
      auto n = journal_->purge_ended(wall - r.keep.count(), r.batch, r.max_batches);
      if (!n) {
        ++journal_errors_;
        emit(runner_event_kind::journal_error, {}, run_id{}, 0,
             detail::journal_failure(*journal_, n.error()));
      } else if (n.value() > 0) {
        purged_ += n.value();
        emit(runner_event_kind::purged, {}, run_id{}, 0,
             std::to_string(n.value()) + " ended runs purged");
      }
    }
  }

  /// Parks claim `c` as dead-lettered with `why`, reported as `kind` and counted in `counter`
  /// (a journal error instead when the record cannot be written).
  void park(hosted& h, const run_claim& c, const std::string& why, runner_event_kind kind,
            std::atomic<std::uint64_t>& counter) {
    record_view r;
    r.kind = record_kind::dead_lettered;
    r.epoch = c.epoch;
    r.message = why;
    if (auto w = journal_->append(c.id, r); !w) {
      ++journal_errors_;
      emit(runner_event_kind::journal_error, h.name, c.id, c.epoch,
           detail::journal_failure(*journal_, w.error()));
      return;
    }
    ++counter;
    emit(kind, h.name, c.id, c.epoch, why, c.recoveries);
  }

  /// Counts and reports a claim; parks it if its version is not hosted (an older one: newer
  /// ones are not claimed) or if it was recovered too often. True: run it.
  bool admit(hosted& h, const run_claim& c) {
    if (c.from_queue) {
      ++claims_;
      queue_wait_ms_ += static_cast<std::uint64_t>(c.queued_ms > 0 ? c.queued_ms : 0);
      emit(runner_event_kind::claimed, h.name, c.id, c.epoch, {}, c.recoveries,
           std::chrono::milliseconds(c.queued_ms));
    } else if (c.takeover) {
      ++takeovers_;
      emit(runner_event_kind::took_over, h.name, c.id, c.epoch, {}, c.recoveries);
    } else {
      ++resumptions_;
      emit(runner_event_kind::resumed, h.name, c.id, c.epoch, {}, c.recoveries);
    }
    if (h.versions.count(c.version) == 0) {
      park(h, c,
           "version " + std::to_string(c.version) + " of workflow \"" + h.name +
               "\" is not registered in this service (it hosts version(s) " + h.hosted_versions() +
               "): parked; move it to a version that can finish it (tutti-journal move), or "
               "revive it where version " + std::to_string(c.version) + " runs",
           runner_event_kind::version_unregistered, unregistered_);
      return false;
    }
    if (c.recoveries <= options_.max_recoveries) return true;
    park(h, c,
         "taken over " + std::to_string(c.recoveries) +
             " time(s) without a step finishing in between (max_recoveries " +
             std::to_string(options_.max_recoveries) + "): parked",
         runner_event_kind::dead_lettered, dead_letters_);
    return false;
  }

  void dispatch(hosted& h, run_claim c) {
    if (!admit(h, c)) return;
    {
      const std::lock_guard lock{mutex_};
      ++h.in_flight;
    }
    start_flight(h, std::move(c));
  }

  /// Hands a run counted in `h.in_flight` to the executor.
  void start_flight(hosted& h, run_claim c) {
    auto renewed = std::make_shared<std::atomic<std::int64_t>>(steady_ns());
    {
      const std::lock_guard lock{mutex_};
      flights_[c.id] = flight{c.epoch, &h, renewed};
    }
    if (h.async) {
      launch(h, std::move(c), std::move(renewed));
      return;
    }
    executor_->submit([this, &h, c = std::move(c), renewed = std::move(renewed)]() mutable noexcept {
      run_chain(h, std::move(c), std::move(renewed));
    });
  }

  /// An async run of a chain (host_async): started on the executor; when it ends, the next run
  /// of the workflow, if any, is started from there.
  void launch(hosted& h, run_claim c, std::shared_ptr<std::atomic<std::int64_t>> renewed) noexcept {
    const claim_control control = control_for(renewed.get());
    auto ended = [this, &h, c, renewed](run_end end) mutable noexcept {
      const bool orphaned = settle(h, c, end);
      if (auto next = chain_next(h, c, orphaned, renewed)) launch(h, std::move(*next), std::move(renewed));
    };
    try {
      h.of(c).start(c, control, ended);
    } catch (...) {  // it did not start (no memory): ends here
      ended(thrown());
    }
  }

  /// Runs `c` on this executor thread, then, while the runner accepts work, claims the
  /// workflow's next run and runs it here too: a busy queue costs no handoff to the pump and
  /// back per run (the pump still claims for idle capacity).
  void run_chain(hosted& h, run_claim c, std::shared_ptr<std::atomic<std::int64_t>> renewed) noexcept {
    for (;;) {
      const bool orphaned = run_one(h, c, renewed.get());
      auto next = chain_next(h, c, orphaned, renewed);
      if (!next) return;
      c = std::move(*next);
    }
  }

  /// After run `c` of a chain: its flight ends; while the runner accepts work, the workflow's
  /// next run is claimed to run in the same place (returned), else the chain ends (nothing).
  std::optional<run_claim> chain_next(hosted& h, const run_claim& c, bool orphaned,
                                      const std::shared_ptr<std::atomic<std::int64_t>>& renewed) noexcept {
    std::optional<run_claim> next;
    try {
      bool accepting = false;
      {
        const std::lock_guard lock{mutex_};
        accepting = !stopping_;
      }
      if (accepting) {
        lease_request l = lease();
        l.reclaim = {};
        l.max_version = h.newest();
        auto claims = journal_->claim_next(h.name, 1, l);
        if (claims && !claims.value().empty()) next.emplace(std::move(claims.value().front()));
      }
      if (next && !admit(h, *next)) next.reset();
    } catch (...) {  // an allocation failure: the pump claims it later (the lease expires)
      next.reset();
    }
    const std::lock_guard lock{mutex_};
    // This flight's entry only: the same run may be in flight again by now, at a new epoch
    // (taken over by this runner after its lease lapsed).
    if (const auto it = flights_.find(c.id); it != flights_.end() && it->second.epoch == c.epoch)
      flights_.erase(it);
    if (!orphaned) restarts_.erase({c.id, c.epoch});
    if (orphaned && !stopping_) {
      // Still ours until its lease expires: re-validated once the journal answers again
      // (after the erase above, so that a revalidation's flight is not erased by it).
      try {
        const auto r = restarts_.find({c.id, c.epoch});
        orphans_.push_back(orphan{&h, c, r == restarts_.end() ? 0 : r->second});
      } catch (...) {  // no memory: the lease expires and a claim recovers the run
      }
    }
    if (next) {
      renewed->store(steady_ns(), std::memory_order_relaxed);
      flights_[next->id] = flight{next->epoch, &h, renewed};
      return next;
    }
    --h.in_flight;
    woken_ = true;
    wake_.notify_all();
    if (flights_.empty()) idle_.notify_all();
    return std::nullopt;
  }

  /// Runs `c`; true if a failure of the journal stopped it that may pass (the run is still
  /// this runner's: an orphan to re-validate).
  bool run_one(hosted& h, const run_claim& c, const std::atomic<std::int64_t>* renewed) noexcept {
    run_end end;
    try {
      end = h.of(c).run(c, control_for(renewed));
    } catch (...) {  // a journal's allocation failure, say
      end = thrown();
    }
    return settle(h, c, end);
  }

  /// A run that threw (inside a catch block): ended with journal_errc::io_error and what().
  static run_end thrown() noexcept {
    run_end end;
    end.error = make_error_code(journal_errc::io_error);
    try {
      throw;
    } catch (const std::exception& e) {
      try { end.message = e.what(); } catch (...) {}  // NOLINT(bugprone-empty-catch)
    } catch (...) {
      try { end.message = "an unknown exception"; } catch (...) {}  // NOLINT(bugprone-empty-catch)
    }
    return end;
  }

  /// A run ended: counted and reported; true if a failure of the journal stopped it that may
  /// pass (the run is still this runner's: an orphan to re-validate).
  bool settle(hosted& h, const run_claim& c, const run_end& end) noexcept {
    bool orphaned = false;
    if (end.error == journal_errc::fenced) {
      ++fenced_;
      emit(runner_event_kind::fenced, h.name, c.id, c.epoch, end.message);
    } else if (end.error == journal_errc::not_resumable) {
      // An operator's command landed between the claim and the load: nothing to do.
    } else if (end.error == journal_errc::fingerprint_mismatch ||
               end.error == journal_errc::serialization) {
      ++dead_letters_;
      emit(runner_event_kind::dead_lettered, h.name, c.id, c.epoch, end.message);
    } else if (end.error) {
      ++journal_errors_;
      emit(runner_event_kind::journal_error, h.name, c.id, c.epoch, end.message);
      // The store could not be reached or written (a lost connection, a full disk): that may
      // pass. Anything else (a damaged run, a value too big) would fail again: the lease
      // expires, and takeovers count towards dead-lettering.
      orphaned = end.error == journal_errc::io_error;
    } else if (end.stopped && hand_back_.load()) {
      ++handed_back_;
      emit(runner_event_kind::handed_back, h.name, c.id, c.epoch);
    }
    ++finished_;
    emit(runner_event_kind::finished, h.name, c.id, c.epoch, end.outcome);
    return orphaned;
  }

  void heartbeat(bool force) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<run_id, flight>> due;
    {
      const std::lock_guard lock{mutex_};
      if (!force && now < next_heartbeat_) return;
      next_heartbeat_ = now + options_.heartbeat;
      due.assign(flights_.begin(), flights_.end());
    }
    for (const auto& [id, f] : due) {
      const std::int64_t before = steady_ns();
      auto r = journal_->renew(id, f.epoch);
      if (r) {
        f.renewed_ns->store(before, std::memory_order_relaxed);
        ++renewals_;
        emit(runner_event_kind::lease_renewed, f.host->name, id, f.epoch);
      } else if (r.error() != journal_errc::fenced && r.error() != journal_errc::run_not_found) {
        ++journal_errors_;
        emit(runner_event_kind::journal_error, f.host->name, id, f.epoch,
             detail::journal_failure(*journal_, r.error()));
      }
      // fenced: the run ended meanwhile, or it was taken (its next write says so).
    }
  }

  void check_stuck() {
    const auto at = std::chrono::steady_clock::now();
    if (at < next_stuck_check_) return;
    next_stuck_check_ = at + options_.stuck_check_every;
    run_filter filter;
    filter.status = run_status::running;
    auto runs = journal_->list(filter);
    if (!runs) return;
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease_clock.now()).count();
    for (const run_summary& s : runs.value()) {
      // Held: stuck once its lease expired stuck_after ago. Unowned (handed back, or returned
      // by a sweep): stuck once nothing was written to it for stuck_after (no engine claims it:
      // none hosts its workflow, say).
      const std::int64_t since = s.owner.empty() ? s.updated_unix_ms : s.lease_until_ms;
      if (since <= 0 || since + options_.stuck_after.count() > now) continue;
      if (!reported_stuck_.insert({s.id, s.epoch}).second) continue;
      ++stuck_;
      const std::string why =
          s.owner.empty()
              ? "unowned for " + std::to_string(now - since) + " ms: no engine claimed the run"
              : "lease of '" + s.owner + "' expired " + std::to_string(now - since) +
                    " ms ago and no engine took the run over";
      emit(runner_event_kind::stuck, s.workflow, s.id, s.epoch, why);
    }
  }

  /// Whether the journal counts its runs (`census()`).
  static constexpr bool counts = requires(const J& j) {
    { j.census() } -> std::same_as<result<run_census>>;
  };

  /// Every `census_every`: the journal's census, kept for `census()` and the gauges; each
  /// paused run it finds is reported once per pause (`run_paused`).
  void take_census() {
    if constexpr (counts) {
      if (options_.census_every.count() <= 0) return;
      const auto at = std::chrono::steady_clock::now();
      if (at < next_census_) return;
      next_census_ = at + options_.census_every;
      auto c = journal_->census();
      if (!c) {
        ++journal_errors_;
        emit(runner_event_kind::journal_error, {}, run_id{}, 0,
             detail::journal_failure(*journal_, c.error()));
        return;
      }
      {
        const std::lock_guard lock{mutex_};
        census_ = c.value();
      }
      if (c.value().count(run_status::paused) == 0) {
        reported_paused_.clear();
        return;
      }
      run_filter filter;
      filter.status = run_status::paused;
      auto paused = journal_->list(filter);
      if (!paused) {
        ++journal_errors_;
        emit(runner_event_kind::journal_error, {}, run_id{}, 0,
             detail::journal_failure(*journal_, paused.error()));
        return;
      }
      // Each paused run once, while it stays paused: a census that finds it no longer paused
      // forgets it, so a run unpaused and paused again is reported again. (The engine that held
      // it may write after the pause — the step in progress, the hand-back — so the time of the
      // last write does not tell one pause from another.)
      std::set<run_id> now_paused;
      for (const run_summary& s : paused.value()) {
        now_paused.insert(s.id);
        if (reported_paused_.count(s.id) != 0) continue;
        const std::int64_t age = c.value().now_unix_ms - s.started_unix_ms;
        emit(runner_event_kind::run_paused, s.workflow, s.id, s.epoch,
             "paused (started " + std::to_string(age > 0 ? age / 1000 : 0) +
                 " s ago); it waits for an operator's unpause or resolve");
      }
      reported_paused_.swap(now_paused);
    }
  }

  J* journal_;
  E* executor_;
  runner_options options_;
  std::string owner_;
  std::string reclaim_;
  std::vector<std::unique_ptr<hosted>> hosted_;
  std::function<void(const runner_event&)> on_event_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool stopping_ = false;
  bool woken_ = false;
  std::map<run_id, flight> flights_;
  std::chrono::steady_clock::time_point next_heartbeat_{};
  std::thread pump_;
  std::atomic<bool> hand_back_{false};
  std::chrono::steady_clock::time_point next_stuck_check_{};
  bool reclaimed_ = false;  // the pump's (or poll_once's) thread only
  struct orphan {
    hosted* host = nullptr;
    run_claim claim;
    std::uint32_t restarts = 0;  // times re-validated and restarted at this epoch
  };
  std::vector<orphan> orphans_;  // stopped by a journal failure that may pass (guarded by mutex_)
  std::map<std::pair<run_id, std::uint64_t>, std::uint32_t> restarts_;  // guarded by mutex_
  std::chrono::steady_clock::time_point next_sweep_{};   // the pump's thread only
  std::chrono::steady_clock::time_point next_purge_{};   // the pump's thread only
  std::chrono::steady_clock::time_point next_census_{};  // the pump's thread only
  std::set<run_id> reported_paused_;                     // the pump's thread only
  std::optional<run_census> census_;                     // guarded by mutex_
  std::set<std::pair<run_id, std::uint64_t>> reported_stuck_;

  std::atomic<std::uint64_t> claims_{0}, takeovers_{0}, resumptions_{0}, renewals_{0}, fenced_{0},
      dead_letters_{0}, finished_{0}, handed_back_{0}, stuck_{0}, unregistered_{0}, journal_errors_{0},
      revalidated_{0}, let_go_{0}, swept_{0}, purged_{0}, queue_wait_ms_{0};
};

template <class J, class E>
runner(J&, E&, runner_options) -> runner<J, E>;
template <class J, class E>
runner(J&, E&) -> runner<J, E>;

TUTTI_END_NAMESPACE

#endif  // TUTTI_RUNNER_HPP
