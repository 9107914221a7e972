// tutti — the metrics registry: per-step counters and latency histograms, per-breaker state,
// written in the Prometheus text exposition format.
#ifndef TUTTI_OBSERVE_METRICS_HPP
#define TUTTI_OBSERVE_METRICS_HPP

#include <fmt/format.h>  // numbers of the exposition text

#include <algorithm>    // sorted series, bucket search
#include <array>        // counter tables, hash buckets
#include <atomic>       // counters; series published to lock-free readers
#include <concepts>     // watchable breakers
#include <cstddef>      // std::size_t
#include <cstdint>      // counters
#include <functional>   // breaker sources (read at export time only), std::identity
#include <initializer_list>  // label lists
#include <iterator>     // std::back_inserter
#include <limits>       // +Inf
#include <memory>       // series storage
#include <mutex>        // series creation and export (never the path of an existing series)
#include <optional>     // snapshots of series that may not exist
#include <stdexcept>    // std::invalid_argument for bad bucket bounds
#include <string>       // names, the exposition text
#include <string_view>  // names
#include <type_traits>  // breaker key names
#include <utility>      // std::move, std::pair
#include <vector>       // bucket bounds, series lists

#include "../clock.hpp"
#include "../config.hpp"
#include "../events.hpp"
#include "../policy/circuit_breaker.hpp"  // breaker_metrics, breaker_registry

TUTTI_BEGIN_NAMESPACE
namespace observe {

/// Prometheus' default bucket bounds: 5 ms, 10 ms, 25 ms, 50 ms, 100 ms, 250 ms, 500 ms, 1 s,
/// 2.5 s, 5 s, 10 s.
[[nodiscard]] inline std::vector<duration> default_duration_buckets() {
  using std::chrono::milliseconds;
  return {milliseconds{5},   milliseconds{10},   milliseconds{25},   milliseconds{50},
          milliseconds{100}, milliseconds{250},  milliseconds{500},  milliseconds{1000},
          milliseconds{2500}, milliseconds{5000}, milliseconds{10000}};
}

/// Settings of a metrics registry.
struct metrics_options {
  /// Upper bounds of the step latency buckets, strictly increasing (the `+Inf` bucket is added).
  std::vector<duration> step_buckets = default_duration_buckets();
  /// Upper bounds of the run latency buckets.
  std::vector<duration> run_buckets = default_duration_buckets();
};

/// A histogram, read: `counts[i]` observations were at most `bounds[i]` (cumulative, as
/// Prometheus has it); the last count, of the `+Inf` bucket, equals `count`.
struct histogram_snapshot {
  std::vector<duration> bounds;
  std::vector<std::uint64_t> counts;  ///< bounds.size() + 1 cumulative counts
  std::uint64_t count = 0;
  duration sum{};
};

/// One step's counters, read (each counter on its own: exact when no run is in progress).
struct step_stats {
  std::uint64_t started = 0;                  ///< step_started
  std::uint64_t succeeded = 0;                ///< step_succeeded
  std::uint64_t failed = 0;                   ///< step_failed
  std::uint64_t skipped = 0;                  ///< step_skipped (a conditional step not run)
  std::uint64_t attempts = 0;                 ///< calls of the step (attempt_started)
  std::uint64_t attempt_failures = 0;         ///< attempt_failed
  std::uint64_t retries = 0;                  ///< retry_scheduled
  std::uint64_t retries_exhausted = 0;        ///< retries_exhausted
  std::uint64_t fallbacks = 0;                ///< fallback_served
  std::uint64_t timeouts = 0;                 ///< timeout
  std::uint64_t breaker_rejections = 0;       ///< breaker_rejected
  std::uint64_t bulkhead_rejections = 0;      ///< bulkhead_rejected
  std::uint64_t rate_limited = 0;             ///< rate_limited
  std::uint64_t compensation_attempts = 0;    ///< calls of the compensation
  std::uint64_t compensations_succeeded = 0;  ///< compensation_succeeded
  std::uint64_t compensations_failed = 0;     ///< compensation_failed
  /// breaker_state_changed seen on this step, by from * 6 + to (`breaker_state` values).
  std::array<std::uint64_t, 36> breaker_transitions{};
  /// elapsed of step_succeeded and step_failed (a skipped step did not run: not observed)
  histogram_snapshot duration;

