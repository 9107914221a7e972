// tutti — steps: named user callables, their compensations and their policies.
#ifndef TUTTI_STEP_HPP
#define TUTTI_STEP_HPP

#include <exception>    // std::exception captured from user code
#include <stop_token>   // cancellation parameter
#include <string_view>  // names
#include <type_traits>  // shape checks
#include <utility>      // std::forward, std::move

#include "config.hpp"
#include "context.hpp"
#include "detail/signature.hpp"
#include "error.hpp"
#include "events.hpp"
#include "fixed_string.hpp"
#include "result.hpp"

TUTTI_BEGIN_NAMESPACE

/// The saga role of a step: an ordinary step, or the pivot (the go/no-go point, at most one).
enum class step_role : unsigned char { normal, pivot };

/// Marks a step without compensation.
struct no_compensation {};

namespace detail {
/// A compensation with its own policy (e.g. a retry): `compensate_with(refund, retry{...})`.
template <class U, class P>
struct undo_with_policy {
  [[no_unique_address]] U fn;
  [[no_unique_address]] P policy;
};
template <class U>
struct undo_parts {
  using fn_type = U;
  static constexpr bool has_policy = false;
};
template <class U, class P>
struct undo_parts<undo_with_policy<U, P>> {
  using fn_type = U;
  static constexpr bool has_policy = true;
};

/// Marks a user step type whose `compensate` member is its compensation.
struct member_compensation {};

template <class T>
inline constexpr bool is_result_of_error_code_v = false;
template <class T>
  requires is_result_v<T>
inline constexpr bool is_result_of_error_code_v<T> =
    std::is_convertible_v<typename T::error_type, std::error_code>;

// ---- compile-time errors that name the step ------------------------------------------------
// The data-flow and compensation checks fail inside these class templates, so that the first
// lines of the compiler's output name the offending step and the step it reads:
//   g++:   In instantiation of 'struct ...from_names_unknown_step<
//            ...name<...fixed_string<5>{"ship"}>, ...name<...fixed_string<12>{"chrage_card"}>,
//            main()::<lambda(...)> >'
//   clang: static_assert failed due to requirement 'in_step<name<'s', 'h', 'i', 'p'>,
//            (lambda at app.cpp:13:27)>::from<...name<'c', 'h', 'r', ...>>::names_a_step_of_...'
// clang 14 prints a fixed_string template argument as character codes ({{115, 104, ...}}) but a
// char pack as characters, so there a name is spelled as a char pack. Only errors build them.
#if defined(__clang__)
template <char... C>
struct name {};
template <fixed_string S, std::size_t... I>
name<S.data[I]...> spell_name(std::index_sequence<I...>);
template <fixed_string S>
using name_t = decltype(spell_name<S>(std::make_index_sequence<S.size()>{}));
#else
template <fixed_string S>
struct name {};
template <fixed_string S>
using name_t = name<S>;
#endif

/// The step (a name_t) whose callable (Where..., when it is a class: clang prints a lambda with
/// its file and line) reads `from<Name>` or has a compensation. The members are the rules.
template <class Step, class... Where>
struct in_step {
  template <class Name>
  struct from {
    static constexpr bool names_a_step_of_this_workflow = false;
    static constexpr bool names_an_earlier_step = false;
    static constexpr bool names_a_step_with_an_output = false;
    template <class T>
    struct with_type {
      template <class Output>
      static constexpr bool matches_output_type = false;
    };
  };
  template <class Undo>
  struct compensation {
    template <class Output>
    static constexpr bool takes_the_step_output = false;
  };
};
/// type_list<F> for a callable F of class type (a lambda, a function object), else type_list<>.
template <class F>
using where_t = std::conditional_t<std::is_class_v<F>, type_list<F>, type_list<>>;

/// Report<Args..., W...> for Where = type_list<W...>, as `type` (a class is not instantiated
/// by naming it).
template <template <class...> class Report, class Where, class... Args>
struct flow_report;
template <template <class...> class Report, class... W, class... Args>
struct flow_report<Report, type_list<W...>, Args...> {
  using type = Report<Args..., W...>;
};

template <class Step, class Name, class... Where>
struct from_names_unknown_step {
  static_assert(in_step<Step, Where...>::template from<Name>::names_a_step_of_this_workflow,
                "tutti: from<\"name\", T> names no step of this workflow. Use the name of an "
                "earlier step of the same workflow (names are case-sensitive; a branch of a group "
                "reads steps before the group, not its sibling branches).");
};
template <class Step, class Name, class... Where>
struct from_names_later_step {
  static_assert(in_step<Step, Where...>::template from<Name>::names_an_earlier_step,
                "tutti: from<\"name\", T> names a step that does not run before this one (a later "
                "step, or this step itself). A step can only read outputs of steps listed before "
                "it: move the step it reads before it.");
};
template <class Step, class Name, class... Where>
struct from_names_void_step {
  static_assert(in_step<Step, Where...>::template from<Name>::names_a_step_with_an_output,
                "tutti: from<\"name\", T> names a step that produces no value (void). Read a step "
                "that returns a value, or drop the parameter (steps run in the order listed).");
};
template <class Step, class Name, class T, class Output, class... Where>
struct from_type_mismatch {
  static_assert(in_step<Step, Where...>::template from<Name>::template with_type<
                    T>::template matches_output_type<Output>,
                "tutti: from<\"name\", T>: T must be exactly the output type of that step (the "
                "value type of the result<T> it returns). Set T to that type, shown here as "
                "matches_output_type<...>.");
};
template <class Step, class Undo, class Output>
struct compensation_mismatch {
  static_assert(in_step<Step>::template compensation<Undo>::template takes_the_step_output<Output>,
                "tutti: the compensation must take what its step produced as its first "
                "parameter (const T& for a step returning result<T>; nothing for a void step), "
                "then optionally tutti::call_context, the input or from<...>.");
};

// ---- binding parameters --------------------------------------------------------------------

/// Whether parameter type P can be given to a step at index I of a call of type Call.
template <class P, class Call>
constexpr bool bindable() noexcept {
  using D = std::remove_cvref_t<P>;
  if constexpr (is_from_v<D>) return true;  // checked in detail by bind_arg
  else if constexpr (std::is_same_v<D, call_context>) return true;
  else if constexpr (std::is_same_v<D, std::stop_token>) return true;
  else return std::is_convertible_v<const typename Call::input_type&, P>;
}

/// Declared only: stands for a value after a compile error was reported (never called).
template <class T>
const T& reported() noexcept;

/// The argument for parameter P of a callable of type Where (named in error reports).
template <class P, class Where = void, class Call>
constexpr decltype(auto) bind_arg(Call& call) {
  using D = std::remove_cvref_t<P>;
  if constexpr (is_from_v<D>) {
    // Checked when the workflow is built as far as types allow (detail/data_flow.hpp); what
    // only the input type decides (the output of a generic callable) is checked here. A report
    // the workflow factory already made is the same type here: the compiler shows it once.
    // After a report, `return D{reported<T>()}` only keeps the call well-formed: one error.
    using W = where_t<Where>;
    constexpr std::size_t j = Call::template index_of<D::name>();
    if constexpr (j == Call::npos) {
      static_cast<void>(sizeof(typename flow_report<from_names_unknown_step, W,
                                                    name_t<Call::path>, name_t<D::name>>::type));
      return D{reported<typename D::value_type>()};
    } else if constexpr (!Call::template runs_before<j>()) {
      static_cast<void>(sizeof(typename flow_report<from_names_later_step, W, name_t<Call::path>,
                                                    name_t<D::name>>::type));
      return D{reported<typename D::value_type>()};
    } else {
      using actual = typename Call::template value_type<j>;
      if constexpr (std::is_same_v<actual, unit>) {
        static_cast<void>(sizeof(typename flow_report<from_names_void_step, W, name_t<Call::path>,
                                                      name_t<D::name>>::type));
        return D{reported<typename D::value_type>()};
      } else if constexpr (!std::is_same_v<actual, typename D::value_type>) {
        static_cast<void>(
            sizeof(typename flow_report<from_type_mismatch, W, name_t<Call::path>, name_t<D::name>,
                                        typename D::value_type, actual>::type));
        return D{reported<typename D::value_type>()};
      } else {
        return D{call.template value<j>()};
      }
    }
  } else if constexpr (std::is_same_v<D, call_context>) {
    return call.context();
  } else if constexpr (std::is_same_v<D, std::stop_token>) {
    return call.stop_token();
  } else {
    static_assert(std::is_convertible_v<const typename Call::input_type&, P>,
                  "tutti: a step parameter must be the workflow input (by value or const&), "
                  "tutti::from<\"step\", T> for an earlier step's output, "
                  "tutti::call_context or std::stop_token.");
    return call.input();
  }
}

template <class F, class Call, class... P>
constexpr bool all_bindable(type_list<P...>) noexcept {
  return (bindable<P, Call>() && ...);
}

// ---- calling user code ---------------------------------------------------------------------

/// Calls `fn()`, captures exceptions (unless the user callable is noexcept: Nothrow) and maps
/// whatever it returns to result<V>.
template <class V, bool Nothrow = false, class Call, class Fn>
TUTTI_ALWAYS_INLINE result<V> capture(Call& call, bool compensation, Fn&& fn) {
  using R = decltype(fn());
  auto normalise = [&]() -> result<V> {
    if constexpr (std::is_void_v<R>) {
      fn();
      return unit{};
    } else if constexpr (std::is_same_v<std::remove_cvref_t<R>, result<V>>) {
      // Returned as it is, built in place: copying a result right after the callee wrote it
      // costs a store-forwarding stall per step. An empty error code is mapped to step_failed
      // where the engine records the failure.
      return fn();
    } else if constexpr (is_result_v<std::remove_cvref_t<R>>) {
      static_assert(is_result_of_error_code_v<std::remove_cvref_t<R>>,
                    "tutti: a step's result type must carry a std::error_code (use "
                    "tutti::result<T>, which is outcome::std_result<T>).");
      auto r = fn();
      if (TUTTI_LIKELY(r.has_value())) {
        if constexpr (std::is_void_v<typename std::remove_cvref_t<R>::value_type>) return unit{};
        else return std::move(r).assume_value();
      }
      std::error_code ec = r.error();
      if (!ec) ec = errc::step_failed;  // a failure must never read as success
      return ec;
    } else {
      return fn();
    }
  };
  if constexpr (Nothrow || noexcept(fn())) {
    return normalise();
  } else {
    try {
      return normalise();
    } catch (...) {
      // One handler per call site; what the exception says is read out of line.
      call.set_message(compensation, current_exception_message());
      return errc::exception;
    }
  }
}

template <class F, class Call, class... P>
TUTTI_ALWAYS_INLINE decltype(auto) call_with(const F& f, Call& call, type_list<P...>) {
  return f(bind_arg<P, F>(call)...);  // a function, a function pointer or a function object
}

/// What a callable returns when that is a coroutine's handle (an Asio `awaitable<T>`, or any
/// type with `await_ready()` and `await_resume()`): the step is awaited by an async run and its
/// value is what `co_await` gives. Anything else is its own value.
template <class R>
concept awaitable_type = requires(R& r) {
  r.await_ready();
  r.await_resume();
};
template <class R>
struct awaited {
  using type = R;
  static constexpr bool coroutine = false;
};
template <awaitable_type R>
struct awaited<R> {
  using type = decltype(std::declval<R&>().await_resume());
  static constexpr bool coroutine = true;
};

/// The output type of callable F in a workflow with input In (void -> unit).
template <class F, class In, class = void>
struct output_of {
  using raw = void;
  static constexpr bool usable = false;
};
template <class F, class In>
  requires(signature_of<F>::known)
struct output_of<F, In> {
  using raw = typename signature_of<F>::return_type;
  static constexpr bool usable = true;
};
template <class F, class In>
  requires(!signature_of<F>::known && std::is_invocable_v<const F&, const In&>)
struct output_of<F, In> {
  using raw = std::invoke_result_t<const F&, const In&>;
  static constexpr bool usable = true;
};
template <class F, class In>
  requires(!signature_of<F>::known && !std::is_invocable_v<const F&, const In&> &&
           std::is_invocable_v<const F&>)
struct output_of<F, In> {
  using raw = std::invoke_result_t<const F&>;
  static constexpr bool usable = true;
};
template <class F, class In>
using output_t = stored_t<value_of_t<typename awaited<typename output_of<F, In>::raw>::type>>;
/// Whether callable F, in a workflow with input In, is a coroutine (returns an awaitable).
template <class F, class In>
inline constexpr bool is_coroutine_v = awaited<typename output_of<F, In>::raw>::coroutine;

/// Reads a user type's compile-time name: a fixed_string, a string_view or a char array.
template <class T>
constexpr auto name_of() noexcept {
  constexpr std::string_view text{T::name};
  fixed_string<text.size() + 1> out;
  for (std::size_t i = 0; i < text.size(); ++i) out.data[i] = text[i];
  return out;
}
}  // namespace detail

