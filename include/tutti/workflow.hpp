// tutti — workflows: ordered steps, the run engine, saga compensation and the run result.
#ifndef TUTTI_WORKFLOW_HPP
#define TUTTI_WORKFLOW_HPP

#include <array>        // step names
#include <cstddef>      // std::size_t
#include <optional>     // per-step output slots
#include <stdexcept>    // bad_run_access
#include <string>       // messages of nested failures
#include <tuple>        // steps and outputs
#include <type_traits>  // saga rules
#include <utility>      // index sequences

#include "clock.hpp"
#include "config.hpp"
#include "context.hpp"
#include "detail/data_flow.hpp"
#include "error.hpp"
#include "events.hpp"
#include "fixed_string.hpp"
#include "policy.hpp"
#include "report.hpp"
#include "result.hpp"
#include "step.hpp"

TUTTI_BEGIN_NAMESPACE

/// Thrown by `run_result::value()`/`get()` when the value asked for was not produced.
class bad_run_access : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

/// What an async run adds to its shared state (its executor, stop and cancellation): defined by
/// <tutti/async.hpp>.
struct async_env;

/// State shared by a run and the workflows nested in it.
struct run_shared {
  bool committed = false;            // a pivot has succeeded: nothing before it is undone
  bool compensated_any = false;      // some compensation succeeded (at any depth)
  bool compensation_failed = false;  // some compensation failed (at any depth)
  compensation_policy mode = compensation_policy::continue_on_failure;
  duration deadline = duration::max();  // absolute, on the run's clock
  // The run's own deadline (`deadline` may be tightened for a parallel group by a policy of its
  // own), and whether a step failed because that one had passed.
  duration run_deadline = duration::max();
  bool deadline_missed = false;
  /// A step failed because `deadline` had passed: the run missed its deadline if it was the
  /// run's own.
  void deadline_passed() noexcept {
    if (deadline == run_deadline) deadline_missed = true;
  }
  std::uint64_t rng = 0;                // splitmix64 state; 0 until first drawn
  const run_options* options = nullptr;
  const run_id* id = nullptr;  // by pointer: copying the id just written costs a stall
  /// The token steps receive: the run's (run_options::stop), or a parallel group's own.
  const std::stop_token* stop = nullptr;
  async_env* async = nullptr;  // an async run's own state; null in a sync run

  /// The run's random numbers: seeded from run_options::seed, or from the run id.
  std::uint64_t next_random() noexcept {
    if (rng == 0) {
      rng = options != nullptr && options->seed != 0 ? options->seed
            : id != nullptr                            ? (id->hi ^ id->lo)
                                                       : 0;
      if (rng == 0) rng = 1;
    }
    const std::uint64_t x = rng;  // splitmix64: a Weyl sequence through a finaliser
    rng += 0x9E3779B97F4A7C15ULL;
    return mix64(x);
  }
};

/// Calls `undo` (which undoes a sub-level through `shared`) so that only the compensation
/// failures it causes count: returns whether one failed; a failure from before stays recorded.
/// With stop_on_failure, an earlier failure elsewhere must not stop this sub-level's own undo.
template <class Undo>
bool undo_counting_own_failures(run_shared& shared, Undo&& undo) {
  const bool before = shared.compensation_failed;
  shared.compensation_failed = false;
  std::forward<Undo>(undo)();
  const bool failed_now = shared.compensation_failed;
  shared.compensation_failed = before || failed_now;
  return failed_now;
}

/// One compensation attempt of a node that holds sub-levels (a nested workflow, a group, a
/// choice): `undo` undoes them; the attempt fails with errc::compensation_failed when one of
/// this node's own compensations failed.
template <class Call, class Undo>
result<void> compensate_sublevels(Call& call, Undo&& undo) {
  call.begin_compensation_attempt();
  const bool failed = undo_counting_own_failures(*call.shared(), std::forward<Undo>(undo));
  const result<void> r = failed ? result<void>{make_error_code(errc::compensation_failed)}
                                : result<void>{outcome::success()};
  if constexpr (observed<Call>()) call.end_attempt(r);
  return r;
}

/// A sub-level's output lent to the node above it (a group's or a choice's own output): moved
/// out of the sub-level's slot when the slot holds the output itself, and moved back before the
/// sub-level is undone, so that its compensation receives what it produced. A slot holding a
/// nested workflow's run state lends a copy of its value and keeps the state.
template <class Node, class In>
struct lent_output {
  using value_type = typename Node::template value_type<In>;
  template <class Slot>
  static constexpr bool holds_value =
      std::is_same_v<std::remove_cvref_t<decltype(*std::declval<Slot&>())>, value_type>;

  /// `value_type&&` to move from, or `const value_type&` to copy from.
  template <class Slot>
  static decltype(auto) take(Slot& slot) {
    if constexpr (holds_value<Slot>) return std::move(*slot);
    else return Node::value(*slot);
  }
  template <class Slot>
  static void give_back(Slot& slot, value_type& lent) {
    if constexpr (holds_value<Slot>) slot.emplace(std::move(lent));
    else (void)slot, (void)lent;
  }
};

/// Whether a node is a nested workflow (possibly inside policies): its value is its run state,
/// which a journal does not store (its steps are journaled one by one).
template <class N>
constexpr bool is_workflow_node() noexcept {
  if constexpr (requires { typename N::inner_type; }) return is_workflow_node<typename N::inner_type>();
  else return requires { typename N::nodes_type; };
}

/// One element of flat_slots: the output slot of the step at index I.
template <std::size_t I, class T>
struct flat_leaf {
  T value;
};
template <class Seq, class... T>
struct flat_slots_of;
template <std::size_t... I, class... T>
struct flat_slots_of<std::index_sequence<I...>, T...> : flat_leaf<I, T>... {};
/// The output slots of a level: one base per step, not a recursive std::tuple (whose recursion
/// and constructor constraints cost compile time per step). Read with `slot<I>(slots)`.
template <class... T>
using flat_slots = flat_slots_of<std::index_sequence_for<T...>, T...>;
template <std::size_t I, class T>
constexpr T& slot(flat_leaf<I, T>& leaf) noexcept {
  return leaf.value;
}
template <std::size_t I, class T>
constexpr const T& slot(const flat_leaf<I, T>& leaf) noexcept {
  return leaf.value;
}

/// Outputs and records of one run of a workflow with nodes N... on input In.
template <class In, class... N>
struct run_state {
  static constexpr std::size_t size = sizeof...(N);
  run_state() noexcept {}  // NOLINT(modernize-use-equals-default): no zeroing of raw records
  flat_slots<std::optional<typename N::template state_type<In>>...> slots;
  records<size> rec;
  std::size_t failed = size;
};

/// How a frame reaches the call of the step that contains it (a parallel group's branch reads
/// the outputs of the group's earlier siblings): nothing for a workflow's own frame.
template <class Up>
struct up_ref {
  Up* call = nullptr;
};
template <>
struct up_ref<void> {};

/// Indexes at or above this one name a step of the enclosing level (`Up`), offset by it.
inline constexpr std::size_t outer_offset = std::size_t{1} << 24;

template <class Up, class In, class Clock, class Obs, class... N>
struct basic_frame {
  using up_type = Up;
  using input_type = In;
  using state_type = run_state<In, N...>;
  using nodes_type = std::tuple<N...>;
  using observer_type = Obs;
  static constexpr bool observed = observer_enabled<Obs>();
  static constexpr bool observer_wants_time = observed && detail::observer_wants_time<Obs>();
  static constexpr bool journaled = detail::journaled<Obs>();

  const In& input;
  state_type& st;
  Clock& clock;
  const run_id& id;  // by reference: copying the id just written costs a store-forwarding stall
  bool timing;
  run_shared* shared;
  [[no_unique_address]] observer_ref<Obs> obs;
  bool clocked = timing || shared->deadline != duration::max();  // read the clock per step
  [[no_unique_address]] up_ref<Up> up{};

