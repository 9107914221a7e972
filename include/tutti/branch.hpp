// tutti — conditional steps and typed branches: when, choose, if_else.
#ifndef TUTTI_BRANCH_HPP
#define TUTTI_BRANCH_HPP

#include <cstddef>      // std::size_t
#include <cstdint>      // what the journal keeps of a choice
#include <optional>     // the output of a conditional step
#include <string>       // failure messages
#include <tuple>        // cases
#include <type_traits>  // output types
#include <utility>      // index sequences
#include <variant>      // the output of a choice between types

#include "config.hpp"
#include "detail/signature.hpp"
#include "error.hpp"
#include "fixed_string.hpp"
#include "parallel.hpp"
#include "report.hpp"
#include "result.hpp"
#include "step.hpp"
#include "workflow.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {

/// The async layer's way of running a conditional step or a choice (<tutti/async.hpp>).
template <class N>
struct async_branch;

/// Calls a condition or selector like a step's callable (the input, from<>, call_context);
/// exceptions are captured as the step's failure. Returns what it returned, as R.
template <class R, class P, class Call>
result<R> evaluate(const P& p, Call& call) {
  using In = typename Call::input_type;
  if constexpr (signature_of<P>::known) {
    using args = typename signature_of<P>::args;
    static_assert(all_bindable<P, Call>(args{}),
                  "tutti: a condition's parameters must be the workflow input (by value or "
                  "const&), tutti::from<\"step\", T> for an earlier step's output, or "
                  "tutti::call_context.");
    return capture<R, signature_of<P>::nothrow>(
        call, false, [&]() -> R { return static_cast<R>(call_with(p, call, args{})); });
  } else if constexpr (std::is_invocable_v<const P&, const In&>) {
    return capture<R>(call, false, [&]() -> R { return static_cast<R>(p(call.input())); });
  } else {
    static_assert(std::is_invocable_v<const P&>,
                  "tutti: a condition must be callable with the workflow input, with "
                  "from<\"step\", T> parameters, or with nothing.");
    return capture<R>(call, false, [&]() -> R { return static_cast<R>(p()); });
  }
}

/// A conditional step's state: its output (or nothing when skipped); a nested workflow keeps its
/// run state and a copy of its value.
template <class S, class V>
struct when_state {
  std::optional<S> inner;
  std::optional<V> value;
};
template <class V>
struct when_state_of {
  template <class S>
  using type = std::conditional_t<std::is_same_v<S, V>, std::optional<V>, when_state<S, V>>;
};
}  // namespace detail

/**
 * A step that runs only when a condition holds: `tutti::when(paid, step<"ship">(ship))`. The
 * condition takes parameters like a step (the input, `from<"step", T>`, `call_context`) and
 * returns bool. The node keeps its name; its output is `std::optional<V>`, empty when skipped.
 * A skipped step shows `skipped` in the report, emits `step_skipped`, and is not compensated.
 */
template <class Pred, class Inner>
class when_node {
  static_assert(!Inner::pivot,
                "tutti: a pivot cannot be a conditional step: the saga's go/no-go point must not "
                "depend on data. Make the condition part of the pivot's own callable instead.");

 public:
  static constexpr auto name = Inner::name;
  static constexpr bool is_node = true;
  static constexpr bool compensable = Inner::compensable;
  static constexpr bool pivot = Inner::pivot;
  static constexpr bool retriable = Inner::retriable;
  static constexpr bool contains_compensable = Inner::contains_compensable;
  static constexpr bool may_skip = true;
  using inner_type = Inner;

  template <class In>
  using inner_value = typename Inner::template value_type<In>;
  template <class In>
  using value_type = std::optional<inner_value<In>>;
  template <class In>
  using state_type = typename detail::when_state_of<inner_value<In>>::template type<
      typename Inner::template state_type<In>>;

  constexpr when_node(Pred pred, Inner inner) : pred_(std::move(pred)), inner_(std::move(inner)) {}

