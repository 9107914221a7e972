// tutti — async runs: coroutine steps, policies that wait on timers, and the run engine on the
// executor of the coroutine that awaits the run.
#ifndef TUTTI_ASYNC_RUN_HPP
#define TUTTI_ASYNC_RUN_HPP

#include "asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <array>         // completion order of a race
#include <atomic>        // a stop wait's completion, from any thread
#include <exception>     // exceptions of coroutine steps, captured
#include <memory>        // a stop wait's state
#include <optional>      // a raced attempt's result
#include <stop_token>    // the run's stop
#include <system_error>  // operation_aborted
#include <tuple>         // nodes
#include <type_traits>   // node shapes
#include <typeinfo>      // whether the run is on a strand
#include <utility>       // std::move

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../events.hpp"
#include "../policy.hpp"
#include "../policy/bulkhead.hpp"
#include "../policy/circuit_breaker.hpp"
#include "../policy/fallback.hpp"
#include "../policy/rate_limiter.hpp"
#include "../policy/retry.hpp"
#include "../policy/timeout.hpp"
#include "../result.hpp"
#include "../step.hpp"
#include "../branch.hpp"
#include "../parallel.hpp"
#include "../workflow.hpp"
#include "sleep.hpp"

TUTTI_DETAIL_COROUTINES_BEGIN

TUTTI_BEGIN_NAMESPACE

/// What a coroutine step returns (`TUTTI_ASIO::awaitable<T>` on its default executor), and
/// what async_run() gives.
template <class T>
using awaitable = TUTTI_ASIO::awaitable<T>;

class asio_executor;  // <tutti/async/parallel.hpp>

namespace detail {

// ---- the run's executor, stop and cancellation ----------------------------------------------

/// What an async run adds to the state its steps share (run_shared::async).
struct async_env {
  /// The cancellation state of the coroutine that awaits the run: an Asio cancellation of it
  /// reaches the pending operation directly and is read here afterwards.
  TUTTI_ASIO::cancellation_state cancellation;
  /// The run's own stop, when it can be asked to stop (run_options::stop, or an Asio
  /// cancellation slot); what steps and policies see as the run's token.
  std::optional<std::stop_source> source;
  std::stop_token token;
  /// Whether run_options::stop can be requested: pending operations are then raced against it
  /// (a stop from another thread must interrupt them).
  bool race_stop = false;

  /// Whether the run has been asked to stop; an Asio cancellation of the awaiting coroutine is
  /// recorded as a stop request (so that retries and waits end too).
  bool stop_requested() noexcept {
    if (source && cancellation.cancelled() != TUTTI_ASIO::cancellation_type::none)
      source->request_stop();
    return token.stop_requested();
  }
};

template <class Call>
async_env& env_of(Call& call) noexcept {
  return *call.shared()->async;
}

/**
 * An asynchronous operation that completes (no error) once `token` is asked to stop, or with
 * `operation_aborted` when it is cancelled through its handler's slot. The stop may come from
 * any thread; the handler runs on its associated executor.
 */
template <class Handler>
class stop_wait : public std::enable_shared_from_this<stop_wait<Handler>> {
 public:
  using executor_type = TUTTI_ASIO::associated_executor_t<Handler>;
  explicit stop_wait(Handler h)
      : handler_(std::move(h)),
        executor_(TUTTI_ASIO::get_associated_executor(handler_)),
        work_(TUTTI_ASIO::make_work_guard(executor_)) {}

  void start(const std::stop_token& token) {
    auto slot = TUTTI_ASIO::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      slot.assign([self = this->shared_from_this()](TUTTI_ASIO::cancellation_type type) {
        if (type != TUTTI_ASIO::cancellation_type::none) self->complete(TUTTI_ASIO::error::operation_aborted);
      });
    }
    callback_.emplace(token, fire{this->shared_from_this()});
  }

 private:
  struct fire {
    std::shared_ptr<stop_wait> self;
    void operator()() const noexcept { self->complete({}); }
  };
  void complete(std::error_code ec) {
    if (done_.exchange(true, std::memory_order_acq_rel)) return;
    TUTTI_ASIO::post(executor_, [self = this->shared_from_this(), ec] {
      self->callback_.reset();  // ends the cycle through the callback's copy of `self`
      auto slot = TUTTI_ASIO::get_associated_cancellation_slot(self->handler_);
      if (slot.is_connected()) slot.clear();
      self->work_.reset();
      std::move(self->handler_)(ec);
    });
  }

  Handler handler_;
  executor_type executor_;
  std::optional<TUTTI_ASIO::executor_work_guard<executor_type>> work_;
  std::optional<std::stop_callback<fire>> callback_;
  std::atomic<bool> done_{false};
};

struct start_stop_wait {
  template <class Handler>
  void operator()(Handler&& handler, std::stop_token token) const {
    std::make_shared<stop_wait<std::decay_t<Handler>>>(std::forward<Handler>(handler))->start(token);
  }
};
template <class Token>
auto async_wait_stop(std::stop_token token, Token&& completion) {
  return TUTTI_ASIO::async_initiate<Token, void(std::error_code)>(start_stop_wait{}, completion,
                                                                   std::move(token));
}

/// A deferred operation whose handler runs on the run's executor: a parallel group gives the
/// operations it starts handlers with no executor of their own (Asio's system executor, a
/// thread of its own).
inline auto deferred_on(const TUTTI_ASIO::any_io_executor& executor) {
  return TUTTI_ASIO::bind_executor(executor, TUTTI_ASIO_DEFERRED);
}

/// The executor of a race (an attempt against a timer or the run's stop, a wait against a
/// stop), the calling coroutine moved onto it: a strand of the run's executor. The first
/// operation of a race to complete cancels the others from the thread its handler runs on (or,
/// if one completed while the group was starting them, from the thread that started them), and
/// Asio lets a cancellation be emitted only where the cancelled operation's handlers run: on an
/// io_context run by several threads, only a strand serialises the two (the attempt's coroutine
/// installs a cancellation handler at each of its waits). A run already on a strand (as
/// docs/async.md asks of runs on several threads, and as a race's attempt is) races on that
/// strand; any other executor gets a strand per race, which the caller enters (one dispatch)
/// before it starts the race, and leaves when the race's result resumes it.
/// (Asio 1.22's `any_io_executor::target<T>()` does not check the type: the type is compared.)
inline awaitable<TUTTI_ASIO::any_io_executor> enter_race_executor() {
  const TUTTI_ASIO::any_io_executor executor = co_await TUTTI_ASIO::this_coro::executor;
#if !defined(ASIO_NO_TYPEID) && !defined(BOOST_ASIO_NO_TYPEID)
  if (executor.target_type() == typeid(TUTTI_ASIO::strand<TUTTI_ASIO::any_io_executor>) ||
      executor.target_type() == typeid(TUTTI_ASIO::strand<TUTTI_ASIO::io_context::executor_type>))
    co_return executor;
#endif
  const TUTTI_ASIO::any_io_executor strand = TUTTI_ASIO::make_strand(executor);
  co_await TUTTI_ASIO::dispatch(TUTTI_ASIO::bind_executor(strand, TUTTI_ASIO::use_awaitable));
  co_return strand;
}