  template <fixed_string Name>
  static constexpr std::size_t index_of() noexcept {
    constexpr std::array<std::string_view, sizeof...(N)> names{N::name.view()...};
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == Name.view()) return i;
    if constexpr (!std::is_void_v<Up>) {
      constexpr std::size_t j = Up::template index_of<Name>();
      return j == npos ? npos : j + outer_offset;
    }
    return npos;
  }
  template <std::size_t J>
  using node_type = std::tuple_element_t<J, nodes_type>;
  template <std::size_t J>
  struct value_of {
    using type = typename node_type<J>::template value_type<In>;
  };
  template <std::size_t J>
    requires(J >= outer_offset)
  struct value_of<J> {
    using type = typename Up::template value_type<J - outer_offset>;
  };
  template <std::size_t J>
  using value_type = typename value_of<J>::type;
};
template <class In, class Clock, class Obs, class... N>
using frame = basic_frame<void, In, Clock, Obs, N...>;

/// What a step's callable, compensation and policies see of the run: one per step call.
template <class Frame, std::size_t I, fixed_string Path>
class step_call {
 public:
  using input_type = typename Frame::input_type;
  static constexpr std::size_t index = I;
  static constexpr std::size_t npos = detail::npos;
  static constexpr auto path = Path;
  using observer_type = typename Frame::observer_type;
  /// True when the run has an observer: policies emit events only then (`if constexpr`).
  static constexpr bool observed = Frame::observed;

  constexpr step_call(Frame& f, bool compensating) noexcept
      : f_(f), st_(f.st), compensating_(compensating) {}

  template <fixed_string Name>
  static constexpr std::size_t index_of() noexcept {
    return Frame::template index_of<Name>();
  }
  template <std::size_t J>
  using value_type = typename Frame::template value_type<J>;

  template <std::size_t J>
  [[nodiscard]] const value_type<J>& value() const noexcept {
    if constexpr (J >= outer_offset) return f_.up.call->template value<J - outer_offset>();
    else return Frame::template node_type<J>::value(*slot<J>(st_.slots));
  }
  /// Whether the step at index J (as returned by index_of) runs before this one: only earlier
  /// outputs can be read. A branch of a parallel group reads steps before the group.
  template <std::size_t J>
  static constexpr bool runs_before() noexcept {
    if constexpr (J >= outer_offset) return Frame::up_type::template runs_before<J - outer_offset>();
    else return J < I;
  }
  [[nodiscard]] const input_type& input() const noexcept { return f_.input; }
  [[nodiscard]] call_context context() const noexcept {
    const std::uint32_t attempt =
        compensating_ ? st_.rec.comp_attempts.get(I) : st_.rec.attempts[I];
    call_context c{f_.id, Path.view(), attempt, deadline()};
    if constexpr (Frame::journaled) c.epoch = f_.obs.get().epoch();
    return c;
  }
  /// A journaled run whose journal stopped it (taken over, resolved, unwritable): no callable
  /// of it may be called any more.
  [[nodiscard]] bool journal_stopped() const noexcept {
    if constexpr (Frame::journaled) return !f_.obs.get().may_call();
    else return false;
  }
  /// The earlier of the run's deadline and this attempt's; duration::max() for none.
  [[nodiscard]] duration deadline() const noexcept {
    return attempt_deadline_ < f_.shared->deadline ? attempt_deadline_ : f_.shared->deadline;
  }
  /// Used by the timeout policy around one attempt; returns the previous attempt deadline.
  duration set_attempt_deadline(duration d) noexcept {
    const duration old = attempt_deadline_;
    attempt_deadline_ = d;
    return old;
  }
  [[nodiscard]] const std::stop_token& stop_token() const noexcept {
    return stop_ != nullptr ? *stop_ : *f_.shared->stop;
  }
  /// Used by the timeout policy around one attempt; returns the previous override.
  const std::stop_token* set_stop_token(const std::stop_token* t) noexcept {
    const std::stop_token* old = stop_;
    stop_ = t;
    return old;
  }
  /// A uniformly distributed 64-bit number from the run's seeded generator.
  [[nodiscard]] std::uint64_t random() noexcept { return f_.shared->next_random(); }
  /// Records a fact for the report (fallback served, timed out, ...) and tells the observer.
  void mark(step_flag flag) {
    st_.rec.flags[I] |= static_cast<std::uint8_t>(flag);
    if constexpr (observed) {
      if (flag == step_flag::fallback_served) {
        event e = make_event(event_kind::fallback_served);
        e.error = st_.rec.errors.get(I).code();
        emit(e);
      } else if (flag == step_flag::timed_out) {
        emit(make_event(event_kind::timeout, st_.rec.attempts[I]));
      }
    }
  }
  [[nodiscard]] bool marked(step_flag flag) const noexcept {
    return (st_.rec.flags[I] & static_cast<std::uint8_t>(flag)) != 0;
  }
  [[nodiscard]] std::string_view message() const noexcept { return st_.rec.messages.get(I); }
  /// Puts `why` in front of the step's message ("why; earlier message").
  void note(std::string_view why) { st_.rec.messages.prepend(I, why); }
  /// Keeps `ec` as the error shown for this step although it succeeded (a fallback served).
  void keep_error(const std::error_code& ec) noexcept {
    st_.rec.errors.set(I, error_bits::from(ec));
  }

  // ---- events (only when observed; each call compiles to nothing otherwise) ----

  /// Sends `e` to the run's observer, filling in the workflow, run id, step path and time.
  void emit(event e) const {
    if constexpr (observed) {
      e.workflow = f_.obs.workflow;
      e.step = Path.view();
      e.run = f_.id;
      if (e.kind == event_kind::attempt_started || e.kind == event_kind::attempt_succeeded ||
          e.kind == event_kind::attempt_failed || e.kind == event_kind::retry_scheduled ||
          e.kind == event_kind::retries_exhausted)
        e.compensation = compensating_;
      if constexpr (Frame::observer_wants_time) e.time = f_.clock.now();
      f_.obs.get().on_event(e);
    } else {
      (void)e;
    }
  }
  /// The current attempt number of the step (or of its compensation, while compensating).
  [[nodiscard]] std::uint32_t attempt() const noexcept {
    return compensating_ ? st_.rec.comp_attempts.get(I) : st_.rec.attempts[I];
  }
  /// Called by a step after one call of its callable (or compensation): attempt events.
  template <class R>
  void end_attempt(const R& r) {
    if constexpr (Frame::journaled) {
      if (!compensating_)
        f_.obs.get().record_attempt_finished(
            Path.view(), attempt(), r.has_value() ? std::error_code{} : std::error_code(r.error()),
            r.has_value() ? std::string_view{} : st_.rec.messages.get(I));
    }
    if constexpr (observed) {
      event e = make_event(r.has_value() ? event_kind::attempt_succeeded : event_kind::attempt_failed,
                           attempt());
      if (!r.has_value()) {
        e.error = r.error();
        e.message = st_.rec.messages.get(compensating_ ? Frame::state_type::size + I : I);
      }
      if constexpr (Frame::observer_wants_time) {
        const duration now = f_.clock.now();
        e.elapsed = now - started_.attempt;
        e.time = now;
      }
      e.workflow = f_.obs.workflow;
      e.step = Path.view();
      e.run = f_.id;
      e.compensation = compensating_;
      f_.obs.get().on_event(e);
    } else {
      (void)r;
    }
  }
  /// The run's observer (and workflow name), handed to the frames of nested workflows.
  [[nodiscard]] const observer_ref<observer_type>& observer_handle() const noexcept { return f_.obs; }
  [[nodiscard]] run_shared* run_state_shared() const noexcept { return f_.shared; }
  // Saturates at 65535 (the report's counter width) instead of wrapping to 0.
  void begin_attempt() {
    if (TUTTI_LIKELY(st_.rec.attempts[I] != 0xFFFF)) ++st_.rec.attempts[I];
    if constexpr (Frame::journaled) {
      if (!compensating_) f_.obs.get().record_attempt_started(Path.view(), st_.rec.attempts[I]);
    }
    if constexpr (observed) begin_attempt_event();
  }
  void begin_late_compensation() {
    st_.rec.comp_attempts.set(I, 0);
    compensating_ = true;
    if constexpr (Frame::journaled) f_.obs.get().record_compensation_started(Path.view());
    if constexpr (observed) {
      emit(make_event(event_kind::compensation_started));
      if constexpr (Frame::observer_wants_time) started_.compensation = f_.clock.now();
    }
  }
  void end_late_compensation(const result<void>& undone) {
    const bool ok = undone.has_value();
    compensating_ = false;
    mark(ok ? step_flag::late_compensated : step_flag::late_compensation_failed);
    if (ok) f_.shared->compensated_any = true;
    if constexpr (Frame::journaled)
      f_.obs.get().record_compensation_finished(
          Path.view(), ok, ok ? std::error_code{} : std::error_code(undone.error()),
          st_.rec.messages.get(Frame::state_type::size + I));
    if constexpr (observed) {
      event e = make_event(ok ? event_kind::compensation_succeeded : event_kind::compensation_failed,
                           st_.rec.comp_attempts.get(I));
      if (!ok) e.error = undone.error();
      if constexpr (Frame::observer_wants_time) e.elapsed = f_.clock.now() - started_.compensation;
      if (!ok) e.message = st_.rec.messages.get(Frame::state_type::size + I);
      emit(e);
    }
  }
  void begin_compensation_attempt() {
    st_.rec.comp_attempts.set(I, static_cast<std::uint16_t>(st_.rec.comp_attempts.get(I) + 1));
    if constexpr (observed) begin_attempt_event();
  }
  /// Forgets the message of an earlier attempt (a retry calls again): a later failure must not
  /// show an earlier one's message.
  void clear_message() noexcept {
    st_.rec.messages.clear(compensating_ ? Frame::state_type::size + I : I);
  }
  void set_message(bool compensation, std::string_view text) {
    st_.rec.messages.set(compensation ? Frame::state_type::size + I : I, text);
  }
  [[nodiscard]] auto& clock() const noexcept { return f_.clock; }
  [[nodiscard]] const run_id& id() const noexcept { return f_.id; }
  [[nodiscard]] bool timing() const noexcept { return f_.timing; }
  [[nodiscard]] run_shared* shared() const noexcept { return f_.shared; }