/**
 * A named step: a user callable plus, optionally, its compensation and its saga role.
 * Build one with `tutti::step<"name">(callable)` or `tutti::pivot<"name">(callable)`.
 *
 * The callable's parameters say what it needs, each one of: the workflow input (`const In&`),
 * `tutti::from<"earlier_step", T>` (that step's output), `tutti::call_context` (run id,
 * idempotency key, attempt). It returns `tutti::result<T>`, `T`, or `void`; an exception it
 * throws becomes a failure with `errc::exception` and its `what()` as the message.
 * Stateless callables make an empty step (`sizeof` 1, `std::is_empty`).
 */
template <fixed_string Name, class F, class Undo = no_compensation, step_role Role = step_role::normal>
class step_node {
  static_assert(detail::valid_name<Name>(),
                "tutti: a step name must be non-empty and must not contain '/', '\"' or a newline.");
  static_assert(!detail::signature_of<F>::mutable_call,
                "tutti: a step callable must be callable on a const object (a workflow is shared "
                "by concurrent runs). Remove `mutable` from the lambda or make operator() const; "
                "keep changing state behind a pointer or an atomic.");

 public:
  static constexpr auto name = Name;
  static constexpr bool is_node = true;
  static constexpr bool compensable = !std::is_same_v<Undo, no_compensation>;
  static constexpr bool pivot = Role == step_role::pivot;
  static constexpr bool retriable = false;
  static constexpr bool contains_compensable = compensable;
  static_assert(!(pivot && compensable),
                "tutti: a pivot step cannot have a compensation: the pivot is the point of no "
                "return. Make it a normal step with compensate_with, or drop the compensation.");

