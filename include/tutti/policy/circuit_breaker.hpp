// tutti — circuit breaker: stop calling a failing service for a while, then probe it.
#ifndef TUTTI_POLICY_CIRCUIT_BREAKER_HPP
#define TUTTI_POLICY_CIRCUIT_BREAKER_HPP

#include <array>         // registry slots
#include <atomic>        // breaker state, counters, the outcome ring
#include <bit>           // std::popcount over the outcome ring
#include <chrono>        // default durations
#include <concepts>      // std::integral
#include <cstddef>       // std::size_t
#include <cstdint>       // packed words
#include <memory>        // std::construct_at, std::destroy_at
#include <mutex>         // registry creation only (never the call path)
#include <optional>      // registry keys; also declares std::hash (the registry's default)
#include <stdexcept>     // std::invalid_argument for settings from configuration
#include <string_view>   // policy name, state names, rejection messages
#include <system_error>  // std::error_code
#include <type_traits>   // stateless clocks
#include <utility>       // std::exchange, std::cmp_less

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../events.hpp"
#include "breaker_state.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {
/// How a policy runs in an async run: specialised by <tutti/async.hpp> (see policy.hpp).
template <class P>
struct async_policy;
}  // namespace detail

namespace detail {
// Not constexpr on purpose (see retry.hpp): reached during constant evaluation, they stop the
// compilation with their name in the diagnostic; reached at run time, they throw.
[[noreturn]] inline void tutti_invalid_setting_ratio_must_be_above_0_and_at_most_1() {
  throw std::invalid_argument("tutti: a ratio must be above 0 and at most 1 (0.5 = half the calls)");
}
[[noreturn]] inline void tutti_invalid_setting_call_count_must_be_at_least_1() {
  throw std::invalid_argument("tutti: a number of calls must be at least 1");
}
[[noreturn]] inline void tutti_invalid_setting_call_count_must_fit_in_32_bits() {
  throw std::invalid_argument("tutti: a number of calls must be at most 4294967295");
}
[[noreturn]] inline void tutti_invalid_setting_window_size_must_be_at_most_2048() {
  throw std::invalid_argument("tutti: breaker_config::window_size must be at most 2048 calls");
}
[[noreturn]] inline void tutti_invalid_setting_window_buckets_must_be_at_most_64() {
  throw std::invalid_argument("tutti: breaker_config::window_buckets must be at most 64");
}
[[noreturn]] inline void tutti_invalid_setting_window_duration_must_be_positive() {
  throw std::invalid_argument(
      "tutti: breaker_config::window_duration must be positive (at least 1 ns per bucket)");
}
[[noreturn]] inline void tutti_invalid_setting_break_for_must_be_positive() {
  throw std::invalid_argument("tutti: breaker_config::break_for must be positive");
}
[[noreturn]] inline void tutti_invalid_setting_break_growth_must_be_at_least_1() {
  throw std::invalid_argument("tutti: breaker_config::break_growth must be at least 1 (1: constant)");
}
[[noreturn]] inline void tutti_invalid_setting_max_break_must_not_be_below_break_for() {
  throw std::invalid_argument("tutti: breaker_config::max_break must not be below break_for");
}
[[noreturn]] inline void tutti_invalid_setting_half_open_probes_must_be_at_most_65535() {
  throw std::invalid_argument("tutti: breaker_config::half_open_probes must be at most 65535");
}
[[noreturn]] inline void tutti_invalid_setting_half_open_successes_must_not_exceed_probes() {
  throw std::invalid_argument(
      "tutti: breaker_config::half_open_successes must not exceed half_open_probes");
}
[[noreturn]] inline void tutti_invalid_setting_slow_call_ratio_must_be_between_0_and_1() {
  throw std::invalid_argument(
      "tutti: breaker_config::slow_call_ratio must be between 0 (slow calls count as failures) and 1");
}
[[noreturn]] inline void tutti_invalid_setting_slow_call_ratio_needs_slow_call_threshold() {
  throw std::invalid_argument(
      "tutti: breaker_config::slow_call_ratio needs a slow_call_threshold (which calls are slow)");
}
[[noreturn]] inline void tutti_invalid_setting_duration_must_not_be_negative() {
  throw std::invalid_argument(
      "tutti: breaker_config::slow_call_threshold and half_open_timeout must not be negative");
}
}  // namespace detail

/**
 * A ratio in (0, 1]: `0.5` is half the calls. Converts implicitly from a number, so
 * `.failure_ratio = 0.25` reads naturally; out of range, it fails to compile for a constant and
 * throws `std::invalid_argument` for a value from configuration.
 */
struct fraction {
  double value;
  constexpr fraction(double v) : value(v) {  // NOLINT(google-explicit-constructor)
    if (!(v > 0.0 && v <= 1.0)) detail::tutti_invalid_setting_ratio_must_be_above_0_and_at_most_1();
  }
};

