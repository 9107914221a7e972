// tutti — time limits: per attempt (timeout) and for everything inside (deadline).
#ifndef TUTTI_POLICY_TIMEOUT_HPP
#define TUTTI_POLICY_TIMEOUT_HPP

#include <condition_variable>  // stop_timer's sleep
#include <cstdint>             // timer entry ids
#include <mutex>               // stop_timer's entries (arming is not a hot path)
#include <stdexcept>           // std::invalid_argument for settings from configuration
#include <stop_token>          // per-attempt stop
#include <thread>              // stop_timer's thread
#include <type_traits>         // timer or none
#include <vector>              // armed entries
#include <string_view>  // policy names

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../policy.hpp"
#include "../report.hpp"

TUTTI_BEGIN_NAMESPACE

/**
 * Asks steps to stop when their time is up: `tutti::timeout{2s}.stopping(timer)` gives each
 * attempt a `std::stop_token` (the parameter of a step that takes one) on which `timer` requests
 * stop at the attempt's deadline. In-process calls cannot be pre-empted; a step that checks its
 * token (or hands it to a cancellable client) stops early instead of running on.
 *
 * The timer owns one background thread (started by the constructor with a steady clock) that
 * sleeps until the earliest armed deadline. On a manual clock there is no thread: call `poll()`
 * after moving time. Thread-safe; outlives the workflows that use it. Arming allocates (a stop
 * state and an entry): use it on steps slow enough for that not to matter.
 */
template <class Clock = steady_clock>
class stop_timer {
 public:
  explicit stop_timer(Clock& clock = default_clock_for()) : clock_(clock) {
    if constexpr (std::is_same_v<Clock, steady_clock>) thread_ = std::jthread([this](std::stop_token t) { loop(t); });
  }
  stop_timer(const stop_timer&) = delete;
  stop_timer& operator=(const stop_timer&) = delete;
  ~stop_timer() {
    if (thread_.joinable()) {
      thread_.request_stop();
      { const std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
      thread_.join();
    }
  }

  /// While the returned value lives, `source` is stopped once the clock reaches `at`.
  class armed {
   public:
    armed(stop_timer* t, std::uint64_t id) noexcept : timer_(t), id_(id) {}
    armed(const armed&) = delete;
    armed& operator=(const armed&) = delete;
    ~armed() { timer_->disarm(id_); }

   private:
    stop_timer* timer_;
    std::uint64_t id_;
  };

  [[nodiscard]] armed arm(duration at, std::stop_source source) {
    std::uint64_t id = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      id = ++next_id_;
      entries_.push_back({id, at, std::move(source)});
    }
    wake_.notify_all();
    return armed{this, id};
  }

  /// Requests stop on every armed source whose time has come; returns how many.
  std::size_t poll() {
    const duration now = clock_.now();
    std::size_t fired = 0;
    const std::lock_guard<std::mutex> lock(mutex_);
    for (auto& e : entries_)
      if (e.at <= now && !e.source.stop_requested()) {
        e.source.request_stop();
        ++fired;
      }
    return fired;
  }

  [[nodiscard]] std::size_t armed_count() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }

 private:
  struct entry {
    std::uint64_t id;
    duration at;
    std::stop_source source;
  };
  static Clock& default_clock_for() {
    static Clock c;
    return c;
  }
  void disarm(std::uint64_t id) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].id == id) {
        entries_[i] = std::move(entries_.back());
        entries_.pop_back();
        return;
      }
  }
  void loop(const std::stop_token& stop) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop.stop_requested()) {
      duration next = duration::max();
      for (const auto& e : entries_)
        if (!e.source.stop_requested() && e.at < next) next = e.at;
      if (next == duration::max()) {
        wake_.wait(lock, [&] { return stop.stop_requested() || !entries_.empty(); });
        if (entries_.empty()) continue;
      }
      const duration now = clock_.now();
      if (next > now) {
        // Sleep until the earliest deadline, or until a new entry or the destructor wakes us.
        wake_.wait_for(lock, next == duration::max() ? duration{std::chrono::milliseconds{10}} : next - now);
        continue;
      }
      lock.unlock();
      (void)poll();
      lock.lock();
    }
  }

  Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<entry> entries_;
  std::uint64_t next_id_ = 0;
  std::jthread thread_;
};

namespace detail {
[[noreturn]] inline void tutti_invalid_setting_time_limit_must_be_positive() {
  throw std::invalid_argument("tutti: a timeout or deadline must be positive");
}

/**
 * What timeout and deadline share. In-process calls cannot be pre-empted, so the limit is
 * cooperative: while the layer inside runs, `call_context::deadline` carries the limit (pass it
 * to your client), and a result that arrives after it is replaced by `errc::timeout`. A late
 * *success* of a compensable step is undone at once by the step's compensation, so that a
 * timed-out step leaves nothing behind; the report marks the step `timed_out`.
 */
template <class Derived, class Timer = void>
struct time_limit {
  duration limit;
  Timer* timer = nullptr;  // with a stop_timer: the attempt's stop_token is stopped at its deadline

