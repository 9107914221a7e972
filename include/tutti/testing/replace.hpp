// tutti testing kit — a workflow with one step's callable (or compensation) swapped, found by name.
#ifndef TUTTI_TESTING_REPLACE_HPP
#define TUTTI_TESTING_REPLACE_HPP

#include <array>        // step names of a level
#include <cstddef>      // std::size_t
#include <string_view>  // name comparisons
#include <tuple>        // a workflow's steps
#include <type_traits>  // shape checks
#include <utility>      // std::move, index sequences

#include "../branch.hpp"
#include "../config.hpp"
#include "../context.hpp"
#include "../fixed_string.hpp"
#include "../parallel.hpp"
#include "../policy.hpp"
#include "../step.hpp"
#include "../workflow.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {
namespace detail {
inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

// ---- paths: "outer/inner" -------------------------------------------------------------------

template <fixed_string Path>
constexpr std::size_t slash() noexcept {
  for (std::size_t i = 0; i < Path.size(); ++i)
    if (Path.data[i] == '/') return i;
  return npos;
}
/// The first name of a path ("outer" of "outer/inner").
template <fixed_string Path>
constexpr auto head() noexcept {
  constexpr std::size_t n = slash<Path>() == npos ? Path.size() : slash<Path>();
  fixed_string<n + 1> out;
  for (std::size_t i = 0; i < n; ++i) out.data[i] = Path.data[i];
  return out;
}
/// The rest of a path after its first name ("inner" of "outer/inner"; empty for a plain name).
template <fixed_string Path>
constexpr auto tail() noexcept {
  constexpr std::size_t s = slash<Path>();
  constexpr std::size_t n = s == npos ? 0 : Path.size() - s - 1;
  fixed_string<n + 1> out;
  for (std::size_t i = 0; i < n; ++i) out.data[i] = Path.data[s + 1 + i];
  return out;
}

// ---- node kinds -------------------------------------------------------------------------------

template <class N>
struct is_step_node : std::false_type {};
template <fixed_string Name, class F, class U, step_role R>
struct is_step_node<step_node<Name, F, U, R>> : std::true_type {
  using callable_type = F;
  using undo_type = U;
  static constexpr step_role role = R;
};
template <class N>
struct is_with_policy : std::false_type {};
template <class I, class P>
struct is_with_policy<with_policy<I, P>> : std::true_type {};
template <class N>
struct is_workflow : std::false_type {};
template <fixed_string Name, class... M>
struct is_workflow<basic_workflow<Name, M...>> : std::true_type {};
template <class N>
struct is_parallel_compensated : std::false_type {};
template <class W, class E>
struct is_parallel_compensated<parallel_compensated<W, E>> : std::true_type {};
template <class N>
struct is_branch : std::false_type {};
template <fixed_string Name, class B, bool Optional>
struct is_branch<tutti::detail::branch_node<Name, B, Optional>> : std::true_type {};
template <class N>
struct is_group : std::false_type {};
template <fixed_string Name, tutti::detail::gather_mode Mode, std::size_t K, class E, class... B>
struct is_group<parallel_group<Name, Mode, K, E, B...>> : std::true_type {};
template <class N>
struct is_when : std::false_type {};
template <class P, class I>
struct is_when<when_node<P, I>> : std::true_type {};
template <class N>
struct is_choice : std::false_type {};
template <fixed_string Name, class Sel, bool Bool, class... C>
struct is_choice<choice_node<Name, Sel, Bool, C...>> : std::true_type {};

/**
 * A replaced step whose output could not be compared when it was replaced (the replacement or
 * the original is a generic lambda, whose output depends on the workflow input): the comparison
 * happens when a run instantiates `value_type<In>`. Otherwise it is the step node `Base`.
 */
template <fixed_string Step, class Expected, class Actual>
struct output_check;

template <class Base, class Original>
class replaced_step : public Base {
 public:
  using base_type = Base;
  using original_type = Original;
  using Base::Base;
  constexpr explicit replaced_step(Base b) : Base(std::move(b)) {}