 private:
  TUTTI_NOINLINE void begin_attempt_event() {
    if constexpr (Frame::observer_wants_time) started_.attempt = f_.clock.now();
    emit(make_event(event_kind::attempt_started, attempt()));
  }

  Frame& f_;
  // The run's records, reached in one load rather than through the frame: a retry's loop
  // reads them after every opaque call of the step.
  typename Frame::state_type& st_;
  bool compensating_;
  duration attempt_deadline_ = duration::max();
  const std::stop_token* stop_ = nullptr;
  // Start times of the current attempt and compensation: only in runs observed with time.
  struct start_times {
    duration attempt{};
    duration compensation{};
  };
  struct no_start_times {};
  [[no_unique_address]] std::conditional_t<Frame::observer_wants_time, start_times, no_start_times>
      started_;
};

/// How a workflow level undoes its completed steps: one after another, last first (the
/// default). `compensate_in_parallel` gives a level the concurrent way (<tutti/parallel.hpp>).
struct in_reverse_order {
  template <class Engine, class Nodes, class Frame>
  static void compensate(const Nodes& nodes, Frame& f) {
    Engine::compensate_all(nodes, f, std::make_index_sequence<Engine::size>{});
  }
};

/// Runs the nodes of one workflow level in order and compensates on failure.
template <fixed_string Prefix, class Frame>
struct engine_of;
template <fixed_string Prefix, class Up, class In, class Clock, class Obs, class... N>
struct engine_of<Prefix, basic_frame<Up, In, Clock, Obs, N...>> {
  using frame_type = basic_frame<Up, In, Clock, Obs, N...>;
  using nodes_type = std::tuple<N...>;
  static constexpr std::size_t size = sizeof...(N);

  template <std::size_t I>
  static constexpr auto path = concat<Prefix, std::tuple_element_t<I, nodes_type>::name>();

  /// A journaled run that stopped (paused, journal unwritable): nothing more is done or undone.
  static bool halted(frame_type& f) noexcept {
    if constexpr (frame_type::journaled) return f.obs.get().halted();
    else return (void)f, false;
  }

  /// Runs the level; on failure `undo` compensates its completed steps (see in_reverse_order).
  template <class Undo = in_reverse_order>
  TUTTI_ALWAYS_INLINE static bool run(const nodes_type& nodes, frame_type& f, const Undo& undo = {}) {
    const bool ok = run_all(nodes, f, std::index_sequence_for<N...>{});
    if (TUTTI_UNLIKELY(!ok) && !f.shared->committed && !halted(f))
      undo.template compensate<engine_of>(nodes, f);
    return ok;
  }

  template <std::size_t... Is>
  TUTTI_ALWAYS_INLINE static bool run_all(const nodes_type& nodes, frame_type& f,
                                          std::index_sequence<Is...>) {
    return (run_one<Is>(nodes, f) && ...);
  }

  template <std::size_t I>
  TUTTI_ALWAYS_INLINE static bool run_one(const nodes_type& nodes, frame_type& f) {
    if constexpr (frame_type::observed) {
      return run_one_clocked<I>(nodes, f);
    } else {
      // The common case reads no clock. Timing and deadlines go through out-of-line functions
      // of the level (not of the step) around the one inlined call of the step.
      const bool clocked = f.clocked;
      duration t0{};
      if (TUTTI_UNLIKELY(clocked) && !clock_in(f, I, t0)) return false;
      step_call<frame_type, I, path<I>> call{f, false};
      auto r = std::get<I>(nodes).invoke(call);
      if (TUTTI_UNLIKELY(clocked) && clock_out(f, I, t0)) {
        using node_t = std::tuple_element_t<I, nodes_type>;
        if constexpr (node_t::pivot || node_t::contains_compensable) return late_fail<I>(nodes, f, r);
        else return late_plain(f, I, r.has_value());
      }
      if (TUTTI_LIKELY(r.has_value())) return succeed<I>(f, std::move(r).assume_value());
      return fail(f, I, r.error());
    }
  }

  /// Unobserved runs with timing or a deadline, before step i: reads the clock into `t0`;
  /// false (the step failed with a timeout) when the run's deadline has already passed.
  TUTTI_NOINLINE static bool clock_in(frame_type& f, std::size_t i, duration& t0) {
    t0 = f.clock.now();
    if (f.shared->deadline == duration::max() || t0 < f.shared->deadline) return true;
    f.shared->deadline_passed();
    f.st.rec.messages.prepend(i, "the run's deadline passed before this step could start");
    f.st.rec.flags[i] |= static_cast<std::uint8_t>(step_flag::timed_out);
    return fail(f, i, make_error_code(errc::timeout));
  }

  /// Unobserved runs with timing or a deadline, after step i: records its time; true when its
  /// result came after the run's deadline (a timeout).
  TUTTI_NOINLINE static bool clock_out(frame_type& f, std::size_t i, duration t0) {
    const duration t1 = f.clock.now();
    if (f.timing) {
      f.st.rec.starts.set(i, t0);
      f.st.rec.elapsed.set(i, t1 - t0);
    }
    const bool late = f.shared->deadline != duration::max() && t1 > f.shared->deadline;
    if (late) f.shared->deadline_passed();
    return late;
  }

  /// A step without compensation, not the pivot, returned after the run's deadline: a timeout;
  /// a late success stands.
  TUTTI_NOINLINE static bool late_plain(frame_type& f, std::size_t i, bool succeeded) {
    f.st.rec.flags[i] |= static_cast<std::uint8_t>(step_flag::timed_out);
    if (succeeded) {
      f.st.rec.flags[i] |= static_cast<std::uint8_t>(step_flag::late_success_kept);
      f.st.rec.messages.prepend(i, "the run's deadline passed while this step ran");
    }
    return fail(f, i, make_error_code(errc::timeout));
  }

