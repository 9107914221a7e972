// tutti detail — what a callable takes and returns, when that can be read off its type.
#ifndef TUTTI_DETAIL_SIGNATURE_HPP
#define TUTTI_DETAIL_SIGNATURE_HPP

#include <cstddef>      // std::size_t
#include <type_traits>  // std::remove_cvref_t

#include "../config.hpp"

TUTTI_BEGIN_NAMESPACE
namespace detail {

template <class... T>
struct type_list {
  static constexpr std::size_t size = sizeof...(T);
};

// Callables whose signature cannot be read (generic lambdas, overload sets) get `known = false`
// and are called with the workflow input or with nothing.
template <class F, class = void>
struct signature {
  static constexpr bool known = false;
  static constexpr bool nothrow = false;
  static constexpr bool mutable_call = false;
};

template <bool Nothrow, class R, class... A>
struct signature_base {
  static constexpr bool known = true;
  static constexpr bool mutable_call = false;
  static constexpr bool nothrow = Nothrow;  // declared noexcept: called without a try block
  using return_type = R;
  using args = type_list<A...>;
};

template <class R, class... A>
struct signature<R (*)(A...)> : signature_base<false, R, A...> {};
template <class R, class... A>
struct signature<R (*)(A...) noexcept> : signature_base<true, R, A...> {};
template <class R, class... A>
struct signature<R(A...)> : signature_base<false, R, A...> {};
template <class R, class... A>
struct signature<R(A...) noexcept> : signature_base<true, R, A...> {};

#define TUTTI_DETAIL_MEMBER_SIGNATURE(QUALS)                                       \
  template <class R, class C, class... A>                                          \
  struct signature<R (C::*)(A...) QUALS> : signature_base<false, R, A...> {};      \
  template <class R, class C, class... A>                                          \
  struct signature<R (C::*)(A...) QUALS noexcept> : signature_base<true, R, A...> {};
TUTTI_DETAIL_MEMBER_SIGNATURE(const)
TUTTI_DETAIL_MEMBER_SIGNATURE(const&)
#undef TUTTI_DETAIL_MEMBER_SIGNATURE

template <class R, class C, class... A>
struct signature<R (C::*)(A...)> : signature_base<false, R, A...> {
  static constexpr bool mutable_call = true;
};
template <class R, class C, class... A>
struct signature<R (C::*)(A...) noexcept> : signature_base<true, R, A...> {
  static constexpr bool mutable_call = true;
};

template <class F>
struct signature<F, std::void_t<decltype(&F::operator())>> : signature<decltype(&F::operator())> {};

template <class F>
using signature_of = signature<std::remove_cvref_t<F>>;

/// Something tutti can call at all: a function, a function pointer or a class with operator().
template <class F>
concept callable_shape = std::is_function_v<std::remove_pointer_t<std::remove_cvref_t<F>>> ||
                         std::is_class_v<std::remove_cvref_t<F>>;

}  // namespace detail
TUTTI_END_NAMESPACE

#endif  // TUTTI_DETAIL_SIGNATURE_HPP