  template <class In>
  using value_type = detail::output_t<F, In>;
  template <class In>
  using state_type = value_type<In>;
  /// Whether the callable is a coroutine (returns an awaitable): only an async run can call it.
  template <class In>
  static constexpr bool coroutine = detail::is_coroutine_v<F, In>;

  constexpr step_node()
    requires(std::is_default_constructible_v<F> && std::is_default_constructible_v<Undo>)
      : f_(), undo_() {}
  constexpr explicit step_node(F f) noexcept(std::is_nothrow_move_constructible_v<F>)
      : f_(std::move(f)), undo_() {}
  constexpr step_node(F f, Undo undo) : f_(std::move(f)), undo_(std::move(undo)) {}

  /**
   * Adds the compensation that undoes this step when a later step fails. It is called with what
   * the step produced (`const T&`, nothing for a void step) followed by any parameters a step may
   * take (`call_context`, the input, `from<...>`): `refund(const receipt&, const call_context&)`.
   */
  template <class U>
  [[nodiscard]] constexpr auto compensate_with(U undo) const& {
    return make_compensable<U>(f_, std::move(undo));
  }
  template <class U>
  [[nodiscard]] constexpr auto compensate_with(U undo) && {
    return make_compensable<U>(std::move(f_), std::move(undo));
  }
  /**
   * The same, with a policy for the compensation itself, typically a retry: a failing refund is
   * tried again before it is reported as `compensation_failed`.
   * `.compensate_with(refund, tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{5}})`
   */
  template <class U, class P>
    requires requires { std::remove_cvref_t<P>::policy_name; }
  [[nodiscard]] constexpr auto compensate_with(U undo, P policy) const& {
    using W = detail::undo_with_policy<U, P>;
    return make_compensable<W>(f_, W{std::move(undo), std::move(policy)});
  }
  template <class U, class P>
    requires requires { std::remove_cvref_t<P>::policy_name; }
  [[nodiscard]] constexpr auto compensate_with(U undo, P policy) && {
    using W = detail::undo_with_policy<U, P>;
    return make_compensable<W>(std::move(f_), W{std::move(undo), std::move(policy)});
  }