/// A timer for a time limit: as async_sleep, and when it ends (not cancelled) it first asks
/// `stop` to stop, so that the layers inside the limit (a retry) see their token stopped.
struct start_limit_timer {
  template <class Handler, class Clock>
  void operator()(Handler&& handler, Clock* clock, duration d, std::stop_source* stop) const {
    auto executor = TUTTI_ASIO::get_associated_executor(handler);
    auto slot = TUTTI_ASIO::get_associated_cancellation_slot(handler);
    async_sleep(*clock, d,
                TUTTI_ASIO::bind_cancellation_slot(
                    slot, TUTTI_ASIO::bind_executor(
                              executor, [h = std::forward<Handler>(handler), stop](std::error_code ec) mutable {
                                if (!ec) stop->request_stop();
                                std::move(h)(ec);
                              })));
  }
};
template <class Clock, class Token>
auto async_limit_timer(Clock& clock, duration d, std::stop_source& stop, Token&& token) {
  return TUTTI_ASIO::async_initiate<Token, void(std::error_code)>(start_limit_timer{}, token,
                                                                   &clock, d, &stop);
}

/// Runs `op` in a coroutine of its own; completes with its value, or nothing if it threw.
template <class T>
awaitable<std::optional<T>> own_thread(awaitable<T> op) {
  // Cancelled (the race was lost), the attempt still finishes what it does (events, records):
  // the operations it awaits see the cancellation, its own co_awaits must not throw.
  co_await TUTTI_ASIO::this_coro::throw_if_cancelled(false);
  try {
    co_return std::optional<T>{co_await std::move(op)};
  } catch (...) {
    co_return std::nullopt;
  }
}

/// The outcome of `op` raced against a second operation `other` (a timer, the run's stop):
/// which finished first, and op's value (nothing if it was abandoned by an exception).
/// `executor` is from enter_race_executor() (op runs on it); `other`'s handler is bound to it.
template <class T>
struct race_result {
  bool other_first;
  std::error_code other_error;
  std::optional<T> value;
};
template <class T, class Other>
awaitable<race_result<T>> race(const TUTTI_ASIO::any_io_executor& executor, awaitable<T> op,
                               Other other) {
  namespace x = TUTTI_ASIO::experimental;
  auto [order, ex, value, ec] =
      co_await x::make_parallel_group(
          TUTTI_ASIO::co_spawn(executor, own_thread(std::move(op)), TUTTI_ASIO_DEFERRED),
          std::move(other))
          .async_wait(x::wait_for_one(), TUTTI_ASIO::use_awaitable);
  (void)ex;
  co_return race_result<T>{order[0] == 1, ec, std::move(value)};
}

/// Awaits `op` (an attempt of a step or of a layer of policies). When the run's stop can be
/// requested from another thread, the attempt runs in a coroutine of its own, cancelled at the
/// stop.
template <class R>
awaitable<R> stoppable(async_env& env, awaitable<R> op, R (*abandoned)()) {
  if (!env.race_stop) co_return co_await std::move(op);
  const auto executor = co_await enter_race_executor();
  auto raced = co_await race(executor, std::move(op), async_wait_stop(env.token, deferred_on(executor)));
  if (raced.value) co_return std::move(*raced.value);
  co_return abandoned();
}

/// Waits `d` on the run's clock; false when the run was asked to stop first (or meanwhile).
template <class Call>
awaitable<bool> wait_or_stop(Call& call, duration d) {
  async_env& env = env_of(call);
  if (env.stop_requested()) co_return false;
  if (d.count() <= 0) co_return true;
  if (env.race_stop) {
    const auto executor = co_await enter_race_executor();
    auto [order, ec1, ec2] =
        co_await TUTTI_ASIO::experimental::make_parallel_group(
            async_sleep(call.clock(), d, deferred_on(executor)),
            async_wait_stop(env.token, deferred_on(executor)))
            .async_wait(TUTTI_ASIO::experimental::wait_for_one(), TUTTI_ASIO::use_awaitable);
    (void)ec2;
    co_return order[0] == 0 && !ec1 && !env.stop_requested();
  }
  std::error_code ec;
  co_await async_sleep(call.clock(), d, TUTTI_ASIO::redirect_error(TUTTI_ASIO::use_awaitable, ec));
  co_return !ec && !env.stop_requested();
}

// ---- which nodes hold coroutines -------------------------------------------------------------

template <class G>
constexpr bool coroutine_undo() noexcept {
  if constexpr (undo_parts<G>::has_policy) {
    return coroutine_undo<typename undo_parts<G>::fn_type>();
  } else if constexpr (signature_of<G>::known) {
    return awaitable_type<std::remove_cvref_t<typename signature_of<G>::return_type>>;
  } else {
    return false;
  }
}

template <class T>
inline constexpr bool is_step_node_v = false;
template <fixed_string Name, class F, class Undo, step_role Role>
inline constexpr bool is_step_node_v<step_node<Name, F, Undo, Role>> = true;
template <class T>
inline constexpr bool is_basic_workflow_v = false;
template <fixed_string Name, class... N>
inline constexpr bool is_basic_workflow_v<basic_workflow<Name, N...>> = true;
template <class T>
inline constexpr bool is_parallel_group_v = false;
template <fixed_string Name, gather_mode Mode, std::size_t K, class Exec, class... B>
inline constexpr bool is_parallel_group_v<parallel_group<Name, Mode, K, Exec, B...>> = true;
template <class T>
inline constexpr bool is_branch_node_v = false;
template <fixed_string Name, class B, bool Optional>
inline constexpr bool is_branch_node_v<branch_node<Name, B, Optional>> = true;
/// A conditional step (when) or a choice (choose, if_else).
template <class T>
inline constexpr bool is_condition_node_v = false;
template <class Pred, class Inner>
inline constexpr bool is_condition_node_v<when_node<Pred, Inner>> = true;
template <fixed_string Name, class Sel, bool Bool, class... C>
inline constexpr bool is_condition_node_v<choice_node<Name, Sel, Bool, C...>> = true;
template <class T>
inline constexpr bool is_parallel_compensated_v = false;
template <class W, class Exec>
inline constexpr bool is_parallel_compensated_v<parallel_compensated<W, Exec>> = true;
template <class T>
inline constexpr bool is_with_policy_v = false;
template <class I, class P>
inline constexpr bool is_with_policy_v<with_policy<I, P>> = true;

