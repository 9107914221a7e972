// tutti testing kit — chaos: inject faults, latency and results at a rate, reproducibly.
#ifndef TUTTI_TESTING_CHAOS_HPP
#define TUTTI_TESTING_CHAOS_HPP

#include <atomic>        // chaos_switch, chaos_random: shared by runs and threads
#include <cstdint>       // random words, thresholds
#include <stdexcept>     // std::invalid_argument for settings from configuration
#include <string>        // dropping a stale note
#include <string_view>   // policy names, notes
#include <system_error>  // injected errors
#include <type_traits>   // storage when compiled out, shape checks
#include <utility>       // std::move

#include "../clock.hpp"
#include "../config.hpp"
#include "../context.hpp"  // ::tutti::detail::mix64
#include "../error.hpp"
#include "../policy.hpp"
#include "../report.hpp"  // step_flag
#include "../result.hpp"

/**
 * TUTTI_CONFIG_CHAOS: 1 (the default) builds the chaos policies; 0 compiles every one of them
 * to an empty pass-through (its `invoke` is `return next();`). Production builds that keep chaos
 * policies in their workflows (for game days in staging) define it to 0. Define it the same way
 * in every translation unit of a program: the two forms live in different inline namespaces, so
 * a mix links into distinct types instead of silently breaking the one-definition rule.
 */
#ifndef TUTTI_CONFIG_CHAOS
#  define TUTTI_CONFIG_CHAOS 1
#endif

TUTTI_BEGIN_NAMESPACE

namespace detail {
// Not constexpr on purpose (see retry.hpp): reached during constant evaluation, they stop the
// compilation with their name in the diagnostic; reached at run time, they throw.
[[noreturn]] inline void tutti_invalid_setting_injection_rate_must_be_between_0_and_1() {
  throw std::invalid_argument(
      "tutti: a chaos injection rate must be between 0 and 1 (0.05 = one call in twenty)");
}
[[noreturn]] inline void tutti_invalid_setting_injected_latency_must_not_be_negative() {
  throw std::invalid_argument("tutti: an injected latency must not be negative");
}
}  // namespace detail

namespace testing {

/**
 * The share of calls a chaos policy injects into, from 0 (never) to 1 (every call). Checked
 * like the other settings: out of range (or NaN) in a constant expression it does not compile;
 * from configuration it throws `std::invalid_argument`. The resolution is 2^-53: a call injects
 * when the top 53 bits of a random word are below `rate * 2^53`.
 */
struct injection_rate {
  double value = 0.0;
  std::uint64_t threshold = 0;  // of the top 53 bits of a word: inject below it

  constexpr injection_rate(double rate)  // NOLINT(google-explicit-constructor): `{0.1, ...}`
      : value(rate) {
    if (!(rate >= 0.0 && rate <= 1.0)) ::tutti::detail::tutti_invalid_setting_injection_rate_must_be_between_0_and_1();
    threshold = static_cast<std::uint64_t>(rate * 0x1.0p53);  // exact: a power-of-two scale
  }
  /// Whether the word decides for an injection.
  [[nodiscard]] constexpr bool hit(std::uint64_t word) const noexcept {
    return (word >> 11) < threshold;
  }
};

/**
 * An on/off switch for chaos at run time, for game days: `policy.enabled_by(sw)` injects only
 * while `sw` is on. Starts off unless told otherwise. Thread-safe (one relaxed atomic: a run
 * that started before a change may still see the old state for its next call); must outlive
 * the workflows whose policies refer to it.
 */
class chaos_switch {
 public:
  constexpr explicit chaos_switch(bool on = false) noexcept : on_(on) {}
  chaos_switch(const chaos_switch&) = delete;
  chaos_switch& operator=(const chaos_switch&) = delete;