  [[nodiscard]] std::uint64_t transitions(breaker_state from, breaker_state to) const noexcept {
    return breaker_transitions[static_cast<std::size_t>(from) * 6 + static_cast<std::size_t>(to)];
  }
};

/// One workflow's run counters, read.
struct run_stats {
  std::uint64_t started = 0;              ///< run_started
  std::uint64_t succeeded = 0;            ///< run_finished, by outcome
  std::uint64_t failed = 0;
  std::uint64_t compensated = 0;
  std::uint64_t compensation_failed = 0;
  histogram_snapshot duration;  ///< elapsed of run_finished

  [[nodiscard]] std::uint64_t finished() const noexcept {
    return succeeded + failed + compensated + compensation_failed;
  }
};

/// What `watch_breaker` accepts: anything with `metrics()` returning `tutti::breaker_metrics`.
template <class B>
concept watchable_breaker = requires(const B& b) {
  { b.metrics() } -> std::same_as<breaker_metrics>;
};

namespace detail {
// Counters of a series, by index. Step series use the step_* ones, workflow series the run_*.
enum counter_index : unsigned {
  step_started_i, step_succeeded_i, step_failed_i, attempts_i, attempt_failures_i, retries_i,
  retries_exhausted_i, fallbacks_i, timeouts_i, breaker_rejected_i, bulkhead_rejected_i,
  rate_limited_i, compensation_attempts_i, compensations_succeeded_i, compensations_failed_i,
  step_skipped_i, run_succeeded_i, run_failed_i, run_compensated_i, run_compensation_failed_i,
  counter_count
};
inline constexpr std::size_t breaker_state_count = 6;

/// One (workflow, step) series; a workflow's run series has an empty step. Created once, never
/// moved or removed: event paths hold plain pointers to it.
struct series {
  series(std::string_view wf, std::string_view st, std::uint64_t h, std::size_t buckets)
      : workflow(wf), step(st), hash(h), histogram(new std::atomic<std::uint64_t>[buckets + 1]) {
    for (std::size_t i = 0; i <= buckets; ++i) histogram[i].store(0, std::memory_order_relaxed);
  }
  const std::string workflow;
  const std::string step;
  const std::uint64_t hash;
  series* next = nullptr;  // in its hash bucket; written before the series is published
  std::array<std::atomic<std::uint64_t>, counter_count> counters{};
  std::array<std::atomic<std::uint64_t>, breaker_state_count * breaker_state_count> transitions{};
  // Non-cumulative bucket counts (the last is +Inf); the count is their sum, so that `+Inf`
  // always equals `_count` in an export even while runs are adding to it.
  std::unique_ptr<std::atomic<std::uint64_t>[]> histogram;
  std::atomic<std::uint64_t> sum_ns{0};