  /// Calls the user callable once (one attempt). Used by the engine and by policies.
  template <class Call>
  TUTTI_ALWAYS_INLINE result<value_type<typename Call::input_type>> invoke(Call& call) const {
    if constexpr (detail::observed<Call>()) {
      result<value_type<typename Call::input_type>> r = invoke_once(call);
      call.end_attempt(r);
      return r;
    } else {
      return invoke_once(call);
    }
  }

  /// Calls the compensation with what the step produced.
  template <class Call, class S>
  result<void> compensate(S& produced, Call& call) const {
    if constexpr (!compensable) {
      return outcome::success();
    } else {
      result<unit> r = [&] {
        if constexpr (detail::undo_parts<Undo>::has_policy)
          return undo_.policy.invoke([&] { return compensate_attempt(produced, call); }, call);
        else
          return compensate_attempt(produced, call);
      }();
      if (TUTTI_LIKELY(r.has_value())) return outcome::success();
      return r.error();
    }
  }

  /**
   * Calls the user callable with its parameters bound from `call`, and returns what it returns
   * (an exception propagates). The engines wrap it: the sync one captures and maps the outcome,
   * the async one (<tutti/async.hpp>) awaits a coroutine's awaitable first.
   */
  template <class Call>
  TUTTI_ALWAYS_INLINE decltype(auto) call_callable(Call& call) const {
    using In = typename Call::input_type;
    static_assert(detail::output_of<F, In>::usable,
                  "tutti: this step's callable cannot be called: give it parameters tutti can "
                  "supply (the workflow input, tutti::from<\"step\", T>, tutti::call_context) or "
                  "none.");
    if constexpr (detail::signature_of<F>::known) {
      using args = typename detail::signature_of<F>::args;
      static_assert(detail::all_bindable<F, Call>(args{}),
                    "tutti: a step parameter must be the workflow input (by value or const&), "
                    "tutti::from<\"step\", T> for an earlier step's output, or "
                    "tutti::call_context.");
      return detail::call_with(f_, call, args{});
    } else if constexpr (std::is_invocable_v<const F&, const In&>) {
      return f_(call.input());
    } else {
      return f_();
    }
  }
  /// Whether calling the callable cannot throw (it is declared noexcept).
  template <class In>
  static constexpr bool nothrow_call = [] {
    if constexpr (detail::signature_of<F>::known) return detail::signature_of<F>::nothrow;
    else if constexpr (std::is_invocable_v<const F&, const In&>)
      return std::is_nothrow_invocable_v<const F&, const In&>;
    else return std::is_nothrow_invocable_v<const F&>;
  }();

