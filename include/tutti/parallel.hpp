// tutti — parallel groups: scatter-gather, quorum / first-of, and hedging, on a host executor.
#ifndef TUTTI_PARALLEL_HPP
#define TUTTI_PARALLEL_HPP

#include <array>               // per-branch bookkeeping, quorum outputs
#include <atomic>              // branch completion across threads
#include <condition_variable>  // hedging waits for a branch or the next delay
#include <cstddef>             // std::size_t
#include <cstdint>             // branch outcomes
#include <exception>           // exceptions escaping a branch's policy hooks
#include <mutex>               // hedging's wait
#include <optional>            // optional branches, group outputs
#include <stdexcept>           // std::invalid_argument
#include <stop_token>          // cancellation of the other branches
#include <thread>              // std::this_thread::yield
#include <string>              // the group's failure message
#include <tuple>               // branches and outputs
#include <type_traits>         // saga rules
#include <utility>             // index sequences

#include "clock.hpp"
#include "config.hpp"
#include "error.hpp"
#include "executor.hpp"
#include "fixed_string.hpp"
#include "report.hpp"
#include "result.hpp"
#include "step.hpp"
#include "workflow.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {

/// A branch as a group holds it: renamed (hedged copies are "1", "2", ...) and/or optional.
template <fixed_string Name, class B, bool Optional>
class branch_node {
 public:
  static constexpr auto name = Name;
  static constexpr bool is_node = true;
  static constexpr bool compensable = B::compensable;
  static constexpr bool pivot = B::pivot;
  static constexpr bool retriable = B::retriable;
  static constexpr bool contains_compensable = B::contains_compensable;
  static constexpr bool optional_branch = Optional;
  using inner_type = B;

  template <class In>
  using value_type = typename B::template value_type<In>;
  template <class In>
  using state_type = typename B::template state_type<In>;

  constexpr explicit branch_node(B b) : inner_(std::move(b)) {}

  template <class Call>
  TUTTI_ALWAYS_INLINE auto invoke(Call& call) const {
    return inner_.invoke(call);
  }
  template <class Call, class S>
  result<void> compensate(S& produced, Call& call) const {
    return inner_.compensate(produced, call);
  }
  template <class S>
  static constexpr decltype(auto) value(const S& s) noexcept {
    return B::value(s);
  }
  // What the engine asks of groups, choices and conditional steps, forwarded.
  template <class S>
    requires requires(const S& s) { B::undoable(s); }
  static constexpr bool undoable(const S& s) noexcept {
    return B::undoable(s);
  }
  template <class S>
    requires requires(const S& s) { B::skipped(s); }
  static constexpr bool skipped(const S& s) noexcept {
    return B::skipped(s);
  }
  template <class S>
    requires requires(const S& s) { B::journal_mark(s); }
  static constexpr std::uint64_t journal_mark(const S& s) noexcept {
    return B::journal_mark(s);
  }
  [[nodiscard]] constexpr const B& inner() const noexcept { return inner_; }

 private:
  [[no_unique_address]] B inner_;
};

template <class B>
constexpr bool is_optional_branch() noexcept {
  if constexpr (requires { B::optional_branch; }) return B::optional_branch;
  else return false;
}

/// Runs node B as a level of its own below the step `Call` (a branch of a group, a case of a
/// choice): its path is "<call's path>/<B's name>", it reads the outputs of the steps before
/// `Call`, it has its own records.
template <class Call, class B>
struct sublevel {
  using In = typename Call::input_type;
  using C = std::remove_reference_t<decltype(std::declval<Call&>().clock())>;
  using O = typename Call::observer_type;
  using frame_type = basic_frame<Call, In, C, O, B>;
  using state_type = run_state<In, B>;
  static constexpr auto prefix = concat<Call::path, fixed_string{"/"}>();
  using engine_type = engine_of<prefix, frame_type>;

  static bool run(const std::tuple<B>& node, state_type& st, Call& call, run_shared* shared) {
    frame_type f{call.input(), st,     call.clock(), call.id(), call.timing(), shared,
                 call.observer_handle()};
    f.up.call = &call;
    return engine_type::run(node, f);
  }
  /// Undoes the node if it succeeded (status `succeeded`), with events and journal records.
  static void compensate(const std::tuple<B>& node, state_type& st, Call& call, run_shared* shared) {
    frame_type f{call.input(), st,     call.clock(), call.id(), call.timing(), shared,
                 call.observer_handle()};
    f.up.call = &call;
    engine_type::compensate_all(node, f, std::index_sequence<0>{});
  }
};

enum class gather_mode : unsigned char {
  all,     ///< every branch (optional ones may fail): the output is the tuple of outputs
  quorum,  ///< the first K successes: an array of optionals, K engaged
  first,   ///< the first success (K = 1), possibly hedged: the winner's output
};

template <class In, class B>
using branch_value_t =
    std::conditional_t<is_optional_branch<B>(), std::optional<typename B::template value_type<In>>,
                       typename B::template value_type<In>>;

template <gather_mode Mode, class In, class... B>
struct group_value;
template <class In, class... B>
struct group_value<gather_mode::all, In, B...> {
  using type = std::tuple<branch_value_t<In, B>...>;
};
template <class In, class B0, class... B>
struct group_value<gather_mode::quorum, In, B0, B...> {
  using V = typename B0::template value_type<In>;
  static_assert((std::is_same_v<V, typename B::template value_type<In>> && ...),
                "tutti: the branches of a quorum (or first_of / hedge) must produce the same output "
                "type: the group's output is any K of them.");
  using type = std::array<std::optional<V>, 1 + sizeof...(B)>;
};
template <class In, class B0, class... B>
struct group_value<gather_mode::first, In, B0, B...> {
  using V = typename B0::template value_type<In>;
  static_assert((std::is_same_v<V, typename B::template value_type<In>> && ...),
                "tutti: the branches of a quorum (or first_of / hedge) must produce the same output "
                "type: the group's output is any K of them.");
  using type = V;
};

/// A group's run state: each branch's own records and output, then the group's output.
template <class In, class Values, class... B>
struct group_state {
  std::tuple<run_state<In, B>...> branches;
  std::optional<Values> values;
  std::array<bool, sizeof...(B)> kept{};  // branches whose outputs are the group's
};

