// tutti — the states of a circuit breaker (shared by the breaker and the event model).
#ifndef TUTTI_POLICY_BREAKER_STATE_HPP
#define TUTTI_POLICY_BREAKER_STATE_HPP

#include <cstdint>      // std::uint8_t
#include <string_view>  // to_string

#include "../config.hpp"

TUTTI_BEGIN_NAMESPACE

/// The states of a breaker. The last three are set by hand (`isolate()`, `disable()`, `metrics_only()`).
enum class breaker_state : std::uint8_t {
  closed,        ///< calls pass; outcomes are counted
  open,          ///< calls are rejected with `errc::circuit_open` until the break ends
  half_open,     ///< a few probe calls pass; their outcomes close or re-open the breaker
  isolated,      ///< forced open: every call is rejected until `reset()`
  disabled,      ///< every call passes; nothing is counted
  metrics_only,  ///< every call passes; outcomes are counted but never open the breaker
};

/// "closed", "open", "half_open", "isolated", "disabled" or "metrics_only".
[[nodiscard]] constexpr std::string_view to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed: return "closed";
    case breaker_state::open: return "open";
    case breaker_state::half_open: return "half_open";
    case breaker_state::isolated: return "isolated";
    case breaker_state::disabled: return "disabled";
    case breaker_state::metrics_only: return "metrics_only";
  }
  return "unknown";
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_BREAKER_STATE_HPP