  /// Calls the compensation with what the step produced and its other parameters bound from
  /// `call`, and returns what it returns (an exception propagates); see call_callable.
  template <class Call, class S>
  decltype(auto) call_compensation(S& produced, Call& call) const {
    if constexpr (detail::undo_parts<Undo>::has_policy)
      return call_undo(undo_.fn, produced, call);
    else
      return call_undo(undo_, produced, call);
  }
  /// Whether the compensation is declared noexcept.
  static constexpr bool nothrow_compensation = [] {
    using G = typename detail::undo_parts<Undo>::fn_type;
    if constexpr (std::is_same_v<G, detail::member_compensation> ||
                  std::is_same_v<G, no_compensation>)
      return false;
    else return detail::signature_of<G>::nothrow;
  }();
  /// The compensation's policy (a retry), for an async run; only when it has one.
  [[nodiscard]] constexpr const auto& undo_policy() const noexcept
    requires(detail::undo_parts<Undo>::has_policy)
  {
    return undo_.policy;
  }
  static constexpr bool undo_has_policy = detail::undo_parts<Undo>::has_policy;

  /// The value `from<>` and the run result see for a stored state.
  template <class S>
  static constexpr const S& value(const S& s) noexcept { return s; }

  [[nodiscard]] constexpr const F& callable() const noexcept { return f_; }
  [[nodiscard]] constexpr const Undo& compensation() const noexcept { return undo_; }