  void turn_on() noexcept { on_.store(true, std::memory_order_relaxed); }
  void turn_off() noexcept { on_.store(false, std::memory_order_relaxed); }
  void set(bool on) noexcept { on_.store(on, std::memory_order_relaxed); }
  [[nodiscard]] bool is_on() const noexcept { return on_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> on_;
};

/**
 * A chaos policy's own random sequence, independent of the run's: `policy.drawing_from(rng)`.
 * splitmix64 from `seed` (the same sequence a run with `run_options::seed = seed` draws). Use it
 * when injections must not depend on the runs' seeds or on what other policies draw (jitter).
 * Thread-safe (one atomic add per draw); the sequence is reproducible when the calls come in a
 * reproducible order (one thread). Must outlive the workflows whose policies refer to it.
 */
class chaos_random {
 public:
  constexpr explicit chaos_random(std::uint64_t seed) noexcept : state_(seed) {}
  chaos_random(const chaos_random&) = delete;
  chaos_random& operator=(const chaos_random&) = delete;

  /// The next uniformly distributed 64-bit word.
  [[nodiscard]] std::uint64_t next() noexcept {
    return ::tutti::detail::mix64(state_.fetch_add(0x9E3779B97F4A7C15ULL, std::memory_order_relaxed));
  }
  /// Starts the sequence of `seed` again.
  void reseed(std::uint64_t seed) noexcept { state_.store(seed, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> state_;
};

}  // namespace testing

namespace detail {
/// The notes chaos policies leave on a step's message; all start with this.
inline constexpr std::string_view chaos_note_prefix = "chaos: injected";
inline constexpr std::string_view chaos_fault_note = "chaos: injected fault";
inline constexpr std::string_view chaos_result_note = "chaos: injected failing result";
inline constexpr std::string_view chaos_latency_note = "chaos: injected latency";
inline constexpr std::string_view chaos_latency_cut_note =
    "chaos: injected latency until the deadline";

// A chaos note describes the attempt it was written in. Notes are written once the layers
// inside have returned, so any chaos note in front of the message when a chaos policy starts
// is from an earlier attempt: it must not be read as the cause of this attempt's failure.
template <class Call>
TUTTI_NOINLINE void drop_chaos_notes(Call& call) {
  std::string_view m = call.message();
  while (m.starts_with(chaos_note_prefix)) {
    const std::size_t end = m.find("; ");
    m = end == std::string_view::npos ? std::string_view{} : m.substr(end + 2);
  }
  call.set_message(false, std::string{m});  // a copy: `m` views the text being replaced
}
template <class Call>
TUTTI_ALWAYS_INLINE void forget_earlier_chaos(Call& call) {
  if constexpr (requires { call.message(); call.set_message(false, std::string_view{}); }) {
    if (TUTTI_UNLIKELY(call.message().starts_with(chaos_note_prefix))) drop_chaos_notes(call);
  }
}
template <class Call>
void chaos_note(Call& call, std::string_view note) {
  if constexpr (requires { call.note(note); }) call.note(note);
}

/// What every active chaos policy holds: its rate, its switch and its random source.
struct chaos_settings {
  testing::injection_rate rate;
  const testing::chaos_switch* on_off = nullptr;  // nullptr: always on
  testing::chaos_random* random = nullptr;        // nullptr: the run's generator