  constexpr explicit time_limit(duration d) : limit(d) {
    if (d.count() <= 0) tutti_invalid_setting_time_limit_must_be_positive();
  }
  constexpr time_limit(duration d, Timer* t) : time_limit(d) { timer = t; }

  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {Derived::policy_name, 1, duration{}, limit, {}};
  }

  template <class Next, class Call, class Self>
  auto invoke(Next&& next, Call& call, const Self& self) const -> decltype(next()) {
    const limits at = enter(call);
    auto r = [&] {
      if constexpr (std::is_void_v<Timer>) {
        return next();
      } else {
        if (timer == nullptr) return next();
        // The attempt's own stop state: stopped at the deadline by the timer, or when the host
        // cancels the run.
        std::stop_source source;
        const std::stop_callback forward(call.stop_token(), [&source] { source.request_stop(); });
        const auto armed = timer->arm(at.limit_at, source);
        const std::stop_token token = source.get_token();
        const std::stop_token* outer_token = call.set_stop_token(&token);
        auto inner = next();
        call.set_stop_token(outer_token);
        return inner;
      }
    }();
    call.set_attempt_deadline(at.previous);
    if (TUTTI_LIKELY(call.clock().now() <= at.limit_at)) return r;
    if (late<Self>(r, call)) late_undone(r, call, self.compensate_late(r.assume_value(), call));
    return r;
  }

  // ---- what the sync and async runs share: enter, (the attempt), leave, then for an outcome
  // past the limit late, and, when it asks for it, the late success's undo and late_undone.

  /// The limit of one call, and the attempt deadline it replaces.
  struct limits {
    duration limit_at;
    duration previous;
  };
  /// Before the call: its limit (this one's, or an outer one if earlier), set as the attempt's
  /// deadline.
  template <class Call>
  limits enter(Call& call) const {
    const duration mine = saturating_add(call.clock().now(), limit);
    const duration outer = call.deadline();
    const duration limit_at = mine < outer ? mine : outer;
    return limits{limit_at, call.set_attempt_deadline(limit_at)};
  }
  /// The outcome `r` came after the limit: a failure becomes `timeout`; a success that cannot be
  /// undone is discarded (`timeout`, its effect stands). True when `r` holds a success that
  /// `Self`'s compensation must undo (then late_undone, with how that went).
  template <class Self, class R, class Call>
  static bool late(R& r, Call& call) {
    call.mark(step_flag::timed_out);
    if (!r.has_value()) {
      call.note(Derived::late_failure_note);
      r = R(make_error_code(errc::timeout));
      return false;
    }
    // A pivot's effect stands even when it came late: the saga is committed.
    if constexpr (Self::pivot) call.run_state_shared()->committed = true;
    if constexpr (Self::compensable) {
      return true;
    } else {
      // Nothing can undo it: its effect stands, and a retry must not do it again.
      call.mark(step_flag::late_success_kept);
      call.note("timed out: the result came after the deadline and was discarded");
      r = R(make_error_code(errc::timeout));
      return false;
    }
  }
  /// A late success was undone (or not: `undone`); the outcome is `timeout`.
  template <class R, class Call>
  static void late_undone(R& r, Call& call, const result<void>& undone) {
    if (undone.has_value()) {
      call.note("timed out: the result came after the deadline and was undone");
    } else {
      call.mark(step_flag::late_compensation_failed);
      call.mark(step_flag::late_success_kept);
      call.note("timed out: the result came after the deadline and undoing it FAILED");
      call.run_state_shared()->compensation_failed = true;
    }
    r = R(make_error_code(errc::timeout));
  }
};
}  // namespace detail

/**
 * A limit on each call of the layer inside: `step | timeout{2s} | retry{...}` gives every
 * attempt two seconds. See detail::time_limit for what "limit" means in-process.
 */
template <class Timer = void>
struct basic_timeout : detail::time_limit<basic_timeout<Timer>, Timer> {
  static constexpr std::string_view policy_name = "timeout";
  static constexpr std::string_view late_failure_note = "timed out: the attempt ended after its deadline";
  using detail::time_limit<basic_timeout<Timer>, Timer>::time_limit;

  /// The same timeout, also stopping the attempt's `std::stop_token` at its deadline.
  template <class C>
  [[nodiscard]] basic_timeout<stop_timer<C>> stopping(stop_timer<C>& t) const {
    return basic_timeout<stop_timer<C>>(this->limit, &t);
  }
};
/// A limit on each call of the layer inside: `step | timeout{2s} | retry{...}`.
struct timeout : basic_timeout<> {
  using basic_timeout<>::basic_timeout;
};

/**
 * A limit on everything inside it, all attempts and waits of an inner retry included:
 * `step | retry{...} | deadline{10s}`. A retry inside it starts no wait that would end past it.
 * Placed inside a retry it would restart with every attempt: that does not compile (wrap it in
 * `allow_inside_retry(...)` if it is meant).
 */
struct deadline : detail::time_limit<deadline> {
  static constexpr std::string_view policy_name = "deadline";
  static constexpr std::string_view late_failure_note = "deadline passed";
  using time_limit::time_limit;
};

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_TIMEOUT_HPP