  template <class In>
  using value_type = typename output_check<Base::name, typename Original::template value_type<In>,
                                           typename Base::template value_type<In>>::type;
  template <class In>
  using state_type = value_type<In>;
};
template <class N>
struct is_replaced_step : std::false_type {};
template <class B, class O>
struct is_replaced_step<replaced_step<B, O>> : std::true_type {};

// ---- diagnostics: class templates, so that the compiler's "required from" note names the
// ---- workflow, the path and the types involved ----------------------------------------------

/// No step of workflow `Workflow` is named `Name`; its steps are `Steps...`.
template <fixed_string Workflow, fixed_string Name, fixed_string... Steps>
struct unknown_step {
  static_assert(tutti::detail::always_false<decltype(Name)>,
                "tutti: replace<\"path\">: no step of this workflow has that name (the "
                "compiler's note on the instantiation of unknown_step<workflow, name, steps...> "
                "lists the workflow's steps). Names are case-sensitive; reach a nested "
                "workflow's step with \"outer/inner\".");
};

template <fixed_string Step, class Expected, class Actual>
struct output_check {
  static_assert(std::is_same_v<Expected, Actual>,
                "tutti: replace<\"step\">(workflow, f): f must produce exactly what the step "
                "produces (the T of its result<T>; void/unit for nothing), so that later "
                "steps' from<>, the compensation and the run's value still fit (the compiler's "
                "note on the instantiation of output_check<step, expected, actual> names both "
                "types).");
  using type = Actual;
};

/// The output of a node when it can be read without the workflow input; void when it cannot.
template <class N>
constexpr auto known_output_of() noexcept {
  if constexpr (is_step_node<N>::value) {
    using f = typename is_step_node<N>::callable_type;
    if constexpr (tutti::detail::signature_of<f>::known)
      return std::type_identity<tutti::detail::output_t<f, unit>>{};
    else
      return std::type_identity<void>{};
  } else if constexpr (is_with_policy<N>::value) {
    return known_output_of<typename N::inner_type>();
  } else if constexpr (is_replaced_step<N>::value) {
    return known_output_of<typename N::base_type>();
  } else if constexpr (is_workflow<N>::value) {
    return known_output_of<std::tuple_element_t<N::size - 1, typename N::nodes_type>>();
  } else if constexpr (is_parallel_compensated<N>::value) {
    return known_output_of<typename N::workflow_type>();
  } else {
    return std::type_identity<void>{};
  }
}
template <class N>
using known_output_t = typename decltype(known_output_of<N>())::type;

/// A parameter `from<Name, T>` of a replacement for step `I` of a workflow with steps `M...`.
template <fixed_string Step, std::size_t I, class P, class... M>
constexpr bool from_param_fits() {
  using param = std::remove_cvref_t<P>;
  if constexpr (!tutti::detail::is_from_v<param>) {
    return true;
  } else {
    constexpr std::array<std::string_view, sizeof...(M)> names{M::name.view()...};
    constexpr std::size_t j = [&] {
      for (std::size_t k = 0; k < names.size(); ++k)
        if (names[k] == param::name.view()) return k;
      return npos;
    }();
    static_assert(j != npos && j < I,
                  "tutti: replace<\"step\">(workflow, f): f takes from<\"name\", T> but no step "
                  "before the replaced one has that name. A replacement may read only the outputs "
                  "of earlier steps of the same workflow.");
    if constexpr (j != npos && j < I) {
      using actual = known_output_t<std::tuple_element_t<j, std::tuple<M...>>>;
      if constexpr (!std::is_void_v<actual>) {
        static_assert(std::is_same_v<actual, typename param::value_type>,
                      "tutti: replace<\"step\">(workflow, f): f takes from<\"name\", T> whose T is "
                      "not the output type of that step (the T of the result<T> it returns).");
      }
    }
    return true;
  }
}
template <fixed_string Step, std::size_t I, class Level, class Params>
struct from_params;
template <fixed_string Step, std::size_t I, fixed_string Name, class... M, class... P>
struct from_params<Step, I, basic_workflow<Name, M...>, tutti::detail::type_list<P...>> {
  static constexpr bool ok = (from_param_fits<Step, I, P, M...>() && ...);
};

// ---- compensations of user step types ---------------------------------------------------------

/// Keeps the `compensate` member of a user step type (written as a type) when its callable is
/// replaced: the compensation is the original object's, with the same parameters.
template <class F, class Ret, class Args>
struct member_undo;
template <class F, class Ret, class... A>
struct member_undo<F, Ret, tutti::detail::type_list<A...>> {
  F original;
  Ret operator()(A... a) const { return original.compensate(static_cast<A&&>(a)...); }
};
template <class F>
using member_undo_for =
    member_undo<F, typename tutti::detail::signature<decltype(&F::compensate)>::return_type,
                typename tutti::detail::signature<decltype(&F::compensate)>::args>;

template <class F, class U>
struct undo_after_replace {
  using type = U;
};
template <class F>
struct undo_after_replace<F, tutti::detail::member_compensation> {
  using type = member_undo_for<F>;
};

// ---- the rebuild -------------------------------------------------------------------------------

enum class what { callable, compensation };

template <what W, fixed_string Full, fixed_string Path, std::size_t I, class Level, class N,
          class G>
constexpr auto replace_node(const N& n, G& g);

/// Step `I` of the workflow `Level`, replaced; the other steps copied.
template <what W, fixed_string Full, fixed_string Path, fixed_string Name, class... M, class G,
          std::size_t... J>
constexpr auto rebuild(const basic_workflow<Name, M...>& wf, G& g, std::index_sequence<J...>) {
  constexpr auto first = head<Path>();
  constexpr std::array<std::string_view, sizeof...(M)> names{M::name.view()...};
  constexpr std::size_t i = [&] {
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == first.view()) return k;
    return npos;
  }();
  if constexpr (i == npos) {
    static_cast<void>(sizeof(unknown_step<Name, first, M::name...>));  // its static_assert fires
    return wf;  // no cascade of errors after the one that says what is wrong
  } else {
    using level = basic_workflow<Name, M...>;
    constexpr auto rest = tail<Path>();
    const auto pick = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
      if constexpr (K == i)
        return replace_node<W, Full, rest, K, level>(std::get<K>(wf.steps()), g);
      else
        return std::get<K>(wf.steps());
    };
    using result_type =
        basic_workflow<Name, decltype(pick(std::integral_constant<std::size_t, J>{}))...>;
    return result_type(pick(std::integral_constant<std::size_t, J>{})...);
  }
}

