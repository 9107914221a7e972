// tutti detail — data flow, checked when a workflow is built: what each from<> parameter names.
#ifndef TUTTI_DETAIL_DATA_FLOW_HPP
#define TUTTI_DETAIL_DATA_FLOW_HPP

#include <array>        // names of a level
#include <cstddef>      // std::size_t
#include <string_view>  // name comparison
#include <tuple>        // std::tuple_element_t
#include <type_traits>  // std::is_same_v
#include <utility>      // index sequences

#include "../config.hpp"
#include "../context.hpp"
#include "../fixed_string.hpp"
#include "../policy.hpp"
#include "../result.hpp"
#include "../step.hpp"
#include "signature.hpp"

TUTTI_BEGIN_NAMESPACE
namespace detail {

// The engine checks from<> where it binds a parameter, deep inside run(); the compiler's output
// then starts with the engine. The workflow factory checks the same rules first, with what the
// types tell before the input type is known: a callable with a readable signature, and the
// output of each step whose callable has one. It reports through the class templates of
// step.hpp (from_names_unknown_step, ...), which name the step. Generic callables are left to
// run(). Each node kind describes itself through flow_traits: steps and policies below, the
// others next to their templates (workflow.hpp, parallel.hpp, branch.hpp).

/// Stands in for the workflow input: only outputs that do not depend on it are computed.
struct flow_no_input {};

/// A check's result: flow_tag<flow_ok>, or flow_tag<R> with R the report of the first mistake
/// (a class template whose instantiation fails with the message; naming it costs nothing).
/// Combined by detail::flow_first, always called qualified: an unqualified call would look for
/// friends in R's class (argument-dependent lookup) and so instantiate the report too early.
struct flow_ok {};
template <class R>
struct flow_tag {
  using type = R;
};
template <class... R>
struct flow_first_of {
  using type = flow_ok;
};
template <class R0, class... R>
struct flow_first_of<R0, R...> {
  using type =
      std::conditional_t<std::is_same_v<R0, flow_ok>, typename flow_first_of<R...>::type, R0>;
};
template <class... R>
constexpr flow_tag<typename flow_first_of<R...>::type> flow_first(flow_tag<R>...) noexcept {
  return {};
}

/// What a node tells of itself before the input type is known:
/// - `output_known`: its output type does not depend on the input (value_type<flow_no_input>);
/// - `check<Scope>()`: the first mistake in the from<> parameters it reads at `Scope`.
/// Node kinds without a specialization are checked by run() only.
template <class N>
struct flow_traits {
  static constexpr bool output_known = false;
  template <class Scope>
  static constexpr flow_tag<flow_ok> check() noexcept {
    return {};
  }
};

template <class Node, bool Before>
struct flow_found {
  using node = Node;
  static constexpr bool before = Before;
};
struct flow_missing {};

/// The index of the node named Name among N..., or sizeof...(N). Shared by the places of a level.
template <fixed_string Name, class... N>
constexpr std::size_t flow_index() noexcept {
  constexpr std::array<std::string_view, sizeof...(N)> names{N::name.view()...};
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == Name.view()) return i;
  return sizeof...(N);
}

/// The place of node I among the nodes N... of one level, below the place `Up` (void at the top
/// of a workflow; the group or choice for its branches, which read the steps before it). Mirrors
/// basic_frame::index_of and step_call::runs_before.
template <class Up, std::size_t I, class... N>
struct flow_scope {
  using node = std::tuple_element_t<I, std::tuple<N...>>;

  /// The node's path from the top of the workflow ("group/branch"): only built for a report.
  static constexpr auto path() noexcept {
    if constexpr (std::is_void_v<Up>)
      return node::name;
    else
      return concat<concat<Up::path(), fixed_string{"/"}>(), node::name>();
  }

  template <fixed_string Name>
  static constexpr auto lookup() noexcept {
    constexpr std::size_t j = flow_index<Name, N...>();
    if constexpr (j != sizeof...(N))
      return flow_tag<flow_found<std::tuple_element_t<j, std::tuple<N...>>, (j < I)>>{};
    else if constexpr (!std::is_void_v<Up>)
      return Up::template lookup<Name>();
    else
      return flow_tag<flow_missing>{};
  }
};

/// The name of the node at Scope as the reports spell it: only built for a report.
template <class Scope>
using flow_name_t = name_t<Scope::path()>;

