// tutti — compile-time names for steps and workflows.
#ifndef TUTTI_FIXED_STRING_HPP
#define TUTTI_FIXED_STRING_HPP

#include <cstddef>      // std::size_t
#include <string_view>  // views of names

#include "config.hpp"

TUTTI_BEGIN_NAMESPACE

/**
 * A string usable as a template argument: `tutti::step<"charge_card">(charge)`.
 * Holds the characters and a terminating zero; `view()` gives the name without it.
 */
template <std::size_t N>
struct fixed_string {
  char data[N]{};  // public: a structural type is required for template arguments

  constexpr fixed_string() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): a literal must convert implicitly
  constexpr fixed_string(const char (&text)[N]) noexcept {
    for (std::size_t i = 0; i < N; ++i) data[i] = text[i];
  }

  /// The name, without the terminating zero.
  [[nodiscard]] constexpr std::string_view view() const noexcept { return {data, N - 1}; }
  // NOLINTNEXTLINE(google-explicit-constructor): a name reads as text wherever text is expected
  constexpr operator std::string_view() const noexcept { return view(); }
  [[nodiscard]] static constexpr std::size_t size() noexcept { return N - 1; }
  [[nodiscard]] constexpr bool empty() const noexcept { return N == 1; }

  template <std::size_t M>
  [[nodiscard]] constexpr bool operator==(const fixed_string<M>& other) const noexcept {
    return view() == other.view();
  }
};

namespace detail {
/// `A + B` at compile time (used to build step paths such as "payment/authorize").
template <fixed_string A, fixed_string B>
constexpr auto concat() noexcept {
  fixed_string<A.size() + B.size() + 1> out;
  for (std::size_t i = 0; i < A.size(); ++i) out.data[i] = A.data[i];
  for (std::size_t i = 0; i < B.size(); ++i) out.data[A.size() + i] = B.data[i];
  return out;
}

/// Whether a name is usable: not empty and without '/', which separates nested steps.
template <fixed_string Name>
constexpr bool valid_name() noexcept {
  if (Name.empty()) return false;
  for (char c : Name.view())
    if (c == '/' || c == '\n' || c == '"') return false;
  return true;
}
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_FIXED_STRING_HPP