template <what W, fixed_string Full, fixed_string Path, fixed_string Name, class... M, class G>
constexpr auto replace_in(const basic_workflow<Name, M...>& wf, G& g) {
  return rebuild<W, Full, Path>(wf, g, std::index_sequence_for<M...>{});
}
/// A workflow built with compensate_in_parallel(exec): rebuilt, then undone in parallel again
/// on the same executor, so that a test runs the undo the production workflow runs.
template <what W, fixed_string Full, fixed_string Path, class Wf, class E, class G>
constexpr auto replace_in(const parallel_compensated<Wf, E>& wf, G& g) {
  auto plain = replace_in<W, Full, Path>(static_cast<const Wf&>(wf), g);
  return parallel_compensated<decltype(plain), E>(plain, wf.compensation_executor());
}

/// The index of the child named by the first name of `Path` among `names`; npos if none.
template <fixed_string Path, std::size_t N>
constexpr std::size_t child_index(const std::array<std::string_view, N>& names) noexcept {
  constexpr auto first = head<Path>();
  for (std::size_t k = 0; k < N; ++k)
    if (names[k] == first.view()) return k;
  return npos;
}

/// Child `K` of a group or choice (held as std::tuple<std::tuple<C>...>) with the rest of the
/// path replaced in it when K is the named one; copied otherwise. The child reads the steps
/// before the group (or choice): it keeps the group's position `I` in `Level`.
template <what W, fixed_string Full, fixed_string Path, std::size_t I, class Level,
          std::size_t Chosen, std::size_t K, class Children, class G>