/// A number of calls, at least 1; checked like `fraction`.
struct call_count {
  std::uint32_t value;
  template <std::integral I>
    requires(!std::is_same_v<I, bool>)
  constexpr call_count(I n) : value(static_cast<std::uint32_t>(n)) {  // NOLINT(google-explicit-constructor)
    if (std::cmp_less(n, 1)) detail::tutti_invalid_setting_call_count_must_be_at_least_1();
    if (std::cmp_greater(n, 0xFFFF'FFFFu)) detail::tutti_invalid_setting_call_count_must_fit_in_32_bits();
  }
};

/// What opens a closed breaker.
enum class breaker_mode : std::uint8_t {
  count_window,          ///< failure ratio over the last `window_size` calls (the default)
  time_window,           ///< failure ratio over the calls of the last `window_duration`
  consecutive_failures,  ///< `consecutive_failures` failures in a row
  failure_count,         ///< `failure_count` failures within the last `window_duration`, however many calls
};

/// How a call ended, as the breaker counts it.
enum class breaker_outcome : std::uint8_t {
  success,  ///< counts as a success (a slow success still counts as a failure of the window)
  failure,  ///< counts as a failure
  ignored,  ///< not counted; a half-open probe slot is freed
};

namespace detail {
/// The last state change a thread made (the winner of the compare-and-swap): lets a guard report
/// exactly the changes its own call caused, even when threads share the breaker.
struct breaker_transition {
  const void* breaker = nullptr;
  breaker_state from = breaker_state::closed;
  breaker_state to = breaker_state::closed;
};
inline breaker_transition& last_breaker_transition() noexcept {
  thread_local breaker_transition last;
  return last;
}
}  // namespace detail

/// A state change, as the listener sees it.
struct breaker_event {
  breaker_state from;
  breaker_state to;
  duration at;                ///< the breaker clock's time of the change
  duration open_for;          ///< when `to` is open: the break duration; zero otherwise
  std::uint32_t generation;   ///< 14-bit counter, +1 at every change: orders events across threads
  const void* breaker;        ///< which breaker (compare with `&b`; a registry shares one listener)
};

/**
 * Called on the thread that caused a state change, after the change is made (outside any
 * compare-and-swap loop, with no lock held): it may call the breaker. Must not throw. Events of
 * changes made on different threads may arrive out of order: `generation` orders them.
 */
struct breaker_listener {
  void (*fn)(void* user, const breaker_event& event) = nullptr;
  void* user = nullptr;
};

/// Which threshold a closed breaker's window reached.
enum class breaker_threshold : std::uint8_t {
  failure_ratio,         ///< failures / calls reached `failure_ratio` (with slow calls, unless judged apart)
  slow_call_ratio,       ///< slow calls / calls reached `slow_call_ratio`
  consecutive_failures,  ///< `consecutive_failures` failures in a row
  failure_count,         ///< `failure_count` failures in the time window
};

/// A threshold reached, as `on_threshold` sees it: sent just before the change to open it causes.
struct breaker_threshold_event {
  breaker_threshold threshold;
  double rate;               ///< the ratio reached (ratio thresholds); the count otherwise
  std::uint32_t calls;       ///< calls in the window (window modes)
  std::uint32_t failures;    ///< failures in the window (consecutive: in a row)
  std::uint32_t slow_calls;  ///< slow calls in the window
  duration at;               ///< the breaker clock's time
  const void* breaker;       ///< which breaker
};

/// Called like `breaker_listener`, on the thread whose outcome reached a threshold, once per
/// opening (by the caller that opens the breaker), before the state-change event. Must not throw.
struct breaker_threshold_listener {
  void (*fn)(void* user, const breaker_threshold_event& event) = nullptr;
  void* user = nullptr;
};

/**
 * The break duration as a function of how many times the breaker has opened in a row without
 * closing (1 the first time, at most 32): `duration (*)(void* user, std::uint32_t opened)`. A
 * result that is not positive means `break_for`; one above `max_break` is capped. Must not throw
 * (a captureless `noexcept` lambda converts to it). Replaces `break_growth` when set.
 */
struct break_schedule {
  duration (*fn)(void* user, std::uint32_t opened) noexcept = nullptr;
  void* user = nullptr;
};

/**
 * Settings of a circuit breaker; every field has a default, so name only what you change:
 * `tutti::breaker_config{.failure_ratio = 0.5, .minimum_calls = 20, .break_for = 5s}`.
 * Ratios and call counts are checked when written (compile time for constants); the rest when
 * the breaker is built (`std::invalid_argument`, or a compile error under `constinit`).
 * Times are kept to the millisecond inside the breaker (rounded up).
 */
struct breaker_config {
  breaker_mode mode = breaker_mode::count_window;  ///< what opens the breaker
  /// Window modes: open when failures / calls in the window reach this ratio (slow calls count
  /// as failures)...
  fraction failure_ratio{0.5};
  /// ...and the window holds at least this many calls (capped at `window_size` in count mode).
  call_count minimum_calls{100};
  call_count window_size{100};                             ///< count mode: the last N calls (≤ 2048)
  duration window_duration = std::chrono::seconds{30};     ///< time mode: the span of the window
  call_count window_buckets{10};                           ///< time mode: the window slides by span / buckets (≤ 64)
  call_count consecutive_failures{5};                      ///< consecutive mode: failures in a row that open it
  call_count failure_count{5};  ///< failure-count mode: failures within `window_duration` that open it
  /// A call that takes longer than this is slow (zero: no call is slow). Costs two clock reads
  /// per call when set.
  duration slow_call_threshold = duration::zero();
  /// 0 (the default): a slow call counts as a failure for opening. Above 0: slow calls are judged
  /// apart, and the window modes open when slow calls / calls reach this ratio (or failures /
  /// calls reach `failure_ratio`); a slow failure counts in both. Needs `slow_call_threshold`.
  double slow_call_ratio = 0.0;
  /// Time every call (two clock reads) for `metrics().total_call_duration`, even without a
  /// slow-call threshold (with one, calls are timed anyway).
  bool measure_call_duration = false;
  duration break_for = std::chrono::seconds{5};  ///< how long it stays open the first time
  double break_growth = 1.0;                     ///< each re-open without closing multiplies the break by this
  duration max_break = duration::max();          ///< cap of the growing break
  break_schedule break_duration{};               ///< optional: the break as a function of the openings
  call_count half_open_probes{1};                ///< probe calls let through while half-open (≤ 65535)
  call_count half_open_successes{1};             ///< successful probes that close it (≤ probes)
  /// Half-open longer than this (probes that never report back) re-opens it; zero: no deadline.
  duration half_open_timeout = std::chrono::seconds{60};
  breaker_listener on_state_change{};  ///< optional state-change callback
  breaker_threshold_listener on_threshold{};  ///< optional: a threshold was reached (the breaker opens)
  /// The state a new breaker starts in: closed (the default), open (for `break_for` from its
  /// construction, then half-open as usual), half_open (probes first), isolated, disabled or
  /// metrics_only (each until `reset()`).
  breaker_state initial_state = breaker_state::closed;
  /// Count successes in `metrics()` exactly (default). Counting costs one atomic read-modify-
  /// write per call, which in consecutive-failure mode is most of the breaker's cost on the
  /// success path; `false` leaves successes of closed calls out of `metrics().successes` (the
  /// state machine is unaffected: it needs only failures).
  bool count_successes = true;

  /// Checks the settings not checked when written; throws `std::invalid_argument`.
  constexpr void validate() const {
    if (mode == breaker_mode::count_window && window_size.value > 2048)
      detail::tutti_invalid_setting_window_size_must_be_at_most_2048();
    if (mode == breaker_mode::time_window || mode == breaker_mode::failure_count) {
      if (window_buckets.value > 64) detail::tutti_invalid_setting_window_buckets_must_be_at_most_64();
      if (window_duration.count() < static_cast<duration::rep>(window_buckets.value))
        detail::tutti_invalid_setting_window_duration_must_be_positive();
    }
    if (break_for.count() <= 0) detail::tutti_invalid_setting_break_for_must_be_positive();
    if (!(break_growth >= 1.0)) detail::tutti_invalid_setting_break_growth_must_be_at_least_1();
    if (max_break < break_for) detail::tutti_invalid_setting_max_break_must_not_be_below_break_for();
    if (half_open_probes.value > 65535) detail::tutti_invalid_setting_half_open_probes_must_be_at_most_65535();
    if (half_open_successes.value > half_open_probes.value)
      detail::tutti_invalid_setting_half_open_successes_must_not_exceed_probes();
    if (slow_call_threshold.count() < 0 || half_open_timeout.count() < 0)
      detail::tutti_invalid_setting_duration_must_not_be_negative();
    if (!(slow_call_ratio >= 0.0 && slow_call_ratio <= 1.0))
      detail::tutti_invalid_setting_slow_call_ratio_must_be_between_0_and_1();
    if (slow_call_ratio > 0.0 && slow_call_threshold.count() == 0)
      detail::tutti_invalid_setting_slow_call_ratio_needs_slow_call_threshold();
  }
};

/// A snapshot of a breaker's counters (each read on its own: exact only when no call is running).
struct breaker_metrics {
  breaker_state state;
  std::uint64_t successes;     ///< outcomes reported as success
  std::uint64_t failures;      ///< outcomes reported as failure
  std::uint64_t slow_calls;    ///< reported outcomes slower than `slow_call_threshold`
  std::uint64_t ignored;       ///< permits released without an outcome (or reported `ignored`)
  std::uint64_t rejected;      ///< `try_acquire()` calls refused
  std::uint64_t transitions;   ///< state changes
  std::uint32_t window_calls;     ///< calls in the current window (window modes)
  /// Failures among them; slow calls too, unless `slow_call_ratio` judges them apart.
  std::uint32_t window_failures;
  std::uint32_t window_slow_calls;  ///< slow calls among them (when calls are timed)
  std::uint64_t timed_calls;        ///< reported outcomes whose duration was measured
  duration total_call_duration;     ///< their summed duration
  duration max_call_duration;       ///< the longest of them

  /// Mean duration of the timed calls (zero when none).
  [[nodiscard]] constexpr duration average_call_duration() const noexcept {
    return timed_calls == 0 ? duration::zero()
                            : duration{total_call_duration.count() / static_cast<duration::rep>(timed_calls)};
  }
  /// Failures / calls in the window (0 when empty).
  [[nodiscard]] constexpr double failure_rate() const noexcept {
    return window_calls == 0 ? 0.0 : static_cast<double>(window_failures) / static_cast<double>(window_calls);
  }
  /// Slow calls / calls in the window (0 when empty).
  [[nodiscard]] constexpr double slow_call_rate() const noexcept {
    return window_calls == 0 ? 0.0 : static_cast<double>(window_slow_calls) / static_cast<double>(window_calls);
  }
};

namespace detail {
/// An empty clock type (steady_clock): a default-constructed one is as good as any other.
template <class C>
inline constexpr bool stateless_clock_v = std::is_empty_v<C> && std::is_default_constructible_v<C>;
/// A clock kept by value: a stateless one, or the `any_clock` handle (a copy of a reference, and
/// the steady clock when default-constructed); any other clock is kept by pointer.
template <class C>
inline constexpr bool clock_by_value_v = stateless_clock_v<C> || std::is_same_v<C, any_clock>;

template <class C, bool = clock_by_value_v<C>>
class clock_ref {
 public:
  constexpr explicit clock_ref(C& c) noexcept : c_(&c) {}
  [[nodiscard]] duration now() const noexcept { return c_->now(); }
  [[nodiscard]] constexpr C& get() const noexcept { return *c_; }

 private:
  C* c_;
};
template <class C>
class clock_ref<C, true> {
 public:
  constexpr clock_ref() noexcept = default;
  constexpr explicit clock_ref(const C& c) noexcept : c_(c) {}
  [[nodiscard]] duration now() const noexcept { return c_.now(); }
  [[nodiscard]] constexpr C& get() const noexcept { return c_; }

 private:
  [[no_unique_address]] mutable C c_{};
};

namespace cb {
// The state word, one atomic: kind | re-open count | generation | stamp (ms since the clock's
// epoch: end of the break when open, deadline when half-open). One word, so a reader never sees
// a state with another state's deadline.
inline constexpr std::uint64_t kind_mask = 0x7;
inline constexpr int reopen_shift = 3;
inline constexpr std::uint64_t reopen_max = 31;
inline constexpr int gen_shift = 8;
inline constexpr std::uint64_t gen_mask = 0x3FFF;
inline constexpr int stamp_shift = 22;
/// The largest stamp, read as "never": a break or deadline past 139 years of clock time (a
/// manual or custom clock can read that) is clamped to it and never ends by itself.
inline constexpr std::uint64_t stamp_max = (std::uint64_t{1} << 42) - 1;

constexpr std::uint64_t make(breaker_state k, std::uint64_t reopen, std::uint64_t gen,
                             std::uint64_t stamp) noexcept {
  return static_cast<std::uint64_t>(k) | (reopen << reopen_shift) | ((gen & gen_mask) << gen_shift) |
         (stamp << stamp_shift);
}
constexpr breaker_state kind(std::uint64_t w) noexcept { return static_cast<breaker_state>(w & kind_mask); }
constexpr std::uint64_t reopen(std::uint64_t w) noexcept { return (w >> reopen_shift) & 0x1F; }
constexpr std::uint64_t gen(std::uint64_t w) noexcept { return (w >> gen_shift) & gen_mask; }
constexpr std::uint64_t stamp(std::uint64_t w) noexcept { return w >> stamp_shift; }

/// Milliseconds, rounded up, clamped to the stamp's range; at least 1 for a positive time.
constexpr std::uint64_t to_stamp(duration t) noexcept {
  if (t.count() <= 0) return 0;
  const auto ms = static_cast<std::uint64_t>(t.count() / 1'000'000) + (t.count() % 1'000'000 != 0);
  return ms > stamp_max ? stamp_max : ms;
}
/// `t + d` without overflow (a break of `duration::max()` is allowed: it never ends).
constexpr duration add_saturated(duration t, duration d) noexcept {
  return t.count() > 0 && d.count() > duration::max().count() - t.count() ? duration::max() : t + d;
}
constexpr duration from_stamp(std::uint64_t s) noexcept {
  return s >= stamp_max ? duration::max() : duration{static_cast<duration::rep>(s) * 1'000'000};
}
/// Time left until stamp `s`, at `now`: `duration::max()` for a stamp that never comes.
constexpr duration until_stamp(std::uint64_t s, duration now) noexcept {
  return s >= stamp_max ? duration::max() : from_stamp(s) - now;
}

// The half-open word: in flight | succeeded | failed | generation it belongs to. A word of an
// older generation is stale and read as empty, so nobody has to reset it.
inline constexpr std::uint64_t probe_one = 1;                      // one probe in flight
inline constexpr std::uint64_t probe_success = std::uint64_t{1} << 16;
inline constexpr std::uint64_t probe_failure = std::uint64_t{1} << 32;
inline constexpr int probe_tag_shift = 48;
constexpr std::uint64_t probe_tag(std::uint64_t p) noexcept { return p >> probe_tag_shift; }
constexpr std::uint64_t in_flight(std::uint64_t p) noexcept { return p & 0xFFFF; }
constexpr std::uint64_t succeeded(std::uint64_t p) noexcept { return (p >> 16) & 0xFFFF; }
constexpr std::uint64_t failed(std::uint64_t p) noexcept { return (p >> 32) & 0xFFFF; }
constexpr std::uint64_t fresh_probe(std::uint64_t gen) noexcept { return gen << probe_tag_shift; }
/// Whether generation `a` comes after `b` (14-bit counters that wrap: within half the range).
constexpr bool newer(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t d = (a - b) & gen_mask;
  return d != 0 && d < (gen_mask + 1) / 2;
}

// The count window: 2 bits per call (bit 0 "holds a call", bit 1 "it failed"), 32 calls a word,
// in words [0, 64); then one "it was slow" bit per call in words [64, 96).
inline constexpr std::uint64_t even_bits = 0x5555'5555'5555'5555ULL;
inline constexpr std::size_t ring_words = 64;  // 2048 calls, or 64 time buckets
inline constexpr std::size_t slow_words = 64;  // first word of the count window's slow bits

// A time bucket: its counts in word i, calls | failures | slow calls (21 bits each, saturating),
// and in word 64 + i the number of the bucket it holds (time / bucket length) plus one: 0 when
// empty, `bucket_busy` while a writer empties it for a new period. The number is the whole
// 64-bit quotient, so a bucket of any age is told from a current one: nothing stale counts.
inline constexpr std::uint64_t bucket_count_max = (std::uint64_t{1} << 21) - 1;
inline constexpr std::uint64_t bucket_failure = std::uint64_t{1} << 21;
inline constexpr std::uint64_t bucket_slow = std::uint64_t{1} << 42;
inline constexpr std::size_t bucket_numbers = 64;  // first word of the time buckets' numbers
inline constexpr std::uint64_t bucket_busy = ~std::uint64_t{0};

inline constexpr std::size_t line = 64;  // keeps written counters off the read-mostly state line

/// Calls, failures and slow calls in a window.
struct window_counts {
  std::uint32_t calls = 0;
  std::uint32_t failures = 0;
  std::uint32_t slow = 0;
};
/// Whether an outcome reached a threshold, which one, and the window it saw.
struct trip {
  bool reached = false;
  breaker_threshold threshold = breaker_threshold::failure_ratio;
  double rate = 0;
  window_counts counts{};
};
}  // namespace cb

/// Writes "circuit open; retry after 4.2 s" (or the isolated / half-open text) into `out`.
inline std::size_t describe_rejection(char (&out)[64], breaker_state by, duration retry_after) noexcept {
  std::string_view head;
  switch (by) {
    case breaker_state::isolated: head = "circuit isolated (forced open until reset)"; break;
    case breaker_state::half_open: head = "circuit half-open; every probe slot is taken"; break;
    default: head = "circuit open; retry after "; break;
  }
  std::size_t n = 0;
  for (char c : head) out[n++] = c;
  if (by != breaker_state::open) return n;
  // Tenths of a second, rounded up so that "0.0 s" never promises a call that would be refused.
  const auto ns = retry_after.count() < 0 ? 0 : static_cast<std::uint64_t>(retry_after.count());
  const std::uint64_t tenths = ns / 100'000'000 + (ns % 100'000'000 != 0);
  char digits[24];
  std::size_t d = 0;
  std::uint64_t whole = tenths / 10;
  do {
    digits[d++] = static_cast<char>('0' + whole % 10);
    whole /= 10;
  } while (whole != 0);
  while (d > 0) out[n++] = digits[--d];
  out[n++] = '.';
  out[n++] = static_cast<char>('0' + tenths % 10);
  out[n++] = ' ';
  out[n++] = 's';
  return n;
}
}  // namespace detail

/**
 * A circuit breaker: stops calls to a failing service for a while, then lets a few probe calls
 * through to see whether it has recovered.
 *
 * ```text
 *   closed ──(failure ratio / consecutive failures reached)──► open ──(break over)──► half_open
 *      ▲                                                        ▲                       │
 *      └──────────────(half_open_successes probes succeed)──────┼───────────────────────┤
 *                                                               └─(too many probes fail,─┘
 *                                                                  or half_open_timeout)
 * ```
 *
 * Use it through `tutti::guard(breaker)` on a step, or by hand:
 * `if (auto p = b.try_acquire()) { ...; p.record_success(); }`.
 *
 * Thread safety and lifetime: one breaker is shared by reference by every thread and run that
 * calls the service (it is neither copyable nor movable) and must outlive them and their
 * permits. Every operation is lock-free (atomics only). While closed in the count or consecutive
 * modes, a call reads no clock unless `slow_call_threshold` is set. The state machine counts
 * approximately under contention (a few outcomes racing a state change may land in the old or
 * the new period); it never admits more than `half_open_probes` probes in one half-open period.
 *
 * `Clock` is the breaker's clock (not the run's: one breaker serves runs on any clock); the
 * default `tutti::steady_clock` is stored by value, any other clock by reference. A function
 * that takes a breaker by reference can name `tutti::breaker` (`circuit_breaker<any_clock>`),
 * which reads any clock through a handle, at one indirect call per clock read.
 */
template <class Clock = steady_clock>
class circuit_breaker {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
                "tutti: the circuit breaker needs lock-free 64-bit atomics.");

 public:
  using clock_type = Clock;

  /**
   * The right to make one call, or a refusal. Move-only; `[[nodiscard]]`. A granted permit
   * reports how the call ended with `record_success()`, `record_failure()` or `release()`
   * (ignored); destroyed without a report it counts as ignored and frees its half-open probe
   * slot, so "forgot to report" cannot leave a breaker stuck. A refused permit carries
   * `retry_after()`. Reporting twice, or on a refused permit, does nothing.
   */
  class [[nodiscard]] permit {
   public:
    permit() noexcept = default;
    permit(permit&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), word_(o.word_), time_(o.time_),
          state_(o.state_), granted_(o.granted_) {}
    permit& operator=(permit&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        word_ = o.word_;
        time_ = o.time_;
        state_ = o.state_;
        granted_ = o.granted_;
      }
      return *this;
    }
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { release(); }

    /// True when the call may proceed.
    [[nodiscard]] explicit operator bool() const noexcept { return granted_; }
    [[nodiscard]] bool granted() const noexcept { return granted_; }
    /// Granted: the state it was granted in (closed, half_open for a probe, metrics_only,
    /// disabled). Refused: the state that refused it (open, half_open, isolated).
    [[nodiscard]] breaker_state state() const noexcept { return state_; }
    /// Refused: how long until the break ends (open), `duration::max()` (isolated: until
    /// `reset()`), zero (half-open: a probe slot may free at any time). Granted: zero.
    [[nodiscard]] duration retry_after() const noexcept { return granted_ ? duration::zero() : time_; }
    /// The breaker's generation when granted (14 bits; +1 at every state change).
    [[nodiscard]] std::uint32_t generation() const noexcept {
      return static_cast<std::uint32_t>(detail::cb::gen(word_));
    }
    /// True until the outcome is reported (or the permit released).
    [[nodiscard]] bool pending() const noexcept { return owner_ != nullptr; }

    void record_success() noexcept { record(breaker_outcome::success); }
    void record_failure() noexcept { record(breaker_outcome::failure); }
    /// Reports nothing: the call is not counted and a probe slot is freed.
    void release() noexcept { record(breaker_outcome::ignored); }
    void record(breaker_outcome o) noexcept {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->finish(word_, time_, o);
    }

   private:
    friend class circuit_breaker;
    permit(circuit_breaker* owner, std::uint64_t word, duration start) noexcept
        : owner_(owner), word_(word), time_(start), state_(detail::cb::kind(word)), granted_(true) {}
    permit(breaker_state by, duration retry_after, std::uint64_t word) noexcept
        : word_(word), time_(retry_after), state_(by) {}

    circuit_breaker* owner_ = nullptr;
    std::uint64_t word_ = 0;
    duration time_{};  // granted: start of the call (slow-call threshold set); refused: retry-after
    breaker_state state_ = breaker_state::open;
    bool granted_ = false;
  };