/// Whether a fallback's source is a coroutine alternate (fallback_to(f), f returning an
/// awaitable).
template <class Source>
constexpr bool coroutine_source() noexcept {
  if constexpr (requires { Source::coroutine; }) return Source::coroutine;
  else return false;
}
template <class P>
constexpr bool coroutine_policy() noexcept {
  if constexpr (requires(const P& p) { p.source; })
    return coroutine_source<std::remove_cvref_t<decltype(std::declval<const P&>().source)>>();
  else
    return false;
}
/// Whether a group or a parallel-undone workflow names an Asio executor: an async run must
/// await it (its sync form would wait for the executor's thread, which may be the run's own).
template <class N>
constexpr bool on_asio_executor() noexcept {
  if constexpr (requires { typename N::executor_type; })
    return std::is_same_v<typename N::executor_type, asio_executor>;
  else
    return false;
}

/// Whether node N, in a workflow with input In, must be awaited in an async run: it holds a
/// coroutine (a step, a compensation or a fallback alternate that returns an awaitable) or a
/// group on a tutti::asio_executor, at any depth.
template <class N, class In>
constexpr bool has_coroutine() noexcept;
template <class In, class... M>
constexpr bool any_coroutine(std::tuple<M...>*) noexcept {
  return (has_coroutine<M, In>() || ...);
}
template <class N, class In>
constexpr bool has_coroutine() noexcept {
  if constexpr (is_step_node_v<N>) {
    using F = std::remove_cvref_t<decltype(std::declval<const N&>().callable())>;
    using U = std::remove_cvref_t<decltype(std::declval<const N&>().compensation())>;
    if constexpr (std::is_same_v<U, member_compensation>)
      return N::template coroutine<In> ||
             awaitable_type<std::remove_cvref_t<typename signature<decltype(&F::compensate)>::return_type>>;
    else
      return N::template coroutine<In> || coroutine_undo<U>();
  } else if constexpr (is_with_policy_v<N>) {
    return coroutine_policy<typename N::policy_type>() || has_coroutine<typename N::inner_type, In>();
  } else if constexpr (requires { typename N::inner_type; }) {
    return has_coroutine<typename N::inner_type, In>();
  } else if constexpr (requires { typename N::nodes_type; }) {
    return on_asio_executor<N>() || any_coroutine<In>(static_cast<typename N::nodes_type*>(nullptr));
  } else {
    return false;
  }
}

// ---- calling user code ----------------------------------------------------------------------

/// Whether an exception says the operation was cancelled (Asio's operation_aborted).
inline bool is_cancellation(const std::system_error& e) noexcept {
  return e.code() == std::error_code(TUTTI_ASIO::error::operation_aborted);
}

/// Calls user code through `make` (which returns an awaitable, or a plain outcome) and maps what
/// it gives to result<V>: exceptions are captured (`errc::exception` with what(); a cancelled
/// operation, `errc::cancelled`).
template <class V, bool Nothrow, class Call, class Make>
awaitable<result<V>> call_user(Call& call, bool compensation, Make make) {
  using R = decltype(make());
  if constexpr (awaited<std::remove_cvref_t<R>>::coroutine) {
    using A = typename awaited<std::remove_cvref_t<R>>::type;
    std::error_code failure;
    try {
      if constexpr (std::is_void_v<A>) {
        co_await make();
        co_return result<V>{unit{}};
      } else {
        A a = co_await make();
        co_return capture<V, true>(call, compensation,
                                   [&]() -> decltype(auto) { return std::move(a); });
      }
    } catch (const std::system_error& e) {
      call.set_message(compensation, e.what());
      failure = make_error_code(is_cancellation(e) ? errc::cancelled : errc::exception);
    } catch (...) {
      call.set_message(compensation, current_exception_message());
      failure = make_error_code(errc::exception);
    }
    co_return failure;
  } else {
    co_return capture<V, Nothrow>(call, compensation, make);
  }
}

template <class R>
R cancelled_outcome() {
  return R(make_error_code(errc::cancelled));
}

// ---- nodes ----------------------------------------------------------------------------------

template <fixed_string Prefix, class Frame>
struct async_engine;

template <class N, class Call>
awaitable<result<typename N::template state_type<typename Call::input_type>>> async_invoke(
    const N& n, Call& call);
template <class N, class S, class Call>
awaitable<result<void>> async_compensate(const N& n, S& produced, Call& call);

/// How an async run undoes a level: last step first, one after another (as in a sync run).
struct async_in_reverse {
  template <class Engine, class Nodes, class Frame>
  static awaitable<void> compensate(const Nodes& nodes, Frame& f) {
    return Engine::compensate_all(nodes, f);
  }
};
/// ... or all at once (a workflow built with compensate_in_parallel): async/parallel.hpp.
struct async_concurrent_undo;

/// One attempt of a step: its records and events as in a sync run, its callable awaited.
template <class N, class Call>
awaitable<result<typename N::template value_type<typename Call::input_type>>> step_attempt(
    const N& n, Call& call) {
  using In = typename Call::input_type;
  using V = typename N::template value_type<In>;
  call.begin_attempt();
  if (call.journal_stopped()) co_return make_error_code(errc::cancelled);
  async_env& env = env_of(call);
  result<V> r = co_await stoppable<result<V>>(
      env,
      call_user<V, N::template nothrow_call<In>>(
          call, false, [&n, &call]() -> decltype(auto) { return n.call_callable(call); }),
      &cancelled_outcome<result<V>>);
  if constexpr (observed<Call>()) call.end_attempt(r);
  co_return r;
}

/// One attempt of a step's compensation.
template <class N, class S, class Call>
awaitable<result<unit>> undo_attempt(const N& n, S& produced, Call& call) {
  call.begin_compensation_attempt();
  if (call.journal_stopped()) co_return make_error_code(errc::cancelled);
  // Not raced against the run's stop: a stopped run still undoes what it did (as a sync run).
  result<unit> r = co_await call_user<unit, N::nothrow_compensation>(
      call, true,
      [&n, &produced, &call]() -> decltype(auto) { return n.call_compensation(produced, call); });
  if constexpr (observed<Call>()) call.end_attempt(r);
  co_return r;
}