/// A counter that is atomic only when branches run on several threads.
template <bool Atomic>
struct group_counter {
  std::atomic<int> v{0};
  int add(int d) noexcept { return v.fetch_add(d, std::memory_order_acq_rel) + d; }
  [[nodiscard]] int get() const noexcept { return v.load(std::memory_order_acquire); }
  bool claim(int& slot_owner_expected, int who) noexcept {
    return owner.compare_exchange_strong(slot_owner_expected, who, std::memory_order_acq_rel);
  }
  std::atomic<int> owner{-1};
};
template <>
struct group_counter<false> {
  int v = 0;
  int add(int d) noexcept { return v += d; }
  [[nodiscard]] int get() const noexcept { return v; }
  bool claim(int& expected, int who) noexcept {
    if (owner != expected) {
      expected = owner;
      return false;
    }
    owner = who;
    return true;
  }
  int owner = -1;
};

template <class E>
concept helping_executor = requires(E& e) {
  { e.try_run_one() } -> std::convertible_to<bool>;
};

/// Submits `task` to `exec`, or runs it here when the executor refuses (e.g. out of memory).
template <class E, class F>
void submit_or_run(E& exec, F& task) {
  try {
    exec.submit(task);
  } catch (...) {
    task();
  }
}

/// Counts submitted tasks down to zero: what they use belongs to the waiter, which may return
/// (and free it) only once the last task is done with it.
class task_countdown {
 public:
  void start(int n) noexcept { pending_.store(n, std::memory_order_relaxed); }
  /// `k` of the tasks will never be submitted: true when no task is left to wait for.
  bool skip(int k) noexcept { return pending_.fetch_sub(k, std::memory_order_acq_rel) == k; }
  /// A task's last action.
  void arrive() noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      pending_.notify_all();
      // The waiter may return only after the notification: it waits for this flag, set last.
      released_.store(true, std::memory_order_release);
    }
  }
  /// Waits for every task; meanwhile runs queued tasks of `exec` when it can (try_run_one), so
  /// that a wait on one of a pool's own workers cannot starve the tasks it waits for.
  template <class E>
  void wait(E& exec) {
    for (;;) {
      const int p = pending_.load(std::memory_order_acquire);
      if (p == 0) {
        // The last task is between its count-down and its notification: a few instructions.
        while (!released_.load(std::memory_order_acquire)) std::this_thread::yield();
        return;
      }
      if constexpr (helping_executor<E>) {
        if (exec.try_run_one()) continue;
      }
      pending_.wait(p, std::memory_order_acquire);
    }
  }

 private:
  std::atomic<int> pending_{0};
  std::atomic<bool> released_{false};
};

/**
 * Undoes the completed steps of one workflow level all at once on an executor (a workflow
 * built with compensate_in_parallel): each compensation is a task with a frame and a copy of
 * the run's shared state of its own, so that the tasks share nothing but the records of
 * distinct steps; the shared state is merged back once all of them are done. Submitted last
 * step first: on an inline executor the order is the default one.
 */
template <class Engine, class Exec>
class undo_batch {
 public:
  using frame_type = typename Engine::frame_type;
  using nodes_type = typename Engine::nodes_type;
  static constexpr std::size_t n = Engine::size;

  undo_batch(Exec& exec, const nodes_type& nodes, frame_type& f) noexcept
      : exec_(exec), nodes_(nodes), f_(f) {}

  void run() {
    const int count = prepare();
    if (count == 0) return;
    tasks_.start(count);
    submit_all(std::make_index_sequence<n>{});
    tasks_.wait(exec_);
    merge();
  }

  // ---- the parts an async run shares (async/parallel.hpp) ----

  /// Which steps are undone, each with its own copy of the run's shared state; how many.
  int prepare() {
    run_shared& parent = *f_.shared;
    // With stop_on_failure, a compensation that already failed in this run (a late success's
    // undo, a group undoing its own branches) stops the undoing before this level, as in
    // the sequential order. Once started, the batch runs whole: see docs/sagas.md.
    if (parent.mode == compensation_policy::stop_on_failure && parent.compensation_failed) return 0;
    mark_todo(std::make_index_sequence<n>{});
    int count = 0;
    for (const bool t : todo_) count += t ? 1 : 0;
    if (count == 0) return 0;
    const run_shared base = parent;  // one read, before the generator below writes it
    for (std::size_t j = 0; j < n; ++j) {
      if (!todo_[j]) continue;
      // The first message written allocates the store of them all: here, not in two tasks.
      f_.st.rec.messages.set(n + j, {});
      const std::uint64_t seed = parent.next_random();
      shared_[j] = base;
      shared_[j].rng = seed == 0 ? 1 : seed;
    }
    return count;
  }
  /// Once every undo ended: what they did is the run's.
  void merge() {
    run_shared& parent = *f_.shared;
    for (std::size_t j = 0; j < n; ++j) {
      if (!todo_[j]) continue;
      parent.compensated_any = parent.compensated_any || shared_[j].compensated_any;
      parent.compensation_failed = parent.compensation_failed || shared_[j].compensation_failed;
    }
  }
  [[nodiscard]] bool todo(std::size_t j) const noexcept { return todo_[j]; }
  /// Step J's own frame: a copy of the level's, with its own shared state.
  template <std::size_t J>
  frame_type frame_of() noexcept {
    frame_type f = f_;
    f.shared = &shared_[J];
    return f;
  }

  /// A policy hook, an observer or a copy threw while step J was undone (on another thread,
  /// where nobody could catch it): its compensation failed with that exception.
  template <std::size_t J>
  void threw(frame_type& f) noexcept {
    f.st.rec.status[J] = step_status::compensation_failed;
    f.st.rec.comp_errors.set(J, error_bits::from(make_error_code(errc::exception)));
    f.shared->compensation_failed = true;
    try {
      throw;
    } catch (const std::exception& e) {
      try { f.st.rec.messages.set(n + J, e.what()); } catch (...) {}  // NOLINT(bugprone-empty-catch)
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing more to say of it
    }
    try {
      const std::string_view message = f.st.rec.messages.get(n + J);
      if constexpr (frame_type::journaled)
        f.obs.get().record_compensation_finished(Engine::template path<J>.view(), false,
                                                 make_error_code(errc::exception), message);
      if constexpr (frame_type::observed) {
        step_call<frame_type, J, Engine::template path<J>> call{f, true};
        event e = make_event(event_kind::compensation_failed, f.st.rec.comp_attempts.get(J));
        e.error = make_error_code(errc::exception);
        e.message = message;
        call.emit(e);
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): the report line says what happened
    }
  }

 private:
  template <std::size_t... J>
  void mark_todo(std::index_sequence<J...>) {
    ((todo_[J] = Engine::template needs_undo<J>(f_)), ...);
  }
  template <std::size_t... J>
  void submit_all(std::index_sequence<J...>) {
    (submit<n - 1 - J>(), ...);  // last step first
  }

