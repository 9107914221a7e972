// tutti — the result type steps return, and how other return types are normalised.
#ifndef TUTTI_RESULT_HPP
#define TUTTI_RESULT_HPP

#include <boost/outcome/std_result.hpp>  // result<T> on std::error_code
#include <system_error>                  // std::error_code
#include <type_traits>                   // traits of return types

#include "config.hpp"
#include "error.hpp"

TUTTI_BEGIN_NAMESPACE

/// Boost.Outcome, under a short name: `tutti::outcome::success()`.
namespace outcome = BOOST_OUTCOME_V2_NAMESPACE;

/// What a step returns: a value or a `std::error_code`. `T` may be `void`.
template <class T>
using result = outcome::std_result<T>;

/// The value stored for a step that produces nothing (`void`): empty, costs nothing.
struct unit {
  friend constexpr bool operator==(unit, unit) noexcept { return true; }
};

namespace detail {
template <class T>
inline constexpr bool is_result_v = outcome::is_basic_result_v<T>;

/// Maps what a callable returns to the value type tutti stores:
/// `result<T>` -> T, `void` -> unit, `result<void>` -> unit, anything else -> itself.
template <class R, bool = is_result_v<R>>
struct value_of {
  using type = R;
};
template <class R>
struct value_of<R, true> {
  using type = typename R::value_type;
};
template <class R>
using value_of_t = std::remove_cvref_t<typename value_of<std::remove_cvref_t<R>>::type>;

/// Stored form of a value type: void becomes unit.
template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, unit, T>;
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_RESULT_HPP