/// The frame of a nested workflow W's level, run by the step call `Call` of the level above.
template <class W, class Call, class Nodes = typename W::nodes_type>
struct nested_frame;
template <class W, class Call, class... M>
struct nested_frame<W, Call, std::tuple<M...>> {
  using type = frame<typename Call::input_type,
                     std::remove_reference_t<decltype(std::declval<Call&>().clock())>,
                     typename Call::observer_type, M...>;
};
template <class W, class Call>
using nested_frame_t = typename nested_frame<W, Call>::type;

/// A nested workflow as a step of an async run (basic_workflow::invoke_with, awaited).
template <class Undo, class W, class Call>
awaitable<result<typename W::template state_type<typename Call::input_type>>> workflow_attempt(
    const W& w, Call& call) {
  using In = typename Call::input_type;
  using St = typename W::template state_type<In>;
  using F = nested_frame_t<W, Call>;
  call.begin_attempt();
  St st;
  F f{call.input(), st, call.clock(), call.id(), call.timing(), call.shared(), call.observer_handle()};
  constexpr auto prefix = concat<Call::path, fixed_string{"/"}>();
  const bool ok = co_await async_engine<prefix, F>::template run<Undo>(w.steps(), f);
  if (TUTTI_LIKELY(ok)) {
    result<St> r{std::move(st)};
    if constexpr (observed<Call>()) call.end_attempt(r);
    co_return r;
  }
  const std::size_t i = st.failed;
  const std::error_code ec = st.rec.errors.get(i).code();
  std::string text{W::step_names[i]};
  const std::string_view inner = st.rec.messages.get(i);
  text += ": ";
  text += inner.empty() ? ec.message() : std::string{inner};
  call.set_message(false, text);
  if constexpr (observed<Call>()) call.end_attempt(result<void>{ec});
  co_return ec;
}

/// undo_counting_own_failures, awaited: `undo()` gives the awaitable that undoes; whether one of
/// its own compensations failed (earlier failures are kept, not counted).
template <class Undo>
awaitable<bool> async_counting_own_failures(run_shared& shared, Undo undo) {
  const bool before = shared.compensation_failed;
  shared.compensation_failed = false;
  co_await undo();
  const bool failed_now = shared.compensation_failed;
  shared.compensation_failed = before || failed_now;
  co_return failed_now;
}

/// compensate_sublevels, awaited: one compensation attempt of a node that holds sub-levels.
template <class Call, class Undo>
awaitable<result<void>> async_compensate_sublevels(Call& call, Undo undo) {
  call.begin_compensation_attempt();
  const bool failed = co_await async_counting_own_failures(*call.shared(), std::move(undo));
  const result<void> r = failed ? result<void>{make_error_code(errc::compensation_failed)}
                                : result<void>{outcome::success()};
  if constexpr (observed<Call>()) call.end_attempt(r);
  co_return r;
}

template <class Undo, class W, class St, class Call>
awaitable<result<void>> workflow_undo(const W& w, St& st, Call& call) {
  using F = nested_frame_t<W, Call>;
  F f{call.input(), st, call.clock(), call.id(), call.timing(), call.shared(), call.observer_handle()};
  using E = async_engine<concat<Call::path, fixed_string{"/"}>(), F>;
  co_return co_await async_compensate_sublevels(
      call, [&w, &f] { return Undo::template compensate<E>(w.steps(), f); });
}

/// A policy without an async form, around layers without coroutines: its sync form (its waits,
/// if any, hold the thread).
template <class P>
struct async_policy {
  template <class Next, class Call, class Self>
  static auto invoke(const P&, Next, Call& call, const Self& self)
      -> awaitable<result<typename Self::template state_type<typename Call::input_type>>> {
    static_assert(!has_coroutine<typename Self::inner_type, typename Call::input_type>(),
                  "tutti: this policy has no async form, and the step it wraps is a coroutine. "
                  "In an async run, retry, retry_forever, timeout, deadline, fallback, guard "
                  "(a circuit breaker), isolate (a bulkhead) and throttle (a rate limiter) wrap "
                  "coroutine steps; other policies wrap synchronous steps only.");
    co_return self.invoke(call);
  }
  template <class Next, class Call>
  static auto invoke_undo(const P&, Next, Call&) -> awaitable<result<unit>> {
    static_assert(always_false<P>,
                  "tutti: in an async run, a coroutine compensation's own policy must be a retry "
                  "or retry_forever.");
    co_return make_error_code(errc::step_failed);
  }
};

template <class N, class Call>
awaitable<result<typename N::template state_type<typename Call::input_type>>> async_invoke(
    const N& n, Call& call) {
  using In = typename Call::input_type;
  if constexpr (is_step_node_v<N>) {
    if constexpr (N::template coroutine<In>) co_return co_await step_attempt(n, call);
    else co_return n.invoke(call);
  } else if constexpr (is_with_policy_v<N>) {
    auto next = [&n, &call] { return async_invoke(n.inner(), call); };
    co_return co_await async_policy<typename N::policy_type>::invoke(n.policy(), next, call, n);
  } else if constexpr (is_basic_workflow_v<N>) {
    co_return co_await workflow_attempt<async_in_reverse>(n, call);
  } else if constexpr (is_parallel_compensated_v<N>) {
    co_return co_await workflow_attempt<async_concurrent_undo>(n, call);
  } else if constexpr (is_parallel_group_v<N> && has_coroutine<N, In>()) {
    co_return co_await async_group<N>::invoke(n, call);
  } else if constexpr (is_branch_node_v<N>) {
    co_return co_await async_invoke(n.inner(), call);
  } else if constexpr (is_condition_node_v<N> && has_coroutine<N, In>()) {
    co_return co_await async_branch<N>::invoke(n, call);
  } else {
    static_assert(!has_coroutine<N, In>(),
                  "tutti: this kind of node cannot hold coroutine steps in an async run. Steps, "
                  "policies, nested workflows, parallel groups, conditional steps and choices "
                  "can. See docs/async.md.");
    co_return n.invoke(call);
  }
}