 private:
  template <class Call>
  TUTTI_ALWAYS_INLINE result<value_type<typename Call::input_type>> invoke_once(Call& call) const {
    using In = typename Call::input_type;
    using V = value_type<In>;
    static_assert(!coroutine<In>,
                  "tutti: this step is a coroutine (its callable returns an awaitable), and the "
                  "workflow is run synchronously. Run it with `co_await wf.async_run(input, ...)` "
                  "(#include <tutti/async.hpp>), or make the step's callable synchronous.");
    static_assert(sizeof(V) <= TUTTI_CONFIG_MAX_OUTPUT_BYTES,
                  "tutti: this step's output is larger than TUTTI_CONFIG_MAX_OUTPUT_BYTES (256 "
                  "KiB by default). A run holds each output by value, and the result, its copy "
                  "in the run and the run itself live on the stack: a few MB overflow a thread's "
                  "stack. Return the data in a std::vector or a std::unique_ptr (on the heap), "
                  "or define TUTTI_CONFIG_MAX_OUTPUT_BYTES higher if your stacks are large.");
    call.begin_attempt();
    // A journaled run its store has stopped (another engine took it over) calls nothing more;
    // `cancelled` is neither retried nor served by a fallback.
    if (call.journal_stopped()) return make_error_code(errc::cancelled);
    return detail::capture<V, nothrow_call<In>>(
        call, false, [&]() TUTTI_ALWAYS_INLINE_LAMBDA -> decltype(auto) { return call_callable(call); });
  }

  /// One attempt of the compensation, with its attempt count and events.
  template <class Call, class S>
  result<unit> compensate_attempt(S& produced, Call& call) const {
    call.begin_compensation_attempt();
    if constexpr (detail::observed<Call>()) {
      result<unit> r = compensate_once(produced, call);
      call.end_attempt(r);
      return r;
    } else {
      return compensate_once(produced, call);
    }
  }

  template <class Call, class S>
  result<unit> compensate_once(S& produced, Call& call) const {
    static_assert(!detail::awaitable_type<std::remove_cvref_t<decltype(call_compensation(produced, call))>>,
                  "tutti: this step's compensation is a coroutine (it returns an awaitable), and "
                  "the workflow is run synchronously. Run it with `co_await wf.async_run(input, "
                  "...)` (#include <tutti/async.hpp>), or make the compensation synchronous.");
    if (call.journal_stopped()) return make_error_code(errc::cancelled);
    return detail::capture<unit, nothrow_compensation>(
        call, true, [&]() -> decltype(auto) { return call_compensation(produced, call); });
  }

