// tutti — parallel groups in async runs: branches as coroutines on the run's executor, losers
// cancelled, hedges on timers.
#ifndef TUTTI_ASYNC_PARALLEL_HPP
#define TUTTI_ASYNC_PARALLEL_HPP

#include "asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <algorithm>    // hedges started so far
#include <array>        // the branches' coroutines
#include <atomic>       // hedges started so far, across threads
#include <cstddef>      // std::size_t
#include <stop_token>   // the group's stop, the hedges' wake-ups
#include <tuple>        // branches
#include <type_traits>  // node shapes
#include <utility>      // index sequences

#include "../config.hpp"
#include "../parallel.hpp"
#include "run.hpp"
#include "sleep.hpp"

TUTTI_DETAIL_COROUTINES_BEGIN

TUTTI_BEGIN_NAMESPACE

/**
 * A group executor for services on Asio: `tutti::asio_executor branches{io.get_executor()};
 * tutti::parallel<"quotes">(branches, a, b, c)`. In an async run the group's branches are
 * coroutines on the run's own executor, all at once (this object is not used); in a sync run each
 * branch is posted to `executor` and the calling thread waits for them, so a sync run must not
 * be on a thread that `executor` needs to run them.
 */
class asio_executor {
 public:
  explicit asio_executor(TUTTI_ASIO::any_io_executor executor) : executor_(std::move(executor)) {}
  template <class F>
  void submit(F&& f) {
    TUTTI_ASIO::post(executor_, std::forward<F>(f));
  }
  [[nodiscard]] const TUTTI_ASIO::any_io_executor& get_executor() const noexcept { return executor_; }

 private:
  TUTTI_ASIO::any_io_executor executor_;
};

namespace detail {

/// Runs node B as a sub-level below the step `Call` (a branch of a group), awaited: the frame
/// of sublevel<Call, B>, the async engine.
template <class Call, class B>
struct async_sublevel {
  using base = sublevel<Call, B>;
  using frame_type = typename base::frame_type;
  using engine_type = async_engine<base::prefix, frame_type>;

  static awaitable<bool> run(const std::tuple<B>& node, typename base::state_type& st, Call& call,
                             run_shared* shared) {
    frame_type f{call.input(), st,     call.clock(), call.id(), call.timing(), shared,
                 call.observer_handle()};
    f.up.call = &call;
    co_return co_await engine_type::run(node, f);
  }
  static awaitable<void> compensate(const std::tuple<B>& node, typename base::state_type& st,
                                    Call& call, run_shared* shared) {
    frame_type f{call.input(), st,     call.clock(), call.id(), call.timing(), shared,
                 call.observer_handle()};
    f.up.call = &call;
    co_await engine_type::compensate_all(node, f);
  }
};

/**
 * One group on one call in an async run: group_runner's bookkeeping (admission, counting, the
 * decision, what is undone, the output), the branches awaited. A group on an executor other
 * than tutti::inline_executor runs its branches at once, each a coroutine on the run's
 * executor, raced against the group's stop (a decided group cancels the pending operations of
 * the others); on inline_executor they run one after another, as in a sync run. A hedge's
 * branch k waits on a timer of the run's clock until k × delay has passed, or until every
 * branch started before it failed.
 */
template <class G, class Call>
class async_group_run {
  using runner = group_runner<G, Call>;
  static constexpr std::size_t n = runner::n;
  static constexpr bool concurrent = runner::concurrent;
  static constexpr bool hedging = concurrent && runner::mode == gather_mode::first;
  using nodes_type = typename G::nodes_type;

 public:
  async_group_run(const G& g, Call& call, typename runner::state_type& st) noexcept
      : r_(g, call, st) {}