  /// Step I (the pivot, or with a compensation) returned `r` after the run's deadline.
  template <std::size_t I, class R>
  TUTTI_NOINLINE static bool late_fail(const nodes_type& nodes, frame_type& f, R& r) {
    step_call<frame_type, I, path<I>> call{f, false};
    late<I>(nodes, f, r, call);
    return fail(f, I, make_error_code(errc::timeout));
  }

  /// Step I returned `r` after the run's deadline: a timeout. A late success is undone (or kept:
  /// a pivot commits the saga, a step without compensation stands).
  template <std::size_t I, class R, class Call>
  static void late(const nodes_type& nodes, frame_type& f, R& r, Call& call) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    call.mark(step_flag::timed_out);
    if (!r.has_value()) return;
    late_success<I>(f, call);
    if constexpr (node_t::contains_compensable) {
      call.begin_late_compensation();
      const result<void> undone = std::get<I>(nodes).compensate(r.assume_value(), call);
      late_undone(f, call, undone);
    }
    call.note("the run's deadline passed while this step ran");
  }

  template <std::size_t I>
  TUTTI_NOINLINE static bool run_one_clocked(const nodes_type& nodes, frame_type& f) {
    step_call<frame_type, I, path<I>> call{f, false};
    duration t0{};
    if (const int r = before<I>(f, call, t0); r >= 0) return r == 1;
    auto r = std::get<I>(nodes).invoke(call);
    const duration t1 = after_call(f, I, t0);
    // A result after the run's deadline is a timeout; a late success is undone.
    if (TUTTI_UNLIKELY(past_deadline(f, t1))) {
      late<I>(nodes, f, r, call);
      return fail<I>(f, make_error_code(errc::timeout), call, t0);
    }
    return settle<I>(f, call, r, t0, t1);
  }

  // ---- the parts of one step's run that the sync and async engines share ----

  /// Observed, journaled or clocked runs, before step I: -1 to call it, else the step's outcome
  /// (1 restored or recorded as done, 0 the run stops); `t0` gets the start time.
  template <std::size_t I, class Call>
  static int before(frame_type& f, Call& call, duration& t0) {
    if constexpr (frame_type::journaled) {
      const int r = journal_before_step<I>(f, call);
      if (r >= 0) return r;
    }
    const bool read_clock = f.clocked || frame_type::observer_wants_time;
    t0 = read_clock ? f.clock.now() : duration{};
    if constexpr (frame_type::observed) call.emit(make_event(event_kind::step_started));
    if (f.shared->deadline != duration::max() && t0 >= f.shared->deadline) {
      f.shared->deadline_passed();
      call.note("the run's deadline passed before this step could start");
      call.mark(step_flag::timed_out);
      return fail<I>(f, make_error_code(errc::timeout), call, t0) ? 1 : 0;
    }
    return -1;
  }
  /// After step i's call: its end time (when the clock is read) and its timing records.
  static duration after_call(frame_type& f, std::size_t i, duration t0) {
    const bool read_clock = f.clocked || frame_type::observer_wants_time;
    const duration t1 = read_clock ? f.clock.now() : duration{};
    if (f.timing) {
      f.st.rec.starts.set(i, t0);
      f.st.rec.elapsed.set(i, t1 - t0);
    }
    return t1;
  }
  /// Whether a result at `t1` came after the run's deadline (and if so, the run missed it).
  static bool past_deadline(const frame_type& f, duration t1) noexcept {
    const bool late = f.shared->deadline != duration::max() && t1 > f.shared->deadline;
    if (late) f.shared->deadline_passed();
    return late;
  }
  /// Step I returned `r` in time: records its value or its failure, with events.
  template <std::size_t I, class Call, class R>
  static bool settle(frame_type& f, Call& call, R& r, duration t0, duration t1) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    if (r.has_value()) {
      if constexpr (frame_type::observed) {
        event e = make_event(event_kind::step_succeeded, f.st.rec.attempts[I]);
        if constexpr (requires { node_t::skipped(r.value()); }) {
          if (node_t::skipped(r.value())) e.kind = event_kind::step_skipped;
        }
        e.elapsed = t1 - t0;
        call.emit(e);
      } else {
        (void)t1;
      }
      return succeed<I>(f, std::move(r).assume_value());
    }
    return fail<I>(f, r.error(), call, t0);
  }
  /// Step I's late success is about to be undone (its compensation follows): the run's records.
  template <std::size_t I, class Call>
  static void late_success(frame_type& f, Call& call) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    if constexpr (node_t::pivot) f.shared->committed = true;
    if constexpr (!node_t::contains_compensable) call.mark(step_flag::late_success_kept);
  }
  /// How the undoing of a late success ended.
  template <class Call>
  static void late_undone(frame_type& f, Call& call, const result<void>& undone) {
    call.end_late_compensation(undone);
    if (!undone.has_value()) f.shared->compensation_failed = true;
  }

  /// fail() with a step_failed event.
  template <std::size_t I, class Call>
  static bool fail(frame_type& f, const std::error_code& ec, Call& call, duration t0) {
    const bool ok = fail<I>(f, ec);
    if constexpr (frame_type::journaled) {
      if (!f.obs.get().halted())
        f.obs.get().record_step_failed(path<I>.view(), f.st.rec.attempts[I],
                                       f.st.rec.errors.get(I).code(), f.st.rec.messages.get(I));
    }
    if constexpr (frame_type::observed) {
      event e = make_event(event_kind::step_failed, f.st.rec.attempts[I]);
      e.error = f.st.rec.errors.get(I).code();
      e.message = f.st.rec.messages.get(I);
      if constexpr (frame_type::observer_wants_time) e.elapsed = f.clock.now() - t0;
      call.emit(e);
    } else {
      (void)call, (void)t0;
    }
    return ok;
  }

  template <std::size_t I, class V>
  TUTTI_ALWAYS_INLINE static bool succeed(frame_type& f, V&& value) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    slot<I>(f.st.slots).emplace(std::forward<V>(value));
    f.st.rec.status[I] = step_status::succeeded;
    if constexpr (requires { node_t::skipped(*slot<I>(f.st.slots)); }) {
      if (node_t::skipped(*slot<I>(f.st.slots))) f.st.rec.status[I] = step_status::skipped;
    }
    if constexpr (node_t::pivot) f.shared->committed = true;
    if constexpr (frame_type::journaled) {
      // Write-ahead: the output is in the journal before the next step starts.
      // A group or a choice records which branches it kept / which case it ran, so that a
      // resume keeps the same ones; a nested workflow records nothing of its own.
      if constexpr (requires { node_t::journal_mark(*slot<I>(f.st.slots)); })
        f.obs.get().record_step_succeeded(path<I>.view(), f.st.rec.attempts[I],
                                          node_t::journal_mark(*slot<I>(f.st.slots)));
      else if constexpr (is_workflow_node<node_t>()) f.obs.get().record_step_succeeded(path<I>.view(), f.st.rec.attempts[I]);
      else f.obs.get().record_step_succeeded(path<I>.view(), f.st.rec.attempts[I], *slot<I>(f.st.slots));
    }
    return true;
  }

  /// Journaled runs, before step I: -1 to call it; 1 when it was restored from the journal
  /// (a resume); 0 when the run stops here (paused, the journal is unwritable, or the step's
  /// failure was already recorded before a crash).
  template <std::size_t I, class Call>
  TUTTI_NOINLINE static int journal_before_step(frame_type& f, Call& call) {
    using node_t = std::tuple_element_t<I, nodes_type>;
    auto& hooks = f.obs.get();
    if (const auto* past = hooks.replayed(path<I>.view())) {
      f.st.rec.attempts[I] = static_cast<std::uint16_t>(past->attempts > 0xFFFF ? 0xFFFF : past->attempts);
      if (past->succeeded) {
        if constexpr (!is_workflow_node<node_t>()) {
          using V = std::remove_cvref_t<decltype(*slot<I>(f.st.slots))>;
          auto value = hooks.template restore<V>(*past);
          if (!value) {
            call.note("the step's output in the journal could not be read back");
            return fail<I>(f, value.error()) ? 1 : 0;
          }
          slot<I>(f.st.slots).emplace(std::move(value).assume_value());
          f.st.rec.status[I] = step_status::succeeded;
          if constexpr (requires { node_t::skipped(*slot<I>(f.st.slots)); }) {
            if (node_t::skipped(*slot<I>(f.st.slots))) f.st.rec.status[I] = step_status::skipped;
          }
          f.st.rec.flags[I] |= static_cast<std::uint8_t>(step_flag::restored);
          if constexpr (node_t::pivot) f.shared->committed = true;
          return 1;
        }
        // A nested workflow is entered again: its own steps are restored one by one.
      } else if (past->failed) {
        // The run had failed here before it stopped: the failure stands, go on compensating.
        if (!past->message.empty()) call.set_message(false, past->message);
        f.st.rec.flags[I] |= static_cast<std::uint8_t>(step_flag::restored);
        return fail<I>(f, past->error) ? 1 : 0;
      }
    }
    if (hooks.broken() || hooks.paused()) {
      hooks.halt();
      f.st.failed = I;
      f.st.rec.errors.set(I, error_bits::from(make_error_code(hooks.broken() ? errc::journal_failed : errc::paused)));
      return 0;
    }
    return -1;
  }

  /// Records how the compensation of step j ended.
  TUTTI_ALWAYS_INLINE static void record_undo(frame_type& f, std::size_t j, const result<void>& r) noexcept {
    if (r.has_value()) {
      f.st.rec.status[j] = step_status::compensated;
      f.shared->compensated_any = true;
    } else {
      f.st.rec.status[j] = step_status::compensation_failed;
      f.st.rec.comp_errors.set(j, error_bits::from(r.error()));
      f.shared->compensation_failed = true;
    }
  }

  template <std::size_t I>
  static bool fail(frame_type& f, const std::error_code& ec) noexcept {
    return fail(f, I, ec);
  }
  static bool fail(frame_type& f, std::size_t i, const std::error_code& ec) noexcept {
    f.st.rec.status[i] = step_status::failed;
    // A failure must never read as success, even if a callable returned an empty error code.
    f.st.rec.errors.set(i, error_bits::from(ec ? ec : make_error_code(errc::step_failed)));
    f.st.failed = i;
    return false;
  }

  /// Undoes completed steps before `f.st.failed` (or all, when failed == size) in reverse.
  template <std::size_t... Is>
  static void compensate_all(const nodes_type& nodes, frame_type& f, std::index_sequence<Is...>) {
    // With stop_on_failure, a compensation that already failed in this run (a failing group or
    // nested workflow undoing its own part, a late success's undo) stops the undoing here too.
    bool stop = f.shared->mode == compensation_policy::stop_on_failure && f.shared->compensation_failed;
    (compensate_one<size - 1 - Is>(nodes, f, stop), ...);
  }

  template <std::size_t J>
  static void compensate_one(const nodes_type& nodes, frame_type& f, bool& stop) {
    using node_t = std::tuple_element_t<J, nodes_type>;
    if constexpr (node_t::contains_compensable) {
      if (stop || !needs_undo<J>(f)) return;
      if (!undo_one<J>(nodes, f) && f.shared->mode == compensation_policy::stop_on_failure)
        stop = true;
    } else {
      (void)nodes, (void)f, (void)stop;
    }
  }

  /// Whether step J is to be undone: it has a compensation, it completed before the failure,
  /// its value was not served by a fallback, and (a group, a choice) its completed part has a
  /// compensation.
  template <std::size_t J>
  static bool needs_undo(const frame_type& f) noexcept {
    using node_t = std::tuple_element_t<J, nodes_type>;
    if constexpr (node_t::contains_compensable) {
      if (J >= f.st.failed || f.st.rec.status[J] != step_status::succeeded) return false;
      // A value served by a fallback was not produced by the step's service: nothing to undo.
      if (f.st.rec.flags[J] & static_cast<std::uint8_t>(step_flag::fallback_served)) return false;
      // A group or a choice whose completed part has no compensation: nothing to undo either.
      if constexpr (requires { node_t::undoable(*slot<J>(f.st.slots)); }) {
        if (!node_t::undoable(*slot<J>(f.st.slots))) return false;
      }
      return true;
    } else {
      (void)f;
      return false;
    }
  }

  /// Undoes step J (needs_undo<J> holds): its journal records, events and report line. False
  /// when its compensation failed. Touches only step J's records and `f.shared`, so that
  /// independent steps can be undone at once, each with a frame and shared state of its own.
  template <std::size_t J>
  static bool undo_one(const nodes_type& nodes, frame_type& f) {
    step_call<frame_type, J, path<J>> call{f, true};
    duration t0{};
    if (const int done = begin_undo<J>(f, call, t0); done >= 0) return done == 1;
    result<void> r = std::get<J>(nodes).compensate(*slot<J>(f.st.slots), call);
    return end_undo<J>(f, call, r, t0);
  }

  /// Before step J's compensation: -1 to call it; 1 when there is nothing to call (undone
  /// before the run stopped, or left for a resume). `t0`: the start time, when observed.
  template <std::size_t J, class Call>
  static int begin_undo(frame_type& f, Call& call, duration& t0) {
    f.st.rec.comp_attempts.set(J, 0);
    if constexpr (frame_type::journaled) {
      auto& hooks = f.obs.get();
      if (const auto* past = hooks.replayed(path<J>.view()); past != nullptr && past->compensated) {
        f.st.rec.status[J] = step_status::compensated;  // undone before the run stopped
        f.st.rec.comp_attempts.set(J, static_cast<std::uint16_t>(past->compensation_attempts));
        f.shared->compensated_any = true;
        return 1;
      }
      if (hooks.broken()) {  // cannot be recorded: leave it for a resume
        hooks.halt();
        return 1;
      }
      hooks.record_compensation_started(path<J>.view());
    }
    if constexpr (frame_type::observed) {
      if constexpr (frame_type::observer_wants_time) t0 = f.clock.now();
      call.emit(make_event(event_kind::compensation_started));
    } else {
      (void)call, (void)t0;
    }
    return -1;
  }
  /// After step J's compensation returned `r`: its records, journal and events; false when it
  /// failed.
  template <std::size_t J, class Call>
  static bool end_undo(frame_type& f, Call& call, const result<void>& r, duration t0) {
    record_undo(f, J, r);
    if constexpr (frame_type::journaled)
      f.obs.get().record_compensation_finished(
          path<J>.view(), r.has_value(), r.has_value() ? std::error_code{} : std::error_code(r.error()),
          f.st.rec.messages.get(size + J));
    if constexpr (frame_type::observed) {
      event e = make_event(r.has_value() ? event_kind::compensation_succeeded
                                         : event_kind::compensation_failed,
                           f.st.rec.comp_attempts.get(J));
      if (!r.has_value()) {
        e.error = r.error();
        e.message = f.st.rec.messages.get(size + J);
      }
      if constexpr (frame_type::observer_wants_time) e.elapsed = f.clock.now() - t0;
      call.emit(e);
    } else {
      (void)call, (void)t0;
    }
    return r.has_value();
  }
};

