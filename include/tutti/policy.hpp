// tutti — how policies wrap steps: `step | retry{...} | guard(breaker)`.
#ifndef TUTTI_POLICY_HPP
#define TUTTI_POLICY_HPP

#include <string_view>  // policy names
#include <type_traits>  // std::remove_cvref_t
#include <utility>      // std::forward

#include "config.hpp"
#include "result.hpp"
#include "step.hpp"

TUTTI_BEGIN_NAMESPACE

/**
 * A policy wraps "call the next layer": it has `policy_name` and
 * `template <class Next, class Call> auto invoke(Next&& next, Call& call) const`, where `next()`
 * makes one call of the layer inside and returns its `result<T>`.
 */
template <class P>
concept policy = requires {
  { std::remove_cvref_t<P>::policy_name } -> std::convertible_to<std::string_view>;
};

namespace detail {
template <class P>
constexpr bool makes_retriable() noexcept {
  if constexpr (requires { std::remove_cvref_t<P>::makes_retriable; })
    return std::remove_cvref_t<P>::makes_retriable;
  else
    return false;
}
}  // namespace detail

/**
 * A step (or nested workflow) with one more policy around it. `step | a | b` reads inside out:
 * `b` wraps `a` wraps the step, so the last policy written is the outermost and sees every
 * failure of the ones before it. Name, saga role and compensation are the inner step's.
 */
template <class Inner, class Policy>
class with_policy {
 public:
  static constexpr auto name = Inner::name;
  static constexpr bool is_node = true;
  static constexpr bool compensable = Inner::compensable;
  static constexpr bool pivot = Inner::pivot;
  static constexpr bool retriable = Inner::retriable || detail::makes_retriable<Policy>();
  static constexpr bool contains_compensable = Inner::contains_compensable;
  using inner_type = Inner;
  using policy_type = Policy;

  template <class In>
  using value_type = typename Inner::template value_type<In>;
  template <class In>
  using state_type = typename Inner::template state_type<In>;

  constexpr with_policy(Inner inner, Policy p) : inner_(std::move(inner)), policy_(std::move(p)) {}

  template <class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Call& call) const {
    return policy_.invoke([&]() { return inner_.invoke(call); }, call);
  }
  template <class Call, class S>
  result<void> compensate(S& produced, Call& call) const {
    return inner_.compensate(produced, call);
  }
  template <class S>
  static constexpr decltype(auto) value(const S& s) noexcept {
    return Inner::value(s);
  }

  [[nodiscard]] constexpr const Inner& inner() const noexcept { return inner_; }
  [[nodiscard]] constexpr const Policy& policy() const noexcept { return policy_; }

 private:
  [[no_unique_address]] Inner inner_;
  [[no_unique_address]] Policy policy_;
};

/// `step | policy`: wraps the step (or workflow) in the policy; see with_policy for the order.
template <node N, policy P>
[[nodiscard]] constexpr auto operator|(N&& n, P&& p) {
  return with_policy<std::remove_cvref_t<N>, std::remove_cvref_t<P>>(std::forward<N>(n),
                                                                     std::forward<P>(p));
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_HPP
