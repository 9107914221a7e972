// tutti — how policies wrap steps: `step | retry{...} | guard(breaker)`.
#ifndef TUTTI_POLICY_HPP
#define TUTTI_POLICY_HPP

#include <array>        // descriptors
#include <concepts>     // std::same_as: a policy's worst_case_wait()
#include <cstddef>      // std::size_t
#include <tuple>        // std::apply over a workflow's steps
#include <cstdint>      // attempt counts
#include <string_view>  // policy names
#include <type_traits>  // std::remove_cvref_t
#include <utility>      // std::forward

#include "clock.hpp"
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

/**
 * What a policy says of itself, for descriptors and compile-time worst cases: its name, how
 * many calls of the layer inside one call of it may make (0: unbounded), the longest it may
 * wait in all per call, a time limit it enforces, and a detail (e.g. the backoff's name).
 */
struct policy_info {
  std::string_view name;
  std::uint32_t max_attempts = 1;
  duration max_added_delay{};
  duration limit = duration::max();
  std::string_view detail{};
};

/// `a + b`, stopping at duration::max() instead of overflowing.
[[nodiscard]] constexpr duration saturating_add(duration a, duration b) noexcept {
  if (a == duration::max() || b == duration::max()) return duration::max();
  if (b.count() > 0 && a > duration::max() - b) return duration::max();
  return a + b;
}

/// Marks a policy placed inside a retry on purpose: `step | allow_inside_retry(fallback(x)) |
/// retry{...}` compiles, where a plain fallback inside a retry does not.
template <class P>
struct allow_inside_retry_t : P {
  static constexpr bool allowed_inside_retry = true;
};
template <class P>
[[nodiscard]] constexpr allow_inside_retry_t<std::remove_cvref_t<P>> allow_inside_retry(P&& p) {
  return {std::forward<P>(p)};
}

namespace detail {
/// How a policy runs in an async run (its waits on timers): specialised by <tutti/async.hpp>.
template <class P>
struct async_policy;

template <class P>
constexpr policy_info info_of(const P& p) noexcept {
  if constexpr (requires { p.info(); }) return p.info();
  else return policy_info{P::policy_name};
}
template <class P>
constexpr bool allowed_inside_retry() noexcept {
  if constexpr (requires { P::allowed_inside_retry; }) return P::allowed_inside_retry;
  else return false;
}
template <class P>
constexpr bool is_retry_policy() noexcept {
  return P::policy_name == std::string_view{"retry"} ||
         P::policy_name == std::string_view{"retry_forever"};
}
// Policies a retry around them cannot work through: a fallback turns every failure into a
// success (the retry never sees one); a deadline meant for the whole step would restart with
// each attempt.
template <class P>
constexpr bool hides_failures() noexcept {
  return P::policy_name == std::string_view{"fallback"} && !allowed_inside_retry<P>();
}
template <class P>
constexpr bool is_run_deadline() noexcept {
  return P::policy_name == std::string_view{"deadline"} && !allowed_inside_retry<P>();
}
template <class N>
constexpr bool contains_fallback() noexcept {
  if constexpr (requires { N::contains_fallback; }) return N::contains_fallback;
  else return false;
}
template <class N>
constexpr bool contains_deadline() noexcept {
  if constexpr (requires { N::contains_deadline; }) return N::contains_deadline;
  else return false;
}

template <class P>
constexpr bool makes_retriable() noexcept {
  if constexpr (requires { std::remove_cvref_t<P>::makes_retriable; })
    return std::remove_cvref_t<P>::makes_retriable;
  else
    return false;
}
// Whether a retrying policy may call again: a retry whose max_attempts is 1 never does.
template <class P>
constexpr bool calls_again(const P& p) noexcept {
  if constexpr (requires { p.attempts.value; }) return p.attempts.value > 1;
  else return true;  // retry_forever, or a policy of the user's that makes the step retriable
}
/**
 * The saga rule on values: a node the types call retriable (it has a retry) is retried for
 * real, i.e. no retry it relies on is `max_attempts{1}`. Composite nodes answer through a
 * `retried()` member; a step with policies through them; anything else by its type.
 */
template <class N>
constexpr bool retried(const N& n) noexcept {
  if constexpr (!N::retriable) {
    return false;
  } else if constexpr (requires { n.policy(); n.inner(); }) {
    return (makes_retriable<typename N::policy_type>() && calls_again(n.policy())) ||
           retried(n.inner());
  } else if constexpr (requires { n.retried(); }) {
    return n.retried();
  } else if constexpr (requires { n.inner(); }) {
    return retried(n.inner());
  } else {
    return true;
  }
}
}  // namespace detail

