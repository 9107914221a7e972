// tutti — the clock concept: every read of time and every wait goes through one.
#ifndef TUTTI_CLOCK_HPP
#define TUTTI_CLOCK_HPP

#include <chrono>       // durations, steady_clock
#include <concepts>     // std::same_as
#include <thread>       // std::this_thread::sleep_for
#include <type_traits>  // std::remove_cv_t: any_clock is not built from itself

#include "config.hpp"

TUTTI_BEGIN_NAMESPACE

/// Durations in tutti are nanoseconds; time points are nanoseconds since the clock's epoch.
using duration = std::chrono::nanoseconds;

/**
 * A clock tells the time and waits: `c.now()` returns nanoseconds since its epoch (monotonic),
 * `c.sleep_for(d)` waits `d`. The default is `tutti::steady_clock`; tests use
 * `tutti::testing::manual_clock`, whose sleep advances time at once.
 */
template <class C>
concept clock = requires(C& c, duration d) {
  { c.now() } -> std::same_as<duration>;
  c.sleep_for(d);
};

/// The real monotonic clock. Stateless; thread-safe.
struct steady_clock {
  [[nodiscard]] duration now() const noexcept {
    return std::chrono::duration_cast<duration>(
        std::chrono::steady_clock::now().time_since_epoch());
  }
  void sleep_for(duration d) const { std::this_thread::sleep_for(d); }
};

/**
 * The system (wall) clock: nanoseconds since the Unix epoch. Not monotonic: it is what several
 * processes on one machine share, so journals judge leases by it (`tutti::sqlite_journal`).
 * Stateless; thread-safe.
 */
struct wall_clock {
  [[nodiscard]] duration now() const noexcept {
    return std::chrono::duration_cast<duration>(
        std::chrono::system_clock::now().time_since_epoch());
  }
  void sleep_for(duration d) const { std::this_thread::sleep_for(d); }
};

/**
 * One type for every clock: a non-owning handle that reads and waits on the clock it was made
 * from. Default-constructed, it is `tutti::steady_clock`; made from any `C&` with
 * `tutti::clock<C>` (a `tutti::testing::manual_clock`, say), it forwards `now()` and
 * `sleep_for()` to that object. It lets code that takes a clock-using object by reference, such
 * as `tutti::breaker` (a `circuit_breaker<any_clock>`), be an ordinary function that production
 * and tests share:
 *
 * @code
 * tutti::any_clock real;                        // the steady clock
 * tutti::testing::manual_clock manual;
 * tutti::any_clock virtual_time{manual};        // reads and moves `manual`
 * @endcode
 *
 * A pointer to the clock and two pointers to functions: trivially copyable, no allocation, no
 * virtual function. Each read or wait is one indirect call, where a clock named by its type is
 * called directly (and `steady_clock::now()` inlined).
 *
 * Lifetime: the handle does not own the clock. The clock it was made from must outlive it and
 * every copy of it (the steady clock of a default-constructed handle always does); a temporary
 * clock does not compile. Thread-safety: that of the clock (tutti's clocks are thread-safe).
 * `now()` is `noexcept`: the clock's `now()` must not throw (if it does, the program ends).
 */
class any_clock {
 public:
  /// The steady clock.
  constexpr any_clock() noexcept = default;
  /// Reads and waits on `c`, which must outlive this handle and its copies.
  template <class C>
    requires(tutti::clock<C> && !std::same_as<std::remove_cv_t<C>, any_clock>)
  constexpr any_clock(C& c) noexcept  // NOLINT(google-explicit-constructor): a handle to `c`
      : clock_(&c), now_(&now_of<C>), sleep_(&sleep_of<C>) {}
  /// A temporary clock would be gone before the handle is used: name the clock, then pass it.
  template <class C>
    requires(!std::same_as<std::remove_cv_t<C>, any_clock>)
  any_clock(const C&&) = delete;

  [[nodiscard]] duration now() const noexcept { return now_(clock_); }
  void sleep_for(duration d) const { sleep_(clock_, d); }

 private:
  template <class C>
  static duration now_of(const void* c) noexcept {
    return static_cast<C*>(const_cast<void*>(c))->now();
  }
  template <class C>
  static void sleep_of(const void* c, duration d) {
    static_cast<C*>(const_cast<void*>(c))->sleep_for(d);
  }
  // The default handle has no object to point to: these read the steady clock itself.
  static duration steady_now(const void* /*unused*/) noexcept { return steady_clock{}.now(); }
  static void steady_sleep(const void* /*unused*/, duration d) { steady_clock{}.sleep_for(d); }

  const void* clock_ = nullptr;
  duration (*now_)(const void*) noexcept = &steady_now;
  void (*sleep_)(const void*, duration) = &steady_sleep;
};

namespace detail {
/// The clock a run uses when the caller names none.
inline steady_clock& default_clock() noexcept {
  static steady_clock c;
  return c;
}
/// The wall clock as an object a handle can point to.
inline wall_clock& default_wall_clock() noexcept {
  static wall_clock c;
  return c;
}
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_CLOCK_HPP