  void add(counter_index i) noexcept { counters[i].fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t get(counter_index i) const noexcept {
    return counters[i].load(std::memory_order_relaxed);
  }
};

constexpr std::uint64_t fnv1a(std::uint64_t h, std::string_view s) noexcept {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}
constexpr std::uint64_t series_hash(std::string_view workflow, std::string_view step) noexcept {
  std::uint64_t h = fnv1a(0xcbf29ce484222325ULL, workflow);
  h = (h ^ 0xFFu) * 0x100000001b3ULL;  // a byte no name ends with: ("ab","c") != ("a","bc")
  return fnv1a(h, step);
}

/// Appends a label value escaped as the text format wants it: \ " and newline.
inline void append_label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}
/// HELP text escapes only \ and newline.
inline void append_help(std::string& out, std::string_view v) {
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}
inline void append_number(std::string& out, std::uint64_t v) { fmt::format_to(std::back_inserter(out), "{}", v); }
inline void append_number(std::string& out, double v) {
  if (v == std::numeric_limits<double>::infinity()) out += "+Inf";
  else fmt::format_to(std::back_inserter(out), "{}", v);  // shortest text that reads back exactly
}
inline double seconds(duration d) noexcept { return static_cast<double>(d.count()) / 1e9; }

using label = std::pair<std::string_view, std::string_view>;

/// Writes families and samples of the text exposition format 0.0.4.
class exposition {
 public:
  explicit exposition(std::string& out) noexcept : out_(out) {}
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_help(out_, help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  template <class V>
  void sample(std::string_view name, std::string_view suffix, std::initializer_list<label> labels,
              V value, const label* extra = nullptr) {
    out_ += name;
    out_ += suffix;
    char sep = '{';
    const auto put = [&](const label& l) {
      out_ += sep;
      sep = ',';
      out_ += l.first;
      out_ += "=\"";
      append_label_value(out_, l.second);
      out_ += '"';
    };
    for (const label& l : labels) put(l);
    if (extra != nullptr) put(*extra);
    if (sep == ',') out_ += '}';
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
  }

 private:
  std::string& out_;
};
}  // namespace detail

/**
 * An observer that counts what runs do, per (workflow, step): calls by result, skipped
 * conditional steps (`tutti::when` whose condition was false), attempts, retries, fallbacks,
 * timeouts, rejections, compensations; runs by outcome per workflow; step and run latency
 * histograms (from `elapsed` of step_succeeded / step_failed / run_finished — it asks for time);
 * and the state of the breakers you `watch_breaker`. `write_prometheus` renders it all
 * in the Prometheus text format (0.0.4):
 *
 *     tutti::observe::metrics_registry metrics;
 *     metrics.watch_breaker("bank", bank_breaker);
 *     wf.run(input, {}, clock, metrics);                // from any number of threads
 *     std::string text = metrics.to_prometheus();       // serve it on /metrics
 *
 * **Thread-safety and cost.** One registry may observe any number of concurrent runs. Each
 * (workflow, step) has a series created on its first event (under a mutex, one allocation) and
 * never removed; after that an event costs a hash of the two names, a lock-free look-up in a
 * fixed table of 256 buckets (acquire loads and a string compare), and one to three relaxed
 * atomic increments on the series — no lock and no allocation. Events the registry does not
 * count (attempt_succeeded, compensation_started) return before the look-up. Threads running the
 * same step increment the same counters (shared cache lines). The registry keeps no state per
 * run, so the events of one run arriving from several threads at once (the branches of a
 * parallel group on a `thread_pool`) are counted exactly as those of concurrent runs are.
 * Export takes the mutex (series creation waits for it, counting does not) and reads each
 * counter on its own: a scrape during runs may see a step's `succeeded` before its histogram; a
 * histogram's `+Inf` bucket always equals its `_count`.
 *
 * **Lifetime.** Not copyable or movable (runs hold a reference). A watched breaker must outlive
 * the registry or be unwatched first.
 */
class metrics_registry {
 public:
  static constexpr bool wants_time = true;

  /// Throws `std::invalid_argument` when bucket bounds are not positive and strictly increasing.
  explicit metrics_registry(metrics_options opts = {})
      : step_bounds_(std::move(opts.step_buckets)), run_bounds_(std::move(opts.run_buckets)) {
    check_bounds(step_bounds_);
    check_bounds(run_bounds_);
  }
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;
  ~metrics_registry() = default;