  /// Whether this call is injected into. A policy that cannot inject (rate 0, switched off)
  /// draws nothing and allocates nothing: the run is the run without it, jitter included.
  template <class Call>
  TUTTI_ALWAYS_INLINE bool roll(Call& call) const {
    if (rate.threshold == 0) return false;
    if (on_off != nullptr && !on_off->is_on()) {
      forget_earlier_chaos(call);  // notes from before the switch went off
      return false;
    }
    const std::uint64_t word = random != nullptr ? random->next() : call.random();
    if (rate.hit(word)) return true;
    forget_earlier_chaos(call);
    return false;
  }
};

/// A compiled-out policy's storage: nothing. One type per policy: empty members of one type
/// cannot share an address, so a shared type would make stacked policies take space.
template <class Policy>
struct chaos_nothing {};

/// `R` (a step's `result<T>`) from what inject_result was given: a T, a `result<X>`, or a
/// callable taking nothing that returns either.
template <class R, class V>
R chaos_to_result(V&& v) {
  using T = typename R::value_type;
  using U = std::remove_cvref_t<V>;
  if constexpr (is_result_v<U>) {
    using X = typename U::value_type;
    if (!v.has_value()) {
      const std::error_code ec = v.assume_error();
      return R(ec ? ec : make_error_code(errc::step_failed));
    }
    if constexpr (std::is_void_v<X>) {
      static_assert(std::is_same_v<T, unit>,
                    "tutti: inject_result(rate, x): x gives a result<void>, but the step has an "
                    "output: give a value of the step's output type.");
      return R(unit{});
    } else {
      static_assert(std::is_convertible_v<X, T>,
                    "tutti: inject_result(rate, x): x gives a result whose value does not convert "
                    "to the step's output type.");
      return R(T(std::forward<V>(v).assume_value()));
    }
  } else {
    static_assert(std::is_convertible_v<V, T>,
                  "tutti: inject_result(rate, x): x must be a value of the step's output type, a "
                  "tutti::result of it, or a callable taking nothing that returns one of these "
                  "(a nested workflow's output cannot be injected: wrap its last step).");
    return R(T(std::forward<V>(v)));
  }
}
}  // namespace detail

namespace testing {

// The policies' two forms (active, compiled out) are distinct types per TUTTI_CONFIG_CHAOS.
#if TUTTI_CONFIG_CHAOS
inline namespace chaos_on {
#else
inline namespace chaos_off {
#endif

/// Whether chaos policies inject in this build (TUTTI_CONFIG_CHAOS); the default of their
/// `Active` parameter.
inline constexpr bool chaos_compiled_in = TUTTI_CONFIG_CHAOS != 0;

/**
 * Fails a share of calls with `error`, instead of calling the layer inside:
 * `step | tutti::testing::inject_fault{0.05, pay::errc::gateway_busy} | tutti::retry{...}`.
 *
 * Each call draws one random word from the run's generator (seeded by `run_options::seed`, so a
 * run with a fixed seed injects the same faults every time) or from `drawing_from(rng)`. An
 * injected fault is not a call of the step: the report's `attempts` does not count it, and its
 * message says "chaos: injected fault". `error` is a `std::error_code` or an error enum (an enum
 * keeps the policy a literal type: `constexpr` settings are checked at compile time).
 *
 * `Active = false` (the default when TUTTI_CONFIG_CHAOS is 0) makes it an empty pass-through:
 * the settings are still checked, nothing is stored, `invoke` is `return next();`.
 */
template <class E, bool Active = chaos_compiled_in>
class inject_fault {
  static_assert(std::is_same_v<E, std::error_code> || std::is_error_code_enum_v<E>,
                "tutti: inject_fault(rate, error): error must be a std::error_code or an error "
                "code enum (for std::errc, write std::make_error_code(std::errc::...)).");
  struct state {
    ::tutti::detail::chaos_settings chaos;
    E error;
  };
  using storage = std::conditional_t<Active, state, ::tutti::detail::chaos_nothing<inject_fault>>;

 public:
  static constexpr std::string_view policy_name = "inject_fault";
  static constexpr bool active = Active;

  constexpr inject_fault(injection_rate rate, E error) : s_(store(rate, std::move(error))) {}

  /// The same policy, injecting only while `sw` is on.
  [[nodiscard]] constexpr inject_fault enabled_by(const chaos_switch& sw) const {
    inject_fault copy = *this;
    if constexpr (Active) copy.s_.chaos.on_off = &sw;
    else (void)sw;
    return copy;
  }
  inject_fault enabled_by(const chaos_switch&&) const = delete;  // it would dangle
  /// The same policy, drawing from `rng` instead of the run's generator.
  [[nodiscard]] constexpr inject_fault drawing_from(chaos_random& rng) const {
    inject_fault copy = *this;
    if constexpr (Active) copy.s_.chaos.random = &rng;
    else (void)rng;
    return copy;
  }

  /// The configured rate; 0 when compiled out.
  [[nodiscard]] constexpr double rate() const noexcept {
    if constexpr (Active) return s_.chaos.rate.value;
    else return 0.0;
  }
  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {policy_name, 1, duration{}, duration::max(), Active ? "chaos" : "compiled out"};
  }

  template <class Next, class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    if constexpr (Active) {
      if (TUTTI_UNLIKELY(s_.chaos.roll(call))) return inject<decltype(next())>(call);
    }
    return next();
  }

 private:
  static constexpr storage store(injection_rate rate, E error) {
    if constexpr (Active) {
      return state{{rate, nullptr, nullptr}, std::move(error)};
    } else {
      (void)rate, (void)error;
      return {};
    }
  }
  template <class R, class Call>
  TUTTI_NOINLINE R inject(Call& call) const {
    ::tutti::detail::forget_earlier_chaos(call);
    ::tutti::detail::chaos_note(call, ::tutti::detail::chaos_fault_note);
    const std::error_code ec(s_.error);
    return R(ec ? ec : make_error_code(errc::step_failed));
  }

  [[no_unique_address]] storage s_;
};

template <class E>
inject_fault(injection_rate, E) -> inject_fault<E>;

/**
 * Delays a share of calls by `latency` before calling the layer inside, through the run's clock
 * (on a `manual_clock` the delay is virtual time, so it counts against timeouts and deadlines):
 * `step | tutti::testing::inject_latency{0.1, 3s} | tutti::timeout{2s}`.
 *
 * Like a client that honours `call_context::deadline`, the delay stops at the attempt's deadline
 * (a `timeout` or `deadline` outside it, or the run's): the call then fails with
 * `errc::timeout`, marked `timed_out`, without calling the step. `ignoring_deadlines()` sleeps the
 * whole delay and calls the step late instead (a client that does not honour deadlines: a
 * timeout outside then treats its result as late, undoing a late success if it can).
 * Random draws, switch and compile-time disabling are those of inject_fault.
 */
template <bool Active = chaos_compiled_in>
class inject_latency {
  struct state {
    ::tutti::detail::chaos_settings chaos;
    duration latency;
    bool stop_at_deadline = true;
  };
  using storage = std::conditional_t<Active, state, ::tutti::detail::chaos_nothing<inject_latency>>;