  /// A breaker on the default clock (for `any_clock`: the steady clock). Throws
  /// `std::invalid_argument` for invalid settings.
  constexpr explicit circuit_breaker(const breaker_config& config = {})
    requires detail::clock_by_value_v<Clock>
      : circuit_breaker(config, detail::clock_ref<Clock>{}) {}
  /// A breaker reading `clock`, which must outlive it. Throws for invalid settings.
  constexpr circuit_breaker(const breaker_config& config, Clock& clock)
      : circuit_breaker(config, detail::clock_ref<Clock>{clock}) {}
  /// `circuit_breaker<any_clock>` (`tutti::breaker`) reading any clock, through an `any_clock`
  /// handle to it; `clock` must outlive the breaker. Throws for invalid settings.
  // `tutti::clock<C>` in the requires-clause, not as `template <tutti::clock C>`: with the latter,
  // clang 14 deduces `circuit_breaker<>` for `circuit_breaker{config, manual_clock}`.
  template <class C>
    requires(std::is_same_v<Clock, any_clock> && tutti::clock<C> &&
             !std::is_same_v<std::remove_cv_t<C>, any_clock>)
  constexpr circuit_breaker(const breaker_config& config, C& clock)
      : circuit_breaker(config, detail::clock_ref<Clock>{any_clock{clock}}) {}
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;
  ~circuit_breaker() = default;

