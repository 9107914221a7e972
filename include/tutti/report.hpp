// tutti — the run report: for every step what happened, and how the run ended.
#ifndef TUTTI_REPORT_HPP
#define TUTTI_REPORT_HPP

#include <array>         // per-step arrays
#include <cstdint>       // compact fields
#include <cstring>       // std::memcpy into raw storage
#include <memory>        // message storage, allocated only on failure
#include <string>        // messages
#include <string_view>   // names and messages
#include <stop_token>    // host cancellation
#include <system_error>  // error codes

#include "clock.hpp"
#include "config.hpp"
#include "context.hpp"
#include "error.hpp"

TUTTI_BEGIN_NAMESPACE

/// What happened to one step in one run.
enum class step_status : std::uint8_t {
  not_started,          ///< the run ended before this step
  succeeded,            ///< produced its output (and was not compensated)
  failed,               ///< the step's failure ended the run
  compensated,          ///< succeeded, then undone by its compensation
  compensation_failed,  ///< succeeded, then its compensation failed (see the report)
  skipped,              ///< not run on purpose (a resumed run's completed step, a branch not taken)
};

/// How a run ended.
enum class run_outcome : std::uint8_t {
  succeeded,            ///< every step succeeded
  failed,               ///< a step failed and nothing needed undoing (or the pivot had committed)
  compensated,          ///< a step failed and every completed compensable step was undone
  compensation_failed,  ///< a step failed and at least one compensation failed or was not run
};

/// What a failing compensation does to the remaining ones.
enum class compensation_policy : std::uint8_t {
  continue_on_failure,  ///< default: the remaining compensations still run
  stop_on_failure,      ///< stop compensating at the first failure; the rest stay `succeeded`
};

/// Per-run settings; all optional: `wf.run(input, {.timing = true})`.
struct run_options {
  run_id id{};          ///< empty: a new id is generated
  bool timing = false;  ///< read the clock around each step (off: one read costs about an 8-step run)
  compensation_policy on_compensation_failure = compensation_policy::continue_on_failure;
  /// Time the whole run may take, measured on the run's clock from its start (max: none). No
  /// retry waits past it; a step can read it (`call_context::deadline`) and pass it on.
  duration deadline = duration::max();
  /// Seed of the run's random generator (jitter, chaos). 0: derived from the run id, so a run
  /// with a given id draws the same numbers every time.
  std::uint64_t seed = 0;
  /// Cancellation by the host: a step taking `std::stop_token` receives this one.
  std::stop_token stop{};
};

/// Facts about a step a policy records for the report.
enum class step_flag : std::uint8_t {
  fallback_served = 1,  ///< the value came from a fallback
  timed_out = 2,        ///< an attempt ended past its deadline
  gave_up_early = 4,    ///< a retry stopped before its last attempt (deadline or time budget)
  late_compensated = 8,          ///< a success that came too late was undone
  late_compensation_failed = 16, ///< ... and undoing it failed
  late_success_kept = 32,        ///< a success that came too late could not be undone: its effect stands
  restored = 64,                 ///< a resumed run took the step's result from the journal (not called)
};

/// One step's line in a report (a value, built on demand).
struct step_report {
  std::string_view name;
  step_status status = step_status::not_started;
  std::uint32_t attempts = 0;               ///< calls of the step (each retry counts)
  std::error_code error;                    ///< the step's last error, if it failed
  std::string_view message;                 ///< e.g. an exception's what(); may be empty
  std::uint32_t compensation_attempts = 0;  ///< calls of the compensation
  std::error_code compensation_error;       ///< if its compensation failed
  std::string_view compensation_message;
  bool fallback_served = false;             ///< a fallback produced the step's value
  bool timed_out = false;                   ///< an attempt ended past its deadline
  bool gave_up_early = false;               ///< a retry stopped early (deadline or budget)
  bool late_compensated = false;            ///< a late success was undone (see timeout)
  bool late_compensation_failed = false;    ///< undoing a late success failed
  bool late_success_kept = false;           ///< a late success could not be undone: it stands
  bool restored = false;                    ///< a resumed run took its result from the journal
  bool timed = false;                       ///< start and elapsed are set
  duration start{};                         ///< clock reading when the step began
  duration elapsed{};                       ///< time from start to its final result
};