  template <std::size_t J>
  void submit() {
    if (!todo_[J]) return;
    auto task = [this]() noexcept {
      undo<J>();
      tasks_.arrive();
    };
    submit_or_run(exec_, task);
  }

  template <std::size_t J>
  void undo() noexcept {
    frame_type f = frame_of<J>();
    try {
      (void)Engine::template undo_one<J>(nodes_, f);
    } catch (...) {
      threw<J>(f);
    }
  }

  Exec& exec_;
  const nodes_type& nodes_;
  frame_type& f_;
  std::array<bool, n> todo_{};
  std::array<run_shared, n> shared_{};
  task_countdown tasks_;
};

/// The way a parallel_compensated workflow undoes its level (see detail::in_reverse_order).
template <class Exec>
struct concurrent_undo {
  Exec* exec;
  template <class Engine, class Nodes, class Frame>
  void compensate(const Nodes& nodes, Frame& f) const {
    undo_batch<Engine, Exec>{*exec, nodes, f}.run();
  }
};

/// The async layer's way of running a group (<tutti/async.hpp>): the same bookkeeping, the
/// branches awaited.
template <class G, class Call>
class async_group_run;
template <class G>
struct async_group;

/// Runs one group on one call: submits the branches, waits for them, settles the outcome.
template <class G, class Call>
class group_runner {
  friend class async_group_run<G, Call>;

 public:
  using In = typename Call::input_type;
  using executor_type = typename G::executor_type;
  static constexpr std::size_t n = G::size;
  static constexpr gather_mode mode = G::mode;
  static constexpr int needed = static_cast<int>(G::needed);
  static constexpr bool concurrent = !runs_inline_v<executor_type>;
  static constexpr bool hedging = concurrent && mode == gather_mode::first;
  using state_type = typename G::template state_type<In>;
  using value_type = typename G::template value_type<In>;

  group_runner(const G& g, Call& call, state_type& st) noexcept : g_(g), call_(call), st_(st) {}

  /// Runs the group; true when it succeeded (its output is then in st.values).
  bool run() {
    begin();
    if constexpr (concurrent) {
      run_concurrent(std::make_index_sequence<n>{});
    } else {
      // One after another on this thread: the run's own shared state serves, unless a policy
      // around the group set a stop token or a deadline of its own.
      run_shared* local = inline_local();
      run_inline(std::make_index_sequence<n>{});
      inline_done(local);
    }
    const bool ok = branches_done();
    // Successes that are not part of the output (after a failure, or beyond the first K) are
    // undone now, in reverse branch order, on this thread — unless a journaled run stopped
    // (paused, journal unwritable): then nothing more is done or undone until it resumes.
    if (!halted()) {
      // Only this group's own undo failures count here (stop_on_failure), not earlier ones.
      const bool failed_now = undo_counting_own_failures(
          *call_.shared(), [&] { undo_unkept(!ok, std::make_index_sequence<n>{}); });
      late_undo_failed(ok, failed_now);
    }
    return conclude(ok);
  }

  /// The group's error once run() returned false.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

 private:
  struct forward_stop {
    std::stop_source* target;
    void operator()() const noexcept { target->request_stop(); }
  };

  // ---- the parts of a group's run that the sync and async runs share ----