constexpr auto replace_child(const Children& children, G& g) {
  if constexpr (K == Chosen)
    return replace_node<W, Full, tail<Path>(), I, Level>(std::get<0>(std::get<K>(children)), g);
  else
    return std::get<0>(std::get<K>(children));
}

/// A parallel group with one branch replaced; the executor, the hedging delay, the kind and
/// the other branches kept.
template <what W, fixed_string Full, fixed_string Path, std::size_t I, class Level,
          fixed_string Name, tutti::detail::gather_mode Mode, std::size_t K, class E, class... B,
          class G, std::size_t... J>
constexpr auto replace_branch(const parallel_group<Name, Mode, K, E, B...>& n, G& g,
                              std::index_sequence<J...>) {
  constexpr std::size_t i = child_index<Path>(parallel_group<Name, Mode, K, E, B...>::branch_names);
  if constexpr (i == npos) {
    static_cast<void>(sizeof(unknown_step<Name, head<Path>(), B::name...>));  // fires
    return n;
  } else {
    using result_type =
        parallel_group<Name, Mode, K, E,
                       decltype(replace_child<W, Full, Path, I, Level, i, J>(n.branches(), g))...>;
    return result_type(n.exec(), n.delay(),
                       replace_child<W, Full, Path, I, Level, i, J>(n.branches(), g)...);
  }
}

/// Whether a choice hands out its selector (to be copied into the rebuilt choice).
template <class N>
concept has_selector = requires(const N& n) {
  n.selector();
};

/// A choice with one case replaced; the selector and the other cases kept.
template <what W, fixed_string Full, fixed_string Path, std::size_t I, class Level,
          fixed_string Name, class Sel, bool Bool, class... C, class G, std::size_t... J>
constexpr auto replace_case(const choice_node<Name, Sel, Bool, C...>& n, G& g,
                            std::index_sequence<J...>) {
  using choice = choice_node<Name, Sel, Bool, C...>;
  constexpr std::size_t i = child_index<Path>(choice::case_names);
  if constexpr (i == npos) {
    static_cast<void>(sizeof(unknown_step<Name, head<Path>(), C::name...>));  // fires
    return n;
  } else if constexpr (!has_selector<choice>) {
    static_assert(has_selector<choice>,
                  "tutti: replace<\"choice/case\">: this version of tutti::choice_node does not "
                  "give out its selector (choice_node::selector()), so a case of it cannot be "
                  "replaced.");
    return n;
  } else {
    using result_type =
        choice_node<Name, Sel, Bool,
                    decltype(replace_child<W, Full, Path, I, Level, i, J>(n.cases(), g))...>;
    return result_type(n.selector(), replace_child<W, Full, Path, I, Level, i, J>(n.cases(), g)...);
  }
}

/// A step node with a new callable (W == callable) or a new compensation.
template <what W, fixed_string Full, std::size_t I, class Level, fixed_string Name, class F,
          class U, step_role R, class G, class Original>