/**
 * A step (or nested workflow) with one more policy around it. `step | a | b` reads inside out:
 * `b` wraps `a` wraps the step, so the last policy written is the outermost and sees every
 * failure of the ones before it. Name, saga role and compensation are the inner step's.
 */
template <class Inner, class Policy>
class with_policy {
  static_assert(!(detail::is_retry_policy<Policy>() && detail::contains_fallback<Inner>()),
                "tutti: a fallback inside a retry: the fallback turns each failure into a value, "
                "so the retry never sees one. Put the fallback outside (step | retry{...} | "
                "fallback(...)), or wrap it in tutti::allow_inside_retry(...) if that is meant.");
  static_assert(!(detail::is_retry_policy<Policy>() && detail::contains_deadline<Inner>()),
                "tutti: a deadline inside a retry restarts with every attempt. Put the deadline "
                "outside the retry (step | retry{...} | deadline{...}); for a limit per attempt "
                "use tutti::timeout{...} inside the retry.");

 public:
  static constexpr auto name = Inner::name;
  static constexpr bool is_node = true;
  static constexpr bool compensable = Inner::compensable;
  static constexpr bool pivot = Inner::pivot;
  static constexpr bool retriable = Inner::retriable || detail::makes_retriable<Policy>();
  static constexpr bool contains_compensable = Inner::contains_compensable;
  static constexpr bool contains_fallback =
      detail::contains_fallback<Inner>() || detail::hides_failures<Policy>();
  static constexpr bool contains_deadline =
      detail::contains_deadline<Inner>() || detail::is_run_deadline<Policy>();
  /// Number of policies around the step, inner to outer.
  static constexpr std::size_t policy_count = [] {
    if constexpr (requires { Inner::policy_count; }) return Inner::policy_count + 1;
    else return std::size_t{1};
  }();
  using inner_type = Inner;
  using policy_type = Policy;

  template <class In>
  using value_type = typename Inner::template value_type<In>;
  template <class In>
  using state_type = typename Inner::template state_type<In>;

  constexpr with_policy(Inner inner, Policy p) : inner_(std::move(inner)), policy_(std::move(p)) {}