template <fixed_string Prefix, class In, class Clock, class Obs, class... N>
using engine = engine_of<Prefix, frame<In, Clock, Obs, N...>>;

// ---- saga rules, checked when a workflow type is formed -------------------------------------

template <class... N>
constexpr bool unique_names() noexcept {
  constexpr std::array<std::string_view, sizeof...(N)> names{N::name.view()...};
  for (std::size_t i = 0; i < names.size(); ++i)
    for (std::size_t j = i + 1; j < names.size(); ++j)
      if (names[i] == names[j]) return false;
  return true;
}
template <class... N>
constexpr std::size_t pivot_count() noexcept {
  return (std::size_t{N::pivot ? 1u : 0u} + ... + 0u);
}
template <class... N>
constexpr std::size_t pivot_index() noexcept {
  constexpr std::array<bool, sizeof...(N)> pivots{N::pivot...};
  for (std::size_t i = 0; i < pivots.size(); ++i)
    if (pivots[i]) return i;
  return npos;
}
template <class... N>
constexpr bool nothing_compensable_after_pivot() noexcept {
  constexpr std::array<bool, sizeof...(N)> comp{N::contains_compensable...};
  constexpr std::size_t p = pivot_index<N...>();
  if (p == npos) return true;
  for (std::size_t i = p + 1; i < comp.size(); ++i)
    if (comp[i]) return false;
  return true;
}
template <class... N>
constexpr bool retriable_after_pivot() noexcept {
  if (pivot_count<N...>() > 1) return true;  // reported by the one-pivot rule alone
  constexpr std::array<bool, sizeof...(N)> retr{N::retriable...};
  constexpr std::size_t p = pivot_index<N...>();
  if (p == npos) return true;
  for (std::size_t i = p + 1; i < retr.size(); ++i)
    if (!retr[i]) return false;
  return true;
}