template <class N, class S, class Call>
awaitable<result<void>> async_compensate(const N& n, S& produced, Call& call) {
  using In = typename Call::input_type;
  if constexpr (is_step_node_v<N>) {
    if constexpr (!N::compensable || !has_coroutine<N, In>()) {
      co_return n.compensate(produced, call);
    } else {
      result<unit> r = unit{};
      if constexpr (N::undo_has_policy) {
        using P = std::remove_cvref_t<decltype(n.undo_policy())>;
        auto next = [&n, &produced, &call] { return undo_attempt(n, produced, call); };
        r = co_await async_policy<P>::invoke_undo(n.undo_policy(), next, call);
      } else {
        r = co_await undo_attempt(n, produced, call);
      }
      if (r.has_value()) co_return outcome::success();
      co_return r.error();
    }
  } else if constexpr (is_with_policy_v<N>) {
    co_return co_await async_compensate(n.inner(), produced, call);
  } else if constexpr (is_basic_workflow_v<N>) {
    co_return co_await workflow_undo<async_in_reverse>(n, produced, call);
  } else if constexpr (is_parallel_compensated_v<N>) {
    co_return co_await workflow_undo<async_concurrent_undo>(n, produced, call);
  } else if constexpr (is_parallel_group_v<N> && has_coroutine<N, In>()) {
    co_return co_await async_group<N>::compensate(n, produced, call);
  } else if constexpr (is_branch_node_v<N>) {
    co_return co_await async_compensate(n.inner(), produced, call);
  } else if constexpr (is_condition_node_v<N> && has_coroutine<N, In>()) {
    co_return co_await async_branch<N>::compensate(n, produced, call);
  } else {
    co_return n.compensate(produced, call);
  }
}

/// A late success of `self` (a step with policies) undone in an async run.
template <class Self, class S, class Call>
awaitable<result<void>> async_compensate_late(const Self& self, S& produced, Call& call) {
  call.begin_late_compensation();
  result<void> r = co_await async_compensate(self.inner(), produced, call);
  call.end_late_compensation(r);
  co_return r;
}

// ---- policies ---------------------------------------------------------------------------------

template <class Next>
using next_result_t = typename decltype(std::declval<Next&>()())::value_type;

/// retry and retry_forever: their decisions, with the backoff on a timer.
template <class P>
struct async_retry {
  template <class Next, class Call>
  static awaitable<next_result_t<Next>> run(const P& p, Next next, Call& call) {
    duration started{};
    if constexpr (requires { p.budget; }) {
      if (p.budget != duration::max()) started = call.clock().now();
    }
    auto r = co_await next();
    if (TUTTI_LIKELY(r.has_value() && !p.value_retried(r))) co_return r;
    auto s = p.begin_loop(call, started);
    while (p.plan_retry(r, call, s)) {
      if (s.waits && s.wait.count() > 0) (void)co_await wait_or_stop(call, s.wait);
      if (!p.after_wait(r, call, s)) break;
      r = co_await next();
    }
    co_return r;
  }
  template <class Next, class Call, class Self>
  static auto invoke(const P& p, Next next, Call& call, const Self&) {
    return run(p, std::move(next), call);
  }
  template <class Next, class Call>
  static auto invoke_undo(const P& p, Next next, Call& call) {
    return run(p, std::move(next), call);
  }
};
template <class B, class P, class O>
struct async_policy<retry<B, P, O>> : async_retry<retry<B, P, O>> {};
template <class B, class P>
struct async_policy<retry_forever<B, P>> : async_retry<retry_forever<B, P>> {};

/// timeout and deadline: the pending operation is raced against a timer on the run's clock and
/// cancelled when the timer wins.
template <class Policy>
  requires requires(const Policy& p) {
    p.limit;
    Policy::late_failure_note;
  }
struct async_policy<Policy> {
  template <class Next, class Call, class Self>
  static awaitable<next_result_t<Next>> invoke(const Policy& p, Next next, Call& call,
                                              const Self& self) {
    using R = next_result_t<Next>;
    const auto at = p.enter(call);
    std::optional<R> r;
    bool timer_first = false;
    if constexpr (has_coroutine<typename Self::inner_type, typename Call::input_type>()) {
      const duration now = call.clock().now();
      if (at.limit_at <= now) {
        r.emplace(make_error_code(errc::timeout));
        timer_first = true;
      } else {
        // What the layers inside see as the run's stop during this attempt: stopped when the
        // timer wins too, so that a retry inside does not start again.
        async_env& env = env_of(call);
        std::stop_source attempt_stop;
        const std::stop_callback forward(env.token, [&attempt_stop] { attempt_stop.request_stop(); });
        const std::stop_token token = attempt_stop.get_token();
        const std::stop_token* outer = call.set_stop_token(&token);
        const auto executor = co_await enter_race_executor();
        auto raced = co_await race(executor, next(),
                                   async_limit_timer(call.clock(), at.limit_at - now, attempt_stop,
                                                     deferred_on(executor)));
        call.set_stop_token(outer);
        timer_first = raced.other_first && !raced.other_error;
        if (raced.value) r.emplace(std::move(*raced.value));
        else r.emplace(make_error_code(timer_first ? errc::timeout : errc::cancelled));
      }
    } else {
      r.emplace(co_await next());
    }
    call.set_attempt_deadline(at.previous);
    if (TUTTI_LIKELY(!timer_first && call.clock().now() <= at.limit_at)) co_return std::move(*r);
    if (Policy::template late<Self>(*r, call)) {
      const result<void> undone = co_await async_compensate_late(self, r->assume_value(), call);
      Policy::late_undone(*r, call, undone);
    }
    co_return std::move(*r);
  }
};

/// A fallback's substitute: a coroutine alternate (fallback_to) awaited, any other source asked
/// as in a sync run.
template <class T, class Source, class Call>
awaitable<result<T>> substitute_of(const Source& source, Call& call, std::error_code ec) {
  if constexpr (coroutine_source<Source>()) {
    using F = std::remove_cvref_t<decltype(source.fn)>;
    co_return co_await call_user<T, signature_of<F>::nothrow>(call, false, [&source, &call]() -> decltype(auto) {
      return call_with(source.fn, call, typename signature_of<F>::args{});
    });
  } else {
    co_return source.template get<T>(call, ec);
  }
}

template <class Source, class When>
struct async_policy<fallback_policy<Source, When>> {
  using policy_type = fallback_policy<Source, When>;
  template <class Next, class Call, class Self>
  static awaitable<next_result_t<Next>> invoke(const policy_type& p, Next next, Call& call,
                                              const Self&) {
    using R = next_result_t<Next>;
    using T = typename R::value_type;
    R r = co_await next();
    if constexpr (requires { p.source.store(call, r.assume_value()); }) {
      if (r.has_value()) {
        p.source.store(call, r.assume_value());
        co_return r;
      }
    } else {
      if (TUTTI_LIKELY(r.has_value())) co_return r;
    }
    if (!p.when(r.error())) co_return r;
    R substitute = co_await substitute_of<T>(p.source, call, r.error());
    if (!substitute.has_value()) {
      call.note("the fallback could not serve either");
      co_return r;
    }
    call.keep_error(r.error());
    call.mark(step_flag::fallback_served);
    co_return substitute;
  }
};