 public:
  static constexpr std::string_view policy_name = "inject_latency";
  static constexpr bool active = Active;

  constexpr inject_latency(injection_rate rate, duration latency) : s_(store(rate, latency)) {}

  /// The same policy, injecting only while `sw` is on.
  [[nodiscard]] constexpr inject_latency enabled_by(const chaos_switch& sw) const {
    inject_latency copy = *this;
    if constexpr (Active) copy.s_.chaos.on_off = &sw;
    else (void)sw;
    return copy;
  }
  inject_latency enabled_by(const chaos_switch&&) const = delete;  // it would dangle
  /// The same policy, drawing from `rng` instead of the run's generator.
  [[nodiscard]] constexpr inject_latency drawing_from(chaos_random& rng) const {
    inject_latency copy = *this;
    if constexpr (Active) copy.s_.chaos.random = &rng;
    else (void)rng;
    return copy;
  }
  /// The same policy, sleeping the whole latency even past a deadline, then calling the step.
  [[nodiscard]] constexpr inject_latency ignoring_deadlines() const {
    inject_latency copy = *this;
    if constexpr (Active) copy.s_.stop_at_deadline = false;
    return copy;
  }

  /// The configured rate; 0 when compiled out.
  [[nodiscard]] constexpr double rate() const noexcept {
    if constexpr (Active) return s_.chaos.rate.value;
    else return 0.0;
  }
  /// The configured latency; 0 when compiled out.
  [[nodiscard]] constexpr duration latency() const noexcept {
    if constexpr (Active) return s_.latency;
    else return duration{};
  }
  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {policy_name, 1, latency(), duration::max(), Active ? "chaos" : "compiled out"};
  }

  template <class Next, class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    if constexpr (Active) {
      if (TUTTI_UNLIKELY(s_.chaos.roll(call))) return inject(next, call);
    }
    return next();
  }