  template <class Call>
  result<state_type<typename Call::input_type>> invoke(Call& call) const {
    using In = typename Call::input_type;
    using S = state_type<In>;
    result<bool> go = replayed_choice(call);
    if (!go) return go.error();
    if (!go.value()) return S{};  // skipped
    auto r = inner_.invoke(call);
    if (!r) return r.error();
    return wrap<In>(std::move(r).assume_value());
  }

  template <class Call, class S>
  result<void> compensate(S& s, Call& call) const {
    if constexpr (requires { s.inner; }) {
      if (!s.inner) return outcome::success();
      return inner_.compensate(*s.inner, call);
    } else {
      if (!s) return outcome::success();
      return inner_.compensate(*s, call);
    }
  }

  template <class S>
  static constexpr const auto& value(const S& s) noexcept {
    if constexpr (requires { s.inner; }) return s.value;
    else return s;
  }
  /// Whether there is anything to undo: not skipped, and the inner node says so (a group).
  template <class S>
  static constexpr bool undoable(const S& s) noexcept {
    if constexpr (requires { s.inner; }) {
      if (!s.inner) return false;
      if constexpr (requires { Inner::undoable(*s.inner); }) return Inner::undoable(*s.inner);
      else return true;
    } else {
      return s.has_value();
    }
  }
  /// Whether the state is that of a skipped step (the engine reports `skipped`).
  template <class S>
  static constexpr bool skipped(const S& s) noexcept {
    if constexpr (requires { s.inner; }) return !s.inner.has_value();
    else return !s.has_value();
  }

  [[nodiscard]] constexpr const Inner& inner() const noexcept { return inner_; }
  [[nodiscard]] constexpr const Pred& condition() const noexcept { return pred_; }

 private:
  template <class N>
  friend struct detail::async_branch;

  /// The state of a step that ran, from the inner node's.
  template <class In>
  static state_type<In> wrap(typename Inner::template state_type<In>&& inner) {
    state_type<In> s;
    if constexpr (plain<In>()) {
      s.emplace(std::move(inner));
    } else {
      s.inner.emplace(std::move(inner));
      s.value.emplace(Inner::value(*s.inner));
    }
    return s;
  }
  template <class In>
  static constexpr bool plain() noexcept {
    return std::is_same_v<typename Inner::template state_type<In>, inner_value<In>>;
  }
  /// The condition; a resumed run whose journal shows the nested node ran (attempts > 0) or
  /// was skipped keeps that decision instead of asking again (a plain step's output, skipped or
  /// not, is restored by the engine and never gets here).
  template <class Call>
  result<bool> replayed_choice(Call& call) const {
    if constexpr (detail::journaled<typename Call::observer_type>()) {
      if (const auto* past = call.observer_handle().get().replayed(Call::path.view())) {
        if (past->attempts > 0) return true;
        if (past->succeeded) return false;
      }
    }
    return detail::evaluate<bool>(pred_, call);
  }
  [[no_unique_address]] Pred pred_;
  [[no_unique_address]] Inner inner_;
};

/// `tutti::when(condition, step)`: see when_node.
template <class P, class S>
[[nodiscard]] constexpr auto when(P&& condition, S&& step) {
  static_assert(!node<P>, "tutti: when(condition, step): the condition comes first.");
  using N = detail::as_node_t<S>;
  return when_node<std::remove_cvref_t<P>, N>(std::forward<P>(condition),
                                             detail::as_node(std::forward<S>(step)));
}

namespace detail {
template <class In, class... C>
struct choice_value {
  using first = typename std::tuple_element_t<0, std::tuple<C...>>::template value_type<In>;
  static constexpr bool same = (std::is_same_v<first, typename C::template value_type<In>> && ...);
  using type = std::conditional_t<same, first, std::variant<typename C::template value_type<In>...>>;
};

template <class In, class Value, class... C>
struct choice_state {
  std::size_t chosen = static_cast<std::size_t>(-1);
  std::tuple<run_state<In, C>...> cases;
  std::optional<Value> value;
};
}  // namespace detail