template <class Breaker, class Classify>
struct async_policy<breaker_guard<Breaker, Classify>> {
  using policy_type = breaker_guard<Breaker, Classify>;
  template <class Next, class Call, class Self>
  static awaitable<next_result_t<Next>> invoke(const policy_type& g, Next next, Call& call,
                                              const Self&) {
    using R = next_result_t<Next>;
    // The state changes this call makes itself are reported, as in a sync run; other runs may
    // run on this thread while it waits, so the record is forgotten before each call into the
    // breaker.
    const typename policy_type::template change_report<Call> report{g.breaker_, &call};
    policy_type::forget_change();
    auto permit = g.breaker_->try_acquire();
    if constexpr (observed<Call>()) report();
    if (TUTTI_UNLIKELY(!permit)) co_return R(g.rejected(permit, call));
    R r = co_await next();
    policy_type::forget_change();
    g.record(permit, r);
    if constexpr (observed<Call>()) report();
    co_return r;
  }
};

/// A keyed breaker: the key's breaker picked as in a sync run, then guarded as above.
template <class Registry, class KeyOf, class Classify>
struct async_policy<keyed_breaker_guard<Registry, KeyOf, Classify>> {
  using policy_type = keyed_breaker_guard<Registry, KeyOf, Classify>;
  template <class Next, class Call, class Self>
  static awaitable<next_result_t<Next>> invoke(const policy_type& g, Next next, Call& call,
                                              const Self& self) {
    using R = next_result_t<Next>;
    std::error_code why;
    const auto one = g.pick(call, why);
    if (!one) co_return R(why);
    const auto guard = *one;
    co_return co_await async_policy<typename policy_type::guard_type>::invoke(guard, std::move(next),
                                                                              call, self);
  }
};

template <>
struct async_policy<bulkhead_policy> {
  template <class Next, class Call, class Self>
  static awaitable<next_result_t<Next>> invoke(const bulkhead_policy& p, Next next, Call& call,
                                              const Self&) {
    using R = next_result_t<Next>;
    bulkhead& b = p.target();
    bulkhead::permit slot = b.poll();
    if (TUTTI_UNLIKELY(!slot) && b.max_wait().count() > 0) {
      // The same polling as a sync run's wait, on timers.
      bulkhead::wait_state w{call.clock().now()};
      for (duration d = bulkhead::next_sleep(w, w.start, b.max_wait()); d.count() > 0;
           d = bulkhead::next_sleep(w, call.clock().now(), b.max_wait())) {
        if (!co_await wait_or_stop(call, d)) {
          b.count_rejected();
          co_return R(make_error_code(errc::cancelled));
        }
        slot = b.poll();
        if (slot) break;
      }
    }
    if (TUTTI_UNLIKELY(!slot)) {
      b.count_rejected();
      co_return R(bulkhead_policy::rejected(call));
    }
    co_return co_await next();
  }
};

template <class Clock>
struct async_policy<rate_limiter_policy<Clock>> {
  using policy_type = rate_limiter_policy<Clock>;
  template <class Next, class Call, class Self>
  static awaitable<next_result_t<Next>> invoke(const policy_type& p, Next next, Call& call,
                                              const Self&) {
    using R = next_result_t<Next>;
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(call.clock())>, Clock>,
                  "tutti: throttle(limiter): the limiter reads a different clock type than the "
                  "run. Give the limiter the run's clock.");
    const auto r = p.target().reserve(1, p.target().max_wait());
    if (TUTTI_UNLIKELY(!r.granted)) co_return R(policy_type::rejected(call));
    if (TUTTI_UNLIKELY(r.wait.count() > 0)) {
      // The token is the call's whether or not it waits (as in a sync run); a stopped run does
      // not make the call.
      if (!co_await wait_or_stop(call, r.wait)) co_return R(make_error_code(errc::cancelled));
    }
    co_return co_await next();
  }
};

// ---- the engine -------------------------------------------------------------------------------

/// A step's call in an async run: a coroutine step's `const call_context&` parameter must stay
/// valid after the call returns its awaitable, so the context it is given is written to `slot`,
/// in a coroutine frame of the run (one per level: a level runs one step at a time), not to a
/// temporary.
template <class Frame, std::size_t I, fixed_string Path>
class async_step_call : public step_call<Frame, I, Path> {
 public:
  async_step_call(Frame& f, bool compensating, call_context* slot) noexcept
      : step_call<Frame, I, Path>(f, compensating), slot_(slot) {}
  [[nodiscard]] const call_context& context() const noexcept {
    *slot_ = step_call<Frame, I, Path>::context();
    return *slot_;
  }

 private:
  call_context* slot_;
};

/// Runs the nodes of one workflow level in order and compensates on failure, awaiting each; the
/// records, journal writes and events are the sync engine's (engine_of).
template <fixed_string Prefix, class Up, class In, class Clock, class Obs, class... N>
struct async_engine<Prefix, basic_frame<Up, In, Clock, Obs, N...>> {
  using frame_type = basic_frame<Up, In, Clock, Obs, N...>;
  using sync = engine_of<Prefix, frame_type>;
  using nodes_type = std::tuple<N...>;
  static constexpr std::size_t size = sizeof...(N);
  template <std::size_t I>
  static constexpr auto path = sync::template path<I>;

  /// One coroutine per step, in order: a loop over a table, not a fold (g++ 12 evaluates the
  /// co_await of every operand of a folded `&&` or `?:`).
  using step_fn = awaitable<bool> (*)(const nodes_type&, frame_type&);
  template <std::size_t... Is>
  static constexpr std::array<step_fn, size> table(std::index_sequence<Is...>) noexcept {
    return {&run_one<Is>...};
  }
  static constexpr std::array<step_fn, size> steps = table(std::index_sequence_for<N...>{});

  // ---- the fast path: the whole level in one coroutine ----
  // For a level run unobserved, unjournaled, with no run deadline and no stop to race: a
  // coroutine step without policies is awaited right here (no frame of tutti's per step), any
  // other node through async_invoke. The steps are a fold over the comma operator; a failure
  // leaves it by an exception (level_failed), a step's exception is recorded for the step that
  // was running.

  /// Ends the fold at a failed step (its failure is recorded).
  struct level_failed {};

  template <std::size_t I>
  static constexpr bool direct() noexcept {
    using node_t = std::tuple_element_t<I, nodes_type>;
    if constexpr (is_step_node_v<node_t>) {
      if constexpr (node_t::template coroutine<In>) {
        using Aw = decltype(std::declval<const node_t&>().call_callable(
            std::declval<call_type<I>&>()));
        return !std::is_void_v<typename awaited<std::remove_cvref_t<Aw>>::type>;
      }
    }
    return false;
  }
  static constexpr bool fast_path_possible = !frame_type::observed && !frame_type::journaled;