/// Thrown (or, for a workflow built in a constant expression, a compile error naming it) when a
/// step after the pivot relies on a retry that never calls again (`max_attempts{1}`).
[[noreturn]] inline void tutti_invalid_setting_a_step_after_the_pivot_is_never_retried() {
  throw std::invalid_argument(
      "tutti: a step after the pivot must be retriable, and a retry with max_attempts{1} never "
      "calls again. Give it max_attempts of 2 or more, or use tutti::retry_forever{}.");
}
/// The saga rule on the values the types cannot see: every node after the pivot is retried
/// for real (its retries' max_attempts, from configuration or constants, are above 1).
template <class... N>
constexpr void check_retried_after_pivot(const std::tuple<N...>& nodes) {
  constexpr std::size_t p = pivot_index<N...>();
  if constexpr (p != npos && pivot_count<N...>() == 1) {
    [&nodes]<std::size_t... I>(std::index_sequence<I...>) {
      ((I > p && !retried(std::get<I>(nodes))
            ? tutti_invalid_setting_a_step_after_the_pivot_is_never_retried()
            : void()),
       ...);
    }(std::index_sequence_for<N...>{});
  } else {
    (void)nodes;
  }
}

/// Whether node N is, or wraps (in policies or a condition), an optional_branch(...): a mark
/// that only a parallel group reads, and only on its branches themselves.
template <class N>
constexpr bool holds_optional_branch() noexcept {
  if constexpr (requires { N::optional_branch; }) {
    if constexpr (N::optional_branch) return true;
  }
  if constexpr (requires { typename N::inner_type; })
    return holds_optional_branch<typename N::inner_type>();
  else
    return false;
}

template <class... N>
struct last_node {
  using type = std::tuple_element_t<sizeof...(N) - 1, std::tuple<N...>>;
};
}  // namespace detail

template <fixed_string Name, class In, class... N>
class run_result;

namespace detail {
/// The async layer's way into a workflow and its run result: defined by <tutti/async.hpp>.
template <class Workflow, class In>
struct async_run_access;
template <class Workflow, class In>
concept async_layer_included = requires { async_run_access<Workflow, In>::available; };
}  // namespace detail

/// A workflow whose steps' compensations run concurrently on an executor: see
/// basic_workflow::compensate_in_parallel; defined in <tutti/parallel.hpp>.
template <class Workflow, class Exec>
class parallel_compensated;

/**
 * A workflow: steps run in order; the output of each is kept and reachable by name. Built with
 * `tutti::workflow<"name">(steps...)` or named as a type with `tutti::workflow_of<...>`.
 * A workflow is itself a step and can be nested in another (its steps' idempotency keys are then
 * prefixed: "outer_step/inner_step"). `run()` is const and thread-safe when the callables are.
 */
template <fixed_string Name, class... N>
class basic_workflow {
  static_assert(sizeof...(N) > 0, "tutti: a workflow needs at least one step.");
  static_assert(detail::valid_name<Name>(),
                "tutti: a workflow name must be non-empty and must not contain '/', '\"' or a "
                "newline.");
  static_assert(detail::unique_names<N...>(),
                "tutti: two steps of this workflow have the same name. Step names identify "
                "outputs, report lines and idempotency keys: give each step its own name.");
  static_assert(detail::pivot_count<N...>() <= 1,
                "tutti: a workflow has at most one pivot (the single go/no-go point of the saga). "
                "Make the other steps compensable steps before it or retriable steps after it.");
  static_assert(detail::nothing_compensable_after_pivot<N...>(),
                "tutti: a compensable step after the pivot. Once the pivot succeeds the saga is "
                "committed and nothing is undone: move the step before the pivot or drop its "
                "compensation (and give it a retry).");
  static_assert(!(detail::holds_optional_branch<N>() || ...),
                "tutti: optional_branch(step) as a step of a workflow: it marks a branch of a "
                "parallel group (whose failure does not fail the group), and a workflow's steps "
                "run in sequence, each required. For a step whose failure the run survives, make "
                "it a group of one optional branch: tutti::parallel<\"name\">(tutti::"
                "optional_branch(step)) (its output is std::tuple<std::optional<T>>), or give it "
                "a fallback: step | tutti::fallback(value).");
  static_assert(detail::retriable_after_pivot<N...>(),
                "tutti: a step after the pivot must be retriable: it has to succeed eventually "
                "because nothing can be undone any more. Add a retry policy: step | "
                "tutti::retry{...} or | tutti::retry_forever{}.");

 public:
  static constexpr auto name = Name;
  static constexpr bool is_node = true;
  static constexpr bool contains_compensable = (N::contains_compensable || ...);
  static constexpr bool compensable = contains_compensable;
  static constexpr bool pivot = (N::pivot || ...);
  /// After an outer pivot, a nested workflow succeeds eventually when each of its steps does.
  static constexpr bool retriable = (N::retriable && ...);
  static constexpr std::size_t size = sizeof...(N);
  /// Names of the steps, in order.
  static constexpr std::array<std::string_view, size> step_names{N::name.view()...};

  template <class In>
  using state_type = detail::run_state<In, N...>;
  template <class In>
  using value_type =
      typename detail::last_node<N...>::type::template value_type<In>;
  using nodes_type = std::tuple<N...>;

  /// Both constructors check that every step after the pivot is retried for real: a retry
  /// with `max_attempts{1}` is a compile error in a constant expression (a `constexpr`
  /// workflow), else `std::invalid_argument` (attempts from configuration).
  constexpr basic_workflow()
    requires(std::is_default_constructible_v<N> && ...)
      : nodes_() {
    detail::check_retried_after_pivot(nodes_);
  }
  constexpr explicit basic_workflow(N... nodes) : nodes_(std::move(nodes)...) {
    detail::check_retried_after_pivot(nodes_);
  }
  /// Whether every step is retried for real (see detail::retried), for a nested workflow.
  [[nodiscard]] constexpr bool retried() const noexcept {
    return std::apply([](const auto&... n) { return (detail::retried(n) && ...); }, nodes_);
  }