  /// Before the branches: the journal's mark; concurrent, one copy of the run's shared state
  /// per branch (no races), with its own generator seeded from the run's (deterministic), the
  /// group's own stop token (forwarded from the call's), and the call's deadline.
  void begin() {
    read_mark();
    if constexpr (concurrent) {
      run_shared& parent = *call_.shared();
      // The branches see the group's stop token and deadline: a timeout policy around the group
      // limits and stops them too.
      const duration deadline = call_.deadline();
      const run_shared base = parent;  // one read, before the generator below writes it
      source_.emplace();
      token_ = source_->get_token();
      forward_.emplace(call_.stop_token(), forward_stop{&*source_});
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t seed = parent.next_random();
        branch_shared_[i] = base;
        branch_shared_[i].stop = &token_;
        branch_shared_[i].deadline = deadline;
        branch_shared_[i].rng = seed == 0 ? 1 : seed;
      }
    }
  }
  /// Inline: the shared state the branches use; a copy (returned, to be given to inline_done)
  /// when a policy around the group set a stop token or a deadline of its own.
  run_shared* inline_local() {
    run_shared& parent = *call_.shared();
    if (&call_.stop_token() == parent.stop && call_.deadline() == parent.deadline) {
      inline_shared_ = &parent;
      return nullptr;
    }
    local_.emplace(parent);
    local_->stop = &call_.stop_token();
    local_->deadline = call_.deadline();
    inline_shared_ = &*local_;
    return &*local_;
  }
  void inline_done(run_shared* local) {
    if (local == nullptr) return;
    run_shared& parent = *call_.shared();
    local->stop = parent.stop;
    local->deadline = parent.deadline;
    parent = *local;
  }
  /// After the branches: what they undid is the run's; whether the group succeeded.
  bool branches_done() {
    if constexpr (concurrent) {
      run_shared& parent = *call_.shared();
      for (const run_shared& b : branch_shared_) {
        parent.compensated_any = parent.compensated_any || b.compensated_any;
        parent.compensation_failed = parent.compensation_failed || b.compensation_failed;
        parent.deadline_missed = parent.deadline_missed || b.deadline_missed;
      }
    }
    return mode == gather_mode::all ? decided_.owner < 0 : successes_.get() >= needed;
  }
  /// A loser that succeeded late and could not be undone shows on the group's report line.
  void late_undo_failed(bool ok, bool failed_now) {
    if (ok && failed_now) call_.mark(step_flag::late_compensation_failed);
  }
  /// The group's output (true) or its failure (false).
  bool conclude(bool ok) {
    if (ok) {
      build_values(std::make_index_sequence<n>{});
      return true;
    }
    describe_failure(std::make_index_sequence<n>{});
    return false;
  }

  /// Whether branch I may start; false when it was cancelled before it started (recorded: it
  /// stays not_started, and counts as a failure — the group's fate was decided already, or the
  /// run was asked to stop). A branch an earlier incarnation of the run began is started even
  /// then: what it did is restored from the journal (or learnt again, with the same idempotency
  /// keys) and undone with the group. A resumed group whose journal says which branches it kept
  /// starts no other branch.
  template <std::size_t I>
  bool admit() noexcept {
    auto& bst = std::get<I>(st_.branches);
    if ((stop_requested() && !began_before<I>()) || (has_mark_ && ((mark_ >> I) & 1u) == 0)) {
      bst.rec.errors.set(0, error_bits::from(make_error_code(errc::cancelled)));
      bst.failed = 0;
      settle<I>(false);
      return false;
    }
    return true;
  }
  /// Branch I's run threw (a policy hook or a copy): the branch failed with that exception.
  template <std::size_t I>
  void branch_threw() noexcept {
    auto& bst = std::get<I>(st_.branches);
    bst.rec.status[0] = step_status::failed;
    bst.rec.errors.set(0, error_bits::from(make_error_code(errc::exception)));
    bst.failed = 0;
    try {
      std::rethrow_exception(std::current_exception());
    } catch (const std::exception& e) {
      try { bst.rec.messages.set(0, e.what()); } catch (...) {}  // NOLINT(bugprone-empty-catch)
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing more to say of it
    }
  }
  /// Branch I ended: counted. A resumed quorum / first-of: a branch the first incarnation had
  /// begun to undo (a loser) is not a candidate again; it stays `succeeded` so that its undo is
  /// finished afterwards.
  template <std::size_t I>
  void branch_ended(bool ok) noexcept {
    settle<I>(ok && !being_undone<I>());
  }
  /// Whether branch I's success is undone after the branches (it is not part of the output, or
  /// the group failed); `stop`: an earlier undo failed under stop_on_failure.
  template <std::size_t I>
  [[nodiscard]] bool undo_unkept_needed(bool failed, bool stop) const noexcept {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    const auto& bst = std::get<I>(st_.branches);
    if (!B::contains_compensable || stop || bst.rec.status[0] != step_status::succeeded) return false;
    return failed || !won_[I];  // else part of the output
  }
  /// After branch I was undone: whether the undoing stops (stop_on_failure).
  template <std::size_t I>
  [[nodiscard]] bool undo_stops() const noexcept {
    return call_.shared()->mode == compensation_policy::stop_on_failure &&
           std::get<I>(st_.branches).rec.status[0] == step_status::compensation_failed;
  }

  /// One after another on this thread; a decided group starts no further branch (a hedge
  /// starts only after a failure: there is no time to hedge in), but for one an earlier
  /// incarnation of the run began (see admit).
  template <std::size_t... I>
  void run_inline(std::index_sequence<I...>) {
    ((stop_ && !began_before<I>() ? void() : run_branch<I>()), ...);
  }

  template <std::size_t... I>
  void run_concurrent(std::index_sequence<I...>) {
    if constexpr (mode == gather_mode::first) {
      if (g_.delay() > duration::zero()) {
        run_hedged(std::index_sequence<I...>{});
        return;
      }
    }
    tasks_.start(static_cast<int>(n));
    (submit<I>(), ...);
    tasks_.wait(g_.exec());
  }

  /// Hedging: branch k starts when the run's clock passed k × delay since the start without a
  /// success, or at once when every branch started so far failed.
  template <std::size_t... I>
  void run_hedged(std::index_sequence<I...>) {
    tasks_.start(static_cast<int>(n));
    auto& clock = call_.clock();
    const duration t0 = clock.now();
    std::size_t started = 0;
    auto start_next = [&] {
      std::size_t k = 0;
      ((k++ == started ? submit<I>() : void()), ...);
      ++started;
    };
    start_next();
    while (started < n) {
      if (successes_.get() >= 1) break;
      const int finished = finished_.get();
      if (finished == static_cast<int>(started)) {  // all started ones failed: hedge at once
        start_next();
        continue;
      }
      const duration due = t0 + g_.delay() * static_cast<duration::rep>(started);
      const duration now = clock.now();
      if (now >= due) {
        start_next();
        continue;
      }
      // A hedge waiting on one of the pool's own workers (a group nested in a branch) helps
      // while a branch of its own still waits in the queue: the pool's workers may all be
      // waiting like this one. Elsewhere this thread keeps the hedge timer and does not help.
      if constexpr (helping_executor<executor_type> &&
                    requires(executor_type& e) { e.on_worker_thread(); }) {
        if (begun_.get() < static_cast<int>(started) && g_.exec().on_worker_thread() &&
            g_.exec().try_run_one())
          continue;
      }
      std::unique_lock lock{wait_.mutex};
      // On the steady clock, wait the rest of the delay; on any other clock (a test's manual
      // clock) look at it again every 100 µs of real time.
      const auto slice = std::is_same_v<std::remove_cvref_t<decltype(clock)>, steady_clock>
                             ? std::chrono::duration_cast<std::chrono::nanoseconds>(due - now)
                             : std::chrono::nanoseconds{100'000};
      wait_.cv.wait_for(lock, slice, [&] {
        return successes_.get() >= 1 || finished_.get() != finished;
      });
    }
    // Branches never started count as finished for the wait below; but for one an earlier
    // incarnation of the run began: it starts now (see admit), to be restored and undone.
    int never = 0;
    std::size_t k = 0;
    ((k++ >= started ? (began_before<I>() ? submit<I>() : void(++never)) : void()), ...);
    if (never > 0 && tasks_.skip(never)) return;
    tasks_.wait(g_.exec());
  }

  template <std::size_t I>
  void submit() {
    auto task = [this]() noexcept {
      run_branch<I>();
      if constexpr (hedging) {
        { std::lock_guard lock{wait_.mutex}; }
        wait_.cv.notify_all();
      }
      tasks_.arrive();
    };
    submit_or_run(g_.exec(), task);
  }

  /// A resumed quorum / first-of whose success is in the journal keeps the same branches.
  void read_mark() {
    if constexpr (journaled<typename Call::observer_type>() && mode != gather_mode::all) {
      auto& hooks = call_.observer_handle().get();
      const auto* past = hooks.replayed(Call::path.view());
      if (past == nullptr || !past->succeeded || past->payload.empty()) return;
      auto m = hooks.template restore<std::uint64_t>(*past);
      if (!m) return;
      mark_ = m.value();
      has_mark_ = true;
    }
  }

  [[nodiscard]] bool halted() const noexcept {
    if constexpr (journaled<typename Call::observer_type>()) return call_.observer_handle().get().halted();
    else return false;
  }

  [[nodiscard]] bool stop_requested() const noexcept {
    if constexpr (concurrent) return token_.stop_requested();
    else return stop_;
  }
  void request_stop() noexcept {
    if constexpr (concurrent) source_->request_stop();
    else stop_ = true;
  }

  template <std::size_t I>
  run_shared* shared_of() noexcept {
    if constexpr (concurrent) return &branch_shared_[I];
    else return inline_shared_;
  }

  template <std::size_t I>
  void run_branch() noexcept {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    if constexpr (hedging) begun_.add(1);
    if (!admit<I>()) return;
    bool ok = false;
    try {
      ok = sublevel<Call, B>::run(std::get<I>(g_.branches()), std::get<I>(st_.branches), call_,
                                  shared_of<I>());
    } catch (...) {
      branch_threw<I>();
      ok = false;
    }
    branch_ended<I>(ok);
  }

  /// Whether the journal shows branch I begun by an earlier incarnation of the run.
  template <std::size_t I>
  [[nodiscard]] bool began_before() const noexcept {
    if constexpr (journaled<typename Call::observer_type>()) {
      using B = std::tuple_element_t<I, typename G::nodes_type>;
      constexpr auto path = concat<sublevel<Call, B>::prefix, B::name>();
      const auto* past = call_.observer_handle().get().replayed(path.view());
      return past != nullptr && (past->attempts > 0 || past->succeeded || past->failed);
    } else {
      return false;
    }
  }

  template <std::size_t I>
  [[nodiscard]] bool being_undone() const {
    if constexpr (journaled<typename Call::observer_type>() && mode != gather_mode::all) {
      if (has_mark_) return false;
      using B = std::tuple_element_t<I, typename G::nodes_type>;
      constexpr auto path = concat<sublevel<Call, B>::prefix, B::name>();
      const auto* past = call_.observer_handle().get().replayed(path.view());
      return past != nullptr && past->compensation_attempts > 0;
    } else {
      return false;
    }
  }

  template <std::size_t I>
  void settle(bool ok) noexcept {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    if (ok) {
      const int k = successes_.add(1);
      won_[I] = mode == gather_mode::all || k <= needed;
      if (mode != gather_mode::all && k == needed) request_stop();
    } else if (!(mode == gather_mode::all && is_optional_branch<B>())) {
      const int f = failures_.add(1);
      const bool lost = mode == gather_mode::all || static_cast<int>(n) - f < needed;
      if (lost) {
        int expected = -1;
        if (decided_.claim(expected, static_cast<int>(I))) request_stop();
      }
    }
    finished_.add(1);
  }

  template <std::size_t... I>
  void undo_unkept(bool failed, std::index_sequence<I...>) {
    constexpr std::size_t last = n - 1;
    bool stop = false;
    (undo_unkept_one<last - I>(failed, stop), ...);
  }
  template <std::size_t I>
  void undo_unkept_one(bool failed, bool& stop) {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    if constexpr (B::contains_compensable) {
      if (!undo_unkept_needed<I>(failed, stop)) return;
      sublevel<Call, B>::compensate(std::get<I>(g_.branches()), std::get<I>(st_.branches), call_,
                                    call_.shared());
      stop = undo_stops<I>();
    } else {
      (void)failed, (void)stop;
    }
  }

  template <std::size_t... I>
  void build_values(std::index_sequence<I...>) {
    // A skipped conditional branch counts as done: its output is an empty optional.
    ((st_.kept[I] = won_[I] && (std::get<I>(st_.branches).rec.status[0] == step_status::succeeded ||
                                std::get<I>(st_.branches).rec.status[0] == step_status::skipped)),
     ...);
    if constexpr (mode == gather_mode::all) {
      st_.values.emplace(take<I>()...);
    } else if constexpr (mode == gather_mode::quorum) {
      st_.values.emplace();
      ((st_.kept[I] ? (void)((*st_.values)[I].emplace(take_plain<I>())) : void()), ...);
    } else {
      bool done = false;
      ((!done && st_.kept[I] ? (void)(st_.values.emplace(take_plain<I>()), done = true) : void()),
       ...);
    }
  }

  /// Branch I's output for the group: moved out of its slot when the slot holds it (moved back
  /// before the branch is compensated), copied otherwise (a nested workflow's state).
  template <std::size_t I>
  auto take_plain() {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    using V = typename B::template value_type<In>;
    return V(lent_output<B, In>::take(detail::slot<0>(std::get<I>(st_.branches).slots)));
  }
  template <std::size_t I>
  branch_value_t<In, std::tuple_element_t<I, typename G::nodes_type>> take() {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    if constexpr (is_optional_branch<B>()) {
      if (!st_.kept[I]) return std::nullopt;
      return take_plain<I>();
    } else {
      return take_plain<I>();
    }
  }

  template <std::size_t... I>
  void describe_failure(std::index_sequence<I...>) {
    const int who = decided_.owner;
    std::string text;
    if (mode != gather_mode::all) {
      text = std::to_string(successes_.get()) + " of " + std::to_string(n) +
             " branches succeeded, " + std::to_string(needed) + " needed";
    }
    std::size_t k = 0;
    (((static_cast<int>(k++) == who) ? describe_branch<I>(text) : void()), ...);
    if (!error_) error_ = make_error_code(errc::step_failed);
    call_.set_message(false, text);
  }
  template <std::size_t I>
  void describe_branch(std::string& text) {
    using B = std::tuple_element_t<I, typename G::nodes_type>;
    const auto& bst = std::get<I>(st_.branches);
    error_ = bst.rec.errors.get(0).code();
    if (!text.empty()) text += "; ";
    text += B::name.view();
    text += ": ";
    const std::string_view inner = bst.rec.messages.get(0);
    text += inner.empty() ? error_.message() : std::string{inner};
  }

  const G& g_;
  Call& call_;
  state_type& st_;
  struct no_shared {};
  // Concurrent: one copy of the run's shared state per branch. Inline: the one the branches use.
  [[no_unique_address]] std::conditional_t<concurrent, std::array<run_shared, n>, no_shared>
      branch_shared_;
  run_shared* inline_shared_ = nullptr;
  std::optional<run_shared> local_;  // inline, under a policy's own stop token or deadline
  std::uint64_t mark_ = 0;  // from the journal: the branches a resumed group keeps
  bool has_mark_ = false;
  std::array<bool, n> won_{};
  group_counter<concurrent> successes_;
  group_counter<concurrent> failures_;
  group_counter<concurrent> finished_;
  group_counter<concurrent> decided_;  // owner: the branch whose failure decided the group
  group_counter<concurrent> begun_;    // hedging: branches taken off the queue
  bool stop_ = false;                  // inline: no further branch starts
  task_countdown tasks_;
  std::optional<std::stop_source> source_;
  std::stop_token token_;
  std::optional<std::stop_callback<forward_stop>> forward_;
  struct hedge_wait {
    std::mutex mutex;
    std::condition_variable cv;
  };
  struct no_wait {};
  [[no_unique_address]] std::conditional_t<hedging, hedge_wait, no_wait> wait_;
  std::error_code error_;
};