  awaitable<bool> run() {
    r_.begin();
    if constexpr (concurrent) {
      // The branches' shared states point at the group's async state: its stop is what their
      // pending operations are raced against.
      // (An Asio cancellation of the run reaches each branch's coroutine through the parallel
      // group below; env_ does not read the run's cancellation state from the branches' threads.)
      env_.source = *r_.source_;  // the same stop state
      env_.token = r_.token_;
      env_.race_stop = true;
      for (run_shared& b : r_.branch_shared_) b.async = &env_;
      if constexpr (hedging) {
        hedged_ = r_.g_.delay() > duration::zero();
        if (hedged_) t0_ = r_.call_.clock().now();
      }
      co_await all_branches(std::make_index_sequence<n>{});
    } else {
      run_shared* local = r_.inline_local();
      static constexpr std::array<branch_fn, n> in_order = inline_table(std::make_index_sequence<n>{});
      static constexpr std::array<began_fn, n> began = began_table(std::make_index_sequence<n>{});
      for (std::size_t i = 0; i < n; ++i) {
        // Decided: no further branch starts, but for one an earlier incarnation began.
        if (r_.stop_ && !began[i](r_)) continue;
        co_await in_order[i](*this);
      }
      r_.inline_done(local);
    }
    const bool ok = r_.branches_done();
    if (!r_.halted()) {
      const bool failed_now = co_await async_counting_own_failures(
          *r_.call_.shared(), [this, ok] { return undo_unkept_all(!ok); });
      r_.late_undo_failed(ok, failed_now);
    }
    co_return r_.conclude(ok);
  }

  [[nodiscard]] std::error_code error() const noexcept { return r_.error(); }

 private:
  using branch_fn = awaitable<void> (*)(async_group_run&);
  using undo_fn = awaitable<void> (*)(async_group_run&, bool, bool&);
  using began_fn = bool (*)(const runner&) noexcept;

  template <std::size_t... I>
  static constexpr std::array<branch_fn, n> inline_table(std::index_sequence<I...>) noexcept {
    return {&branch<I>...};
  }
  template <std::size_t I>
  static bool began(const runner& r) noexcept {
    return r.template began_before<I>();
  }
  template <std::size_t... I>
  static constexpr std::array<began_fn, n> began_table(std::index_sequence<I...>) noexcept {
    return {&began<I>...};
  }
  /// Last branch first.
  template <std::size_t... I>
  static constexpr std::array<undo_fn, n> undo_table(std::index_sequence<I...>) noexcept {
    return {&undo_unkept<n - 1 - I>...};
  }

  /// Every branch at once, each in a coroutine of its own on the run's executor; waits for all.
  template <std::size_t... I>
  awaitable<void> all_branches(std::index_sequence<I...>) {
    const auto executor = co_await TUTTI_ASIO::this_coro::executor;
    auto done = co_await TUTTI_ASIO::experimental::make_parallel_group(
                    TUTTI_ASIO::co_spawn(executor, spawned<I>(*this), TUTTI_ASIO_DEFERRED)...)
                    .async_wait(TUTTI_ASIO::experimental::wait_for_all(), TUTTI_ASIO::use_awaitable);
    (void)done;
  }

  /// Branch I in a coroutine of its own: cancelled (the group decided, or the run was
  /// cancelled), it still finishes what it does (records, compensations); the operation it
  /// awaits sees the cancellation.
  template <std::size_t I>
  static awaitable<void> spawned(async_group_run& self) {
    co_await TUTTI_ASIO::this_coro::throw_if_cancelled(false);
    if constexpr (hedging && I > 0) {
      // No co_await inside `&&`: g++ 12 evaluates it regardless of the left operand.
      if (self.hedged_) {
        bool start = true;
        try {
          start = co_await self.template hedge_wait<I>();
        } catch (...) {  // its timer could not be set (no memory): the branch failed
          self.r_.template branch_threw<I>();
          self.r_.template branch_ended<I>(false);
          self.wake_next();
          co_return;
        }
        // The group succeeded before this hedge was due: it never starts, unless an earlier
        // incarnation of the run began it (see group_runner::admit).
        if (!start && !self.r_.template began_before<I>()) co_return;
      }
    }
    co_await branch<I>(self);
  }

  template <std::size_t I>
  static awaitable<void> branch(async_group_run& self) {
    using B = std::tuple_element_t<I, nodes_type>;
    runner& r = self.r_;
    if constexpr (hedging) self.started_.fetch_add(1, std::memory_order_acq_rel);
    if (r.template admit<I>()) {
      bool ok = false;
      try {
        ok = co_await async_sublevel<Call, B>::run(std::get<I>(r.g_.branches()),
                                                   std::get<I>(r.st_.branches), r.call_,
                                                   r.template shared_of<I>());
      } catch (...) {
        r.template branch_threw<I>();
        ok = false;
      }
      r.template branch_ended<I>(ok);
    }
    if constexpr (hedging) self.wake_next();
  }