/**
 * A typed N-way branch: `tutti::choose<"ship">(by_method, step<"courier">(a),
 * step<"post">(b))`. The selector takes parameters like a step and returns the index of the case
 * to run (an integer or an enum; `if_else` takes a bool). Only that case runs, as the step
 * "ship/courier"; the others are not run and never compensated. The output is the case's value
 * when all cases produce the same type, else `std::variant<V0, V1, ...>` (by case index). An index
 * out of range fails the step with `errc::invalid_argument`.
 */
template <fixed_string Name, class Sel, bool Bool, class... C>
class choice_node {
  static_assert(sizeof...(C) > 0, "tutti: choose needs at least one case.");
  static_assert(!Bool || sizeof...(C) == 2, "tutti: if_else takes two cases: then and else.");
  static_assert(detail::valid_name<Name>(),
                "tutti: a step name must be non-empty and must not contain '/', '\"' or a newline.");
  static_assert(detail::unique_names<C...>(),
                "tutti: two cases of this choice have the same name: give each case its own name "
                "(they are the steps \"choice/case\" in events and the journal).");
  static_assert(!(detail::holds_optional_branch<C>() || ...),
                "tutti: optional_branch(step) as a case of a choice: it marks a branch of a "
                "parallel group, and the case that runs is required. For a case whose failure "
                "the run survives, make it a group of one optional branch: "
                "tutti::parallel<\"name\">(tutti::optional_branch(step)), or give it a fallback.");
  static_assert(!(C::pivot || ...),
                "tutti: a pivot cannot be a case of a choice: the saga's go/no-go point must not "
                "depend on the branch taken. Put the pivot after the choice.");

 public:
  static constexpr auto name = Name;
  static constexpr bool is_node = true;
  static constexpr std::size_t size = sizeof...(C);
  static constexpr bool contains_compensable = (C::contains_compensable || ...);
  static constexpr bool compensable = contains_compensable;
  static constexpr bool pivot = false;
  static constexpr bool retriable = (C::retriable && ...);
  static constexpr std::array<std::string_view, size> case_names{C::name.view()...};
  using nodes_type = std::tuple<C...>;

  template <class In>
  using value_type = typename detail::choice_value<In, C...>::type;
  template <class In>
  using state_type = detail::choice_state<In, value_type<In>, C...>;

  constexpr explicit choice_node(Sel sel, C... cases)
      : sel_(std::move(sel)), cases_(std::tuple<C>(std::move(cases))...) {}

  template <class Call>
  result<state_type<typename Call::input_type>> invoke(Call& call) const {
    using In = typename Call::input_type;
    call.begin_attempt();
    state_type<In> st;
    const result<std::size_t> k = pick(call);
    if (!k) return k.error();
    st.chosen = k.value();
    std::error_code ec;
    run_cases(st, call, k.value(), ec, std::make_index_sequence<size>{});
    if (ec) return end(call, ec);
    return succeed(std::move(st), call);
  }

  template <class Call, class In>
  result<void> compensate(state_type<In>& st, Call& call) const {
    return detail::compensate_sublevels(
        call, [&] { undo_cases(st, call, std::make_index_sequence<size>{}); });
  }

  template <class In>
  static constexpr const value_type<In>& value(const state_type<In>& s) noexcept {
    return *s.value;
  }
  /// What the journal keeps of a choice that succeeded: the case it ran.
  template <class In>
  static constexpr std::uint64_t journal_mark(const state_type<In>& s) noexcept {
    return s.chosen;
  }
  /// Whether the case that ran has a compensation (else the choice has nothing to undo).
  template <class In>
  static constexpr bool undoable(const state_type<In>& s) noexcept {
    return [&s]<std::size_t... I>(std::index_sequence<I...>) {
      return ((s.chosen == I && std::tuple_element_t<I, nodes_type>::contains_compensable) || ...);
    }(std::make_index_sequence<size>{});
  }

  [[nodiscard]] constexpr const std::tuple<std::tuple<C>...>& cases() const noexcept {
    return cases_;
  }
  [[nodiscard]] constexpr const Sel& selector() const noexcept { return sel_; }
  /// `retriable` on the values: every case is retried for real; see detail::retried.
  [[nodiscard]] constexpr bool retried() const noexcept {
    return std::apply([](const auto&... c) { return (detail::retried(std::get<0>(c)) && ...); },
                      cases_);
  }