 private:
  static constexpr storage store(injection_rate rate, duration latency) {
    if (latency.count() < 0) ::tutti::detail::tutti_invalid_setting_injected_latency_must_not_be_negative();
    if constexpr (Active) {
      return state{{rate, nullptr, nullptr}, latency, true};
    } else {
      (void)rate;
      return {};
    }
  }
  template <class Next, class Call>
  TUTTI_NOINLINE auto inject(Next& next, Call& call) const -> decltype(next()) {
    using R = decltype(next());
    ::tutti::detail::forget_earlier_chaos(call);
    const duration deadline = call.deadline();
    if (s_.stop_at_deadline && deadline != duration::max()) {
      const duration now = call.clock().now();
      if (saturating_add(now, s_.latency) > deadline) {
        if (deadline > now) call.clock().sleep_for(deadline - now);
        call.mark(step_flag::timed_out);
        ::tutti::detail::chaos_note(call, ::tutti::detail::chaos_latency_cut_note);
        return R(make_error_code(errc::timeout));
      }
    }
    call.clock().sleep_for(s_.latency);
    R r = next();
    ::tutti::detail::chaos_note(call, ::tutti::detail::chaos_latency_note);  // after the layers inside: see above
    return r;
  }

  [[no_unique_address]] storage s_;
};

inject_latency(injection_rate, duration) -> inject_latency<>;

/**
 * Replaces the result of a share of calls, instead of calling the layer inside:
 * `step | tutti::testing::inject_result{0.2, [] { return quote{.price = -1}; }}`. `make` is a
 * value of the step's output type, a `tutti::result` of it (an error result is a fault), or a
 * callable taking nothing that returns either (called on each injection, on the thread running
 * the step: concurrent runs call it concurrently). An injected error
 * leaves the note "chaos: injected failing result"; an injected value leaves none.
 * Random draws, switch and compile-time disabling are those of inject_fault.
 */
template <class F, bool Active = chaos_compiled_in>
class inject_result {
  struct state {
    ::tutti::detail::chaos_settings chaos;
    F make;
  };
  using storage = std::conditional_t<Active, state, ::tutti::detail::chaos_nothing<inject_result>>;

 public:
  static constexpr std::string_view policy_name = "inject_result";
  static constexpr bool active = Active;

  constexpr inject_result(injection_rate rate, F make) : s_(store(rate, std::move(make))) {}

  /// The same policy, injecting only while `sw` is on.
  [[nodiscard]] constexpr inject_result enabled_by(const chaos_switch& sw) const {
    inject_result copy = *this;
    if constexpr (Active) copy.s_.chaos.on_off = &sw;
    else (void)sw;
    return copy;
  }
  inject_result enabled_by(const chaos_switch&&) const = delete;  // it would dangle
  /// The same policy, drawing from `rng` instead of the run's generator.
  [[nodiscard]] constexpr inject_result drawing_from(chaos_random& rng) const {
    inject_result copy = *this;
    if constexpr (Active) copy.s_.chaos.random = &rng;
    else (void)rng;
    return copy;
  }

  /// The configured rate; 0 when compiled out.
  [[nodiscard]] constexpr double rate() const noexcept {
    if constexpr (Active) return s_.chaos.rate.value;
    else return 0.0;
  }
  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {policy_name, 1, duration{}, duration::max(), Active ? "chaos" : "compiled out"};
  }

  template <class Next, class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    if constexpr (Active) {
      if (TUTTI_UNLIKELY(s_.chaos.roll(call))) return inject<decltype(next())>(call);
    }
    return next();
  }

 private:
  static constexpr storage store(injection_rate rate, F make) {
    if constexpr (Active) {
      return state{{rate, nullptr, nullptr}, std::move(make)};
    } else {
      (void)rate, (void)make;
      return {};
    }
  }
  decltype(auto) made() const {
    if constexpr (std::is_invocable_v<const F&>) return s_.make();
    else return (s_.make);
  }
  template <class R, class Call>
  TUTTI_NOINLINE R inject(Call& call) const {
    ::tutti::detail::forget_earlier_chaos(call);
    R r = ::tutti::detail::chaos_to_result<R>(made());
    if (!r.has_value()) ::tutti::detail::chaos_note(call, ::tutti::detail::chaos_result_note);
    return r;
  }

  [[no_unique_address]] storage s_;
};

template <class F>
inject_result(injection_rate, F) -> inject_result<F>;

}  // inline namespace chaos_on / chaos_off

}  // namespace testing

TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_CHAOS_HPP