template <class B>
struct is_group_node : std::false_type {};

}  // namespace detail

/**
 * A parallel group: its branches (steps, steps with policies, nested workflows) run at once on
 * an executor; the group's output is the tuple of their outputs. Built with
 * `tutti::parallel<"name">(pool, a, b, c)` (or `parallel<"name">(a, b, c)` on the inline
 * executor), `tutti::quorum<"name", K>(...)`, `tutti::first_of<"name">(...)` and
 * `tutti::hedge<"name">(pool, delay, ...)`. See docs/parallel.md.
 */
template <fixed_string Name, detail::gather_mode Mode, std::size_t K, class Exec, class... B>
class parallel_group {
  static_assert(sizeof...(B) > 0, "tutti: a parallel group needs at least one branch.");
  static_assert(detail::valid_name<Name>(),
                "tutti: a group name must be non-empty and must not contain '/', '\"' or a "
                "newline.");
  static_assert(detail::unique_names<B...>(),
                "tutti: two branches of this parallel group have the same name. Branch names "
                "identify outputs, events and idempotency keys (\"group/branch\"): give each "
                "branch its own name.");
  static_assert(!(B::pivot || ...),
                "tutti: a pivot cannot be a branch of a parallel group: branches have no order, so "
                "a group has no single go/no-go point. Put the pivot after the group.");
  static_assert(((detail::is_optional_branch<B>() || !detail::holds_optional_branch<B>()) && ...),
                "tutti: optional_branch(...) inside a policy or a condition: the group sees only "
                "the outer node, so the branch would not be optional. Put the policy inside: "
                "tutti::optional_branch(step | policy), tutti::optional_branch(tutti::when(...)).");
  static_assert(sizeof...(B) <= 64, "tutti: a parallel group has at most 64 branches.");
  static_assert(K >= 1 && K <= sizeof...(B),
                "tutti: a quorum needs K between 1 and the number of branches.");