  /**
   * Runs the workflow on `input`. Returns the last step's value or a failure, with the report.
   * Never throws what a step or a compensation throws (those are captured). Policy hooks
   * (retry predicates and events, fallback predicates) and the copy of step values must not
   * throw: an exception from them propagates. `clock` is read only when `opts.timing` is set and by
   * policies that wait.
   */
  template <class In, tutti::clock C = steady_clock>
  [[nodiscard]] TUTTI_ALWAYS_INLINE run_result<Name, In, N...> run(const In& input,
                                                                   const run_options& opts = {},
                                               C& clock = detail::default_clock()) const {
    null_observer none;
    return run(input, opts, clock, none);
  }
  /**
   * Runs the workflow with an observer: `observer.on_event(const tutti::event&)` is called for
   * every event of the run (see `<tutti/events.hpp>`), on the thread running the step.
   * Several observers: `tutti::observe_all(a, b)`.
   */
  template <class In, tutti::clock C, observer O>
  [[nodiscard]] TUTTI_ALWAYS_INLINE run_result<Name, In, N...> run(const In& input,
                                                                   const run_options& opts,
                                                                   C& clock, O& obs) const {
    return run_with(input, opts, clock, obs, detail::in_reverse_order{});
  }
  /// Runs the workflow with an observer, on the default (steady) clock.
  template <class In, observer O>
    requires(!tutti::clock<O>)
  [[nodiscard]] auto run(const In& input, const run_options& opts, O& obs) const {
    return run(input, opts, detail::default_clock(), obs);
  }
  /// Runs a workflow whose steps take no input.
  [[nodiscard]] auto run(const run_options& opts = {}) const { return run(unit{}, opts); }
  /// Runs a workflow whose steps take no input, on the given clock.
  template <tutti::clock C>
  [[nodiscard]] auto run(const run_options& opts, C& clock) const {
    return run(unit{}, opts, clock);
  }

  /**
   * Runs the workflow as a coroutine on the caller's executor: `auto run = co_await
   * wf.async_run(input, opts, clock, observer);` (all but the input optional, as for run()).
   * Coroutine steps are awaited, synchronous ones called in place; policies wait on timers, and
   * the run's stop or an Asio cancellation of the awaiting coroutine cancels the pending
   * operation. The input and options are copied into the run; the clock and observer must
   * outlive it. Needs `#include <tutti/async.hpp>` (and Asio); see docs/async.md.
   */
  template <class In, class... A>
  [[nodiscard]] auto async_run(In input, const run_options& opts = {}, A&... more) const {
    if constexpr (detail::async_layer_included<basic_workflow, In>) {
      return detail::async_run_access<basic_workflow, In>::run(*this, std::move(input), opts, more...);
    } else {
      static_assert(detail::async_layer_included<basic_workflow, In>,
                    "tutti: async_run() needs the async layer: #include <tutti/async.hpp> (it "
                    "needs Asio: the tutti::async CMake target), or run the workflow with run().");
    }
  }
  /// Runs a workflow whose steps take no input as a coroutine.
  template <class... A>
  [[nodiscard]] auto async_run(const run_options& opts, A&... more) const {
    return async_run(unit{}, opts, more...);
  }
  /// Runs a workflow whose steps take no input as a coroutine, with default options.
  [[nodiscard]] auto async_run() const { return async_run(unit{}); }

  // ---- as a step of an enclosing workflow ----

  template <class Call>
  result<state_type<typename Call::input_type>> invoke(Call& call) const {
    return invoke_with(call, detail::in_reverse_order{});
  }
  template <class Call, class In>
  result<void> compensate(detail::run_state<In, N...>& st, Call& call) const {
    return compensate_with_undo(st, call, detail::in_reverse_order{});
  }

  template <class In>
  static constexpr const auto& value(const detail::run_state<In, N...>& s) noexcept {
    using last = typename detail::last_node<N...>::type;
    return last::value(*detail::slot<size - 1>(s.slots));
  }

  [[nodiscard]] constexpr const nodes_type& steps() const noexcept { return nodes_; }

  /**
   * This workflow with its steps declared independent for compensation: when it is undone (a
   * step of it failed, or a later step of an enclosing workflow did), the compensations of its
   * completed steps are all started at once on `exec` and waited for, instead of one after
   * another, last first. Opt-in; needs <tutti/parallel.hpp>. See docs/sagas.md.
   */
  template <class E>
  [[nodiscard]] constexpr parallel_compensated<basic_workflow, E> compensate_in_parallel(
      E& exec) const {
    return parallel_compensated<basic_workflow, E>(*this, exec);
  }

 protected:
  // The engine under run(), invoke() and compensate(), with the way this level undoes its
  // steps: `undo` is detail::in_reverse_order, or concurrent (parallel_compensated).
  template <class In, tutti::clock C, observer O, class Undo>
  [[nodiscard]] TUTTI_ALWAYS_INLINE run_result<Name, In, N...> run_with(const In& input,
                                                                        const run_options& opts,
                                                                        C& clock, O& obs,
                                                                        const Undo& undo) const {
    run_result<Name, In, N...> out;
    detail::run_shared shared;
    start_run(out, shared, opts, clock, obs);
    detail::frame<In, C, O, N...> f{input,       out.st_, clock, out.id_,
                                    opts.timing, &shared, detail::observer_ref<O>(obs, Name.view())};
    const bool ok = detail::engine<fixed_string{""}, In, C, O, N...>::run(nodes_, f, undo);
    finish_run(ok, out, shared, opts, clock, obs);
    return out;
  }

  // The beginning and the end of a run, shared by run() and async_run().
  template <class In, class C, class O>
  TUTTI_ALWAYS_INLINE static void start_run(run_result<Name, In, N...>& out, detail::run_shared& shared,
                        const run_options& opts, C& clock, O& obs) {
    out.id_ = opts.id.empty() ? run_id::generate() : opts.id;
    out.timing_ = opts.timing;
    shared.mode = opts.on_compensation_failure;
    shared.options = &opts;
    shared.stop = &opts.stop;
    shared.id = &out.id_;
    constexpr bool observed = detail::observer_enabled<O>();
    constexpr bool wants_time = observed && detail::observer_wants_time<O>();
    if (wants_time || opts.timing || opts.deadline != duration::max()) {
      out.started_ = clock.now();
      if (opts.deadline != duration::max())
        shared.deadline = shared.run_deadline = saturating_add(out.started_, opts.deadline);
    }
    if constexpr (observed) {
      event e = make_event(event_kind::run_started);
      e.workflow = Name.view();
      e.run = out.id_;
      e.time = out.started_;
      obs.on_event(e);
    }
  }
  template <class In, class C, class O>
  TUTTI_ALWAYS_INLINE static void finish_run(bool ok, run_result<Name, In, N...>& out, const detail::run_shared& shared,
                         const run_options& opts, C& clock, O& obs) {
    constexpr bool observed = detail::observer_enabled<O>();
    constexpr bool wants_time = observed && detail::observer_wants_time<O>();
    if (opts.timing || wants_time) out.elapsed_ = clock.now() - out.started_;
    out.outcome_ = ok                           ? run_outcome::succeeded
                   : shared.compensation_failed ? run_outcome::compensation_failed
                   : shared.compensated_any     ? run_outcome::compensated
                                                : run_outcome::failed;
    if constexpr (detail::journaled<O>()) {
      if (!obs.halted())
        obs.record_run_finished(static_cast<std::uint8_t>(out.outcome_), out.failed_step(),
                                out.error(), out.message());
    }
    if constexpr (observed) {
      event e = make_event(event_kind::run_finished);
      e.outcome = out.outcome_;
      e.workflow = Name.view();
      e.run = out.id_;
      if (!ok) {
        e.step = step_names[out.st_.failed];
        e.error = out.st_.rec.errors.get(out.st_.failed).code();
        e.message = out.st_.rec.messages.get(out.st_.failed);
        e.deadline_missed = shared.deadline_missed && e.error == errc::timeout;
      }
      if constexpr (detail::journaled<O>()) e.journal_failed = obs.broken() && !obs.fenced();
      if constexpr (wants_time) {
        e.time = out.started_ + out.elapsed_;
        e.elapsed = out.elapsed_;
      }
      obs.on_event(e);
    }
  }
  template <class Call, class Undo>
  result<state_type<typename Call::input_type>> invoke_with(Call& call, const Undo& undo) const {
    using In = typename Call::input_type;
    using C = std::remove_reference_t<decltype(call.clock())>;
    call.begin_attempt();
    using O = typename Call::observer_type;
    state_type<In> st;
    detail::frame<In, C, O, N...> f{call.input(), st,           call.clock(),
                                    call.id(),    call.timing(), call.shared(),
                                    call.observer_handle()};
    constexpr auto prefix = detail::concat<Call::path, fixed_string{"/"}>();
    if (TUTTI_LIKELY((detail::engine<prefix, In, C, O, N...>::run(nodes_, f, undo)))) {
      if constexpr (detail::observed<Call>()) {
        result<state_type<In>> r{std::move(st)};
        call.end_attempt(r);
        return r;
      } else {
        return st;
      }
    }
    const std::size_t i = st.failed;
    const std::error_code ec = st.rec.errors.get(i).code();
    std::string text{step_names[i]};
    const std::string_view inner = st.rec.messages.get(i);
    text += ": ";
    text += inner.empty() ? ec.message() : std::string{inner};
    call.set_message(false, text);
    if constexpr (detail::observed<Call>()) call.end_attempt(result<void>{ec});
    return ec;
  }