  // ---- hedging ----

  /// Hedge I waits until I × delay has passed since the group started, or until every branch
  /// started so far failed; false when the group succeeded meanwhile (it then never starts).
  template <std::size_t I>
  awaitable<bool> hedge_wait() {
    auto& clock = r_.call_.clock();
    const duration due = t0_ + r_.g_.delay() * static_cast<duration::rep>(I);
    const duration now = clock.now();
    if (now < due && !wake_[I].stop_requested() && !r_.stop_requested()) {
      const auto executor = co_await enter_race_executor();
      auto waited = co_await TUTTI_ASIO::experimental::make_parallel_group(
                        async_sleep(clock, due - now, deferred_on(executor)),
                        async_wait_stop(wake_[I].get_token(), deferred_on(executor)),
                        async_wait_stop(r_.token_, deferred_on(executor)))
                        .async_wait(TUTTI_ASIO::experimental::wait_for_one(),
                                    TUTTI_ASIO::use_awaitable);
      (void)waited;
    }
    // An Asio cancellation of the run (it reaches this branch's coroutine) ended the wait:
    // recorded as the group's stop, so that the hedge is cancelled rather than started.
    const auto state = co_await TUTTI_ASIO::this_coro::cancellation_state;
    if (state.cancelled() != TUTTI_ASIO::cancellation_type::none) r_.request_stop();
    co_return r_.successes_.get() < 1;
  }
  /// A branch ended: when the group is decided, the waiting hedges end (they do not start);
  /// when every branch started so far failed, the next one starts at once.
  void wake_next() noexcept {
    if (!hedged_) return;
    const int started = started_.load(std::memory_order_acquire);
    if (r_.successes_.get() >= 1 || r_.stop_requested()) {
      for (std::stop_source& w : wake_) w.request_stop();
    } else if (r_.finished_.get() == started && started < static_cast<int>(n)) {
      wake_[static_cast<std::size_t>(started)].request_stop();
    }
  }

  // ---- what is undone afterwards ----

  /// Last branch first; under stop_on_failure, a failed undo stops the undoing.
  awaitable<void> undo_unkept_all(bool failed) {
    static constexpr std::array<undo_fn, n> last_first = undo_table(std::make_index_sequence<n>{});
    bool stop = false;
    for (const undo_fn u : last_first) co_await u(*this, failed, stop);
  }

  template <std::size_t I>
  static awaitable<void> undo_unkept(async_group_run& self, bool failed, bool& stop) {
    using B = std::tuple_element_t<I, nodes_type>;
    runner& r = self.r_;
    if constexpr (B::contains_compensable) {
      if (!r.template undo_unkept_needed<I>(failed, stop)) co_return;
      co_await async_sublevel<Call, B>::compensate(std::get<I>(r.g_.branches()),
                                                   std::get<I>(r.st_.branches), r.call_,
                                                   r.call_.shared());
      stop = r.template undo_stops<I>();
    } else {
      (void)r, (void)failed, (void)stop;
    }
  }

  runner r_;
  async_env env_;  // concurrent: what the branches' shared states point at
  // Hedging: when the group started, which hedges started, their wake-ups.
  duration t0_{};
  bool hedged_ = false;
  std::atomic<int> started_{0};
  std::array<std::stop_source, hedging ? n : 0> wake_{};
};

/// A parallel group (parallel, quorum, first-of, hedge) as a node of an async run.
template <class G>
struct async_group {
  template <class Call>
  static awaitable<result<typename G::template state_type<typename Call::input_type>>> invoke(
      const G& g, Call& call) {
    using In = typename Call::input_type;
    using St = typename G::template state_type<In>;
    call.begin_attempt();
    St st;
    async_group_run<G, Call> runner{g, call, st};
    if (co_await runner.run()) {
      result<St> r{std::move(st)};
      if constexpr (observed<Call>()) call.end_attempt(r);
      co_return r;
    }
    const std::error_code ec = runner.error();
    if constexpr (observed<Call>()) call.end_attempt(result<void>{ec});
    co_return ec;
  }

  /// Undoes the branches whose outputs the group returned, in reverse branch order.
  template <class St, class Call>
  static awaitable<result<void>> compensate(const G& g, St& st, Call& call) {
    return async_compensate_sublevels(call, [&g, &st, &call] { return undo_all(g, st, call); });
  }