 public:
  using executor_type = Exec;
  static constexpr auto name = Name;
  static constexpr bool is_node = true;
  static constexpr detail::gather_mode mode = Mode;
  static constexpr std::size_t size = sizeof...(B);
  static constexpr std::size_t needed = K;
  static constexpr bool contains_compensable = (B::contains_compensable || ...);
  static constexpr bool compensable = contains_compensable;
  static constexpr bool pivot = false;
  /// After a pivot a step must succeed eventually: a group does when each required branch does
  /// (all), or when at least K branches do (quorum, first-of).
  static constexpr bool retriable =
      Mode == detail::gather_mode::all
          ? ((B::retriable || detail::is_optional_branch<B>()) && ...)
          : (std::size_t{B::retriable ? 1u : 0u} + ... + 0u) >= K;
  static constexpr bool parallel = true;
  /// Names of the branches, in order.
  static constexpr std::array<std::string_view, size> branch_names{B::name.view()...};
  using nodes_type = std::tuple<B...>;

  template <class In>
  using value_type = typename detail::group_value<Mode, In, B...>::type;
  template <class In>
  using state_type = detail::group_state<In, value_type<In>, B...>;

  constexpr parallel_group(Exec& exec, duration delay, B... branches)
      : exec_(&exec), delay_(delay), branches_(std::tuple<B>(std::move(branches))...) {
    if (delay < duration::zero())
      throw std::invalid_argument("tutti: a hedging delay must not be negative");
  }

  template <class Call>
  result<state_type<typename Call::input_type>> invoke(Call& call) const {
    using In = typename Call::input_type;
    call.begin_attempt();
    state_type<In> st;
    detail::group_runner<parallel_group, Call> runner{*this, call, st};
    if (runner.run()) {
      if constexpr (detail::observed<Call>()) {
        result<state_type<In>> r{std::move(st)};
        call.end_attempt(r);
        return r;
      } else {
        return st;
      }
    }
    const std::error_code ec = runner.error();
    if constexpr (detail::observed<Call>()) call.end_attempt(result<void>{ec});
    return ec;
  }

  /// Undoes the branches whose outputs the group returned, in reverse branch order.
  template <class Call, class In>
  result<void> compensate(state_type<In>& st, Call& call) const {
    return detail::compensate_sublevels(call,
                                        [&] { undo(st, call, std::make_index_sequence<size>{}); });
  }

  template <class In>
  static constexpr const value_type<In>& value(const state_type<In>& s) noexcept {
    return *s.values;
  }
  /// What the journal keeps of a successful group: which branches it kept (bit i: branch i).
  template <class In>
  static constexpr std::uint64_t journal_mark(const state_type<In>& s) noexcept {
    std::uint64_t m = 0;
    for (std::size_t i = 0; i < size; ++i)
      if (s.kept[i]) m |= std::uint64_t{1} << i;
    return m;
  }
  /// Whether a branch the group kept has a compensation (else the group has nothing to undo).
  template <class In>
  static constexpr bool undoable(const state_type<In>& s) noexcept {
    return [&s]<std::size_t... I>(std::index_sequence<I...>) {
      return ((s.kept[I] && std::tuple_element_t<I, nodes_type>::contains_compensable) || ...);
    }(std::make_index_sequence<size>{});
  }

  [[nodiscard]] constexpr const std::tuple<std::tuple<B>...>& branches() const noexcept {
    return branches_;
  }
  [[nodiscard]] Exec& exec() const noexcept { return *exec_; }
  [[nodiscard]] constexpr duration delay() const noexcept { return delay_; }
  /// `retriable` on the values: the branches it counts are retried for real (no retry of theirs
  /// is `max_attempts{1}`); see detail::retried.
  [[nodiscard]] constexpr bool retried() const noexcept {
    return [this]<std::size_t... I>(std::index_sequence<I...>) {
      if constexpr (Mode == detail::gather_mode::all)
        return ((detail::is_optional_branch<B>() || detail::retried(branch<I>())) && ...);
      else
        return (std::size_t{detail::retried(branch<I>()) ? 1u : 0u} + ... + 0u) >= K;
    }(std::index_sequence_for<B...>{});
  }