namespace detail {
/// An error code kept as trivially copyable bits.
struct error_bits {
  int value;
  const std::error_category* category;
  static error_bits from(const std::error_code& ec) noexcept { return {ec.value(), &ec.category()}; }
  [[nodiscard]] std::error_code code() const noexcept { return {value, *category}; }
};

/// N values of T left uninitialised until written: a run writes only what happened, and the
/// report reads only what the status says was written. Bytes are copied with the run.
template <class T, std::size_t N>
class raw_array {
 public:
  // User-provided on purpose: value-initialising a run must not zero these bytes.
  raw_array() noexcept {}  // NOLINT(modernize-use-equals-default)
  void set(std::size_t i, const T& v) noexcept { std::memcpy(bytes_ + i * sizeof(T), &v, sizeof(T)); }
  [[nodiscard]] T get(std::size_t i) const noexcept {
    T v;
    std::memcpy(&v, bytes_ + i * sizeof(T), sizeof(T));
    return v;
  }

 private:
  alignas(T) unsigned char bytes_[N * sizeof(T) == 0 ? 1 : N * sizeof(T)];
};

/// Messages of failures: allocated on the first one, so a successful run allocates nothing.
class message_store {
 public:
  message_store() noexcept = default;
  explicit message_store(std::size_t steps) noexcept : size_(steps) {}
  void set(std::size_t slot, std::string_view text) {
    if (!texts_) texts_ = std::make_unique<std::string[]>(2 * size_);
    texts_[slot].assign(text.data(), text.size());
  }
  void clear(std::size_t slot) noexcept {
    if (texts_) texts_[slot].clear();
  }
  /// Puts `why` in front of the slot's message ("why; earlier message").
  TUTTI_NOINLINE void prepend(std::size_t slot, std::string_view why) {
    const std::string_view old = get(slot);
    std::string text{why};
    if (!old.empty()) {
      text += "; ";
      text += old;
    }
    set(slot, text);
  }
  [[nodiscard]] std::string_view get(std::size_t slot) const noexcept {
    return texts_ ? std::string_view{texts_[slot]} : std::string_view{};
  }

 private:
  std::unique_ptr<std::string[]> texts_;
  std::size_t size_ = 0;
};

/// What the engine records for a workflow of N steps.
template <std::size_t N>
struct records {
  records() noexcept {}  // NOLINT(modernize-use-equals-default): see raw_array
  std::array<step_status, N> status{};
  std::array<std::uint16_t, N> attempts{};
  std::array<std::uint8_t, N> flags{};          // step_flag bits
  raw_array<error_bits, N> errors;             // valid when status is failed
  raw_array<error_bits, N> comp_errors;        // valid when status is compensation_failed
  raw_array<std::uint16_t, N> comp_attempts;   // valid when compensated / compensation_failed
  raw_array<duration, N> starts;               // valid when timing and attempts > 0
  raw_array<duration, N> elapsed;
  message_store messages{N};                   // slot i: step i; slot N + i: its compensation
};
}  // namespace detail

/**
 * A view of one run's report: workflow name, run id, outcome and one `step_report` per step.
 * Valid as long as the `run_result` it came from. Format it with fmt (`<tutti/format.hpp>`).
 */
class run_report {
 public:
  template <std::size_t N>
  run_report(std::string_view workflow, const run_id& id, run_outcome outcome, std::size_t failed,
             bool timing, duration started, duration elapsed,
             const std::array<std::string_view, N>& names, const detail::records<N>& rec) noexcept
      : workflow_(workflow), id_(id), outcome_(outcome), failed_(failed), timing_(timing),
        started_(started), elapsed_(elapsed), size_(N), names_(names.data()),
        status_(rec.status.data()), rec_(&rec),
        step_fn_(&step_at<N>) {}