  void on_event(const event& e) noexcept {
    switch (e.kind) {
      case event_kind::attempt_succeeded:
      case event_kind::compensation_started: return;  // nothing counted: no look-up
      case event_kind::run_started:
      case event_kind::run_finished: {
        detail::series* s = find(e.workflow, {});
        if (s == nullptr) return;
        if (e.kind == event_kind::run_started) {
          s->add(detail::step_started_i);
          return;
        }
        s->add(e.outcome == run_outcome::succeeded     ? detail::run_succeeded_i
               : e.outcome == run_outcome::failed      ? detail::run_failed_i
               : e.outcome == run_outcome::compensated ? detail::run_compensated_i
                                                       : detail::run_compensation_failed_i);
        observe(*s, run_bounds_, e.elapsed);
        return;
      }
      default: break;
    }
    // A step event names its step; without one it would land on the workflow's run series,
    // whose histogram has the run buckets.
    if (e.step.empty()) return;
    detail::series* s = find(e.workflow, e.step);
    if (s == nullptr) return;
    switch (e.kind) {
      case event_kind::step_started: s->add(detail::step_started_i); break;
      case event_kind::step_succeeded:
        s->add(detail::step_succeeded_i);
        observe(*s, step_bounds_, e.elapsed);
        break;
      case event_kind::step_failed:
        s->add(detail::step_failed_i);
        observe(*s, step_bounds_, e.elapsed);
        break;
      case event_kind::step_skipped: s->add(detail::step_skipped_i); break;  // no latency: not run
      case event_kind::attempt_started:
        s->add(e.compensation ? detail::compensation_attempts_i : detail::attempts_i);
        break;
      case event_kind::attempt_failed:
        if (!e.compensation) s->add(detail::attempt_failures_i);
        break;
      case event_kind::retry_scheduled:
        if (!e.compensation) s->add(detail::retries_i);
        break;
      case event_kind::retries_exhausted:
        if (!e.compensation) s->add(detail::retries_exhausted_i);
        break;
      case event_kind::fallback_served: s->add(detail::fallbacks_i); break;
      case event_kind::timeout: s->add(detail::timeouts_i); break;
      case event_kind::breaker_rejected: s->add(detail::breaker_rejected_i); break;
      case event_kind::bulkhead_rejected: s->add(detail::bulkhead_rejected_i); break;
      case event_kind::rate_limited: s->add(detail::rate_limited_i); break;
      case event_kind::breaker_state_changed: {
        const auto from = static_cast<std::size_t>(e.from);
        const auto to = static_cast<std::size_t>(e.to);
        if (from < detail::breaker_state_count && to < detail::breaker_state_count)
          s->transitions[from * detail::breaker_state_count + to].fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case event_kind::compensation_succeeded: s->add(detail::compensations_succeeded_i); break;
      case event_kind::compensation_failed: s->add(detail::compensations_failed_i); break;
      default: break;
    }
  }

  /**
   * Exports `b`'s state and counters (`b.metrics()`, read at each export) as the breaker
   * `name`. Watching a name again replaces the breaker. `b` must outlive the registry, or be
   * unwatched first.
   */
  template <watchable_breaker B>
  void watch_breaker(std::string_view name, const B& b) {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::string key{name};
    std::erase_if(breakers_, [&](const breaker_source& s) { return s.name == key; });
    breakers_.push_back({std::move(key), [&b](const breaker_visitor& visit) {
                           visit(std::string_view{}, b.metrics());
                         }});
  }

  /**
   * Exports every breaker of `registry`, present and future, as the breaker
   * `prefix + name_of(key)` (default `name_of`: the key itself, for string-like keys).
   * The registry must outlive this one, or be unwatched (`unwatch_breaker(prefix)`) first.
   */
  template <class Key, std::size_t N, class C, class H, class E, class NameOf = std::identity>
    requires std::is_convertible_v<std::invoke_result_t<const NameOf&, const Key&>, std::string_view>
  void watch_breakers(std::string_view prefix, breaker_registry<Key, N, C, H, E>& registry,
                      NameOf name_of = {}) {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::string key{prefix};
    std::erase_if(breakers_, [&](const breaker_source& s) { return s.name == key; });
    breakers_.push_back(
        {std::move(key), [&registry, name_of](const breaker_visitor& visit) {
           registry.for_each([&](const Key& k, const auto& b) {
             visit(std::string_view{name_of(k)}, b.metrics());
           });
         }});
  }

  /// Stops exporting the breaker (or breaker registry) watched under `name`.
  void unwatch_breaker(std::string_view name) {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(breakers_, [&](const breaker_source& s) { return s.name == name; });
  }

  /// The counters of one step (its path, "outer/inner" inside nested workflows), if it had events.
  [[nodiscard]] std::optional<step_stats> step_stats_of(std::string_view workflow,
                                                        std::string_view step) const {
    if (step.empty()) return std::nullopt;
    const detail::series* s = lookup(workflow, step);
    if (s == nullptr) return std::nullopt;
    step_stats out;
    out.started = s->get(detail::step_started_i);
    out.succeeded = s->get(detail::step_succeeded_i);
    out.failed = s->get(detail::step_failed_i);
    out.skipped = s->get(detail::step_skipped_i);
    out.attempts = s->get(detail::attempts_i);
    out.attempt_failures = s->get(detail::attempt_failures_i);
    out.retries = s->get(detail::retries_i);
    out.retries_exhausted = s->get(detail::retries_exhausted_i);
    out.fallbacks = s->get(detail::fallbacks_i);
    out.timeouts = s->get(detail::timeouts_i);
    out.breaker_rejections = s->get(detail::breaker_rejected_i);
    out.bulkhead_rejections = s->get(detail::bulkhead_rejected_i);
    out.rate_limited = s->get(detail::rate_limited_i);
    out.compensation_attempts = s->get(detail::compensation_attempts_i);
    out.compensations_succeeded = s->get(detail::compensations_succeeded_i);
    out.compensations_failed = s->get(detail::compensations_failed_i);
    for (std::size_t i = 0; i < out.breaker_transitions.size(); ++i)
      out.breaker_transitions[i] = s->transitions[i].load(std::memory_order_relaxed);
    out.duration = read_histogram(*s, step_bounds_);
    return out;
  }

  /// The run counters of one workflow, if it had runs.
  [[nodiscard]] std::optional<run_stats> run_stats_of(std::string_view workflow) const {
    const detail::series* s = lookup(workflow, {});
    if (s == nullptr) return std::nullopt;
    run_stats out;
    out.started = s->get(detail::step_started_i);
    out.succeeded = s->get(detail::run_succeeded_i);
    out.failed = s->get(detail::run_failed_i);
    out.compensated = s->get(detail::run_compensated_i);
    out.compensation_failed = s->get(detail::run_compensation_failed_i);
    out.duration = read_histogram(*s, run_bounds_);
    return out;
  }

  /// Number of series (one per workflow that ran, one per step that had events).
  [[nodiscard]] std::size_t series_count() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return all_.size();
  }