  template <std::size_t I>
  using call_type = async_step_call<frame_type, I, path<I>>;

  /// Step I of the fast path begins: what to await. A coroutine step's call object is a
  /// temporary (what it binds lives in the run: the input, earlier outputs, `context`); any other
  /// node runs in a coroutine that owns its call (policies keep state in it across awaits).
  template <std::size_t I>
  static auto start(const nodes_type& nodes, frame_type& f, duration* t0, std::size_t& current,
                    call_context* context) {
    current = I;
    call_type<I> call{f, false, context};
    if (sync::template before<I>(f, call, t0[I]) >= 0) throw level_failed{};  // recorded
    if constexpr (direct<I>()) {
      call.begin_attempt();
      return std::get<I>(nodes).call_callable(call);
    } else {
      return owning_invoke<I>(nodes, f, context);
    }
  }
  template <std::size_t I>
  static awaitable<result<typename std::tuple_element_t<I, nodes_type>::template state_type<In>>>
  owning_invoke(const nodes_type& nodes, frame_type& f, call_context* context) {
    call_type<I> call{f, false, context};
    co_return co_await async_invoke(std::get<I>(nodes), call);
  }
  /// Step I of the fast path gave `awaited_value`: its outcome recorded; a failure ends the fold.
  template <std::size_t I, class A>
  static void finish(frame_type& f, const duration* t0, call_context* context, A&& awaited_value) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    call_type<I> call{f, false, context};
    const duration t1 = sync::after_call(f, I, t0[I]);
    bool ok;
    if constexpr (direct<I>()) {
      using V = typename node_t::template value_type<In>;
      result<V> r = capture<V, true>(call, false, [&]() -> decltype(auto) {
        return std::forward<A>(awaited_value);
      });
      ok = sync::template settle<I>(f, call, r, t0[I], t1);
    } else {
      ok = sync::template settle<I>(f, call, awaited_value, t0[I], t1);
    }
    if (!ok) throw level_failed{};
  }
  /// A coroutine step of the fast path threw (or its value could not be stored): its failure.
  static void failed_by_exception(frame_type& f, std::size_t current) {
    std::error_code ec = make_error_code(errc::exception);
    try {
      throw;
    } catch (const std::system_error& e) {
      f.st.rec.messages.set(current, e.what());
      if (is_cancellation(e)) ec = make_error_code(errc::cancelled);
    } catch (...) {
      f.st.rec.messages.set(current, current_exception_message());
    }
    (void)sync::fail(f, current, ec);
  }
  /// Whether this run of the level may take the fast path.
  static bool fast(const frame_type& f) noexcept {
    return fast_path_possible && !f.shared->async->race_stop && f.shared->deadline == duration::max();
  }

  template <class Undo = async_in_reverse>
  static awaitable<bool> run(const nodes_type& nodes, frame_type& f) {
    bool ok = true;
    for (step_fn s : steps) {
      if (!co_await s(nodes, f)) {
        ok = false;
        break;
      }
    }
    if (TUTTI_UNLIKELY(!ok) && !f.shared->committed && !sync::halted(f))
      co_await Undo::template compensate<async_engine>(nodes, f);
    co_return ok;
  }

  template <std::size_t I>
  static awaitable<bool> run_one(const nodes_type& nodes, frame_type& f) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    call_context context{};
    call_type<I> call{f, false, &context};
    duration t0{};
    if (const int done = sync::template before<I>(f, call, t0); done >= 0) co_return done == 1;
    using R = result<typename node_t::template state_type<In>>;
    std::optional<R> out;
    if constexpr (is_step_node_v<node_t>) {
      if constexpr (node_t::template coroutine<In>) {
        // A coroutine step without policies, the common case: its attempt in this frame (one
        // frame per step besides the step's own).
        call.begin_attempt();
        if (call.journal_stopped()) {
          out.emplace(make_error_code(errc::cancelled));
        } else if (TUTTI_LIKELY(!f.shared->async->race_stop)) {
          using V = typename node_t::template value_type<In>;
          using A = typename awaited<std::remove_cvref_t<decltype(std::get<I>(nodes).call_callable(call))>>::type;
          std::error_code thrown;
          try {
            if constexpr (std::is_void_v<A>) {
              co_await std::get<I>(nodes).call_callable(call);
              out.emplace(unit{});
            } else {
              A a = co_await std::get<I>(nodes).call_callable(call);
              out.emplace(capture<V, true>(call, false, [&]() -> decltype(auto) { return std::move(a); }));
            }
          } catch (const std::system_error& e) {
            call.set_message(false, e.what());
            thrown = make_error_code(is_cancellation(e) ? errc::cancelled : errc::exception);
          } catch (...) {
            call.set_message(false, current_exception_message());
            thrown = make_error_code(errc::exception);
          }
          if (thrown) out.emplace(thrown);
        } else {
          out.emplace(co_await stoppable<R>(
              *f.shared->async,
              call_user<typename node_t::template value_type<In>, node_t::template nothrow_call<In>>(
                  call, false, [&]() -> decltype(auto) { return std::get<I>(nodes).call_callable(call); }),
              &cancelled_outcome<R>));
        }
        if constexpr (observed<decltype(call)>()) call.end_attempt(*out);
      } else {
        out.emplace(std::get<I>(nodes).invoke(call));
      }
    } else {
      out.emplace(co_await async_invoke(std::get<I>(nodes), call));
    }
    R& r = *out;
    const duration t1 = sync::after_call(f, I, t0);
    if (TUTTI_UNLIKELY(sync::past_deadline(f, t1))) {
      // A result after the run's deadline is a timeout; a late success is undone.
      call.mark(step_flag::timed_out);
      if (r.has_value()) {
        sync::template late_success<I>(f, call);
        if constexpr (node_t::contains_compensable) {
          call.begin_late_compensation();
          const result<void> undone = co_await async_compensate(std::get<I>(nodes), r.assume_value(), call);
          sync::late_undone(f, call, undone);
        }
        call.note("the run's deadline passed while this step ran");
      }
      co_return sync::template fail<I>(f, make_error_code(errc::timeout), call, t0);
    }
    co_return sync::template settle<I>(f, call, r, t0, t1);
  }

  static awaitable<void> compensate_all(const nodes_type& nodes, frame_type& f) {
    co_await compensate_all(nodes, f, std::index_sequence_for<N...>{});
  }
  template <std::size_t... Is>
  static awaitable<void> compensate_all(const nodes_type& nodes, frame_type& f,
                                        std::index_sequence<Is...>) {
    // Last first; with stop_on_failure, a compensation that failed stops the undoing.
    using undo_fn = awaitable<bool> (*)(const nodes_type&, frame_type&);
    static constexpr undo_fn undos[] = {&undo_one<size - 1 - Is>...};
    bool stop = f.shared->mode == compensation_policy::stop_on_failure && f.shared->compensation_failed;
    for (undo_fn u : undos) {
      if (stop) break;
      if (!co_await u(nodes, f) && f.shared->mode == compensation_policy::stop_on_failure) stop = true;
    }
  }

  /// Undoes step J if it needs it; false when its compensation failed.
  template <std::size_t J>
  static awaitable<bool> undo_one(const nodes_type& nodes, frame_type& f) {
    using node_t = std::tuple_element_t<J, nodes_type>;
    if constexpr (node_t::contains_compensable) {
      if (!sync::template needs_undo<J>(f)) co_return true;
      call_context context{};
      call_type<J> call{f, true, &context};
      duration t0{};
      if (const int done = sync::template begin_undo<J>(f, call, t0); done >= 0) co_return done == 1;
      const result<void> r = co_await async_compensate(std::get<J>(nodes), *slot<J>(f.st.slots), call);
      co_return sync::template end_undo<J>(f, call, r, t0);
    } else {
      (void)nodes, (void)f;
      co_return true;
    }
  }
};