/// One parameter P of a callable (of type Where) of the node at Scope.
template <class Scope, class Where, class P>
constexpr auto flow_param() noexcept {
  using D = std::remove_cvref_t<P>;
  if constexpr (!is_from_v<D>) {
    return flow_tag<flow_ok>{};
  } else {
    using found = typename decltype(Scope::template lookup<D::name>())::type;
    using W = where_t<Where>;
    if constexpr (std::is_same_v<found, flow_missing>) {
      return flow_tag<typename flow_report<from_names_unknown_step, W, flow_name_t<Scope>,
                                           name_t<D::name>>::type>{};
    } else if constexpr (!found::before) {
      return flow_tag<typename flow_report<from_names_later_step, W, flow_name_t<Scope>,
                                           name_t<D::name>>::type>{};
    } else if constexpr (!flow_traits<typename found::node>::output_known) {
      return flow_tag<flow_ok>{};  // its output depends on the input: run() checks it
    } else {
      using actual = typename found::node::template value_type<flow_no_input>;
      if constexpr (std::is_same_v<actual, unit>)
        return flow_tag<typename flow_report<from_names_void_step, W, flow_name_t<Scope>,
                                             name_t<D::name>>::type>{};
      else if constexpr (!std::is_same_v<actual, typename D::value_type>)
        return flow_tag<
            typename flow_report<from_type_mismatch, W, flow_name_t<Scope>, name_t<D::name>,
                                 typename D::value_type, actual>::type>{};
      else
        return flow_tag<flow_ok>{};
    }
  }
}

template <class Scope, class Where, class... P>
constexpr auto flow_params(type_list<P...>) noexcept {
  return detail::flow_first(flow_param<Scope, Where, P>()...);
}

/// The parameters of callable F (a step's, a condition's, a selector's), if its signature is
/// known; a generic callable is checked by run().
template <class Scope, class F>
constexpr auto flow_callable() noexcept {
  if constexpr (signature_of<F>::known)
    return flow_params<Scope, F>(typename signature_of<F>::args{});
  else
    return flow_tag<flow_ok>{};
}

template <class P0, class... P>
type_list<P...> flow_drop_first(type_list<P0, P...>);

/// Each node of one level (a workflow's steps, or one branch below a group or choice).
template <class Up, class... N>
struct flow_level {
  template <std::size_t... I>
  static constexpr auto check(std::index_sequence<I...>) noexcept {
    return detail::flow_first(
        flow_traits<std::tuple_element_t<I, std::tuple<N...>>>::template check<
            flow_scope<Up, I, N...>>()...);
  }
};

/// The first data-flow mistake of a workflow with nodes N..., or flow_ok.
template <class... N>
using flow_problem_t =
    typename decltype(flow_level<void, N...>::check(std::index_sequence_for<N...>{}))::type;

/// A branch below the node at Scope: a level of its own whose Up is Scope.
template <class Scope, class B>
constexpr auto flow_branch() noexcept {
  return flow_traits<B>::template check<flow_scope<Scope, 0, B>>();
}

template <fixed_string Name, class F, class Undo, step_role Role>
struct flow_traits<step_node<Name, F, Undo, Role>> {
  static constexpr bool output_known = signature_of<F>::known;

  template <class Scope>
  static constexpr auto check() noexcept {
    return detail::flow_first(flow_callable<Scope, F>(), compensation<Scope>());
  }

 private:
  // The compensation's parameters after the first (what the step produced; all of them for a
  // void step) are bound like the step's. Its shape is checked by compensate_with.
  template <class Scope>
  static constexpr auto compensation() noexcept {
    if constexpr (std::is_same_v<Undo, no_compensation> || !signature_of<F>::known) {
      return flow_tag<flow_ok>{};
    } else {
      using G = typename undo_parts<Undo>::fn_type;
      if constexpr (std::is_same_v<G, member_compensation>) {
        if constexpr (requires { &F::compensate; })
          return args_of<Scope, F, signature<decltype(&F::compensate)>>();
        else
          return flow_tag<flow_ok>{};
      } else {
        return args_of<Scope, G, signature_of<G>>();
      }
    }
  }
  template <class Scope, class Where, class Sig>
  static constexpr auto args_of() noexcept {
    if constexpr (!Sig::known || Sig::args::size == 0) {
      return flow_tag<flow_ok>{};
    } else if constexpr (std::is_same_v<output_t<F, flow_no_input>, unit>) {
      return flow_params<Scope, Where>(typename Sig::args{});
    } else {
      return flow_params<Scope, Where>(decltype(detail::flow_drop_first(typename Sig::args{})){});
    }
  }
};

template <class Inner, class Policy>
struct flow_traits<with_policy<Inner, Policy>> {
  static constexpr bool output_known = flow_traits<Inner>::output_known;
  template <class Scope>
  static constexpr auto check() noexcept {
    return flow_traits<Inner>::template check<Scope>();
  }
};

}  // namespace detail
TUTTI_END_NAMESPACE

#endif  // TUTTI_DETAIL_DATA_FLOW_HPP
