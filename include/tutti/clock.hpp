// tutti — the clock concept: every read of time and every wait goes through one.
#ifndef TUTTI_CLOCK_HPP
#define TUTTI_CLOCK_HPP

#include <chrono>       // durations, steady_clock
#include <concepts>     // std::same_as
#include <thread>       // std::this_thread::sleep_for

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

namespace detail {
/// The clock a run uses when the caller names none.
inline steady_clock& default_clock() noexcept {
  static steady_clock c;
  return c;
}
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_CLOCK_HPP
