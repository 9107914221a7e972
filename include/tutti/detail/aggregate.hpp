// tutti detail — how many initializers an aggregate takes, found without reflection.
//
// C++20 cannot list a struct's members. What it can do is try `T{e0, e1, ..., eN-1}` in a
// requires-expression with placeholders that convert to any type: the largest N that compiles is
// the number of initializers T takes. Each base class takes one, each member one, and an array
// member one per element (brace elision: a placeholder cannot become an array, so the array's
// elements are initialized one by one). A placeholder whose conversion to some types is deleted
// then tells whether one of those types is among the elements (holds_pointer.hpp). No structured
// bindings are needed, so bases, bit-fields and arrays inside the struct need no special case.
#ifndef TUTTI_DETAIL_AGGREGATE_HPP
#define TUTTI_DETAIL_AGGREGATE_HPP

#include <cstddef>      // std::size_t
#include <type_traits>  // std::is_aggregate_v
#include <utility>      // index sequences

#include "../config.hpp"

TUTTI_BEGIN_NAMESPACE
namespace detail {

// Converts to any (non-array) type; declared only, it is used in unevaluated checks.
struct any_element {
  template <class U>
  operator U() const noexcept;  // NOLINT(google-explicit-constructor): the point is implicit
};

template <class T, class Element, std::size_t... I>
consteval bool brace_initializable(std::index_sequence<I...> /*unused*/) {
  return requires { T{(static_cast<void>(I), Element{})...}; };
}
// One more initializer, `{}`, after N placeholders: it value-initializes any element, so it
// compiles exactly when an element is left after the N (one the placeholder could not convert to).
template <class T, class Element, std::size_t... I>
consteval bool brace_initializable_then_empty(std::index_sequence<I...> /*unused*/) {
  return requires { T{(static_cast<void>(I), Element{})..., {}}; };
}

/// Whether `T{e, e, ...}` with N elements of type Element compiles.
template <class T, class Element, std::size_t N>
inline constexpr bool initializable_with =
    brace_initializable<T, Element>(std::make_index_sequence<N>{});

/// Whether N elements of type Element initialize every element of T, each from one of them: the
/// initialization compiles, and a `{}` after them does not. Where an Element does not convert to a
/// struct member, some compilers (clang) initialize that struct's own members from the next
/// Elements instead (brace elision); the list then runs out before T's last element, and a `{}`
/// after it finds a place.
template <class T, class Element, std::size_t N>
inline constexpr bool initializes_exactly =
    initializable_with<T, Element, N> &&
    !brace_initializable_then_empty<T, Element>(std::make_index_sequence<N>{});

/// Aggregates with more initializers than this are not looked into (the search costs compile time
/// in proportion to the count).
inline constexpr std::size_t max_aggregate_elements = 256;
/// What aggregate_elements returns when the elements cannot all be seen.
inline constexpr std::size_t unseen_elements = static_cast<std::size_t>(-1);

// Binary search between Low (compiles) and High (does not): every element not given an
// initializer is value-initialized, so "N placeholders compile" holds for all N up to the count.
template <class T, std::size_t Low, std::size_t High>
consteval std::size_t narrow_elements() {
  if constexpr (High - Low <= 1) {
    return Low;
  } else {
    constexpr std::size_t mid = Low + (High - Low) / 2;
    if constexpr (initializable_with<T, any_element, mid>)
      return narrow_elements<T, mid, High>();
    else
      return narrow_elements<T, Low, mid>();
  }
}
// Doubling N (1, 2, 4, ...) up to one past the maximum, so a small struct costs a few checks.
template <class T, std::size_t N>
consteval std::size_t grow_elements() {
  if constexpr (!initializable_with<T, any_element, N>)
    return narrow_elements<T, N / 2, N>();
  else if constexpr (N > max_aggregate_elements)
    return N;
  else
    return grow_elements<T, (2 * N < max_aggregate_elements + 1 ? 2 * N
                                                                : max_aggregate_elements + 1)>();
}

/**
 * The number of initializers the aggregate T takes (bases, members, each element of an array
 * member), or `unseen_elements` when that cannot be known: `T{}` does not compile (a member
 * without a default), there are more than `max_aggregate_elements`, or an element does not
 * accept a placeholder (then `{}` after the counted ones still compiles, so the count stopped
 * short of the end).
 */
template <class T>
consteval std::size_t aggregate_elements() {
  if constexpr (!std::is_aggregate_v<T> || !initializable_with<T, any_element, 0>) {
    return unseen_elements;
  } else {
    constexpr std::size_t n = grow_elements<T, 1>();
    if constexpr (n > max_aggregate_elements)
      return unseen_elements;
    else if constexpr (!initializes_exactly<T, any_element, n>)
      return unseen_elements;
    else
      return n;
  }
}

}  // namespace detail
TUTTI_END_NAMESPACE

#endif  // TUTTI_DETAIL_AGGREGATE_HPP