  /// Events not counted because a new series could not be allocated.
  [[nodiscard]] std::uint64_t dropped_events() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }

  /// Appends everything in the Prometheus text exposition format 0.0.4 to `out`.
  void write_prometheus(std::string& out) const;

  /// Everything in the Prometheus text exposition format 0.0.4
  /// (serve it with `Content-Type: text/plain; version=0.0.4; charset=utf-8`).
  [[nodiscard]] std::string to_prometheus() const {
    std::string out;
    write_prometheus(out);
    return out;
  }

 private:
  using breaker_visitor = std::function<void(std::string_view, const breaker_metrics&)>;
  struct breaker_source {
    std::string name;
    std::function<void(const breaker_visitor&)> visit;
  };
  static constexpr std::size_t bucket_count = 256;

  static void check_bounds(const std::vector<duration>& b) {
    for (std::size_t i = 0; i < b.size(); ++i)
      if (b[i].count() <= 0 || (i > 0 && b[i] <= b[i - 1]))
        throw std::invalid_argument(
            "tutti: histogram bucket bounds must be positive and strictly increasing");
  }

  static void observe(detail::series& s, const std::vector<duration>& bounds, duration d) noexcept {
    if (d.count() < 0) d = duration::zero();
    // First bound >= d: Prometheus buckets are "less than or equal".
    const auto i = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), d) - bounds.begin());
    s.histogram[i].fetch_add(1, std::memory_order_relaxed);
    s.sum_ns.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  }

  static histogram_snapshot read_histogram(const detail::series& s, const std::vector<duration>& bounds) {
    histogram_snapshot h;
    h.bounds = bounds;
    h.counts.resize(bounds.size() + 1);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
      total += s.histogram[i].load(std::memory_order_relaxed);
      h.counts[i] = total;
    }
    h.count = total;
    h.sum = duration{static_cast<duration::rep>(s.sum_ns.load(std::memory_order_relaxed))};
    return h;
  }

  [[nodiscard]] const detail::series* lookup(std::string_view workflow, std::string_view step) const noexcept {
    const std::uint64_t h = detail::series_hash(workflow, step);
    for (const detail::series* s = buckets_[h % bucket_count].load(std::memory_order_acquire); s != nullptr;
         s = s->next)
      if (s->hash == h && s->step == step && s->workflow == workflow) return s;
    return nullptr;
  }

  detail::series* find(std::string_view workflow, std::string_view step) noexcept {
    const std::uint64_t h = detail::series_hash(workflow, step);
    auto& head = buckets_[h % bucket_count];
    for (detail::series* s = head.load(std::memory_order_acquire); s != nullptr; s = s->next)
      if (s->hash == h && s->step == step && s->workflow == workflow) return s;
    return create(head, h, workflow, step);
  }

  TUTTI_NOINLINE detail::series* create(std::atomic<detail::series*>& head, std::uint64_t h,
                                        std::string_view workflow, std::string_view step) noexcept {
    try {
      const std::lock_guard<std::mutex> lock(mutex_);
      detail::series* first = head.load(std::memory_order_relaxed);
      for (detail::series* s = first; s != nullptr; s = s->next)  // created meanwhile?
        if (s->hash == h && s->step == step && s->workflow == workflow) return s;
      auto s = std::make_unique<detail::series>(workflow, step, h,
                                                step.empty() ? run_bounds_.size() : step_bounds_.size());
      s->next = first;
      detail::series* p = s.get();
      all_.push_back(std::move(s));  // may throw: before anything is published
      head.store(p, std::memory_order_release);
      return p;
    } catch (...) {  // out of memory: count the event as dropped rather than fail the run
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
  }

  std::vector<duration> step_bounds_;
  std::vector<duration> run_bounds_;
  std::array<std::atomic<detail::series*>, bucket_count> buckets_{};
  mutable std::mutex mutex_;  // guards all_ (creation, export) and breakers_
  std::vector<std::unique_ptr<detail::series>> all_;
  std::vector<breaker_source> breakers_;
  std::atomic<std::uint64_t> dropped_{0};
};