  template <class Call, class In, class Undo>
  result<void> compensate_with_undo(detail::run_state<In, N...>& st, Call& call,
                                    const Undo& undo) const {
    using C = std::remove_reference_t<decltype(call.clock())>;
    using O = typename Call::observer_type;
    return detail::compensate_sublevels(call, [&] {
      detail::frame<In, C, O, N...> f{call.input(), st,           call.clock(),
                                      call.id(),    call.timing(), call.shared(),
                                      call.observer_handle()};
      constexpr auto prefix = detail::concat<Call::path, fixed_string{"/"}>();
      undo.template compensate<detail::engine<prefix, In, C, O, N...>>(nodes_, f);
    });
  }

 private:
  template <class W, class In>
  friend struct detail::async_run_access;
  [[no_unique_address]] nodes_type nodes_;
};

/**
 * The result of a run: the value of the last step or a failure, and the report.
 * Move-only. `report()` is a view valid while this object lives and is not moved from.
 */
template <fixed_string Name, class In, class... N>
class run_result {
  using state = detail::run_state<In, N...>;
  using last = typename detail::last_node<N...>::type;

 public:
  using value_type = typename last::template value_type<In>;
  static constexpr std::size_t size = sizeof...(N);

  run_result(run_result&&) noexcept = default;
  run_result& operator=(run_result&&) noexcept = default;
  run_result(const run_result&) = delete;
  run_result& operator=(const run_result&) = delete;
  ~run_result() = default;

  [[nodiscard]] bool has_value() const noexcept { return outcome_ == run_outcome::succeeded; }
  [[nodiscard]] explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] run_outcome outcome() const noexcept { return outcome_; }
  [[nodiscard]] const run_id& id() const noexcept { return id_; }

  /// The last step's value. Throws bad_run_access if the run failed.
  [[nodiscard]] const value_type& value() const& {
    if (!has_value()) throw bad_run_access("tutti: value() of a failed run");
    return last::value(*detail::slot<size - 1>(st_.slots));
  }
  /// On a temporary run result: the value itself (a reference would dangle).
  [[nodiscard]] value_type value() && {
    if (!has_value()) throw bad_run_access("tutti: value() of a failed run");
    return std::move(const_cast<value_type&>(last::value(*detail::slot<size - 1>(st_.slots))));
  }
  /// The output of step `Step` (any step that succeeded, even if the run failed later).
  template <fixed_string Step>
  [[nodiscard]] const auto& get() const& {
    const auto* p = find<Step>();
    if (p == nullptr) throw bad_run_access("tutti: get() of a step that produced no output");
    return *p;
  }
  /// On a temporary run result: a copy of the output (a reference would dangle).
  template <fixed_string Step>
  [[nodiscard]] auto get() const&& {
    const auto* p = find<Step>();
    if (p == nullptr) throw bad_run_access("tutti: get() of a step that produced no output");
    return std::remove_cvref_t<decltype(*p)>(*p);
  }
  /// Like get(), but nullptr when the step produced nothing.
  template <fixed_string Step>
  const auto* find() const&& = delete;  // the pointer would dangle: keep the run result
  template <fixed_string Step>
  [[nodiscard]] const auto* find() const& noexcept {
    constexpr std::size_t j = index<Step>();
    static_assert(j != detail::npos, "tutti: get<\"name\">()/find<\"name\">(): no step of this "
                                     "workflow has that name.");
    using node_t = std::tuple_element_t<j, std::tuple<N...>>;
    const auto& slot = detail::slot<j>(st_.slots);
    using V = std::remove_cvref_t<decltype(node_t::value(*slot))>;
    return slot.has_value() ? &node_t::value(*slot) : static_cast<const V*>(nullptr);
  }

  /// The error that ended the run (that of the failed step); empty when it succeeded.
  [[nodiscard]] std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : st_.rec.errors.get(st_.failed).code();
  }
  /// Name of the step whose failure ended the run; empty when it succeeded.
  [[nodiscard]] std::string_view failed_step() const noexcept {
    return has_value() ? std::string_view{} : names_[st_.failed];
  }
  /// The failed step's message (an exception's what(), a nested step's account); may be empty.
  [[nodiscard]] std::string_view message() const noexcept {
    return has_value() ? std::string_view{} : st_.rec.messages.get(st_.failed);
  }

  /// The report views this object: calling it on a temporary would dangle, so it is deleted.
  run_report report() const&& = delete;
  [[nodiscard]] run_report report() const& noexcept {
    return run_report{Name.view(), id_,       outcome_, has_value() ? size : st_.failed,
                      timing_,     started_, elapsed_, names_,  st_.rec};
  }

 private:
  template <fixed_string, class...>
  friend class basic_workflow;
  template <class W, class I>
  friend struct detail::async_run_access;
  run_result() = default;

  template <fixed_string Step>
  static constexpr std::size_t index() noexcept {
    for (std::size_t i = 0; i < size; ++i)
      if (names_[i] == Step.view()) return i;
    return detail::npos;
  }

  static constexpr std::array<std::string_view, size> names_{N::name.view()...};
  state st_{};
  run_id id_{};
  run_outcome outcome_ = run_outcome::succeeded;
  bool timing_ = false;
  duration started_{};
  duration elapsed_{};
};

namespace detail {
/// A nested workflow: its own steps were checked when it was built; its output is its last
/// node's.
template <fixed_string Name, class... M>
struct flow_traits<basic_workflow<Name, M...>> {
  static constexpr bool output_known = flow_traits<typename last_node<M...>::type>::output_known;
  template <class Scope>
  static constexpr flow_tag<flow_ok> check() noexcept {
    return {};
  }
};

/// basic_workflow<Name, N...> once its data flow is checked (for workflow_of).
template <fixed_string Name, class... N>
struct checked_workflow {
  using problem = flow_problem_t<N...>;
  // A report's instantiation fails with its message, naming the step.
  static_assert(std::is_same_v<problem, flow_ok> || sizeof(problem) != 0);
  using type = basic_workflow<Name, N...>;
};
}  // namespace detail

/**
 * `tutti::workflow<"place_order">(step<"a">(f), step<"b">(g), ...)`.
 * Each `from<"name", T>` a step reads is checked here: the name must be a step listed before it,
 * with an output of type T (checked by run() instead when that step's callable is generic).
 */
template <fixed_string Name, class... S>
[[nodiscard]] constexpr auto workflow(S&&... steps) {
  // Checked here, not first in run(): the error then names the step a few lines from the top.
  using problem = detail::flow_problem_t<detail::as_node_t<S>...>;
  if constexpr (!std::is_same_v<problem, detail::flow_ok>) static_cast<void>(sizeof(problem));
  return basic_workflow<Name, detail::as_node_t<S>...>(detail::as_node(std::forward<S>(steps))...);
}

/// A workflow named as a type, from user step types: `using checkout = workflow_of<"checkout",
/// validate, reserve, charge>;` then `checkout{}.run(order)`. Checked like workflow<...>(...).
template <fixed_string Name, class... S>
using workflow_of = typename detail::checked_workflow<Name, detail::as_node_t<S>...>::type;

TUTTI_END_NAMESPACE

#endif  // TUTTI_WORKFLOW_HPP