  template <class U, class Callable>
  static constexpr auto make_compensable(Callable&& f, U undo) {
    static_assert(!pivot,
                  "tutti: a pivot step cannot have a compensation: the pivot is the point of no "
                  "return. Make it a normal step with compensate_with, or drop the compensation.");
    static_assert(std::is_same_v<Undo, no_compensation>,
                  "tutti: compensate_with called twice on one step; a step has one compensation.");
    using G = typename detail::undo_parts<U>::fn_type;
    static_assert(detail::callable_shape<G>,
                  "tutti: compensate_with(undo): undo must be callable (a function or a lambda).");
    if constexpr (detail::signature_of<F>::known && detail::signature_of<G>::known) {
      // Checked here rather than in a helper: one level less before the message in g++.
      using out = detail::value_of_t<typename detail::awaited<typename detail::signature_of<F>::return_type>::type>;
      if constexpr (!compensation_accepts<G, out>())
        static_cast<void>(sizeof(detail::compensation_mismatch<detail::name_t<Name>, G, out>));
    }
    return step_node<Name, F, U, Role>(std::forward<Callable>(f), std::move(undo));
  }

  template <class U, class Out>
  static constexpr bool compensation_accepts() {
    using args = typename detail::signature_of<U>::args;
    if constexpr (std::is_void_v<Out>) {
      return true;  // every parameter is bound like a step's
    } else {
      return first_accepts<Out>(args{});
    }
  }
  template <class Out>
  static constexpr bool first_accepts(detail::type_list<>) { return false; }
  template <class Out, class P0, class... P>
  static constexpr bool first_accepts(detail::type_list<P0, P...>) {
    using D0 = std::remove_cvref_t<P0>;
    return std::is_convertible_v<const Out&, P0> && !std::is_same_v<D0, call_context> &&
           !detail::is_from_v<D0>;
  }

  template <class G, class S, class Call>
  decltype(auto) call_undo(const G& undo, const S& produced, Call& call) const {
    using In = typename Call::input_type;
    if constexpr (std::is_same_v<G, detail::member_compensation>) {
      return call_member_undo(produced, call);
    } else if constexpr (detail::signature_of<G>::known) {
      if constexpr (std::is_same_v<S, unit>)
        return bind_undo(undo, produced, call, typename detail::signature_of<G>::args{});
      else
        return bind_rest<G>(undo, produced, call, typename detail::signature_of<G>::args{});
    } else if constexpr (std::is_same_v<S, unit> && std::is_invocable_v<const G&>) {
      return undo();
    } else if constexpr (std::is_invocable_v<const G&, const S&>) {
      return undo(produced);
    } else if constexpr (std::is_invocable_v<const G&, const S&, const call_context&>) {
      return undo(produced, call.context());
    } else {
      static_assert(detail::always_false<G, In>,
                    "tutti: the compensation cannot be called with what its step produced. It "
                    "must take const T& (T: the step's output) first, or nothing for a void step.");
    }
  }

  template <class S, class Call>
  decltype(auto) call_member_undo(const S& produced, Call& call) const {
    using sig = detail::signature<decltype(&F::compensate)>;
    auto bound = [this](auto&&... a) -> decltype(auto) {
      return f_.compensate(std::forward<decltype(a)>(a)...);
    };
    return bind_undo_with<F>(bound, produced, call, typename sig::args{});
  }

  template <class G, class S, class Call, class... P>
  static decltype(auto) bind_undo(const G& g, const S& produced, Call& call,
                                  detail::type_list<P...> args) {
    return bind_undo_with<G>([&g](auto&&... a) -> decltype(auto) {
      return g(std::forward<decltype(a)>(a)...);
    }, produced, call, args);
  }