 private:
  template <std::size_t I>
  constexpr const auto& branch() const noexcept {
    return std::get<0>(std::get<I>(branches_));
  }
  template <class Call, class In, std::size_t... I>
  void undo(state_type<In>& st, Call& call, std::index_sequence<I...>) const {
    bool stop = false;
    (undo_one<size - 1 - I>(st, call, stop), ...);
  }
  template <std::size_t I, class Call, class In>
  void undo_one(state_type<In>& st, Call& call, bool& stop) const {
    using Br = std::tuple_element_t<I, nodes_type>;
    if constexpr (Br::contains_compensable) {
      if (stop || !st.kept[I]) return;
      auto& bst = std::get<I>(st.branches);
      lend_back<I>(st);
      detail::sublevel<Call, Br>::compensate(std::get<I>(branches_), bst, call, call.shared());
      if (call.shared()->mode == compensation_policy::stop_on_failure &&
          bst.rec.status[0] == step_status::compensation_failed)
        stop = true;
    } else {
      (void)st, (void)call, (void)stop;
    }
  }

  /// Gives branch I its output back (the group moved it into its own output) before it is
  /// undone.
  template <std::size_t I, class In>
  static void lend_back(state_type<In>& st) {
    using Br = std::tuple_element_t<I, nodes_type>;
    using lent = detail::lent_output<Br, In>;
    auto& slot = detail::slot<0>(std::get<I>(st.branches).slots);
    if constexpr (Mode == detail::gather_mode::all) {
      if constexpr (detail::is_optional_branch<Br>()) lent::give_back(slot, *std::get<I>(*st.values));
      else lent::give_back(slot, std::get<I>(*st.values));
    } else if constexpr (Mode == detail::gather_mode::quorum) {
      lent::give_back(slot, *(*st.values)[I]);
    } else {
      lent::give_back(slot, *st.values);
    }
  }

  template <class G>
  friend struct detail::async_group;

  Exec* exec_;
  duration delay_;
  std::tuple<std::tuple<B>...> branches_;
};

namespace detail {
// Data flow checked when the workflow is built (detail/data_flow.hpp): each branch is a level of
// its own below the group, reading the steps before the group; a renamed branch reads as its
// inner node.
template <fixed_string Name, class B, bool Optional>
struct flow_traits<branch_node<Name, B, Optional>> {
  static constexpr bool output_known = flow_traits<B>::output_known;
  template <class Scope>
  static constexpr auto check() noexcept {
    return flow_traits<B>::template check<Scope>();
  }
};
template <fixed_string Name, gather_mode Mode, std::size_t K, class Exec, class... B>
struct flow_traits<parallel_group<Name, Mode, K, Exec, B...>> {
  static constexpr bool output_known = (flow_traits<B>::output_known && ...);
  template <class Scope>
  static constexpr auto check() noexcept {
    return detail::flow_first(flow_branch<Scope, B>()...);
  }
};

template <class E>
inline E& shared_executor() noexcept {
  static E e;
  return e;
}
}  // namespace detail

/**
 * A workflow whose steps are declared independent for compensation, built with
 * `wf.compensate_in_parallel(exec)`: when it is undone — one of its steps failed, or a later
 * step of an enclosing workflow did — the compensations of all its completed steps are
 * submitted at once to `exec` (held by reference), last step first, and waited for. What is
 * undone, the report, the events and the journal records are those of the default order; only
 * the order and the threads differ. With `compensation_policy::stop_on_failure`, a failure
 * among them does not stop the others (they are started together); it stops the undoing of
 * what comes before this workflow. It is the workflow it was built from in every other way:
 * the same steps, paths, shape and journal. Observers and clocks must be thread-safe, as for
 * parallel groups. See docs/sagas.md.
 */
template <class Exec, fixed_string Name, class... N>
class parallel_compensated<basic_workflow<Name, N...>, Exec> : public basic_workflow<Name, N...> {
  static_assert(executor<Exec>,
                "tutti: compensate_in_parallel(exec) takes an executor: an object with "
                "`submit(f)` (tutti::thread_pool, tutti::inline_executor, or your own).");
  using base = basic_workflow<Name, N...>;

 public:
  using executor_type = Exec;
  /// The workflow it was built from (what `tutti::testing::replace` rebuilds).
  using workflow_type = base;

  constexpr parallel_compensated(const base& wf, Exec& exec) : base(wf), exec_(&exec) {}

  /// As basic_workflow::async_run (<tutti/async.hpp>): the compensations of the completed
  /// steps are awaited all at once, each a coroutine on the run's executor.
  template <class In, class... A>
  [[nodiscard]] auto async_run(In input, const run_options& opts = {}, A&... more) const {
    if constexpr (detail::async_layer_included<parallel_compensated, In>) {
      return detail::async_run_access<parallel_compensated, In>::run(*this, std::move(input), opts,
                                                                     more...);
    } else {
      static_assert(detail::async_layer_included<parallel_compensated, In>,
                    "tutti: async_run() needs the async layer: #include <tutti/async.hpp> (it "
                    "needs Asio: the tutti::async CMake target), or run the workflow with run().");
    }
  }
  template <class... A>
  [[nodiscard]] auto async_run(const run_options& opts, A&... more) const {
    return async_run(unit{}, opts, more...);
  }
  [[nodiscard]] auto async_run() const { return async_run(unit{}); }

  /// As basic_workflow::run.
  template <class In, tutti::clock C = steady_clock>
  [[nodiscard]] auto run(const In& input, const run_options& opts = {},
                         C& clock = detail::default_clock()) const {
    null_observer none;
    return run(input, opts, clock, none);
  }
  template <class In, tutti::clock C, observer O>
  [[nodiscard]] auto run(const In& input, const run_options& opts, C& clock, O& obs) const {
    return this->run_with(input, opts, clock, obs, undo());
  }
  template <class In, observer O>
    requires(!tutti::clock<O>)
  [[nodiscard]] auto run(const In& input, const run_options& opts, O& obs) const {
    return run(input, opts, detail::default_clock(), obs);
  }
  [[nodiscard]] auto run(const run_options& opts = {}) const { return run(unit{}, opts); }
  template <tutti::clock C>
  [[nodiscard]] auto run(const run_options& opts, C& clock) const {
    return run(unit{}, opts, clock);
  }

  // ---- as a step of an enclosing workflow ----

  template <class Call>
  auto invoke(Call& call) const {
    return this->invoke_with(call, undo());
  }
  template <class Call, class In>
  result<void> compensate(detail::run_state<In, N...>& st, Call& call) const {
    return this->compensate_with_undo(st, call, undo());
  }

  /// The executor the compensations run on.
  [[nodiscard]] constexpr Exec& compensation_executor() const noexcept { return *exec_; }