 private:
  template <class St, class Call>
  static awaitable<void> undo_all(const G& g, St& st, Call& call) {
    static constexpr std::array<undo_fn<St, Call>, G::size> last_first =
        table<St, Call>(std::make_index_sequence<G::size>{});
    bool stop = false;
    for (const undo_fn<St, Call> u : last_first) co_await u(g, st, call, stop);
  }
  template <class St, class Call>
  using undo_fn = awaitable<void> (*)(const G&, St&, Call&, bool&);
  template <class St, class Call, std::size_t... I>
  static constexpr std::array<undo_fn<St, Call>, G::size> table(std::index_sequence<I...>) noexcept {
    return {&undo_one<G::size - 1 - I, St, Call>...};
  }
  template <std::size_t I, class St, class Call>
  static awaitable<void> undo_one(const G& g, St& st, Call& call, bool& stop) {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    if constexpr (B::contains_compensable) {
      if (stop || !st.kept[I]) co_return;
      auto& bst = std::get<I>(st.branches);
      G::template lend_back<I>(st);
      co_await async_sublevel<Call, B>::compensate(std::get<I>(g.branches_), bst, call,
                                                   call.shared());
      if (call.shared()->mode == compensation_policy::stop_on_failure &&
          bst.rec.status[0] == step_status::compensation_failed)
        stop = true;
    } else {
      (void)g, (void)st, (void)call, (void)stop;
    }
  }
};

/**
 * How an async run undoes the level of a workflow built with compensate_in_parallel: the
 * compensations of its completed steps all at once, each a coroutine on the run's executor
 * (submitted last step first), with undo_batch's bookkeeping (a frame and a copy of the shared
 * state each, merged back once all are done).
 */
struct async_concurrent_undo {
  template <class Engine, class Nodes, class Frame>
  static awaitable<void> compensate(const Nodes& nodes, Frame& f) {
    inline_executor unused;  // the batch's own executor: not used by an async run
    undo_batch<typename Engine::sync, inline_executor> batch{unused, nodes, f};
    if (batch.prepare() == 0) co_return;
    co_await all<Engine>(batch, nodes, std::make_index_sequence<Engine::size>{});
    batch.merge();
  }

 private:
  template <class Engine, class Batch, class Nodes, std::size_t... J>
  static awaitable<void> all(Batch& batch, const Nodes& nodes, std::index_sequence<J...>) {
    constexpr std::size_t n = sizeof...(J);
    const auto executor = co_await TUTTI_ASIO::this_coro::executor;
    auto done = co_await TUTTI_ASIO::experimental::make_parallel_group(
                    TUTTI_ASIO::co_spawn(executor, undo<Engine, n - 1 - J>(batch, nodes),
                                         TUTTI_ASIO_DEFERRED)...)
                    .async_wait(TUTTI_ASIO::experimental::wait_for_all(), TUTTI_ASIO::use_awaitable);
    (void)done;
  }
  template <class Engine, std::size_t J, class Batch, class Nodes>
  static awaitable<void> undo(Batch& batch, const Nodes& nodes) {
    if (!batch.todo(J)) co_return;
    co_await TUTTI_ASIO::this_coro::throw_if_cancelled(false);
    auto f = batch.template frame_of<J>();
    try {
      (void)co_await Engine::template undo_one<J>(nodes, f);
    } catch (...) {
      batch.template threw<J>(f);
    }
  }
};

/// async_run() of a workflow built with compensate_in_parallel: as basic_workflow's, its top
/// level undone all at once.
template <class Exec, fixed_string Name, class... N, class In>
struct async_run_access<parallel_compensated<basic_workflow<Name, N...>, Exec>, In> {
  static constexpr bool available = true;
  using base = async_run_access<basic_workflow<Name, N...>, In>;
  template <class... A>
  static auto run(const parallel_compensated<basic_workflow<Name, N...>, Exec>& wf, In input,
                  run_options opts, A&... more) {
    return base::template run<async_concurrent_undo>(wf, std::move(input), std::move(opts), more...);
  }
};

}  // namespace detail

TUTTI_END_NAMESPACE

TUTTI_DETAIL_COROUTINES_END

#endif  // TUTTI_ASYNC_PARALLEL_HPP
