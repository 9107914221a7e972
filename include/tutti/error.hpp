// tutti — error codes of the library and their std::error_category.
#ifndef TUTTI_ERROR_HPP
#define TUTTI_ERROR_HPP

#include <exception>     // the text of a captured exception
#include <string>        // category message
#include <system_error>  // std::error_code, std::error_category
#include <type_traits>   // std::true_type

#include "config.hpp"

TUTTI_BEGIN_NAMESPACE

/**
 * Errors tutti itself reports. User steps report their own `std::error_code`s; these appear
 * where tutti decides (an exception was captured, a breaker rejected a call, ...).
 */
enum class errc : int {
  step_failed = 1,          ///< a step reported failure without a more precise code
  exception = 2,            ///< a user callable threw; the message holds `what()`
  compensation_failed = 3,  ///< one or more compensations failed (see the report)
  cancelled = 4,            ///< the run or the step was asked to stop
  timeout = 5,              ///< a deadline passed (reserved for the timeout policy)
  circuit_open = 6,         ///< rejected by an open circuit breaker
  bulkhead_full = 7,        ///< rejected by a full bulkhead
  rate_limited = 8,         ///< rejected by a rate limiter
  retries_exhausted = 9,    ///< a retry on values ran out of attempts on a value it retries (on errors, the last error is kept)
  invalid_argument = 10,    ///< a setting or an argument is out of range
  no_value = 11,            ///< a value was read from a run or step that did not produce one
  paused = 12,              ///< a journaled run stopped before a step because it was paused
  journal_failed = 13,      ///< a journaled run stopped: its journal could not be written
};

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  constexpr error_category_impl() noexcept = default;
  [[nodiscard]] const char* name() const noexcept override { return "tutti"; }
  [[nodiscard]] std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::step_failed: return "step failed";
      case errc::exception: return "a user callable threw an exception";
      case errc::compensation_failed: return "compensation failed";
      case errc::cancelled: return "cancelled";
      case errc::timeout: return "timed out";
      case errc::circuit_open: return "circuit breaker is open";
      case errc::bulkhead_full: return "bulkhead is full";
      case errc::rate_limited: return "rate limited";
      case errc::retries_exhausted: return "retries exhausted";
      case errc::invalid_argument: return "invalid argument";
      case errc::no_value: return "no value";
      case errc::paused: return "the run is paused";
      case errc::journal_failed: return "the run's journal could not be written";
    }
    return "unknown tutti error";
  }
};

// The one category object (an inline variable: one address in every TU). Constant-initialised,
// so making or comparing a tutti error code reads no guard variable, as a function-local static
// did on every call; and it is destroyed after every dynamically initialised static.
inline constinit const error_category_impl error_category_object{};

/// Inside a handler: what the exception being handled says (`what()`, or a fixed text for one
/// not derived from std::exception). The text lives as long as the exception is handled. One
/// `catch (...)` per call site and this function instead of a handler per exception type.
TUTTI_NOINLINE inline const char* current_exception_message() noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception (not derived from std::exception)";
  }
}
}  // namespace detail

/// The category of `tutti::errc`; name "tutti".
[[nodiscard]] inline const std::error_category& error_category() noexcept {
  return detail::error_category_object;
}

/// Found by ADL: `std::error_code ec = tutti::errc::timeout;`
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

TUTTI_END_NAMESPACE

template <>
struct std::is_error_code_enum<tutti::errc> : std::true_type {};

#endif  // TUTTI_ERROR_HPP