 private:
  [[nodiscard]] constexpr detail::concurrent_undo<Exec> undo() const noexcept { return {exec_}; }

  Exec* exec_;
};

namespace detail {
template <class W, class Exec>
struct flow_traits<parallel_compensated<W, Exec>> : flow_traits<W> {};
}  // namespace detail

/// `tutti::optional_branch(b)`: the branch's failure does not fail its group; its output is a
/// `std::optional` (empty when it failed). Its failure still shows in events and the journal.
template <node B>
[[nodiscard]] constexpr auto optional_branch(B&& b) {
  using D = std::remove_cvref_t<B>;
  return detail::branch_node<D::name, D, true>(std::forward<B>(b));
}

/**
 * `tutti::parallel<"gather">(executor, a, b, c)`: runs every branch at once on `executor` (held
 * by reference); the output is `std::tuple<A, B, C>` (`std::optional<X>` for optional
 * branches). When a required branch fails, the others are asked to stop (their
 * `std::stop_token`), branches that completed are compensated in reverse branch order, and the
 * group fails with that branch's error. Without an executor, branches run one after another
 * on the calling thread (tutti::inline_executor).
 */
template <fixed_string Name, executor E, class... S>
  requires(!node<E>)
[[nodiscard]] constexpr auto parallel(E& exec, S&&... branches) {
  return parallel_group<Name, detail::gather_mode::all, sizeof...(S), E, detail::as_node_t<S>...>(
      exec, duration::zero(), detail::as_node(std::forward<S>(branches))...);
}
template <fixed_string Name, class S0, class... S>
  requires(!executor<std::remove_cvref_t<S0>>)
[[nodiscard]] constexpr auto parallel(S0&& first, S&&... branches) {
  return parallel<Name>(detail::shared_executor<inline_executor>(), std::forward<S0>(first),
                        std::forward<S>(branches)...);
}

/// `tutti::quorum<"read", 2>(executor, a, b, c)`: the first K successes of N branches (same
/// output type V); the output is `std::array<std::optional<V>, N>` with exactly K engaged, by
/// branch. The others are asked to stop; any that succeeds anyway is compensated.
template <fixed_string Name, std::size_t K, executor E, class... S>
  requires(!node<E>)
[[nodiscard]] constexpr auto quorum(E& exec, S&&... branches) {
  return parallel_group<Name, detail::gather_mode::quorum, K, E, detail::as_node_t<S>...>(
      exec, duration::zero(), detail::as_node(std::forward<S>(branches))...);
}

/// `tutti::quorum<"read", K>(a, b, c)` on the inline executor (one branch after another).
template <fixed_string Name, std::size_t K, class S0, class... S>
  requires(!executor<std::remove_cvref_t<S0>>)
[[nodiscard]] constexpr auto quorum(S0&& first, S&&... branches) {
  return quorum<Name, K>(detail::shared_executor<inline_executor>(), std::forward<S0>(first),
                         std::forward<S>(branches)...);
}

/// `tutti::first_of<"price">(executor, a, b)`: the first branch to succeed wins (same output
/// type); the others are asked to stop, and compensated if they succeed anyway.
template <fixed_string Name, executor E, class... S>
  requires(!node<E>)
[[nodiscard]] constexpr auto first_of(E& exec, S&&... branches) {
  return parallel_group<Name, detail::gather_mode::first, 1, E, detail::as_node_t<S>...>(
      exec, duration::zero(), detail::as_node(std::forward<S>(branches))...);
}

/// `tutti::first_of<"price">(a, b)` on the inline executor: b runs only if a failed.
template <fixed_string Name, class S0, class... S>
  requires(!executor<std::remove_cvref_t<S0>>)
[[nodiscard]] constexpr auto first_of(S0&& first, S&&... branches) {
  return first_of<Name>(detail::shared_executor<inline_executor>(), std::forward<S0>(first),
                        std::forward<S>(branches)...);
}

/**
 * `tutti::hedge<"read">(executor, 50ms, primary, alternate...)`: starts `primary`; when it has
 * not answered within `delay` on the run's clock (or failed), starts the next branch, and so
 * on. The first success wins; the others are asked to stop and, if they succeed late and are
 * compensable, compensated. On the inline executor a branch starts only after the previous one
 * failed (there is nothing to wait for).
 */
template <fixed_string Name, executor E, class... S>
  requires(!node<E>)
[[nodiscard]] constexpr auto hedge(E& exec, duration delay, S&&... branches) {
  return parallel_group<Name, detail::gather_mode::first, 1, E, detail::as_node_t<S>...>(
      exec, delay, detail::as_node(std::forward<S>(branches))...);
}

/// The hedging policy: `step | tutti::hedged(executor, 50ms)` runs the step, and a second copy
/// of it when the first has not answered within the delay (`hedged<3>` for up to 3 copies). The
/// copies are the group's branches "1", "2", ...: their idempotency keys are "step/1", "step/2".
template <std::size_t Copies, class E>
struct hedged_policy {
  static_assert(Copies >= 2, "tutti: hedged<N> needs N >= 2 (the first attempt and a hedge).");
  E* exec;
  duration delay;
};
template <std::size_t Copies = 2, executor E>
[[nodiscard]] constexpr hedged_policy<Copies, E> hedged(E& exec, duration delay) {
  return {&exec, delay};
}

namespace detail {
template <std::size_t I>
constexpr auto copy_name() noexcept {
  static_assert(I < 99, "tutti: hedged<N> supports up to 99 copies.");
  if constexpr (I < 9) {
    fixed_string<2> out;
    out.data[0] = static_cast<char>('1' + I);
    return out;
  } else {
    fixed_string<3> out;
    out.data[0] = static_cast<char>('0' + (I + 1) / 10);
    out.data[1] = static_cast<char>('0' + (I + 1) % 10);
    return out;
  }
}
template <class N, class E, std::size_t... I>
constexpr auto make_hedged(const N& n, E& exec, duration delay, std::index_sequence<I...>) {
  return parallel_group<N::name, gather_mode::first, 1, E, branch_node<copy_name<I>(), N, false>...>(
      exec, delay, branch_node<copy_name<I>(), N, false>(n)...);
}
}  // namespace detail

template <node N, std::size_t Copies, class E>
[[nodiscard]] constexpr auto operator|(N&& n, hedged_policy<Copies, E> h) {
  return detail::make_hedged(std::remove_cvref_t<N>(std::forward<N>(n)), *h.exec, h.delay,
                             std::make_index_sequence<Copies>{});
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_PARALLEL_HPP