constexpr auto replace_step(const step_node<Name, F, U, R>& n, G& g, Original*) {
  if constexpr (W == what::callable) {
    static_assert(tutti::detail::callable_shape<G>,
                  "tutti: replace<\"step\">(workflow, f): f must be callable: a function, a "
                  "lambda, a tutti::testing::mock or an object with operator().");
    using sig_g = tutti::detail::signature_of<G>;
    using orig_f = typename is_step_node<Original>::callable_type;
    using sig_f = tutti::detail::signature_of<orig_f>;
    if constexpr (sig_g::known)
      static_assert(from_params<Full, I, Level, typename sig_g::args>::ok);
    // A user step type's `compensate` member stays with the original object.
    using undo = typename undo_after_replace<F, U>::type;
    const undo u = [&] {
      if constexpr (std::is_same_v<U, tutti::detail::member_compensation>)
        return undo{n.callable()};
      else
        return n.compensation();
    }();
    using node = step_node<Name, G, undo, R>;
    if constexpr (sig_g::known && sig_f::known) {
      using expected = tutti::detail::output_t<orig_f, unit>;
      using actual = tutti::detail::output_t<G, unit>;
      static_cast<void>(sizeof(output_check<Full, expected, actual>));  // fires on a mismatch
      return node(std::move(g), u);
    } else {
      return replaced_step<node, Original>(node(std::move(g), u));
    }
  } else {
    static_assert(!std::is_same_v<U, no_compensation>,
                  "tutti: replace_compensation<\"step\">: that step has no compensation to "
                  "replace. Only a compensable step (step<...>(f).compensate_with(undo)) has one.");
    if constexpr (std::is_same_v<U, no_compensation>) {
      return n;  // after the diagnostic: no cascade of errors
    } else {
      step_node<Name, F, no_compensation, R> bare(n.callable());
      if constexpr (tutti::detail::undo_parts<U>::has_policy)
        return std::move(bare).compensate_with(std::move(g), n.compensation().policy);
      else
        return std::move(bare).compensate_with(std::move(g));
    }
  }
}

template <what W, fixed_string Full, fixed_string Path, std::size_t I, class Level, class N,
          class G>
constexpr auto replace_node(const N& n, G& g) {
  if constexpr (is_with_policy<N>::value) {
    auto inner = replace_node<W, Full, Path, I, Level>(n.inner(), g);
    return with_policy<decltype(inner), typename N::policy_type>(std::move(inner), n.policy());
  } else if constexpr (is_workflow<N>::value || is_parallel_compensated<N>::value) {
    static_assert(!Path.empty(),
                  "tutti: replace<\"name\">: that name is a nested workflow, not a step with a "
                  "callable. Replace one of its steps: replace<\"outer/inner\">.");
    if constexpr (!Path.empty())
      return replace_in<W, Full, Path>(n, g);
    else
      return n;  // after the diagnostic: no cascade of errors
  } else if constexpr (is_branch<N>::value) {
    // An optional branch or a hedged copy: its inner node replaced, still optional / renamed.
    auto inner = replace_node<W, Full, Path, I, Level>(n.inner(), g);
    return tutti::detail::branch_node<N::name, decltype(inner),
                                      tutti::detail::is_optional_branch<N>()>(std::move(inner));
  } else if constexpr (is_when<N>::value) {
    // A conditional step: its inner node replaced, the condition kept.
    auto inner = replace_node<W, Full, Path, I, Level>(n.inner(), g);
    using pred = std::remove_cvref_t<decltype(n.condition())>;
    return when_node<pred, decltype(inner)>(n.condition(), std::move(inner));
  } else if constexpr (is_group<N>::value) {
    static_assert(!Path.empty(),
                  "tutti: replace<\"name\">: that name is a parallel group, not a step with a "
                  "callable. Replace one of its branches: replace<\"group/branch\">.");
    if constexpr (!Path.empty())
      return replace_branch<W, Full, Path, I, Level>(n, g, std::make_index_sequence<N::size>{});
    else
      return n;  // after the diagnostic: no cascade of errors
  } else if constexpr (is_choice<N>::value) {
    static_assert(!Path.empty(),
                  "tutti: replace<\"name\">: that name is a choice, not a step with a callable. "
                  "Replace one of its cases: replace<\"choice/case\">.");
    if constexpr (!Path.empty())
      return replace_case<W, Full, Path, I, Level>(n, g, std::make_index_sequence<N::size>{});
    else
      return n;  // after the diagnostic: no cascade of errors
  } else if constexpr (is_step_node<N>::value || is_replaced_step<N>::value) {
    static_assert(Path.empty(),
                  "tutti: replace<\"outer/inner\">: outer is a step, not a nested workflow, so it "
                  "has no steps to replace. Use the step's own name.");
    if constexpr (!Path.empty()) {
      return n;  // after the diagnostic: no cascade of errors
    } else {
      if constexpr (is_replaced_step<N>::value) {
        auto base =
            replace_step<W, Full, I, Level>(static_cast<const typename N::base_type&>(n), g,
                                            static_cast<typename N::original_type*>(nullptr));
        if constexpr (W == what::compensation)
          return replaced_step<decltype(base), typename N::original_type>(std::move(base));
        else
          return base;
      } else {
        return replace_step<W, Full, I, Level>(n, g, static_cast<N*>(nullptr));
      }
    }
  } else {
    static_assert(tutti::detail::always_false<N>,
                  "tutti: replace<\"path\">: the path goes through a kind of node replace cannot "
                  "look inside (only steps, steps with policies, nested workflows, parallel "
                  "groups and their branches, choices and when steps).");
    return n;
  }
}
}  // namespace detail