 private:
  /// The case a resumed run chose before it stopped: from the choice's own record, or from the
  /// records of a case; npos when the journal says nothing (a new run).
  template <class Call, std::size_t... I>
  static std::size_t replayed_case(Call& call, std::index_sequence<I...>) {
    if constexpr (detail::journaled<typename Call::observer_type>()) {
      auto& hooks = call.observer_handle().get();
      if (const auto* past = hooks.replayed(Call::path.view());
          past != nullptr && past->succeeded && !past->payload.empty()) {
        auto m = hooks.template restore<std::uint64_t>(*past);
        if (m && m.value() < size) return static_cast<std::size_t>(m.value());
      }
      std::size_t k = detail::npos;
      ((k == detail::npos &&
                hooks.replayed(detail::concat<detail::concat<Call::path, fixed_string{"/"}>(),
                                              std::tuple_element_t<I, nodes_type>::name>()
                                   .view()) != nullptr
            ? (void)(k = I)
            : void()),
       ...);
      return k;
    } else {
      (void)call;
      return detail::npos;
    }
  }

  template <class N>
  friend struct detail::async_branch;

  /// Which case runs: the one a resumed run chose (the selector is not asked again), else the
  /// selector's answer; the attempt's error (ended) when the selector failed or chose none.
  template <class Call>
  result<std::size_t> pick(Call& call) const {
    std::size_t k = 0;
    if (const std::size_t again = replayed_case(call, std::make_index_sequence<size>{});
        again != detail::npos) {
      k = again;
    } else if constexpr (Bool) {
      result<bool> b = detail::evaluate<bool>(sel_, call);
      if (!b) return end(call, b.error());
      k = b.value() ? 0 : 1;
    } else {
      result<std::size_t> i = detail::evaluate<std::size_t>(sel_, call);
      if (!i) return end(call, i.error());
      k = i.value();
    }
    if (k >= size) {
      call.set_message(false, "the selector chose case " + std::to_string(k) + " of " +
                                  std::to_string(size) + " (0 to " + std::to_string(size - 1) + ")");
      return end(call, make_error_code(errc::invalid_argument));
    }
    return k;
  }
  template <class Call, class In>
  static result<state_type<In>> succeed(state_type<In>&& st, Call& call) {
    if constexpr (detail::observed<Call>()) {
      result<state_type<In>> r{std::move(st)};
      call.end_attempt(r);
      return r;
    } else {
      return std::move(st);
    }
  }

  template <class Call>
  static std::error_code end(Call& call, const std::error_code& ec) {
    if constexpr (detail::observed<Call>()) call.end_attempt(result<void>{ec});
    return ec;
  }

  template <class Call, class In, std::size_t... I>
  void run_cases(state_type<In>& st, Call& call, std::size_t k, std::error_code& ec,
                 std::index_sequence<I...>) const {
    ((k == I ? run_case<I>(st, call, ec) : void()), ...);
  }
  template <std::size_t I, class Call, class In>
  void run_case(state_type<In>& st, Call& call, std::error_code& ec) const {
    using Case = std::tuple_element_t<I, nodes_type>;
    const bool ok = detail::sublevel<Call, Case>::run(std::get<I>(cases_), std::get<I>(st.cases),
                                                      call, call.shared());
    case_ended<I>(st, call, ok, ec);
  }
  /// Case I ran: its output lent to the choice's, or its failure (`ec`, the call's message).
  template <std::size_t I, class Call, class In>
  static void case_ended(state_type<In>& st, Call& call, bool ok, std::error_code& ec) {
    using Case = std::tuple_element_t<I, nodes_type>;
    auto& cst = std::get<I>(st.cases);
    if (!ok) {
      ec = cst.rec.errors.get(0).code();
      std::string text{Case::name.view()};
      const std::string_view inner = cst.rec.messages.get(0);
      text += ": ";
      text += inner.empty() ? ec.message() : std::string{inner};
      call.set_message(false, text);
      return;
    }
    // Lent to the choice's output, given back before the case is compensated.
    auto& slot = detail::slot<0>(cst.slots);
    using lent = detail::lent_output<Case, In>;
    if constexpr (std::is_same_v<value_type<In>, typename lent::value_type>)
      st.value.emplace(lent::take(slot));
    else
      st.value.emplace(std::in_place_index<I>, lent::take(slot));
  }