inline void metrics_registry::write_prometheus(std::string& out) const {
  using detail::label;
  detail::exposition x(out);
  std::vector<const detail::series*> runs;
  std::vector<const detail::series*> steps;
  std::vector<std::pair<std::string, breaker_metrics>> breakers;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& s : all_) (s->step.empty() ? runs : steps).push_back(s.get());
    for (const auto& src : breakers_)
      src.visit([&](std::string_view suffix, const breaker_metrics& m) {
        std::string name = src.name;
        name += suffix;
        breakers.emplace_back(std::move(name), m);
      });
  }
  // Series are never removed, so the pointers stay valid after the lock is released.
  const auto by_name = [](const detail::series* a, const detail::series* b) {
    return a->workflow != b->workflow ? a->workflow < b->workflow : a->step < b->step;
  };
  std::sort(runs.begin(), runs.end(), by_name);
  std::sort(steps.begin(), steps.end(), by_name);
  std::sort(breakers.begin(), breakers.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  const auto histogram = [&](std::string_view name, const std::vector<const detail::series*>& list,
                             const std::vector<duration>& bounds, bool with_step) {
    for (const detail::series* s : list) {
      const histogram_snapshot h = read_histogram(*s, bounds);
      const label wf{"workflow", s->workflow};
      const label st{"step", s->step};
      std::string le;
      for (std::size_t i = 0; i <= bounds.size(); ++i) {
        le.clear();
        detail::append_number(le, i < bounds.size() ? detail::seconds(bounds[i])
                                                    : std::numeric_limits<double>::infinity());
        const label l{"le", le};
        if (with_step) x.sample(name, "_bucket", {wf, st}, h.counts[i], &l);
        else x.sample(name, "_bucket", {wf}, h.counts[i], &l);
      }
      if (with_step) {
        x.sample(name, "_sum", {wf, st}, detail::seconds(h.sum));
        x.sample(name, "_count", {wf, st}, h.count);
      } else {
        x.sample(name, "_sum", {wf}, detail::seconds(h.sum));
        x.sample(name, "_count", {wf}, h.count);
      }
    }
  };

  if (!runs.empty()) {
    x.family("tutti_runs_started_total", "counter", "Runs started, by workflow.");
    for (const auto* s : runs) x.sample("tutti_runs_started_total", "", {{"workflow", s->workflow}}, s->get(detail::step_started_i));
    x.family("tutti_runs_total", "counter", "Runs finished, by workflow and outcome.");
    static constexpr std::array<std::pair<std::string_view, detail::counter_index>, 4> outcomes{{
        {"succeeded", detail::run_succeeded_i},
        {"failed", detail::run_failed_i},
        {"compensated", detail::run_compensated_i},
        {"compensation_failed", detail::run_compensation_failed_i},
    }};
    for (const auto* s : runs)
      for (const auto& [text, i] : outcomes)
        x.sample("tutti_runs_total", "", {{"workflow", s->workflow}, {"outcome", text}}, s->get(i));
    x.family("tutti_run_duration_seconds", "histogram", "Time from the start to the end of a run.");
    histogram("tutti_run_duration_seconds", runs, run_bounds_, false);
  }

  if (!steps.empty()) {
    const auto simple = [&](std::string_view name, std::string_view help, detail::counter_index i) {
      x.family(name, "counter", help);
      for (const auto* s : steps)
        x.sample(name, "", {{"workflow", s->workflow}, {"step", s->step}}, s->get(i));
    };
    const auto labelled = [&](std::string_view name, std::string_view help, std::string_view key,
                              std::initializer_list<std::pair<std::string_view, detail::counter_index>> values) {
      x.family(name, "counter", help);
      for (const auto* s : steps)
        for (const auto& [text, i] : values)
          x.sample(name, "", {{"workflow", s->workflow}, {"step", s->step}, {key, text}}, s->get(i));
    };
    simple("tutti_step_started_total", "Steps started (each step of each run, once).", detail::step_started_i);
    labelled("tutti_step_calls_total", "Steps finished, by result (after their retries and fallbacks).",
             "result", {{"succeeded", detail::step_succeeded_i}, {"failed", detail::step_failed_i}});
    simple("tutti_step_skipped_total", "Conditional steps not run: their condition was false.",
           detail::step_skipped_i);
    simple("tutti_step_attempts_total", "Calls of the step's callable (each retry counts).", detail::attempts_i);
    simple("tutti_step_attempt_failures_total", "Calls of the step's callable that failed.", detail::attempt_failures_i);
    simple("tutti_step_retries_total", "Retries scheduled.", detail::retries_i);
    simple("tutti_step_retries_exhausted_total", "Retries that gave up with a failure.", detail::retries_exhausted_i);
    simple("tutti_step_fallbacks_total", "Values served by a fallback.", detail::fallbacks_i);
    simple("tutti_step_timeouts_total", "Attempts or runs that ended past their time limit.", detail::timeouts_i);
    labelled("tutti_step_rejections_total", "Calls refused before the step ran, by the policy that refused.",
             "by", {{"circuit_breaker", detail::breaker_rejected_i},
                    {"bulkhead", detail::bulkhead_rejected_i},
                    {"rate_limiter", detail::rate_limited_i}});
    simple("tutti_step_compensation_attempts_total", "Calls of the step's compensation.", detail::compensation_attempts_i);
    labelled("tutti_step_compensations_total", "Compensations finished, by result.", "result",
             {{"succeeded", detail::compensations_succeeded_i}, {"failed", detail::compensations_failed_i}});

    // Breaker transitions seen in events: only the pairs that happened.
    bool any = false;
    for (const auto* s : steps)
      for (const auto& t : s->transitions) any = any || t.load(std::memory_order_relaxed) != 0;
    if (any) {
      x.family("tutti_step_breaker_transitions_total", "counter",
               "Circuit breaker state changes seen around the step's calls.");
      for (const auto* s : steps)
        for (std::size_t i = 0; i < s->transitions.size(); ++i) {
          const std::uint64_t n = s->transitions[i].load(std::memory_order_relaxed);
          if (n == 0) continue;
          x.sample("tutti_step_breaker_transitions_total", "",
                   {{"workflow", s->workflow}, {"step", s->step},
                    {"from", to_string(static_cast<breaker_state>(i / detail::breaker_state_count))},
                    {"to", to_string(static_cast<breaker_state>(i % detail::breaker_state_count))}},
                   n);
        }
    }
    x.family("tutti_step_duration_seconds", "histogram",
             "Time from the start of a step to its result, retries and waits included.");
    histogram("tutti_step_duration_seconds", steps, step_bounds_, true);
  }

  if (!breakers.empty()) {
    x.family("tutti_breaker_state", "gauge", "1 for the circuit breaker's current state, 0 for the others.");
    for (const auto& [name, m] : breakers)
      for (std::size_t i = 0; i < detail::breaker_state_count; ++i) {
        const auto st = static_cast<breaker_state>(i);
        x.sample("tutti_breaker_state", "", {{"breaker", name}, {"state", to_string(st)}},
                 std::uint64_t{m.state == st ? 1u : 0u});
      }
    x.family("tutti_breaker_outcomes_total", "counter", "Outcomes reported to the circuit breaker.");
    for (const auto& [name, m] : breakers) {
      x.sample("tutti_breaker_outcomes_total", "", {{"breaker", name}, {"outcome", "success"}}, m.successes);
      x.sample("tutti_breaker_outcomes_total", "", {{"breaker", name}, {"outcome", "failure"}}, m.failures);
      x.sample("tutti_breaker_outcomes_total", "", {{"breaker", name}, {"outcome", "ignored"}}, m.ignored);
    }
    const auto each = [&](std::string_view name, std::string_view type, std::string_view help, auto field) {
      x.family(name, type, help);
      for (const auto& [b, m] : breakers) x.sample(name, "", {{"breaker", b}}, std::uint64_t{field(m)});
    };
    each("tutti_breaker_slow_calls_total", "counter", "Calls slower than the breaker's slow-call threshold.",
         [](const breaker_metrics& m) { return m.slow_calls; });
    each("tutti_breaker_rejected_total", "counter", "Calls the circuit breaker refused.",
         [](const breaker_metrics& m) { return m.rejected; });
    each("tutti_breaker_transitions_total", "counter", "State changes of the circuit breaker.",
         [](const breaker_metrics& m) { return m.transitions; });
    each("tutti_breaker_window_calls", "gauge", "Calls in the circuit breaker's current window.",
         [](const breaker_metrics& m) { return m.window_calls; });
    each("tutti_breaker_window_failures", "gauge", "Failed or slow calls in the current window.",
         [](const breaker_metrics& m) { return m.window_failures; });
  }

  const std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  if (dropped != 0) {
    x.family("tutti_metrics_dropped_events_total", "counter",
             "Events not counted: a new series could not be allocated.");
    x.sample("tutti_metrics_dropped_events_total", "", {}, dropped);
  }
}

}  // namespace observe
TUTTI_END_NAMESPACE

#endif  // TUTTI_OBSERVE_METRICS_HPP