/**
 * The workflow `wf` with the callable of step `Path` replaced by `f`: same steps, names, order,
 * policies (a retry around the step now retries `f`) and compensation; only the callable differs.
 * `Path` is a step's name, or "outer/inner" for a step of a nested workflow.
 * @code
 * auto charge = tutti::testing::mock<tutti::result<receipt>(const order&)>{}
 *                   .fail(tutti::errc::timeout).times(2).then_return(receipt{42});
 * auto test = tutti::testing::replace<"charge_card">(place_order, charge);
 * @endcode
 * Checked at compile time, with tutti messages: `Path` names a step (not a nested workflow);
 * `f` is callable; its `from<"s", T>` parameters name earlier steps with output T; it produces
 * exactly the step's output type (checked here when both signatures can be read, otherwise
 * when a run instantiates it). Its other parameters are checked by the engine as a step's.
 * `wf` is copied; `f` is moved into the result.
 */
template <fixed_string Path, fixed_string Name, class... M, class F>
[[nodiscard]] constexpr auto replace(const basic_workflow<Name, M...>& wf, F f) {
  return detail::replace_in<detail::what::callable, Path, Path>(wf, f);
}
/// As above, for a workflow built with `compensate_in_parallel(exec)`: the result is undone in
/// parallel on the same executor.
template <fixed_string Path, class W, class E, class F>
[[nodiscard]] constexpr auto replace(const parallel_compensated<W, E>& wf, F f) {
  return detail::replace_in<detail::what::callable, Path, Path>(wf, f);
}

/**
 * The workflow `wf` with the compensation of step `Path` replaced by `undo` (the compensation's
 * own policy, if any, is kept). The step must be compensable; `undo` is checked as
 * `compensate_with` checks it.
 * @code
 * auto refund = tutti::testing::mock_compensation<void(const
 * receipt&)>{}.fail(tutti::errc::timeout); auto test =
 * tutti::testing::replace_compensation<"charge_card">(place_order, refund);
 * @endcode
 */
template <fixed_string Path, fixed_string Name, class... M, class U>
[[nodiscard]] constexpr auto replace_compensation(const basic_workflow<Name, M...>& wf, U undo) {
  return detail::replace_in<detail::what::compensation, Path, Path>(wf, undo);
}
/// As above, for a workflow built with `compensate_in_parallel(exec)`.
template <fixed_string Path, class W, class E, class U>
[[nodiscard]] constexpr auto replace_compensation(const parallel_compensated<W, E>& wf, U undo) {
  return detail::replace_in<detail::what::compensation, Path, Path>(wf, undo);
}

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_REPLACE_HPP