  /// Asks to make one call. Lock-free; never blocks, never allocates.
  [[nodiscard]] permit try_acquire() noexcept {
    using namespace detail::cb;
    std::uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      switch (kind(s)) {
        case breaker_state::closed:
        case breaker_state::metrics_only:
        case breaker_state::disabled:
          return permit{this, s, timed_ ? clock_.now() : duration{}};
        case breaker_state::open: {
          const duration now = clock_.now();
          if (now < from_stamp(stamp(s))) {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            return permit{breaker_state::open, until_stamp(stamp(s), now), s};
          }
          const std::uint64_t deadline = half_open_ns_ > 0 ? to_stamp(add_saturated(now, duration{half_open_ns_})) : 0;
          const std::uint64_t next = make(breaker_state::half_open, reopen(s), gen(s) + 1, deadline);
          if (change(s, next, now)) s = next;
          continue;  // s is the current state either way
        }
        case breaker_state::half_open: {
          slot_result slot = take_probe_slot(s);
          if (slot == slot_result::stale && state_.load(std::memory_order_acquire) == s)
            slot = take_probe_slot(s, true);
          if (slot != slot_result::full) {
            const std::uint64_t now_s = state_.load(std::memory_order_acquire);
            if (slot == slot_result::taken) {
              if (now_s == s) return permit{this, s, timed_ ? clock_.now() : duration{}};
              free_probe_slot(gen(s));  // the state moved on while we took the slot
            }
            s = now_s;
            continue;
          }
          if (stamp(s) != 0) {  // every slot taken: has the half-open deadline passed?
            const duration now = clock_.now();
            if (now >= from_stamp(stamp(s))) {
              reopen_after_half_open(s, now);
              s = state_.load(std::memory_order_acquire);
              continue;
            }
          }
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return permit{breaker_state::half_open, duration::zero(), s};
        }
        case breaker_state::isolated:
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return permit{breaker_state::isolated, duration::max(), s};
      }
      return permit{breaker_state::isolated, duration::max(), s};  // unreachable
    }
  }

  /// The current state. Reads no clock: an open breaker whose break is over reports `open` until
  /// the next `try_acquire()` moves it to half-open.
  [[nodiscard]] breaker_state state() const noexcept {
    return detail::cb::kind(state_.load(std::memory_order_acquire));
  }

  /// How long until an open breaker lets a probe through: zero when not open (or the break is
  /// over), `duration::max()` when isolated.
  [[nodiscard]] duration retry_after() const noexcept {
    using namespace detail::cb;
    const std::uint64_t s = state_.load(std::memory_order_acquire);
    if (kind(s) == breaker_state::isolated) return duration::max();
    if (kind(s) != breaker_state::open) return duration::zero();
    const duration left = until_stamp(stamp(s), clock_.now());
    return left.count() > 0 ? left : duration::zero();
  }

  /// Hot path of `guard`: true, with the state word, when a call may pass without a permit
  /// object (closed, consecutive-failure mode, no slow-call timing); then report the outcome
  /// with `fast_success(w)` or `fast_finish(w, outcome)`. Same counting as a permit.
  TUTTI_ALWAYS_INLINE bool fast_path(std::uint64_t& w) const noexcept {
    w = state_.load(std::memory_order_acquire);
    return mode_ == breaker_mode::consecutive_failures && !timed_ &&
           detail::cb::kind(w) == breaker_state::closed;
  }
  TUTTI_ALWAYS_INLINE void fast_success(std::uint64_t w) noexcept {
    if (count_successes_) recorded_.fetch_add(1, std::memory_order_relaxed);
    // As record_consecutive: a success ends a streak; nothing to write when there is none.
    if (TUTTI_UNLIKELY(consecutive_.load(std::memory_order_relaxed) != 0) &&
        detail::cb::gen(state_.load(std::memory_order_acquire)) == detail::cb::gen(w))
      consecutive_.store(0, std::memory_order_relaxed);
  }
  void fast_finish(std::uint64_t w, breaker_outcome o) noexcept { finish(w, duration{}, o); }

  /// Forces the breaker open (every call rejected) until `reset()`.
  void isolate() noexcept { force(breaker_state::isolated); }
  /// Opens the breaker by hand for `d` from now (from any state): calls are rejected with a
  /// retry-after until then, then it goes half-open and probes as after any break. A
  /// `duration::max()` (or a time past the stamp's range) never ends by itself.
  void open_for(duration d) noexcept { open_until(detail::cb::add_saturated(clock_.now(), d)); }
  /// Opens the breaker by hand until the breaker clock reads `t` (see `open_for`).
  void open_until(duration t) noexcept {
    using namespace detail::cb;
    const duration now = clock_.now();
    std::uint64_t s = state_.load(std::memory_order_acquire);
    const std::uint64_t end = t <= now ? to_stamp(now) : to_stamp(t);
    while (!change(s, make(breaker_state::open, reopen(s), gen(s) + 1, end == 0 ? 1 : end), now)) {
    }
  }
  /// Lets every call through and counts nothing, until `reset()`.
  void disable() noexcept { force(breaker_state::disabled); }
  /// Lets every call through and counts outcomes, never opening, until `reset()`.
  void metrics_only() noexcept { force(breaker_state::metrics_only); }
  /// Back to closed with an empty window and the first break duration, from any state.
  void reset() noexcept { force(breaker_state::closed); }

  /// The counters and the current window.
  [[nodiscard]] breaker_metrics metrics() const noexcept {
    breaker_metrics m{};
    m.state = state();
    const std::uint64_t failures = failures_.load(std::memory_order_relaxed);
    const std::uint64_t recorded = recorded_.load(std::memory_order_relaxed);
    m.failures = failures;
    m.successes = recorded > failures ? recorded - failures : 0;
    m.slow_calls = slow_.load(std::memory_order_relaxed);
    m.ignored = ignored_.load(std::memory_order_relaxed);
    m.rejected = rejected_.load(std::memory_order_relaxed);
    m.transitions = transitions_.load(std::memory_order_relaxed);
    const auto w = windowed_in_time() ? time_window_counts(clock_.now()) : count_window_counts();
    m.window_calls = w.calls;
    m.window_failures = w.failures;
    m.window_slow_calls = w.slow;
    m.timed_calls = timed_calls_.load(std::memory_order_relaxed);
    m.total_call_duration = duration{static_cast<duration::rep>(call_ns_.load(std::memory_order_relaxed))};
    m.max_call_duration = duration{static_cast<duration::rep>(max_call_ns_.load(std::memory_order_relaxed))};
    return m;
  }

  [[nodiscard]] const breaker_config& config() const noexcept { return config_; }
  [[nodiscard]] Clock& clock() const noexcept { return clock_.get(); }

 private:
  using counts = detail::cb::window_counts;

  constexpr circuit_breaker(const breaker_config& config, detail::clock_ref<Clock> clock)
      : state_(0),
        mode_(config.mode),
        probes_(config.half_open_probes.value),
        successes_(config.half_open_successes.value),
        window_(config.window_size.value),
        window_magic_(~std::uint64_t{0} / config.window_size.value + 1),
        min_calls_(config.mode == breaker_mode::count_window && config.minimum_calls.value > config.window_size.value
                       ? config.window_size.value
                       : config.minimum_calls.value),
        consecutive_limit_(config.consecutive_failures.value),
        failure_limit_(config.failure_count.value),
        buckets_(config.window_buckets.value),
        ratio_(config.failure_ratio.value),
        slow_ns_(config.slow_call_threshold.count()),
        slow_ratio_(config.slow_call_ratio),
        timed_(config.slow_call_threshold.count() > 0 || config.measure_call_duration),
        count_successes_(config.count_successes),
        bucket_ns_(config.window_duration.count() / static_cast<duration::rep>(config.window_buckets.value)),
        half_open_ns_(config.half_open_timeout.count()),
        clock_(clock),
        config_(config) {
    config.validate();
    using namespace detail::cb;
    switch (config.initial_state) {
      case breaker_state::closed: break;
      case breaker_state::open: {
        const duration now = clock_.now();
        state_.store(make(breaker_state::open, 0, 1, to_stamp(add_saturated(now, break_after(0)))),
                     std::memory_order_relaxed);
        break;
      }
      case breaker_state::half_open: {
        const std::uint64_t deadline =
            half_open_ns_ > 0 ? to_stamp(add_saturated(clock_.now(), duration{half_open_ns_})) : 0;
        state_.store(make(breaker_state::half_open, 0, 1, deadline), std::memory_order_relaxed);
        break;
      }
      default: state_.store(make(config.initial_state, 0, 1, 0), std::memory_order_relaxed); break;
    }
  }

  // ---- outcomes -------------------------------------------------------------------------------

  void finish(std::uint64_t w, duration start, breaker_outcome o) noexcept {
    using namespace detail::cb;
    const breaker_state k = kind(w);
    if (k == breaker_state::disabled) return;
    if (o == breaker_outcome::ignored) {
      ignored_.fetch_add(1, std::memory_order_relaxed);
      if (k == breaker_state::half_open) free_probe_slot(gen(w));
      return;
    }
    const std::uint64_t n = recorded_.fetch_add(1, std::memory_order_relaxed);
    const bool failed = o == breaker_outcome::failure;
    if (failed) failures_.fetch_add(1, std::memory_order_relaxed);
    duration now{};
    if (timed_ || windowed_in_time()) now = clock_.now();
    bool slow = false;
    if (timed_) {
      const duration took = now - start;
      const std::uint64_t ns = took.count() > 0 ? static_cast<std::uint64_t>(took.count()) : 0;
      timed_calls_.fetch_add(1, std::memory_order_relaxed);
      call_ns_.fetch_add(ns, std::memory_order_relaxed);
      std::uint64_t longest = max_call_ns_.load(std::memory_order_relaxed);
      while (ns > longest && !max_call_ns_.compare_exchange_weak(longest, ns, std::memory_order_relaxed)) {
      }
      if (slow_ns_ > 0 && took.count() > slow_ns_) {
        slow_.fetch_add(1, std::memory_order_relaxed);
        slow = true;
      }
    }
    // A slow call counts as a failure of the state machine, unless slow calls are judged apart.
    const bool counted_failed = failed || (slow && slow_ratio_ == 0.0);
    // An outcome of an earlier period (the state changed since the permit) is counted in the
    // metrics above but does not move the state machine.
    if (gen(state_.load(std::memory_order_acquire)) != gen(w)) return;
    if (k == breaker_state::half_open) {
      probe_outcome(w, failed || slow);  // a slow probe is a failed probe
      return;
    }
    const bool judge = k == breaker_state::closed;  // metrics_only counts but never opens
    bool reached_now = false;
    switch (mode_) {
      case breaker_mode::count_window: reached_now = record_count(n, counted_failed, slow, judge); break;
      case breaker_mode::time_window:
      case breaker_mode::failure_count: reached_now = record_time(now, counted_failed, slow, judge); break;
      case breaker_mode::consecutive_failures: reached_now = record_consecutive(counted_failed); break;
    }
    if (reached_now && judge) open_on_threshold(w, now);
  }

  // A threshold was reached: open, telling `on_threshold` which one (the window read again).
  TUTTI_NOINLINE void open_on_threshold(std::uint64_t w, duration now) noexcept {
    detail::cb::trip t{};
    if (mode_ == breaker_mode::consecutive_failures) {
      const std::uint32_t in_a_row = consecutive_.load(std::memory_order_relaxed);
      t = {true, breaker_threshold::consecutive_failures, static_cast<double>(in_a_row), {0, in_a_row, 0}};
    } else {
      t = judged(windowed_in_time() ? time_window_counts(now) : count_window_counts());
    }
    open_from(w, 0, &t);
  }

  [[nodiscard]] bool windowed_in_time() const noexcept {
    return mode_ == breaker_mode::time_window || mode_ == breaker_mode::failure_count;
  }

  // Whether a threshold is reached. A success can only reach one by bringing the window up to
  // `minimum_calls` (filling an empty slot) or, when slow calls are judged apart, by being slow;
  // replacing an older outcome it can only lower the ratios. So the ring is summed after
  // failures, slow calls and during warm-up only.
  bool record_count(std::uint64_t n, bool failed, bool slow, bool judge) noexcept {
    using namespace detail::cb;
    const std::uint32_t slot = slot_of(n);
    std::atomic<std::uint64_t>& word = ring_[slot / 32];
    const int shift = static_cast<int>(slot % 32) * 2;
    const std::uint64_t held = std::uint64_t{1} << shift;
    const std::uint64_t fail = std::uint64_t{2} << shift;
    if (timed_) {  // the slot's slow bit, kept for every timed call
      std::atomic<std::uint64_t>& slow_word = ring_[slow_words + slot / 64];
      const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
      const bool was = (slow_word.load(std::memory_order_relaxed) & bit) != 0;
      if (was != slow) {
        if (slow) slow_word.fetch_or(bit, std::memory_order_relaxed);
        else slow_word.fetch_and(~bit, std::memory_order_relaxed);
      }
    }
    const std::uint64_t v = word.load(std::memory_order_relaxed);
    if (!failed) {  // usually already "held, succeeded": then a read is all it costs
      if ((v & fail) != 0) word.fetch_and(~fail, std::memory_order_relaxed);
      if ((v & held) != 0 && !(slow && slow_ratio_ > 0.0)) return false;
      if ((v & held) == 0) word.fetch_or(held, std::memory_order_relaxed);
      return judge && reached(count_window_counts());
    }
    if ((v & (held | fail)) != (held | fail)) word.fetch_or(held | fail, std::memory_order_relaxed);
    return judge && reached(count_window_counts());
  }

  // n % window_ without a division, which costs more than the rest of the call (Lemire's
  // fastmod on the low 32 bits of n: the ring skips a beat once every 2^32 calls, harmlessly).
  [[nodiscard]] std::uint32_t slot_of(std::uint64_t n) const noexcept {
    const std::uint64_t low = window_magic_ * static_cast<std::uint32_t>(n);
    return static_cast<std::uint32_t>(((low >> 32) * window_ + (((low & 0xFFFF'FFFFu) * window_) >> 32)) >> 32);
  }

  [[nodiscard]] std::uint64_t bucket_index(duration now) const noexcept {
    return static_cast<std::uint64_t>(now.count() < 0 ? 0 : now.count()) / static_cast<std::uint64_t>(bucket_ns_);
  }

  // Every call is judged: old successes leaving the window can raise the ratio at any time.
  bool record_time(duration now, bool failed, bool slow, bool judge) noexcept {
    using namespace detail::cb;
    const std::uint64_t index = bucket_index(now);
    const std::uint64_t number = index + 1;
    const std::size_t at = index % buckets_;
    std::atomic<std::uint64_t>& bucket = ring_[at];
    std::atomic<std::uint64_t>& held = ring_[bucket_numbers + at];
    const std::uint64_t add = 1 | (failed ? bucket_failure : 0) | (slow ? bucket_slow : 0);
    std::uint64_t h = held.load(std::memory_order_acquire);
    for (;;) {
      if (h == number) {  // the bucket of this period: count the call (saturating)
        std::uint64_t b = bucket.load(std::memory_order_relaxed);
        while ((b & bucket_count_max) != bucket_count_max &&
               !bucket.compare_exchange_weak(b, b + add, std::memory_order_relaxed)) {
        }
        break;
      }
      if (h == bucket_busy) {  // another caller is emptying it for this period: a few stores
        h = held.load(std::memory_order_acquire);
        continue;
      }
      if (h > number) break;  // the bucket already moved past this call's period: out of the window
      if (held.compare_exchange_weak(h, bucket_busy, std::memory_order_acquire)) {
        bucket.store(add, std::memory_order_relaxed);
        held.store(number, std::memory_order_release);
        break;
      }
    }
    return judge && reached(time_window_counts(now));
  }

  bool record_consecutive(bool failed) noexcept {
    if (!failed) {
      if (consecutive_.load(std::memory_order_relaxed) != 0) consecutive_.store(0, std::memory_order_relaxed);
      return false;
    }
    return consecutive_.fetch_add(1, std::memory_order_relaxed) + 1 >= consecutive_limit_;
  }

  [[nodiscard]] bool reached(counts c) const noexcept {
    if (mode_ == breaker_mode::failure_count) return c.failures >= failure_limit_;
    if (c.calls < min_calls_ || c.calls == 0) return false;
    const double calls = static_cast<double>(c.calls);
    return static_cast<double>(c.failures) / calls >= ratio_ ||
           (slow_ratio_ > 0.0 && static_cast<double>(c.slow) / calls >= slow_ratio_);
  }

  // Which threshold a window reaches, for `on_threshold`.
  [[nodiscard]] detail::cb::trip judged(counts c) const noexcept {
    if (mode_ == breaker_mode::failure_count) {
      if (c.failures >= failure_limit_)
        return {true, breaker_threshold::failure_count, static_cast<double>(c.failures), c};
      return {};
    }
    if (c.calls < min_calls_ || c.calls == 0) return {};
    const double calls = static_cast<double>(c.calls);
    if (static_cast<double>(c.failures) / calls >= ratio_)
      return {true, breaker_threshold::failure_ratio, static_cast<double>(c.failures) / calls, c};
    if (slow_ratio_ > 0.0 && static_cast<double>(c.slow) / calls >= slow_ratio_)
      return {true, breaker_threshold::slow_call_ratio, static_cast<double>(c.slow) / calls, c};
    return {};
  }

  [[nodiscard]] counts count_window_counts() const noexcept {
    using namespace detail::cb;
    if (mode_ != breaker_mode::count_window) return {};
    counts c;
    const std::uint32_t words = (window_ + 31) / 32;
    for (std::uint32_t i = 0; i < words; ++i) {
      const std::uint64_t v = ring_[i].load(std::memory_order_relaxed);
      c.calls += static_cast<std::uint32_t>(std::popcount(v & even_bits));
      c.failures += static_cast<std::uint32_t>(std::popcount(v & (v >> 1) & even_bits));
    }
    if (timed_) {
      const std::uint32_t slow_words_used = (window_ + 63) / 64;
      for (std::uint32_t i = 0; i < slow_words_used; ++i)
        c.slow += static_cast<std::uint32_t>(std::popcount(ring_[slow_words + i].load(std::memory_order_relaxed)));
    }
    return c;
  }

  [[nodiscard]] counts time_window_counts(duration now) const noexcept {
    using namespace detail::cb;
    if (!windowed_in_time()) return {};
    const std::uint64_t index = bucket_index(now);
    counts c;
    for (std::uint32_t i = 0; i < buckets_; ++i) {
      const std::uint64_t h = ring_[bucket_numbers + i].load(std::memory_order_acquire);
      if (h == 0 || h == bucket_busy) continue;  // empty, or being emptied
      // Outside the window: a bucket `buckets_` or more periods old. One of a later period (a
      // caller whose clock read a little later) is current.
      if (h - 1 <= index && index - (h - 1) >= buckets_) continue;
      const std::uint64_t b = ring_[i].load(std::memory_order_relaxed);
      c.calls += static_cast<std::uint32_t>(b & bucket_count_max);
      c.failures += static_cast<std::uint32_t>((b >> 21) & bucket_count_max);
      c.slow += static_cast<std::uint32_t>((b >> 42) & bucket_count_max);
    }
    return c;
  }

  // ---- half-open probes -----------------------------------------------------------------------

  enum class slot_result : std::uint8_t { taken, full, stale };

  // `claim_any`: the caller saw the state unchanged after a `stale` answer, so the "newer" tag
  // is in fact an ancient one that wrapped around (14-bit generations): claim it.
  slot_result take_probe_slot(std::uint64_t s, bool claim_any = false) noexcept {
    using namespace detail::cb;
    const std::uint64_t g = gen(s);
    std::uint64_t p = probe_.load(std::memory_order_acquire);
    for (;;) {
      std::uint64_t next;
      if (probe_tag(p) == g) {
        if (in_flight(p) + succeeded(p) + failed(p) >= probes_) return slot_result::full;
        next = p + probe_one;
      } else if (!claim_any && newer(probe_tag(p), g)) {
        return slot_result::stale;  // a later half-open period owns the word: never wipe it
      } else {
        next = fresh_probe(g) + probe_one;  // the first probe of this period claims the word
      }
      if (probe_.compare_exchange_weak(p, next, std::memory_order_acq_rel, std::memory_order_acquire))
        return slot_result::taken;
    }
  }

  void free_probe_slot(std::uint64_t g) noexcept {
    using namespace detail::cb;
    std::uint64_t p = probe_.load(std::memory_order_acquire);
    while (probe_tag(p) == g && in_flight(p) > 0 &&
           !probe_.compare_exchange_weak(p, p - probe_one, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
    }
  }

  void probe_outcome(std::uint64_t w, bool failed) noexcept {
    using namespace detail::cb;
    const std::uint64_t g = gen(w);
    std::uint64_t p = probe_.load(std::memory_order_acquire);
    std::uint64_t next;
    do {
      if (probe_tag(p) != g || in_flight(p) == 0) return;  // a stale probe
      next = p - probe_one + (failed ? probe_failure : probe_success);
    } while (!probe_.compare_exchange_weak(p, next, std::memory_order_acq_rel, std::memory_order_acquire));
    if (!failed && succeeded(next) >= successes_) {
      std::uint64_t expected = w;
      change(expected, make(breaker_state::closed, 0, g + 1, 0), clock_.now());
    } else if (failed && failed_count_too_high(next)) {
      reopen_after_half_open(w, clock_.now());
    }
  }
  [[nodiscard]] bool failed_count_too_high(std::uint64_t p) const noexcept {
    return detail::cb::failed(p) > probes_ - successes_;  // the success threshold is out of reach
  }

  // ---- transitions ----------------------------------------------------------------------------

  void open_from(std::uint64_t w, std::uint64_t reopen, const detail::cb::trip* why = nullptr) noexcept {
    const duration now = clock_.now();
    std::uint64_t expected = w;
    change(expected, detail::cb::make(breaker_state::open, reopen, detail::cb::gen(w) + 1,
                                      detail::cb::to_stamp(detail::cb::add_saturated(now, break_after(reopen)))),
           now, why);
  }
  void reopen_after_half_open(std::uint64_t w, duration now) noexcept {
    using namespace detail::cb;
    const std::uint64_t r = reopen(w) < reopen_max ? reopen(w) + 1 : reopen_max;
    std::uint64_t expected = w;
    change(expected, make(breaker_state::open, r, gen(w) + 1, to_stamp(add_saturated(now, break_after(r)))), now);
  }

  [[nodiscard]] duration break_after(std::uint64_t reopens) const noexcept {
    const duration first = config_.break_for;
    if (config_.break_duration.fn != nullptr) {
      const duration d = config_.break_duration.fn(config_.break_duration.user, static_cast<std::uint32_t>(reopens + 1));
      if (d.count() <= 0) return first;
      return d > config_.max_break ? config_.max_break : d;
    }
    if (reopens == 0 || config_.break_growth == 1.0) return first;
    double ns = static_cast<double>(first.count());
    const double cap = static_cast<double>(config_.max_break.count());
    for (std::uint64_t i = 0; i < reopens && ns < cap; ++i) ns *= config_.break_growth;
    if (ns >= cap) return config_.max_break;
    return duration{static_cast<duration::rep>(ns)};
  }

  void force(breaker_state target) noexcept {
    using namespace detail::cb;
    std::uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if (kind(s) == target && target != breaker_state::closed) return;
      if (change(s, make(target, 0, gen(s) + 1, 0), clock_.now())) return;
    }
  }

  // The one place the state changes: a compare-and-swap; the winner then resets the window and
  // calls the listener (after the CAS, holding nothing). Updates `expected` when it loses.
  // `why`: the threshold an outcome reached, reported (first) by the caller that wins.
  bool change(std::uint64_t& expected, std::uint64_t desired, duration now,
              const detail::cb::trip* why = nullptr) noexcept {
    using namespace detail::cb;
    if (!state_.compare_exchange_strong(expected, desired, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
      return false;
    const breaker_state from = kind(expected);
    const breaker_state to = kind(desired);
    if (to == breaker_state::closed || to == breaker_state::metrics_only) {
      for (auto& word : ring_) word.store(0, std::memory_order_relaxed);
      consecutive_.store(0, std::memory_order_relaxed);
    }
    if (why != nullptr && config_.on_threshold.fn != nullptr) {
      const breaker_threshold_event e{why->threshold, why->rate,   why->counts.calls, why->counts.failures,
                                      why->counts.slow, now,        this};
      config_.on_threshold.fn(config_.on_threshold.user, e);
    }
    if (from == to) return true;  // reset() of a closed breaker: a new, empty window
    transitions_.fetch_add(1, std::memory_order_relaxed);
    detail::last_breaker_transition() = {this, from, to};  // for the guard's events
    if (config_.on_state_change.fn != nullptr) {
      const breaker_event e{from, to, now,
                            to == breaker_state::open ? until_stamp(stamp(desired), now) : duration::zero(),
                            static_cast<std::uint32_t>(gen(desired)), this};
      config_.on_state_change.fn(config_.on_state_change.user, e);
    }
    return true;
  }

  // Read on every call, written only when the state changes.
  alignas(detail::cb::line) std::atomic<std::uint64_t> state_;
  breaker_mode mode_;
  std::uint32_t probes_;
  std::uint32_t successes_;
  std::uint32_t window_;
  std::uint64_t window_magic_;  // for slot_of
  std::uint32_t min_calls_;
  std::uint32_t consecutive_limit_;
  std::uint32_t failure_limit_;
  std::uint32_t buckets_;
  double ratio_;
  duration::rep slow_ns_;
  double slow_ratio_;
  bool timed_;  // calls are timed: a slow-call threshold, or call-duration metrics
  bool count_successes_;
  duration::rep bucket_ns_;
  duration::rep half_open_ns_;
  [[no_unique_address]] detail::clock_ref<Clock> clock_;
  // Written on every reported outcome.
  alignas(detail::cb::line) std::atomic<std::uint64_t> recorded_{0};
  std::atomic<std::uint32_t> consecutive_{0};
  // Written on failures, rejections, releases, probes and state changes.
  alignas(detail::cb::line) std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> slow_{0};
  std::atomic<std::uint64_t> ignored_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> transitions_{0};
  std::atomic<std::uint64_t> probe_{0};
  // Written on timed calls only.
  std::atomic<std::uint64_t> timed_calls_{0};
  std::atomic<std::uint64_t> call_ns_{0};
  std::atomic<std::uint64_t> max_call_ns_{0};
  // The count window's outcome ring and slow bits, or the time window's buckets and their numbers.
  alignas(detail::cb::line) std::array<std::atomic<std::uint64_t>, 2 * detail::cb::ring_words> ring_{};
  breaker_config config_;
};

circuit_breaker(const breaker_config&) -> circuit_breaker<steady_clock>;
template <class Clock>
circuit_breaker(const breaker_config&, Clock&) -> circuit_breaker<Clock>;

/**
 * A circuit breaker of one type whatever its clock: `circuit_breaker<any_clock>`. Name it where a
 * function takes a breaker, so that production and tests call the same, non-template function:
 *
 * @code
 * auto make_checkout(tutti::breaker& payments) {
 *   return tutti::workflow<"checkout">(tutti::step<"charge">(charge) | tutti::guard(payments));
 * }
 * tutti::breaker payments{config};                          // production: the steady clock
 * tutti::testing::manual_clock clock;
 * tutti::breaker in_test{config, clock};                    // tests: virtual time
 * @endcode
 *
 * Each read of its clock is one indirect call through the handle; `circuit_breaker<>` reads the
 * steady clock directly. A closed breaker in the count or consecutive mode reads no clock, so
 * there the two cost the same. The clock passed in must outlive the breaker.
 */
using breaker = circuit_breaker<any_clock>;

/// The default of `guard`: every error the step returns counts as a failure of the breaker.
struct count_all_errors {
  constexpr breaker_outcome operator()(const std::error_code& /*ec*/) const noexcept {
    return breaker_outcome::failure;
  }
};

/**
 * The policy `tutti::guard(breaker)` returns: each call of the step asks the breaker for a
 * permit; a refused call fails at once with `errc::circuit_open` (the step is not called, no
 * exception, no allocation); a granted one reports its outcome: success, or what `Classify`
 * says of the error (default: failure). Holds a pointer: the breaker must outlive the workflow.
 *
 * No message is written on a refusal by default (a run's first message allocates); ask the
 * breaker for `retry_after()`, or use `.with_message()` to get "circuit open; retry after 4.2 s"
 * in the report.
 */
template <class Breaker, class Classify = count_all_errors>
class breaker_guard {
 public:
  static constexpr std::string_view policy_name = "circuit_breaker";

  constexpr explicit breaker_guard(Breaker& b, Classify classify = {}, bool describe = false) noexcept
      : breaker_(&b), classify_(classify), describe_(describe) {}

  /// The same guard, which also writes the reason of a refusal (with its retry-after hint) as
  /// the step's message. That message allocates, once per run.
  [[nodiscard]] constexpr breaker_guard with_message() const noexcept {
    return breaker_guard{*breaker_, classify_, true};
  }
  [[nodiscard]] constexpr Breaker& breaker() const noexcept { return *breaker_; }

  template <class Next, class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    if constexpr (detail::observed<Call>()) {
      return invoke_observed(next, call);  // the permit path, with events
    } else if constexpr (requires(std::uint64_t w) { breaker_->fast_path(w); }) {
      std::uint64_t w = 0;
      // Both branches return a prvalue, so the result is built in place: a copy right after
      // the step wrote it would cost a store-forwarding stall.
      if (TUTTI_LIKELY(breaker_->fast_path(w))) return invoke_fast(next, w);
      return invoke_with_permit(next, call);
    } else {
      return invoke_with_permit(next, call);
    }
  }

 private:
  template <class Next>
  // The return type is spelled out: clang 14 applies no named-return elision in functions
  // with a deduced return type, and the copy would cost a store-forwarding stall per call.
  TUTTI_ALWAYS_INLINE auto invoke_fast(Next& next, std::uint64_t w) const -> decltype(next()) {
    auto r = next();
    if (TUTTI_LIKELY(r.has_value())) breaker_->fast_success(w);
    else breaker_->fast_finish(w, classify_(r.assume_error()));
    return r;
  }

  // With an observer: the permit path, reporting the state changes this call made itself (at the
  // permit: open -> half_open; at the outcome: closed -> open, half_open -> closed or open). A
  // change made by another thread's call is reported by that call only.
  template <class Next, class Call>
  TUTTI_NOINLINE auto invoke_observed(Next& next, Call& call) const -> decltype(next()) {
    forget_change();
    return invoke_with_permit(next, call, change_report<Call>{breaker_, &call});
  }

  /// Reports the state change this thread's last call into the breaker made, if it was this
  /// guard's breaker (a `breaker_state_changed` event on `call`), and forgets it.
  template <class Call>
  struct change_report {
    const Breaker* breaker;
    Call* call;
    void operator()() const {
      detail::breaker_transition& last = detail::last_breaker_transition();
      if (last.breaker == static_cast<const void*>(breaker)) {
        event e = make_event(event_kind::breaker_state_changed, call->attempt());
        e.from = last.from;
        e.to = last.to;
        call->emit(e);
      }
      last.breaker = nullptr;
    }
  };
  /// Forgets this thread's last state change (made by another call).
  static void forget_change() noexcept { detail::last_breaker_transition().breaker = nullptr; }
  /// Records a call's outcome with its permit.
  template <class Permit, class R>
  void record(Permit& p, const R& r) const {
    if (TUTTI_LIKELY(r.has_value())) p.record_success();
    else p.record(classify_(r.error()));
  }

  struct no_check {
    constexpr void operator()() const noexcept {}
  };

  template <class Next, class Call, class Check = no_check>
  TUTTI_NOINLINE auto invoke_with_permit(Next& next, Call& call, const Check& check = {}) const
      -> decltype(next()) {
    using R = decltype(next());
    auto p = breaker_->try_acquire();
    check();
    if (TUTTI_UNLIKELY(!p)) return R(rejected(p, call));
    R r = next();
    record(p, r);
    check();
    return r;
  }

  /// A call the breaker refused (`p` is empty): its event and message; `circuit_open`.
  template <class Permit, class Call>
  TUTTI_NOINLINE std::error_code rejected(const Permit& p, Call& call) const {
    if constexpr (detail::observed<Call>()) {
      event e = make_event(event_kind::breaker_rejected, call.attempt());
      e.error = make_error_code(errc::circuit_open);
      e.to = p.state();
      e.delay = p.retry_after();
      call.emit(e);
    }
    if (describe_) {
      if constexpr (requires { call.set_message(false, std::string_view{}); }) {
        char text[64];
        const std::size_t n = detail::describe_rejection(text, p.state(), p.retry_after());
        call.set_message(false, std::string_view{text, n});
      }
    }
    return make_error_code(errc::circuit_open);
  }

  template <class>
  friend struct detail::async_policy;
  Breaker* breaker_;
  [[no_unique_address]] Classify classify_;
  bool describe_;
};

/// `step | tutti::guard(breaker)`: calls of the step go through the breaker (see breaker_guard).
template <class Clock>
[[nodiscard]] constexpr auto guard(circuit_breaker<Clock>& b) noexcept {
  return breaker_guard<circuit_breaker<Clock>>{b};
}
/// The same, with `classify(error_code) -> breaker_outcome` deciding what an error counts as.
template <class Clock, class Classify>
  requires std::is_invocable_r_v<breaker_outcome, const Classify&, const std::error_code&>
[[nodiscard]] constexpr auto guard(circuit_breaker<Clock>& b, Classify classify) noexcept {
  return breaker_guard<circuit_breaker<Clock>, Classify>{b, classify};
}

/**
 * At most `N` breakers, one per key (per downstream host, say), created on first use with one
 * shared configuration and never removed. Lookups are lock-free (an open-addressing table of `N`
 * slots, each published by an atomic flag); creating a breaker takes a mutex, once per key. When
 * `N` breakers exist, `get()` of a new key returns nullptr: the registry never grows; then
 * `get_or_overflow()` returns the registry's one overflow breaker, shared by every key that
 * found no room (so those keys stay protected, together). Breakers live inside the registry (no
 * allocation) and as long as it does.
 */
namespace detail {
/// `a == b`: the registry's default key comparison (std::equal_to without <functional>).
struct keys_equal {
  template <class K>
  constexpr bool operator()(const K& a, const K& b) const noexcept(noexcept(a == b)) {
    return a == b;
  }
};
}  // namespace detail

template <class Key, std::size_t N, class Clock = steady_clock, class Hash = std::hash<Key>,
          class KeyEqual = detail::keys_equal>
class breaker_registry {
  static_assert(N > 0, "tutti: a breaker_registry needs room for at least one breaker.");

 public:
  using breaker_type = circuit_breaker<Clock>;
  using key_type = Key;

  explicit breaker_registry(const breaker_config& config = {})
    requires detail::clock_by_value_v<Clock>
      : config_(config), clock_(), overflow_(config) {}
  breaker_registry(const breaker_config& config, Clock& clock)
      : config_(config), clock_(clock), overflow_(config, clock) {}
  /// With `Clock = any_clock`: breakers of type `tutti::breaker` reading `clock`, which must
  /// outlive the registry.
  template <class C>
    requires(std::is_same_v<Clock, any_clock> && tutti::clock<C> &&
             !std::is_same_v<std::remove_cv_t<C>, any_clock>)
  breaker_registry(const breaker_config& config, C& clock)
      : config_(config), clock_(any_clock{clock}), overflow_(config, clock) {}
  breaker_registry(const breaker_registry&) = delete;
  breaker_registry& operator=(const breaker_registry&) = delete;
  ~breaker_registry() {
    for (auto& s : slots_)
      if (s.ready.load(std::memory_order_acquire)) std::destroy_at(&s.store.breaker);
  }

  /// The breaker of `key`, created on first use; nullptr when the registry is full.
  [[nodiscard]] breaker_type* get(const Key& key) {
    if (breaker_type* b = find(key)) return b;
    const std::lock_guard<std::mutex> lock(create_);
    const std::size_t start = Hash{}(key) % N;
    for (std::size_t i = 0; i < N; ++i) {
      slot& s = slots_[(start + i) % N];
      if (s.ready.load(std::memory_order_acquire)) {
        if (KeyEqual{}(*s.key, key)) return &s.store.breaker;
        continue;
      }
      s.key.emplace(key);
      if constexpr (detail::stateless_clock_v<Clock>) std::construct_at(&s.store.breaker, config_);
      else std::construct_at(&s.store.breaker, config_, clock_.get());
      s.ready.store(true, std::memory_order_release);
      size_.fetch_add(1, std::memory_order_relaxed);
      return &s.store.breaker;
    }
    return nullptr;
  }

  /// The breaker of `key`, created on first use; when the registry is full, the overflow breaker
  /// that every key without room of its own shares (counted by `overflowed()`).
  [[nodiscard]] breaker_type& get_or_overflow(const Key& key) {
    if (breaker_type* b = get(key)) return *b;
    overflowed_.fetch_add(1, std::memory_order_relaxed);
    return overflow_;
  }
  /// The breaker shared by the keys that found the registry full.
  [[nodiscard]] breaker_type& overflow() noexcept { return overflow_; }
  /// How many lookups found the registry full (and got the overflow breaker, or were refused).
  [[nodiscard]] std::uint64_t overflowed() const noexcept { return overflowed_.load(std::memory_order_relaxed); }
  /// Counts a lookup that found the registry full (for a guard that refuses the call then).
  void count_overflow() noexcept { overflowed_.fetch_add(1, std::memory_order_relaxed); }

  /// The breaker of `key` if it exists; never creates one. Lock-free.
  [[nodiscard]] breaker_type* find(const Key& key) noexcept {
    const std::size_t start = Hash{}(key) % N;
    for (std::size_t i = 0; i < N; ++i) {
      slot& s = slots_[(start + i) % N];
      if (!s.ready.load(std::memory_order_acquire)) return nullptr;  // keys are never removed
      if (KeyEqual{}(*s.key, key)) return &s.store.breaker;
    }
    return nullptr;
  }

  /// The key of a breaker of this registry (e.g. `breaker_event::breaker`), or nullptr.
  [[nodiscard]] const Key* key_of(const void* breaker) const noexcept {
    for (const auto& s : slots_)
      if (s.ready.load(std::memory_order_acquire) && &s.store.breaker == breaker) return &*s.key;
    return nullptr;
  }

  /// Calls `f(const Key&, breaker_type&)` for every breaker created so far.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (s.ready.load(std::memory_order_acquire)) f(static_cast<const Key&>(*s.key), s.store.breaker);
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }

 private:
  union storage {
    storage() noexcept {}
    ~storage() {}
    storage(const storage&) = delete;
    storage& operator=(const storage&) = delete;
    breaker_type breaker;
  };
  struct slot {
    std::atomic<bool> ready{false};
    std::optional<Key> key;  // written before `ready` is published, never after
    storage store;
  };

  std::array<slot, N> slots_{};
  std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> overflowed_{0};
  std::mutex create_;
  breaker_config config_;
  detail::clock_ref<Clock> clock_;
  breaker_type overflow_;  // validates the configuration first, as every breaker does
};

/// What a keyed guard does with a key that finds its registry full.
enum class registry_full : std::uint8_t {
  share_overflow,  ///< the call goes through the registry's overflow breaker (the default)
  reject,          ///< the call fails at once with `errc::circuit_open` ("breaker registry full")
};

namespace detail {
template <class R>
struct is_breaker_registry : std::false_type {};
template <class Key, std::size_t N, class Clock, class Hash, class KeyEqual>
struct is_breaker_registry<breaker_registry<Key, N, Clock, Hash, KeyEqual>> : std::true_type {};
}  // namespace detail

/**
 * The policy `tutti::guard(registry, key_of)` returns: each call picks its breaker from
 * `registry` by `key_of(input)` (the workflow input: a merchant, a host), creating it on first
 * use, then behaves as `guard(breaker)` on it (same events, same classification). A key that
 * finds the registry full goes through its overflow breaker (`registry_full::share_overflow`,
 * the default) or is refused (`.when_full(tutti::registry_full::reject)`); never unguarded.
 * An exception thrown by `key_of` fails the call with `errc::exception` (the step is not called).
 * Holds a pointer: the registry must outlive the workflow.
 */
template <class Registry, class KeyOf, class Classify = count_all_errors>
class keyed_breaker_guard {
 public:
  static constexpr std::string_view policy_name = "circuit_breaker";
  using key_type = typename Registry::key_type;

  constexpr keyed_breaker_guard(Registry& r, KeyOf key_of, Classify classify = {},
                                registry_full full = registry_full::share_overflow, bool describe = false) noexcept
      : registry_(&r), key_of_(key_of), classify_(classify), full_(full), describe_(describe) {}

  /// The same guard, which writes the reason of a refusal as the step's message.
  [[nodiscard]] constexpr keyed_breaker_guard with_message() const noexcept {
    return keyed_breaker_guard{*registry_, key_of_, classify_, full_, true};
  }
  /// The same guard, with `full` deciding what a key that finds the registry full does.
  [[nodiscard]] constexpr keyed_breaker_guard when_full(registry_full full) const noexcept {
    return keyed_breaker_guard{*registry_, key_of_, classify_, full, describe_};
  }
  [[nodiscard]] constexpr Registry& registry() const noexcept { return *registry_; }

  template <class Next, class Call>
  auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    using R = decltype(next());
    std::error_code why;
    const std::optional<guard_type> one = pick(call, why);
    if (!one) return R(why);
    return one->invoke(next, call);
  }

 private:
  template <class>
  friend struct detail::async_policy;
  using guard_type = breaker_guard<typename Registry::breaker_type, Classify>;

  /// The guard of this call's breaker (the key's, or the overflow one), or nothing and `why`.
  template <class Call>
  std::optional<guard_type> pick(Call& call, std::error_code& why) const {
    using In = typename Call::input_type;
    static_assert(std::is_invocable_v<const KeyOf&, const In&>,
                  "tutti: the key selector of guard(registry, key_of) must be callable with the "
                  "workflow input (const In&) and return the registry's key.");
    static_assert(std::is_convertible_v<std::invoke_result_t<const KeyOf&, const In&>, key_type>,
                  "tutti: the key selector of guard(registry, key_of) must return the registry's "
                  "key type (or something convertible to it).");
    typename Registry::breaker_type* b = nullptr;
    try {
      const key_type key = key_of_(call.input());
      b = registry_->get(key);
    } catch (...) {
      if constexpr (requires { call.set_message(false, std::string_view{}); })
        call.set_message(false, detail::current_exception_message());
      why = make_error_code(errc::exception);
      return std::nullopt;
    }
    if (b == nullptr) {
      if (full_ == registry_full::reject) {
        registry_->count_overflow();
        if (describe_) {
          if constexpr (requires { call.set_message(false, std::string_view{}); })
            call.set_message(false, "breaker registry full");
        }
        why = make_error_code(errc::circuit_open);
        return std::nullopt;
      }
      b = &registry_->overflow();
      registry_->count_overflow();
    }
    return guard_type{*b, classify_, describe_};
  }

  Registry* registry_;
  [[no_unique_address]] KeyOf key_of_;
  [[no_unique_address]] Classify classify_;
  registry_full full_;
  bool describe_;
};

/// `step | tutti::guard(registry, key_of)`: each call's breaker is the registry's breaker of
/// `key_of(input)` (see keyed_breaker_guard).
template <class Registry, class KeyOf>
  requires detail::is_breaker_registry<Registry>::value
[[nodiscard]] constexpr auto guard(Registry& registry, KeyOf key_of) noexcept {
  return keyed_breaker_guard<Registry, KeyOf>{registry, key_of};
}
/// The same, with `classify(error_code) -> breaker_outcome` deciding what an error counts as.
template <class Registry, class KeyOf, class Classify>
  requires(detail::is_breaker_registry<Registry>::value &&
           std::is_invocable_r_v<breaker_outcome, const Classify&, const std::error_code&>)
[[nodiscard]] constexpr auto guard(Registry& registry, KeyOf key_of, Classify classify) noexcept {
  return keyed_breaker_guard<Registry, KeyOf, Classify>{registry, key_of, classify};
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_CIRCUIT_BREAKER_HPP