  /// Where: the user's compensation (or step type), named in error reports.
  template <class Where, class G, class S, class Call, class... P>
  static decltype(auto) bind_undo_with(const G& g, const S& produced, Call& call,
                                       detail::type_list<P...>) {
    if constexpr (std::is_same_v<S, unit>) {
      return g(detail::bind_arg<P, Where>(call)...);
    } else {
      return bind_rest<Where>(g, produced, call, detail::type_list<P...>{});
    }
  }
  template <class Where, class G, class S, class Call, class P0, class... P>
  static decltype(auto) bind_rest(const G& g, const S& produced, Call& call,
                                  detail::type_list<P0, P...>) {
    static_assert(std::is_convertible_v<const S&, P0>,
                  "tutti: the compensation must take what its step produced as its first "
                  "parameter (const T& for a step returning result<T>; nothing for a void step).");
    return g(produced, detail::bind_arg<P, Where>(call)...);
  }
  template <class Where, class G, class S, class Call>
  static decltype(auto) bind_rest(const G&, const S&, Call&, detail::type_list<>) {
    static_assert(detail::always_false<G, S>,
                  "tutti: the compensation must take what its step produced as its first "
                  "parameter (const T& for a step returning result<T>; nothing for a void step).");
  }

  [[no_unique_address]] F f_;
  [[no_unique_address]] Undo undo_;
};

namespace detail {
template <fixed_string Name, class F, step_role Role>
constexpr auto make_step(F&& f) {
  using D = std::decay_t<F>;
  static_assert(callable_shape<D>,
                "tutti: step<\"name\">(f): f must be callable: a function, a function pointer, a "
                "lambda or an object with operator().");
  return step_node<Name, D, no_compensation, Role>(std::forward<F>(f));
}
}  // namespace detail

/// A named step: `tutti::step<"reserve_inventory">(reserve)`.
template <fixed_string Name, class F>
[[nodiscard]] constexpr auto step(F&& f) {
  return detail::make_step<Name, F, step_role::normal>(std::forward<F>(f));
}

/// The saga's pivot: once it succeeds, earlier steps are no longer compensated.
template <fixed_string Name, class F>
[[nodiscard]] constexpr auto pivot(F&& f) {
  return detail::make_step<Name, F, step_role::pivot>(std::forward<F>(f));
}

// ---- nodes and user step types ------------------------------------------------------------

/// Anything a workflow can hold as one step: a step, a step with policies, a nested workflow.
template <class N>
concept node = requires {
  requires std::remove_cvref_t<N>::is_node;
  std::remove_cvref_t<N>::name;
};

namespace detail {
template <class T>
concept named_type = requires { std::string_view{T::name}; };

template <class T>
constexpr step_role role_of() noexcept {
  if constexpr (requires { T::pivot; }) return T::pivot ? step_role::pivot : step_role::normal;
  else return step_role::normal;
}
}  // namespace detail

/**
 * A step written as a type: a struct with `static constexpr std::string_view name` (or a
 * `fixed_string` / char array), a const `operator()`, optionally a const `compensate(...)` member
 * and `static constexpr bool pivot = true`. Workflows accept such objects directly.
 */
template <class T>
concept step_type = !node<T> && detail::named_type<std::remove_cvref_t<T>> &&
                    std::is_class_v<std::remove_cvref_t<T>>;

namespace detail {
template <class T>
constexpr auto as_node(T&& t) {
  using D = std::remove_cvref_t<T>;
  if constexpr (node<D>) {
    return D(std::forward<T>(t));
  } else if constexpr (step_type<D>) {
    constexpr auto n = name_of<D>();
    if constexpr (requires { &D::compensate; })
      return step_node<n, D, member_compensation, role_of<D>()>(std::forward<T>(t),
                                                                member_compensation{});
    else
      return step_node<n, D, no_compensation, role_of<D>()>(std::forward<T>(t));
  } else {
    static_assert(always_false<T>,
                  "tutti: a workflow holds steps: tutti::step<\"name\">(callable), "
                  "tutti::pivot<\"name\">(callable), a step with policies (step | policy), a "
                  "nested workflow, or a user type with `static constexpr std::string_view name` "
                  "and operator().");
  }
}
template <class T>
using as_node_t = decltype(as_node(std::declval<T>()));
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_STEP_HPP