  template <class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Call& call) const {
    auto next = [&]() TUTTI_ALWAYS_INLINE_LAMBDA { return inner_.invoke(call); };
    if constexpr (requires { policy_.invoke(next, call, *this); })
      return policy_.invoke(next, call, *this);  // policies that may undo a late success
    else
      return policy_.invoke(next, call);
  }
  template <class Call, class S>
  result<void> compensate(S& produced, Call& call) const {
    return inner_.compensate(produced, call);
  }
  template <class S>
  static constexpr decltype(auto) value(const S& s) noexcept {
    return Inner::value(s);
  }
  /// Undoes a success that a time limit rejected (it came too late), counted as compensation.
  // What the engine asks of groups, choices and conditional steps, forwarded to the inner node.
  template <class S>
    requires requires(const S& s) { Inner::undoable(s); }
  static constexpr bool undoable(const S& s) noexcept {
    return Inner::undoable(s);
  }
  template <class S>
    requires requires(const S& s) { Inner::skipped(s); }
  static constexpr bool skipped(const S& s) noexcept {
    return Inner::skipped(s);
  }
  template <class S>
    requires requires(const S& s) { Inner::journal_mark(s); }
  static constexpr std::uint64_t journal_mark(const S& s) noexcept {
    return Inner::journal_mark(s);
  }
  template <class Call, class S>
  result<void> compensate_late(S& produced, Call& call) const {
    call.begin_late_compensation();
    result<void> r = inner_.compensate(produced, call);
    call.end_late_compensation(r);
    return r;
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

// ---- descriptors and worst cases ------------------------------------------------------------

/// A step's shape: its name and its policies, inner to outer, with their settings.
template <std::size_t K>
struct descriptor {
  std::string_view step;
  std::array<policy_info, K> policies{};
  [[nodiscard]] static constexpr std::size_t size() noexcept { return K; }
};

namespace detail {
template <class N>
constexpr std::size_t policy_count_of() noexcept {
  if constexpr (requires { N::policy_count; }) return N::policy_count;
  else return 0;
}
template <std::size_t K, class N>
constexpr void fill_policies(std::array<policy_info, K>& out, const N& n) noexcept {
  if constexpr (requires { n.policy(); n.inner(); }) {
    fill_policies(out, n.inner());
    out[policy_count_of<N>() - 1] = info_of(n.policy());
  }
}
}  // namespace detail

/**
 * The compile-time descriptor of a step: `constexpr auto d = tutti::describe(step);` then
 * `static_assert(d.policies[0].name == "retry")`. Policies are listed inner to outer, i.e. in
 * the order they are written after the step.
 */
template <node N>
[[nodiscard]] constexpr auto describe(const N& n) noexcept {
  descriptor<detail::policy_count_of<N>()> d{N::name.view(), {}};
  detail::fill_policies(d.policies, n);
  return d;
}

/// `max_calls` of something unbounded (a retry_forever).
inline constexpr std::uint64_t unbounded = ~std::uint64_t{0};

namespace detail {
constexpr std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept {
  if (a == unbounded || b == unbounded) return unbounded;
  if (a != 0 && b > unbounded / a) return unbounded;
  return a * b;
}
constexpr std::uint64_t saturating_sum(std::uint64_t a, std::uint64_t b) noexcept {
  return a > unbounded - b ? unbounded : a + b;
}
constexpr duration saturating_times(duration d, std::uint64_t n) noexcept {
  if (d == duration::max() || n == unbounded) return d.count() == 0 ? d : duration::max();
  if (d.count() != 0 && n > static_cast<std::uint64_t>(duration::max().count() / d.count()))
    return duration::max();
  return d * static_cast<duration::rep>(n);
}
}  // namespace detail

namespace detail {
// Calls of the layer inside per call of a policy.
template <class P>
constexpr std::uint64_t attempts_of(const P& p) noexcept {
  const std::uint32_t n = info_of(p).max_attempts;
  return n == 0 ? unbounded : n;
}
// The longest a policy may wait per call. A policy whose wait is a setting of an object shared
// at run time (a bulkhead's queue, a rate limiter's token wait) says so through
// `worst_case_wait()`; its descriptor keeps 0, so that describe() stays a constant expression.
template <class P>
constexpr duration added_delay_of(const P& p) noexcept {
  if constexpr (requires { { p.worst_case_wait() } -> std::same_as<duration>; })
    return saturating_add(info_of(p).max_added_delay, p.worst_case_wait());
  else
    return info_of(p).max_added_delay;
}
// The nodes max_calls/max_delay know, recognised by what they expose: a step with policies
// (policy(), inner()), a workflow (steps()), a parallel group, quorum, first-of or hedge
// (branches(), delay()), a choice (cases()), a conditional step or a renamed/optional branch
// (inner()); anything else is one call of one callable.
template <class N>
constexpr std::uint64_t calls_of(const N& n) noexcept;
template <class N>
constexpr duration delay_of(const N& n) noexcept;

template <class Tuple, class Fold>
constexpr auto fold_nodes(const Tuple& nodes, Fold fold) noexcept {
  return std::apply([&](const auto&... s) { return fold(s...); }, nodes);
}
template <class T>
constexpr const T& node_in(const T& n) noexcept {
  return n;
}
template <class T>
constexpr const T& node_in(const std::tuple<T>& n) noexcept {  // groups and choices box nodes
  return std::get<0>(n);
}

template <class N>
constexpr std::uint64_t calls_of(const N& n) noexcept {
  if constexpr (requires { n.policy(); n.inner(); }) {
    return saturating_mul(calls_of(n.inner()), attempts_of(n.policy()));
  } else if constexpr (requires { n.steps(); }) {
    return fold_nodes(n.steps(), [](const auto&... s) {
      std::uint64_t total = 0;
      ((total = saturating_sum(total, calls_of(node_in(s)))), ...);
      return total;
    });
  } else if constexpr (requires { n.branches(); }) {
    // Every branch may run (a quorum's or hedge's losers too, until they are stopped).
    return fold_nodes(n.branches(), [](const auto&... b) {
      std::uint64_t total = 0;
      ((total = saturating_sum(total, calls_of(node_in(b)))), ...);
      return total;
    });
  } else if constexpr (requires { n.cases(); }) {
    // One case runs per call of the choice.
    return fold_nodes(n.cases(), [](const auto&... c) {
      std::uint64_t most = 0;
      ((most = calls_of(node_in(c)) > most ? calls_of(node_in(c)) : most), ...);
      return most;
    });
  } else if constexpr (requires { n.inner(); }) {
    return calls_of(n.inner());
  } else {
    return 1;
  }
}

template <class N>
constexpr duration delay_of(const N& n) noexcept {
  if constexpr (requires { n.policy(); n.inner(); }) {
    const std::uint64_t times = attempts_of(n.policy());
    return saturating_add(saturating_times(delay_of(n.inner()), times),
                          added_delay_of(n.policy()));
  } else if constexpr (requires { n.steps(); }) {
    return fold_nodes(n.steps(), [](const auto&... s) {
      duration total{};
      ((total = saturating_add(total, delay_of(node_in(s)))), ...);
      return total;
    });
  } else if constexpr (requires { n.branches(); n.delay(); }) {
    // Waits of concurrent branches are added although they overlap in time: the bound is on
    // the time waited in all, whatever the executor. A hedge waits up to `delay` before each
    // copy after the first.
    duration total = fold_nodes(n.branches(), [](const auto&... b) {
      duration sum{};
      ((sum = saturating_add(sum, delay_of(node_in(b)))), ...);
      return sum;
    });
    constexpr std::uint64_t later = std::tuple_size_v<std::remove_cvref_t<decltype(n.branches())>> - 1;
    return saturating_add(total, saturating_times(n.delay(), later));
  } else if constexpr (requires { n.cases(); }) {
    return fold_nodes(n.cases(), [](const auto&... c) {
      duration most{};
      ((most = delay_of(node_in(c)) > most ? delay_of(node_in(c)) : most), ...);
      return most;
    });
  } else if constexpr (requires { n.inner(); }) {
    return delay_of(n.inner());
  } else {
    return duration{};
  }
}
}  // namespace detail

/**
 * Worst-case number of calls of the steps' own callables (not fallback alternates, conditions,
 * selectors or compensations) one run of `n` can make, with every setting at its maximum:
 * nested retries multiply; a workflow, a parallel group, a quorum, a first-of and a hedge add
 * their steps or branches (every branch may be called; `step | hedged<3>(...)` is 3 calls of
 * the step); a choice counts its costliest case; a conditional step counts its step.
 * `unbounded` for retry_forever. Usable in a `static_assert` when the settings are constants.
 */
template <node N>
[[nodiscard]] constexpr std::uint64_t max_calls(const N& n) noexcept {
  return detail::calls_of(n);
}

/**
 * Worst-case total time one run of `n` may spend waiting, with every setting at its maximum:
 * backoffs between attempts, a bulkhead's queue (its `max_wait` per call), a rate limiter's
 * wait for a token (its `max_wait` per call) and a hedge's delays (`delay` before each copy
 * after the first). It is the sum of every wait of the run: waits in concurrent branches are
 * all added, although they overlap, so it also bounds how much waiting lengthens the run.
 * Nested retries multiply, a choice counts its longest case. `duration::max()` when unbounded.
 * The time the calls themselves take is not included: bound it with a timeout. A constant
 * expression when the settings are, except with a bulkhead or rate limiter (their `max_wait` is
 * read from the shared object at run time).
 */
template <node N>
[[nodiscard]] constexpr duration max_delay(const N& n) noexcept {
  return detail::delay_of(n);
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_HPP