  [[nodiscard]] std::string_view workflow() const noexcept { return workflow_; }
  [[nodiscard]] const run_id& id() const noexcept { return id_; }
  [[nodiscard]] run_outcome outcome() const noexcept { return outcome_; }
  [[nodiscard]] bool succeeded() const noexcept { return outcome_ == run_outcome::succeeded; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Index of the step whose failure ended the run; `size()` when the run succeeded.
  [[nodiscard]] std::size_t failed_index() const noexcept { return failed_; }
  [[nodiscard]] bool timed() const noexcept { return timing_; }
  [[nodiscard]] duration started() const noexcept { return started_; }
  [[nodiscard]] duration elapsed() const noexcept { return elapsed_; }

  /// The line of step `i` (0-based, in workflow order).
  [[nodiscard]] step_report operator[](std::size_t i) const noexcept { return step_fn_(*this, i); }
  /// The line of the step named `name`; a `not_started` line with an empty name if none.
  [[nodiscard]] step_report step(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < size_; ++i)
      if (names_[i] == name) return (*this)[i];
    return {};
  }
  /// Number of steps with the given status.
  [[nodiscard]] std::size_t count(step_status s) const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < size_; ++i) n += status_[i] == s ? 1 : 0;
    return n;
  }

 private:
  template <std::size_t N>
  static step_report step_at(const run_report& self, std::size_t i) noexcept {
    const auto& rec = *static_cast<const detail::records<N>*>(self.rec_);
    step_report out;
    out.name = self.names_[i];
    out.status = rec.status[i];
    out.attempts = rec.attempts[i];
    const auto flags = rec.flags[i];
    out.fallback_served = (flags & static_cast<std::uint8_t>(step_flag::fallback_served)) != 0;
    out.timed_out = (flags & static_cast<std::uint8_t>(step_flag::timed_out)) != 0;
    out.gave_up_early = (flags & static_cast<std::uint8_t>(step_flag::gave_up_early)) != 0;
    out.late_compensated = (flags & static_cast<std::uint8_t>(step_flag::late_compensated)) != 0;
    out.late_compensation_failed =
        (flags & static_cast<std::uint8_t>(step_flag::late_compensation_failed)) != 0;
    out.late_success_kept = (flags & static_cast<std::uint8_t>(step_flag::late_success_kept)) != 0;
    out.restored = (flags & static_cast<std::uint8_t>(step_flag::restored)) != 0;
    if (out.fallback_served) out.error = rec.errors.get(i).code();  // what the fallback covered
    if (out.status == step_status::failed) {
      out.error = rec.errors.get(i).code();
      out.message = rec.messages.get(i);
    }
    if (out.status == step_status::compensated || out.status == step_status::compensation_failed)
      out.compensation_attempts = rec.comp_attempts.get(i);
    if (out.status == step_status::compensation_failed) {
      out.compensation_error = rec.comp_errors.get(i).code();
      out.compensation_message = rec.messages.get(N + i);
    }
    if (self.timing_ && out.attempts > 0) {
      out.timed = true;
      out.start = rec.starts.get(i);
      out.elapsed = rec.elapsed.get(i);
    }
    return out;
  }

  std::string_view workflow_;
  run_id id_;
  run_outcome outcome_;
  std::size_t failed_;
  bool timing_;
  duration started_;
  duration elapsed_;
  std::size_t size_;
  const std::string_view* names_;
  const step_status* status_;
  const void* rec_;
  step_report (*step_fn_)(const run_report&, std::size_t) noexcept;
};

/// Short lowercase name of a status, as the report prints it.
[[nodiscard]] constexpr std::string_view to_string(step_status s) noexcept {
  switch (s) {
    case step_status::not_started: return "not started";
    case step_status::succeeded: return "succeeded";
    case step_status::failed: return "failed";
    case step_status::compensated: return "compensated";
    case step_status::compensation_failed: return "compensation failed";
    case step_status::skipped: return "skipped";
  }
  return "?";
}

/// Short lowercase name of an outcome.
[[nodiscard]] constexpr std::string_view to_string(run_outcome o) noexcept {
  switch (o) {
    case run_outcome::succeeded: return "succeeded";
    case run_outcome::failed: return "failed";
    case run_outcome::compensated: return "failed, compensated";
    case run_outcome::compensation_failed: return "failed, compensation failed";
  }
  return "?";
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_REPORT_HPP
