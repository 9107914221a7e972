// tutti detail — whether a value's bytes would still mean something in another process.
//
// The journal stores a trivially copyable value as its bytes. That is only right when no part of
// the value is an address: a pointer, a std::string_view or std::span, or a struct holding one,
// restored after a restart, points at nothing. bytes_kind_of<T>() looks at T:
// * pointers, member pointers and references: `pointer`;
// * arithmetic types, enums, std::nullptr_t (every value is null, so its bytes restore it):
// `plain`;
// * arrays: their element;
// * std::basic_string_view, std::span, std::error_code, std::error_condition (a category pointer):
//   `pointer`;
// * std::optional<T>: T; tuple-like types (std::pair, std::tuple, std::array, anything with
//   std::tuple_size): their elements;
// * aggregates: their bases and members, recursively (aggregate.hpp). `hidden` when they cannot
//   all be seen: a union (only its first member can be initialized), a reference or const member
//   (the type cannot be assigned: a reference is an address, and a const member must not be
//   overwritten with bytes), more than max_aggregate_elements elements (arrays count each
//   element), or an element the check cannot convert to;
// * other classes (constructors, private members): `plain`. Their members cannot be seen from
//   outside; they are taken as their author wrote them (give them a serializer when they hold an
//   address).
#ifndef TUTTI_DETAIL_HOLDS_POINTER_HPP
#define TUTTI_DETAIL_HOLDS_POINTER_HPP

#include <cstddef>       // std::size_t
#include <optional>      // std::optional: looked through
#include <span>          // std::span: a pointer
#include <string_view>   // std::basic_string_view: a pointer
#include <system_error>  // std::error_code, std::error_condition: a category pointer
#include <tuple>         // std::tuple_size, std::tuple_element_t: tuple-like types
#include <type_traits>   // type categories
#include <utility>       // index sequences

#include "../config.hpp"
#include "aggregate.hpp"

TUTTI_BEGIN_NAMESPACE
namespace detail {

/// What a value's bytes are worth after a restart.
enum class bytes_kind {
  plain,    ///< no address inside: the bytes are the value
  pointer,  ///< an address inside: the bytes mean nothing in another process
  hidden,   ///< the members cannot all be seen, so it cannot be told
};

template <class T>
consteval bytes_kind bytes_kind_of();

// The worse of two: a pointer anywhere decides, then anything unseen.
consteval bytes_kind worse(bytes_kind a, bytes_kind b) {
  if (a == bytes_kind::pointer || b == bytes_kind::pointer) return bytes_kind::pointer;
  if (a == bytes_kind::hidden || b == bytes_kind::hidden) return bytes_kind::hidden;
  return bytes_kind::plain;
}

template <class T>
inline constexpr bool known_pointer_class = false;
template <class C, class Traits>
inline constexpr bool known_pointer_class<std::basic_string_view<C, Traits>> = true;
template <class T, std::size_t Extent>
inline constexpr bool known_pointer_class<std::span<T, Extent>> = true;
template <>
inline constexpr bool known_pointer_class<std::error_code> = true;
template <>
inline constexpr bool known_pointer_class<std::error_condition> = true;

template <class T>
inline constexpr bool optional_class = false;
template <class T>
inline constexpr bool optional_class<std::optional<T>> = true;

template <class T>
concept tuple_like_class = std::is_class_v<T> && requires {
  std::tuple_size<T>::value;
};

template <class T, std::size_t... I>
consteval bytes_kind tuple_bytes_kind(std::index_sequence<I...> /*unused*/) {
  // A loop over an array, not a fold: a fold over a std::array<char, 1000> is too deep for clang.
  const bytes_kind kinds[] = {bytes_kind::plain, bytes_kind_of<std::tuple_element_t<I, T>>()...};
  bytes_kind k = bytes_kind::plain;
  for (const bytes_kind e : kinds) k = worse(k, e);
  return k;
}

// Placeholders for aggregate.hpp's check: the conversion to an element type is deleted when that
// type holds a pointer (element_without_pointer) or is not plain (plain_element), so the brace
// initialization that compiled with any_element no longer initializes T exactly (aggregate.hpp:
// it fails, or a struct member refused the conversion and took its members from the next
// placeholders instead) when such an element is there.
struct element_without_pointer {
  template <class U>
  requires(bytes_kind_of<U>() != bytes_kind::pointer) operator U()
      const noexcept;  // NOLINT(google-explicit-constructor)
  template <class U>
  requires(bytes_kind_of<U>() == bytes_kind::pointer) operator U() const noexcept = delete;
};
struct plain_element {
  template <class U>
  requires(bytes_kind_of<U>() == bytes_kind::plain) operator U()
      const noexcept;  // NOLINT(google-explicit-constructor)
  template <class U>
  requires(bytes_kind_of<U>() != bytes_kind::plain) operator U() const noexcept = delete;
};

template <class T>
consteval bytes_kind aggregate_bytes_kind() {
  constexpr std::size_t n = aggregate_elements<T>();
  if constexpr (std::is_union_v<T> || !std::is_copy_assignable_v<T> || n == unseen_elements)
    return bytes_kind::hidden;
  else if constexpr (!initializes_exactly<T, element_without_pointer, n>)
    return bytes_kind::pointer;
  else if constexpr (!initializes_exactly<T, plain_element, n>)
    return bytes_kind::hidden;
  else
    return bytes_kind::plain;
}

template <class T>
consteval bytes_kind bytes_kind_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U> || std::is_reference_v<U>)
    return bytes_kind::pointer;
  else if constexpr (std::is_array_v<U>)
    return bytes_kind_of<std::remove_all_extents_t<U>>();
  else if constexpr (!std::is_class_v<U> && !std::is_union_v<U>)
    return bytes_kind::plain;
  else if constexpr (known_pointer_class<U>)
    return bytes_kind::pointer;
  else if constexpr (optional_class<U>)
    return bytes_kind_of<typename U::value_type>();
  else if constexpr (tuple_like_class<U>)
    return tuple_bytes_kind<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
  else if constexpr (std::is_aggregate_v<U>)
    return aggregate_bytes_kind<U>();
  else
    return bytes_kind::plain;
}

/// True when a value of T holds an address (a pointer, a std::string_view, a std::span, an
/// aggregate with one among its members, recursively): its bytes mean nothing after a restart.
template <class T>
concept holds_pointer = bytes_kind_of<T>()
== bytes_kind::pointer;

}  // namespace detail
TUTTI_END_NAMESPACE

#endif  // TUTTI_DETAIL_HOLDS_POINTER_HPP