/// async_run() of a workflow: the run's coroutine.
template <fixed_string Name, class... N, class In>
struct async_run_access<basic_workflow<Name, N...>, In> {
  static constexpr bool available = true;
  using workflow_type = basic_workflow<Name, N...>;
  using result_type = run_result<Name, In, N...>;

  // Undo: how the top level is undone (async_in_reverse; a parallel_compensated workflow's
  // async_run_access passes async_concurrent_undo).
  template <class Undo = async_in_reverse>
  static awaitable<result_type> run(const workflow_type& wf, In input, run_options opts) {
    return go<Undo>(wf, std::move(input), std::move(opts), default_clock(),
                    static_cast<null_observer*>(nullptr));
  }
  template <class Undo = async_in_reverse, tutti::clock C>
  static awaitable<result_type> run(const workflow_type& wf, In input, run_options opts, C& clock) {
    return go<Undo>(wf, std::move(input), std::move(opts), clock, static_cast<null_observer*>(nullptr));
  }
  template <class Undo = async_in_reverse, tutti::clock C, observer O>
  static awaitable<result_type> run(const workflow_type& wf, In input, run_options opts, C& clock,
                                    O& obs) {
    return go<Undo>(wf, std::move(input), std::move(opts), clock, &obs);
  }
  template <class Undo = async_in_reverse, observer O>
    requires(!tutti::clock<O>)
  static awaitable<result_type> run(const workflow_type& wf, In input, run_options opts, O& obs) {
    return go<Undo>(wf, std::move(input), std::move(opts), default_clock(), &obs);
  }

 private:
  template <class Undo, class C, class O>
  static awaitable<result_type> go(const workflow_type& wf, In input, run_options opts, C& clock,
                                   O* observer_ptr) {
    static_assert(virtual_clock<C> || std::is_same_v<std::remove_cv_t<C>, steady_clock>,
                  "tutti: an async run waits on its clock without a thread: use tutti::steady_clock "
                  "(Asio timers) or a clock with wake-ups such as tutti::testing::manual_clock.");
    // The result in this frame, the run's state in the next one: each frame stays small enough
    // for Asio to recycle it (a frame over about 1 KB is allocated and freed every time).
    result_type out;
    co_await body<Undo>(wf, input, opts, clock, observer_ptr, out, std::index_sequence_for<N...>{});
    co_return out;
  }

  template <class Undo, class C, class O, std::size_t... Is>
  static awaitable<void> body(const workflow_type& wf, const In& input, const run_options& opts,
                              C& clock, O* observer_ptr, result_type& out,
                              std::index_sequence<Is...>) {
    null_observer none;
    O& obs = *[&] {
      if constexpr (std::is_same_v<O, null_observer>) return observer_ptr != nullptr ? observer_ptr : &none;
      else return observer_ptr;
    }();
    // The run finishes what it does (compensations included) when the awaiting coroutine is
    // cancelled: only the pending operation is; the setting is restored at the end.
    const bool threw_if_cancelled = co_await TUTTI_ASIO::this_coro::throw_if_cancelled();
    co_await TUTTI_ASIO::this_coro::throw_if_cancelled(false);
    async_env env;
    env.cancellation = co_await TUTTI_ASIO::this_coro::cancellation_state;
    env.race_stop = opts.stop.stop_possible();
    std::optional<std::stop_callback<stop_forward>> forward;
    if (env.race_stop || env.cancellation.slot().is_connected()) {
      env.source.emplace();
      env.token = env.source->get_token();
      if (env.race_stop) forward.emplace(opts.stop, stop_forward{&*env.source});
    }
    run_shared shared;
    workflow_type::start_run(out, shared, opts, clock, obs);
    shared.stop = &env.token;
    shared.async = &env;
    frame<In, C, O, N...> f{input, out.st_, clock, out.id_, opts.timing, &shared,
                            observer_ref<O>(obs, Name.view())};
    // The level's loop here rather than in a coroutine of its own (async_engine::run).
    using engine_type = async_engine<fixed_string{""}, frame<In, C, O, N...>>;
    bool ok = true;
    if (engine_type::fast(f)) {
      // The steps in this coroutine: see async_engine's fast path.
      std::array<duration, sizeof...(N)> t0{};
      std::size_t current = 0;
      call_context context{};
      try {
        (engine_type::template finish<Is>(
             f, t0.data(), &context,
             co_await engine_type::template start<Is>(wf.nodes_, f, t0.data(), current, &context)),
         ...);
      } catch (const typename engine_type::level_failed&) {
        ok = false;
      } catch (...) {
        ok = false;
        engine_type::failed_by_exception(f, current);
      }
    } else {
      for (auto s : engine_type::steps) {
        if (!co_await s(wf.nodes_, f)) {
          ok = false;
          break;
        }
      }
    }
    if (TUTTI_UNLIKELY(!ok) && !shared.committed && !engine_type::sync::halted(f))
      co_await Undo::template compensate<engine_type>(wf.nodes_, f);
    workflow_type::finish_run(ok, out, shared, opts, clock, obs);
    co_await TUTTI_ASIO::this_coro::throw_if_cancelled(threw_if_cancelled);
  }

  struct stop_forward {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };
};

}  // namespace detail

TUTTI_END_NAMESPACE

TUTTI_DETAIL_COROUTINES_END

#endif  // TUTTI_ASYNC_RUN_HPP