  template <class Call, class In, std::size_t... I>
  void undo_cases(state_type<In>& st, Call& call, std::index_sequence<I...>) const {
    ((st.chosen == I ? undo_case<I>(st, call) : void()), ...);
  }
  template <std::size_t I, class Call, class In>
  void undo_case(state_type<In>& st, Call& call) const {
    using Case = std::tuple_element_t<I, nodes_type>;
    if constexpr (Case::contains_compensable) {
      lend_back<I>(st);
      detail::sublevel<Call, Case>::compensate(std::get<I>(cases_), std::get<I>(st.cases), call,
                                               call.shared());
    } else {
      (void)st, (void)call;
    }
  }
  /// Gives case I its output back before it is undone (the choice's output held it).
  template <std::size_t I, class In>
  static void lend_back(state_type<In>& st) {
    using Case = std::tuple_element_t<I, nodes_type>;
    auto& slot = detail::slot<0>(std::get<I>(st.cases).slots);
    using lent = detail::lent_output<Case, In>;
    if constexpr (std::is_same_v<value_type<In>, typename lent::value_type>)
      lent::give_back(slot, *st.value);
    else
      lent::give_back(slot, std::get<I>(*st.value));
  }

  [[no_unique_address]] Sel sel_;
  std::tuple<std::tuple<C>...> cases_;
};

namespace detail {
// Data flow checked when the workflow is built (detail/data_flow.hpp): a condition or selector
// reads at the node's own place, a conditional step too; each case is a level of its own below
// the choice, reading the steps before it.
template <class Pred, class Inner>
struct flow_traits<when_node<Pred, Inner>> {
  static constexpr bool output_known = flow_traits<Inner>::output_known;
  template <class Scope>
  static constexpr auto check() noexcept {
    return detail::flow_first(flow_callable<Scope, Pred>(),
                              flow_traits<Inner>::template check<Scope>());
  }
};
template <fixed_string Name, class Sel, bool Bool, class... C>
struct flow_traits<choice_node<Name, Sel, Bool, C...>> {
  static constexpr bool output_known = (flow_traits<C>::output_known && ...);
  template <class Scope>
  static constexpr auto check() noexcept {
    return detail::flow_first(flow_callable<Scope, Sel>(), flow_branch<Scope, C>()...);
  }
};
}  // namespace detail

/// `tutti::choose<"name">(selector, case0, case1, ...)`: see choice_node.
template <fixed_string Name, class Sel, class... S>
[[nodiscard]] constexpr auto choose(Sel&& selector, S&&... cases) {
  static_assert(!node<Sel>, "tutti: choose<\"name\">(selector, cases...): the selector comes first.");
  return choice_node<Name, std::remove_cvref_t<Sel>, false, detail::as_node_t<S>...>(
      std::forward<Sel>(selector), detail::as_node(std::forward<S>(cases))...);
}

/// `tutti::if_else<"name">(condition, then_step, else_step)`: a two-way choice on a bool.
template <fixed_string Name, class P, class T, class E>
[[nodiscard]] constexpr auto if_else(P&& condition, T&& then_step, E&& else_step) {
  static_assert(!node<P>, "tutti: if_else<\"name\">(condition, then, else): the condition comes first.");
  return choice_node<Name, std::remove_cvref_t<P>, true, detail::as_node_t<T>, detail::as_node_t<E>>(
      std::forward<P>(condition), detail::as_node(std::forward<T>(then_step)),
      detail::as_node(std::forward<E>(else_step)));
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_BRANCH_HPP
