// tutti — conditional steps and choices in async runs: the condition or selector asked as in a
// sync run, the step or case awaited.
#ifndef TUTTI_ASYNC_BRANCH_HPP
#define TUTTI_ASYNC_BRANCH_HPP

#include "asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <array>         // the cases' coroutines
#include <cstddef>       // std::size_t
#include <system_error>  // a case's failure
#include <tuple>         // cases
#include <utility>       // index sequences

#include "../branch.hpp"
#include "../config.hpp"
#include "parallel.hpp"  // async_sublevel
#include "run.hpp"

TUTTI_DETAIL_COROUTINES_BEGIN

TUTTI_BEGIN_NAMESPACE

namespace detail {

/// `tutti::when(condition, step)` in an async run.
template <class Pred, class Inner>
struct async_branch<when_node<Pred, Inner>> {
  using node_type = when_node<Pred, Inner>;

  template <class Call>
  static awaitable<result<typename node_type::template state_type<typename Call::input_type>>>
  invoke(const node_type& n, Call& call) {
    using In = typename Call::input_type;
    using S = typename node_type::template state_type<In>;
    const result<bool> go = n.replayed_choice(call);
    if (!go) co_return go.error();
    if (!go.value()) co_return S{};  // skipped
    auto r = co_await async_invoke(n.inner(), call);
    if (!r) co_return r.error();
    co_return node_type::template wrap<In>(std::move(r).assume_value());
  }

  template <class S, class Call>
  static awaitable<result<void>> compensate(const node_type& n, S& s, Call& call) {
    if constexpr (requires { s.inner; }) {
      if (!s.inner) co_return outcome::success();
      co_return co_await async_compensate(n.inner(), *s.inner, call);
    } else {
      if (!s) co_return outcome::success();
      co_return co_await async_compensate(n.inner(), *s, call);
    }
  }
};

/// `tutti::choose` / `tutti::if_else` in an async run: the chosen case awaited as a sub-level.
template <fixed_string Name, class Sel, bool Bool, class... C>
struct async_branch<choice_node<Name, Sel, Bool, C...>> {
  using node_type = choice_node<Name, Sel, Bool, C...>;
  static constexpr std::size_t size = sizeof...(C);
  using nodes_type = typename node_type::nodes_type;

  template <class Call>
  static awaitable<result<typename node_type::template state_type<typename Call::input_type>>>
  invoke(const node_type& n, Call& call) {
    using In = typename Call::input_type;
    using St = typename node_type::template state_type<In>;
    call.begin_attempt();
    St st;
    const result<std::size_t> k = n.pick(call);
    if (!k) co_return k.error();
    st.chosen = k.value();
    std::error_code ec;
    // The case's coroutine named first: no temporary inside the co_await (see docs/async.md on
    // g++ 12).
    const case_fn<St, Call> chosen = cases<St, Call>(std::make_index_sequence<size>{})[k.value()];
    co_await chosen(n, st, call, ec);
    if (ec) co_return node_type::end(call, ec);
    co_return node_type::succeed(std::move(st), call);
  }

  template <class St, class Call>
  static awaitable<result<void>> compensate(const node_type& n, St& st, Call& call) {
    const undo_fn<St, Call> chosen = undos<St, Call>(std::make_index_sequence<size>{})[st.chosen];
    return async_compensate_sublevels(call, [chosen, &n, &st, &call] { return chosen(n, st, call); });
  }

 private:
  template <class St, class Call>
  using case_fn = awaitable<void> (*)(const node_type&, St&, Call&, std::error_code&);
  template <class St, class Call, std::size_t... I>
  static constexpr std::array<case_fn<St, Call>, size> cases(std::index_sequence<I...>) noexcept {
    return {&run_case<I, St, Call>...};
  }
  template <std::size_t I, class St, class Call>
  static awaitable<void> run_case(const node_type& n, St& st, Call& call, std::error_code& ec) {
    using Case = std::tuple_element_t<I, nodes_type>;
    const bool ok = co_await async_sublevel<Call, Case>::run(std::get<I>(n.cases()),
                                                             std::get<I>(st.cases), call,
                                                             call.shared());
    node_type::template case_ended<I>(st, call, ok, ec);
  }

  template <class St, class Call>
  using undo_fn = awaitable<void> (*)(const node_type&, St&, Call&);
  template <class St, class Call, std::size_t... I>
  static constexpr std::array<undo_fn<St, Call>, size> undos(std::index_sequence<I...>) noexcept {
    return {&undo_case<I, St, Call>...};
  }
  template <std::size_t I, class St, class Call>
  static awaitable<void> undo_case(const node_type& n, St& st, Call& call) {
    using Case = std::tuple_element_t<I, nodes_type>;
    if constexpr (Case::contains_compensable) {
      node_type::template lend_back<I>(st);
      co_await async_sublevel<Call, Case>::compensate(std::get<I>(n.cases()), std::get<I>(st.cases),
                                                      call, call.shared());
    } else {
      (void)n, (void)st, (void)call;
    }
  }
};

}  // namespace detail

TUTTI_END_NAMESPACE

TUTTI_DETAIL_COROUTINES_END

#endif  // TUTTI_ASYNC_BRANCH_HPP
