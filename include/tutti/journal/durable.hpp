// tutti — durable runs: a workflow with a journal, resumed after a crash, and operator commands.
#ifndef TUTTI_JOURNAL_DURABLE_HPP
#define TUTTI_JOURNAL_DURABLE_HPP

#include <algorithm>     // std::max: the latest contact with the store
#include <array>         // fingerprints of output types
#include <atomic>        // a journaled run stops across threads
#include <chrono>        // leases
#include <concepts>      // std::convertible_to: a journal's optional last_error_message()
#include <cstddef>       // std::byte
#include <cstdint>       // fingerprints
#include <functional>    // std::less<> for lookups by string_view
#include <map>           // the replay plan
#include <mutex>         // records from the branches of a parallel group
#include <optional>      // durable_outcome
#include <span>          // records written together
#include <string>        // paths, messages
#include <string_view>   // names
#include <system_error>  // errors
#include <tuple>         // fingerprints of output types
#include <type_traits>   // the async layer, when included
#include <utility>       // std::move
#include <variant>       // fingerprints of output types
#include <vector>        // bytes

#include "../clock.hpp"
#include "../config.hpp"
#include "../context.hpp"
#include "../error.hpp"
#include "../events.hpp"
#include "../report.hpp"
#include "../workflow.hpp"
#include "journal.hpp"
#include "serialize.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // gethostname, getpid: owner names
#endif

TUTTI_BEGIN_NAMESPACE

// ---- the workflow's shape ---------------------------------------------------------------------

namespace detail {
template <class T, template <class...> class Template>
inline constexpr bool is_instance_v = false;
template <template <class...> class Template, class... A>
inline constexpr bool is_instance_v<Template<A...>, Template> = true;
template <class T>
inline constexpr bool is_std_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array_v<std::array<T, N>> = true;

template <class T>
void append_type(std::string& out);

/// The archive `append_type` hands to a type's `serialize`: it writes each field's type.
struct shape_archive {
  std::string* out;
  bool first = true;
  template <class... T>
  void operator()(T&...) {
    ((out->append(first ? "" : ","), first = false, append_type<T>(*out)), ...);
  }
};

/**
 * A type as the fingerprint sees it, the same for every compiler of one platform: scalars by
 * kind and width ("i32", "u8", "f64", "bool"), enums by their underlying type, std::string,
 * std::vector, std::optional, std::array, std::tuple, std::pair and std::variant by their
 * elements, a type with a `serialize` function by its fields in order ("{i32,string}"), another
 * trivially copyable type by its size ("bytes16"); a type's name is not part of it (renaming a
 * type changes nothing, changing a field does).
 */
template <class T>
void append_type(std::string& out) {
  using U = std::remove_cvref_t<T>;
  const auto list = [&out]<class... E>(const char* name, std::type_identity<E>...) {
    out += name;
    out += '<';
    bool first = true;
    ((out += first ? "" : ",", first = false, append_type<E>(out)), ...);
    out += '>';
  };
  if constexpr (std::is_void_v<U>) {
    out += "void";
  } else if constexpr (std::is_same_v<U, bool>) {
    out += "bool";
  } else if constexpr (std::is_enum_v<U>) {
    out += "enum:";
    append_type<std::underlying_type_t<U>>(out);
  } else if constexpr (std::is_integral_v<U>) {
    out += std::is_signed_v<U> ? 'i' : 'u';
    out += std::to_string(sizeof(U) * 8);
  } else if constexpr (std::is_floating_point_v<U>) {
    out += 'f';
    out += std::to_string(sizeof(U) * 8);
  } else if constexpr (std::is_same_v<U, std::string>) {
    out += "string";
  } else if constexpr (is_instance_v<U, std::vector>) {
    list("vector", std::type_identity<typename U::value_type>{});
  } else if constexpr (is_instance_v<U, std::optional>) {
    list("optional", std::type_identity<typename U::value_type>{});
  } else if constexpr (is_std_array_v<U>) {
    list("array", std::type_identity<typename U::value_type>{});
    out.back() = ',';
    out += std::to_string(std::tuple_size_v<U>) + ">";
  } else if constexpr (is_instance_v<U, std::tuple> || is_instance_v<U, std::pair> ||
                       is_instance_v<U, std::variant>) {
    [&list]<template <class...> class Tm, class... E>(std::type_identity<Tm<E...>>) {
      list(is_instance_v<Tm<E...>, std::variant> ? "variant" : "tuple", std::type_identity<E>{}...);
    }(std::type_identity<U>{});
  } else if constexpr (std::is_default_constructible_v<U> &&
                       requires(shape_archive& a, U& v) { serialize(a, v); }) {
    U v{};
    shape_archive a{&out};
    out += '{';
    serialize(a, v);
    out += '}';
  } else if constexpr (std::is_trivially_copyable_v<U>) {
    out += "bytes" + std::to_string(sizeof(U));
  } else {
    out += "opaque";  // a tutti::serializer of its own: its size is all that is known
    out += std::to_string(sizeof(U));
  }
}

template <class Tuple, class In>
void append_nodes(std::string& out);

// In: the run's input type, to name each step's output type; void: names only.
template <class N, class In = void>
void append_shape(std::string& out) {
  if constexpr (requires { typename N::inner_type; typename N::policy_type; }) {
    append_shape<typename N::inner_type, In>(out);
    out += '|';
    out += N::policy_type::policy_name;
  } else {
    out += N::name.view();
    if constexpr (N::pivot && !requires { typename N::nodes_type; }) out += "!";
    if constexpr (N::compensable && !requires { typename N::nodes_type; }) out += "~";
    if constexpr (requires { N::may_skip; }) out += '?';  // a conditional step
    if constexpr (requires { N::parallel; }) {             // a parallel group: [branches]
      out += '[';
      append_nodes<typename N::nodes_type, In>(out);
      out += ']';
    } else if constexpr (requires { typename N::nodes_type; }) {
      out += '(';
      append_nodes<typename N::nodes_type, In>(out);
      out += ')';
    } else if constexpr (!std::is_void_v<In>) {  // a step: its output type
      out += ':';
      append_type<typename N::template value_type<In>>(out);
    }
  }
}
template <class Tuple, class In>
void append_nodes(std::string& out) {
  [&out]<std::size_t... I>(std::index_sequence<I...>) {
    ((out += (I == 0 ? "" : ","), append_shape<std::tuple_element_t<I, Tuple>, In>(out)), ...);
  }(std::make_index_sequence<std::tuple_size_v<Tuple>>{});
}
}  // namespace detail

/**
 * The shape of a workflow type as text: its name and, in order, each step's name with `~` for a
 * compensation, `!` for the pivot, `|policy` for each policy, `?` for a conditional step,
 * nested workflows and choices' cases in parentheses and parallel groups' branches in brackets:
 * "payment(authorize~|retry,risk_check,...,transfer!,send_receipt|retry)". With the run's input
 * type `In`, each step's output type follows its name (`detail::append_type`):
 * "payment(authorize~:{i64,string}|retry,...)".
 */
template <class W, class In = void>
[[nodiscard]] std::string shape_of() {
  std::string out;
  detail::append_shape<W, In>(out);
  return out;
}

/// A 64-bit FNV-1a hash of `shape_of<W, In>()`: a journal refuses to resume a run written by a
/// workflow of another shape (with `In`: another step output type too).
template <class W, class In = void>
[[nodiscard]] std::uint64_t fingerprint_of() {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : shape_of<W, In>()) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// ---- versions ---------------------------------------------------------------------------------

/**
 * Version `V` of a workflow: `const auto order_v2 = tutti::versioned<2>(tutti::workflow<"order">(
 * ...));` — the same workflow (it derives from it), whose runs record version 2. Several versions
 * of one workflow (one name) may be hosted side by side: a run finishes (or resumes) on the
 * version it started with, and a runner dispatches claimed runs by their recorded version. A
 * workflow that is not versioned is version 1. See docs/durability.md#versions.
 */
template <class W, std::uint32_t V>
class versioned_workflow : public W {
  static_assert(V >= 1, "tutti: workflow versions start at 1 (an unversioned workflow is version 1).");

 public:
  static constexpr std::uint32_t workflow_version = V;
  constexpr explicit versioned_workflow(W wf) : W(std::move(wf)) {}
};

/// `tutti::versioned<2>(workflow)`: version 2 of `workflow` (see `versioned_workflow`).
template <std::uint32_t V, class W>
[[nodiscard]] constexpr auto versioned(W&& wf) {
  static_assert(requires { std::remove_cvref_t<W>::name; typename std::remove_cvref_t<W>::nodes_type; },
                "tutti::versioned<V>(wf): wf must be a workflow (tutti::workflow<\"name\">(...)).");
  return versioned_workflow<std::remove_cvref_t<W>, V>(std::forward<W>(wf));
}

/// The version of workflow type `W`: `V` for `versioned_workflow<..., V>`, else 1.
template <class W>
inline constexpr std::uint32_t version_of = [] {
  if constexpr (requires { W::workflow_version; }) return std::uint32_t{W::workflow_version};
  else return std::uint32_t{1};
}();

// ---- business keys ----------------------------------------------------------------------------

namespace detail {
/// A business key as text: strings as they are, integers in decimal.
template <class K>
[[nodiscard]] std::string key_text(K&& k) {
  using T = std::remove_cvref_t<K>;
  if constexpr (std::is_pointer_v<T>) {
    static_assert(std::is_convertible_v<K, std::string_view>,
                  "tutti::keyed(wf, key): the key function must return text (std::string, "
                  "std::string_view, const char*) or an integer; format other values to a "
                  "string in the key function.");
    return k == nullptr ? std::string() : std::string(std::string_view(k));  // null: no key
  } else if constexpr (std::is_convertible_v<K, std::string_view>) {
    return std::string(std::string_view(k));
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return std::to_string(k);
  } else {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>,
                  "tutti::keyed(wf, key): the key function must return text (std::string, "
                  "std::string_view, const char*) or an integer; format other values to a "
                  "string in the key function.");
    return {};
  }
}
}  // namespace detail

/**
 * A workflow whose runs carry a business key taken from their input: `const auto order =
 * tutti::keyed(tutti::workflow<"order">(...), &order_request::order_id);` — a data member
 * pointer, or any callable of the input that returns text or an integer. Each run records its
 * key (`run_summary::key`); the journal indexes it, so `list` finds an order's runs at once
 * (`run_filter::key`, `tutti-journal JOURNAL list --key 8812`). A key is not unique: a second
 * run for the same order has the same key (a `submit_options::dedup_key` refuses those). It
 * plays no part in the workflow's shape (its fingerprint) or version.
 */
template <class W, class F>
class keyed_workflow : public W {
 public:
  constexpr keyed_workflow(W wf, F key) : W(std::move(wf)), key_(std::move(key)) {}

  /// The key of a run with `input`.
  template <class In>
  [[nodiscard]] std::string business_key(const In& input) const {
    static_assert(std::is_invocable_v<const F&, const In&>,
                  "tutti::keyed(wf, key): the key must be callable with the workflow's input "
                  "(a data member pointer of the input type, or a function taking const In&).");
    return detail::key_text(std::invoke(key_, input));
  }

 private:
  F key_;
};

/// `tutti::keyed(workflow, key)`: `workflow` whose runs record `key(input)` (see `keyed_workflow`).
template <class W, class F>
[[nodiscard]] constexpr auto keyed(W&& wf, F&& key) {
  static_assert(requires { std::remove_cvref_t<W>::name; typename std::remove_cvref_t<W>::nodes_type; },
                "tutti::keyed(wf, key): wf must be a workflow (tutti::workflow<\"name\">(...)).");
  return keyed_workflow<std::remove_cvref_t<W>, std::decay_t<F>>(std::forward<W>(wf),
                                                                 std::forward<F>(key));
}

// ---- replaying a journal ----------------------------------------------------------------------

/// What the journal says about one step of a run (by path).
struct step_replay {
  std::uint32_t attempts = 0;      ///< attempts started
  bool succeeded = false;          ///< its final result is in the journal: not called again
  std::vector<std::byte> payload;  ///< its output, when succeeded
  payload_encoding encoding = payload_encoding::binary;  ///< how `payload` is written
  bool failed = false;             ///< its failure ended the run
  std::error_code error;           ///< that failure
  std::string message;
  bool compensated = false;                ///< its compensation finished successfully
  std::uint32_t compensation_attempts = 0;
};

/// A run's journal read for a resume.
struct replay_plan {
  std::map<std::string, step_replay, std::less<>> steps;
  bool finished = false;   ///< a run_finished record stands (no operator reopened the run)
  bool resolved = false;   ///< settled by hand
  bool paused = false;
  bool moved = false;      ///< an operator moved it to this version: its shape is not checked
  /// A run that began paused (a rerun being prepared: `workflow_version::paused`) and that no
  /// rerun's own unpause has released: its copies may be cut short, so it is never run.
  bool rerun_incomplete = false;
};

namespace detail {
/// A category for errors of categories this program does not know by name.
class stored_error_category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "stored"; }
  [[nodiscard]] std::string message(int code) const override {
    return "an error recorded in the journal (value " + std::to_string(code) + ")";
  }
};
inline const std::error_category& stored_category() noexcept {
  static const stored_error_category c;
  return c;
}
/// The error code a journal record names: tutti's, the journal's, the standard ones; other
/// categories become `stored` with the same value (the message is kept beside it).
inline std::error_code error_from_record(std::string_view category, int value) {
  if (category == error_category().name()) return {value, error_category()};
  if (category == journal_category().name()) return {value, journal_category()};
  if (category == std::generic_category().name()) return {value, std::generic_category()};
  if (category == std::system_category().name()) return {value, std::system_category()};
  return {value, stored_category()};
}
}  // namespace detail

/// Reads a run's records into what a resume needs.
[[nodiscard]] inline replay_plan plan_of(const stored_run& run) {
  replay_plan plan;
  for (const stored_record& r : run.records) {
    switch (r.kind) {
      case record_kind::attempt_started: {
        step_replay& s = plan.steps[r.step];
        if (r.attempt > s.attempts) s.attempts = r.attempt;
        break;
      }
      case record_kind::step_finished: {
        step_replay& s = plan.steps[r.step];
        if (r.attempt > s.attempts) s.attempts = r.attempt;
        s.succeeded = r.ok;
        s.failed = !r.ok;
        if (r.ok) {
          s.payload = r.payload;
          s.encoding = static_cast<payload_encoding>(r.outcome);
        } else {
          s.error = detail::error_from_record(r.error_category, r.error_value);
          s.message = r.message;
        }
        break;
      }
      case record_kind::compensation_started: ++plan.steps[r.step].compensation_attempts; break;
      case record_kind::compensation_finished: plan.steps[r.step].compensated = r.ok; break;
      case record_kind::run_finished: plan.finished = true; break;
      case record_kind::paused:
        plan.paused = true;
        if (r.ok) plan.rerun_incomplete = true;  // began paused: a rerun being prepared
        break;
      case record_kind::unpaused:
        plan.paused = false;
        if (!r.step.empty()) plan.rerun_incomplete = false;  // a rerun's own: its copies are complete
        break;
      case record_kind::retry_requested:
        for (auto& [path, s] : plan.steps) s.failed = false;  // the failed step runs again
        plan.finished = false;
        break;
      case record_kind::redrive_requested: plan.finished = false; break;  // failed undos run again
      case record_kind::resolved: plan.resolved = true; break;
      case record_kind::moved: plan.moved = true; break;
      case record_kind::run_started:
      case record_kind::attempt_finished:
      case record_kind::claimed:
      case record_kind::released:
      case record_kind::dead_lettered:
      case record_kind::revived:
      case record_kind::rerun_of:
      case record_kind::rerun_as: break;
    }
  }
  return plan;
}

// ---- the engine's side --------------------------------------------------------------------

namespace detail {
/// A journal that describes its last failure: `j.last_error_message()` (as `sqlite_journal`).
/// Optional: a journal without it satisfies `tutti::journal` all the same.
template <class J>
concept describes_errors = requires(const J& j) {
  { j.last_error_message() } -> std::convertible_to<std::string>;
};

/// Why the journal's last call failed: its own words when it has them, else the error's.
template <class J>
[[nodiscard]] std::string journal_failure(const J& j, const std::error_code& ec) {
  std::string out;
  if constexpr (describes_errors<J>) out = j.last_error_message();
  if (out.empty()) out = "the journal failed: " + ec.message();
  return out;
}
}  // namespace detail

/**
 * What a journaled run hands the engine in place of its observer: it forwards events to the
 * user's observer and writes the journal. Not used directly; see `durable_workflow`.
 */
template <class J, class O, class C = steady_clock>
class journal_hooks {
 public:
  static constexpr bool enabled = true;
  static constexpr bool journaled = true;
  static constexpr bool wants_time = detail::observer_enabled<O>() && detail::observer_wants_time<O>();

  journal_hooks(J& journal, O& observer, C& clock, const run_id& id, const replay_plan* plan,
                std::uint64_t epoch = 0, std::chrono::milliseconds lease = {}) noexcept
      : journal_(&journal), observer_(&observer), clock_(&clock), id_(id), plan_(plan),
        epoch_(epoch), lease_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(lease).count()),
        contact_ns_(steady_ns()) {}

  /// A runner's heartbeats renew the lease while a step runs: `*renewed_ns` is the steady
  /// clock's reading (ns) at the last renewal.
  void heartbeats(const std::atomic<std::int64_t>* renewed_ns) noexcept { renewed_ns_ = renewed_ns; }

  /**
   * Whether a callable of the run may be called now: not once the store refused a write, and
   * not once this engine has gone a whole lease without a write or a renewal the store
   * accepted (its process was stopped, say): another engine may hold the run by now, so the
   * engine stops it there (as fenced) instead of calling a service on a lease it may have lost.
   */
  [[nodiscard]] bool may_call() {
    if (broken()) return false;
    if (lease_ns_ <= 0) return true;
    std::int64_t last = contact_ns_.load(std::memory_order_relaxed);
    if (renewed_ns_ != nullptr) last = std::max(last, renewed_ns_->load(std::memory_order_relaxed));
    if (steady_ns() - last <= lease_ns_) return true;
    const std::lock_guard lock{mutex_};
    lapse();
    return false;
  }

  /// Stop at the next step boundary (as a pause does) once `*flag` is true.
  void hand_back_when(const std::atomic<bool>* flag) noexcept { hand_back_ = flag; }
  /// The engine's epoch for this run (its fencing token): every write carries it.
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
  /// True once the store refused a write because another engine (or an operator) took the run.
  [[nodiscard]] bool fenced() const noexcept {
    return broken() && error_ == make_error_code(journal_errc::fenced);
  }

  void on_event(const event& e) {
    if constexpr (detail::observer_enabled<O>()) observer_->on_event(e);
  }

  void record_attempt_started(std::string_view step, std::uint32_t attempt) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::attempt_started;
    r.step = step;
    r.attempt = attempt;
    write(r);
  }
  void record_attempt_finished(std::string_view step, std::uint32_t attempt,
                               const std::error_code& ec, std::string_view message) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::attempt_finished;
    r.step = step;
    r.attempt = attempt;
    r.ok = !ec;
    set_error(r, ec, message);
    if constexpr (batching) {
      // A successful attempt's end is written with the step's end right after it, in one
      // transaction (one round trip): the call has returned, and nothing more reaches a service
      // before that next record is written, so write-ahead is kept. Lost in a crash before it,
      // it is as if the crash came just after the call: a resume calls the step again, with
      // the same idempotency key. A failed attempt's end is written at once: a retry's back-off
      // may follow, and the write renews the run's lease before it.
      if (r.ok) {
        hold(r);
        return;
      }
    }
    write(r);
  }
  /// Writes a record held back for batching (the run ends, or stops): once per run.
  void flush() {
    if constexpr (batching) {
      const std::lock_guard lock{mutex_};
      if (!held_) return;
      held_ = false;
      if (error_) return;
      append_one(held_view());
    }
  }
  /// A nested workflow's success: its steps' outputs are journaled one by one.
  void record_step_succeeded(std::string_view step, std::uint32_t attempts) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::step_finished;
    r.step = step;
    r.attempt = attempts;
    r.ok = true;
    write(r);
  }
  template <class V>
  void record_step_succeeded(std::string_view step, std::uint32_t attempts, const V& value) {
    detail::require_journalable<V>();
    static_assert(journalable<V> || detail::refused_bytes<V>() != detail::bytes_kind::plain,
                  "tutti: a journaled run stores every step's output, and this output type "
                  "cannot be stored. Make it trivially copyable, or give it "
                  "`template <class A> void serialize(A& ar, T& v) { ar(v.field1, v.field2); }` "
                  "(found by argument-dependent lookup), or specialise tutti::serializer<T>, or "
                  "journal it as JSON (tutti::json_payload<T>, <tutti/journal/json.hpp>).");
    const std::lock_guard lock{mutex_};
    const auto encoding = detail::encode_payload(value, buffer_);
    if (!encoding) {
      // Its to_json threw: the output cannot be journaled. The run is parked (dead-lettered)
      // and stops here: handed back as it is, a runner would claim it and call the step again
      // and again. An operator's retry, once the program is fixed, calls it again (with the
      // same idempotency key).
      const std::string why = "the output of step " + std::string(step) +
                              " could not be written to the journal: its JSON conversion threw";
      record_view park;
      park.kind = record_kind::dead_lettered;
      park.step = step;
      park.message = why;
      write(park);
      if (!error_) {  // (a park that failed leaves the journal's own error)
        fail(journal_errc::serialization);
        message_ = why;
      }
      return;
    }
    record_view r;
    r.outcome = static_cast<std::uint8_t>(encoding.value());
    r.kind = record_kind::step_finished;
    r.step = step;
    r.attempt = attempts;
    r.ok = true;
    r.payload = buffer_;
    write(r);
  }
  void record_step_failed(std::string_view step, std::uint32_t attempts, const std::error_code& ec,
                          std::string_view message) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::step_finished;
    r.step = step;
    r.attempt = attempts;
    set_error(r, ec, message);
    write(r);
  }
  void record_compensation_started(std::string_view step) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::compensation_started;
    r.step = step;
    write(r);
  }
  void record_compensation_finished(std::string_view step, bool ok, const std::error_code& ec,
                                    std::string_view message) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::compensation_finished;
    r.step = step;
    r.ok = ok;
    if (!ok) set_error(r, ec, message);
    write(r);
  }
  /// The run's end; a failed run's names the step whose failure ended it, with the run's error.
  void record_run_finished(std::uint8_t outcome, std::string_view failed_step = {},
                           const std::error_code& ec = {}, std::string_view message = {}) {
    const std::lock_guard lock{mutex_};
    record_view r;
    r.kind = record_kind::run_finished;
    r.outcome = outcome;
    if (outcome != 0 && !failed_step.empty()) {
      r.step = failed_step;
      set_error(r, ec, message);
    }
    write(r);
  }

  [[nodiscard]] const step_replay* replayed(std::string_view path) const {
    if (plan_ == nullptr) return nullptr;
    const auto it = plan_->steps.find(path);
    return it == plan_->steps.end() ? nullptr : &it->second;
  }
  /// A step's output read back from its journal record, in the encoding it was written with.
  template <class V>
  [[nodiscard]] result<V> restore(const step_replay& past) const {
    detail::require_journalable<V>();
    static_assert(journalable<V> || detail::refused_bytes<V>() != detail::bytes_kind::plain,
                  "tutti: a journaled run stores every step's output, and this output type "
                  "cannot be stored (see tutti::serializer, tutti::json_payload).");
    auto v = detail::decode_payload<V>(past.payload, past.encoding);
    if (!v) return journal_errc::serialization;
    return v;
  }
  /// The run stopped (paused, or its journal could not be written): nothing more is done.
  void halt() noexcept { halted_.store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool halted() const noexcept { return halted_.load(std::memory_order_relaxed); }
  /// True once a write failed: the run stops before its next step.
  [[nodiscard]] bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }
  /// The journal's error once broken() (read it after the run).
  [[nodiscard]] const std::error_code& journal_error() const noexcept { return error_; }
  /// What the journal said about that error, taken when it failed (read it after the run).
  [[nodiscard]] const std::string& journal_message() const noexcept { return message_; }
  /// Asks the journal whether an operator paused the run (once per step); true too when the
  /// engine is asked to hand the run back (a runner draining).
  [[nodiscard]] bool paused() {
    if (hand_back_ != nullptr && hand_back_->load(std::memory_order_acquire)) return true;
    const std::lock_guard lock{mutex_};
    auto s = journal_->status(id_);
    if (!s) {
      fail(s.error());
      return false;
    }
    return s.value() == run_status::paused;
  }

 private:
  static void set_error(record_view& r, const std::error_code& ec, std::string_view message) {
    r.error_category = ec.category().name();
    r.error_value = ec.value();
    r.message = message;
  }
  /// Journals that write several records of a run in one transaction (`append_batch`: all
  /// or none): an attempt's end goes with the run's next record.
  static constexpr bool batching =
      requires(J& j, const run_id& id, std::span<const record_view> rs) {
        { j.append_batch(id, rs) } -> std::same_as<result<void>>;
      };

  void write(record_view r) {
    if (error_) return;  // nothing after a failed write: the journal must stay a prefix
    r.time_ns = clock_->now().count();  // the run clock's reading, for `tutti-journal show`
    r.epoch = epoch_;
    if constexpr (batching) {
      if (held_) {
        held_ = false;
        const record_view both[2] = {held_view(), r};
        const std::int64_t before = steady_ns();
        auto w = journal_->append_batch(id_, std::span<const record_view>(both, 2));
        if (!w) fail(w.error());
        else contact_ns_.store(before, std::memory_order_relaxed);
        return;
      }
    }
    append_one(r);
  }
  void append_one(const record_view& r) {
    const std::int64_t before = steady_ns();
    auto w = journal_->append(id_, r);
    if (!w) fail(w.error());
    else contact_ns_.store(before, std::memory_order_relaxed);  // the lease runs from here
  }
  /// Keeps `r` (an attempt's end) to be written with the next record; its texts are copied
  /// into buffers this run reuses.
  void hold(const record_view& r) {
    if (error_) return;
    if (held_) {  // (never two in a row; kept in order if so)
      held_ = false;
      append_one(held_view());
      if (error_) return;
    }
    held_ = true;
    held_record_ = r;
    held_record_.payload = {};  // (an attempt's end carries none)
    held_record_.time_ns = clock_->now().count();
    held_record_.epoch = epoch_;
    held_step_.assign(r.step);
    held_category_.assign(r.error_category);
    held_message_.assign(r.message);
  }
  [[nodiscard]] record_view held_view() const {
    record_view v = held_record_;
    v.step = held_step_;
    v.error_category = held_category_;
    v.message = held_message_;
    return v;
  }
  static std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  /// The lease went by without contact: stop as if fenced (nothing more is called or written).
  void lapse() {
    if (error_) return;
    error_ = make_error_code(journal_errc::fenced);
    broken_.store(true, std::memory_order_release);
    message_ = "run " + std::string{id_.hex().data(), id_.hex().size()} + " (epoch " +
               std::to_string(epoch_) +
               "): this engine went longer than its lease without renewing it (was its process "
               "stopped?); it called nothing more and stopped the run, which another engine "
               "may hold by now";
  }
  void fail(const std::error_code& ec) {
    if (error_) return;
    error_ = ec;
    broken_.store(true, std::memory_order_release);
    // At once: a later call on the journal (another run's) may replace its last message.
    if (ec == make_error_code(journal_errc::fenced))
      message_ = "run " + std::string{id_.hex().data(), id_.hex().size()} + " (epoch " +
                 std::to_string(epoch_) +
                 ") was taken over by another engine or stopped by an operator: this engine "
                 "wrote nothing more and stopped it";
    else
      message_ = detail::journal_failure(*journal_, ec);
  }

  J* journal_;
  O* observer_;
  C* clock_;
  run_id id_;
  const replay_plan* plan_;
  std::uint64_t epoch_ = 0;
  std::int64_t lease_ns_ = 0;
  std::atomic<std::int64_t> contact_ns_{0};
  const std::atomic<std::int64_t>* renewed_ns_ = nullptr;
  const std::atomic<bool>* hand_back_ = nullptr;
  // The branches of a parallel group write from several threads: records, the buffer and the
  // error are guarded by one lock (a journal's append is serialised anyway).
  std::mutex mutex_;
  std::error_code error_;
  std::string message_;
  std::atomic<bool> broken_{false};
  std::atomic<bool> halted_{false};
  std::vector<std::byte> buffer_;
  // batching: an attempt_finished record waiting for the run's next record
  bool held_ = false;
  record_view held_record_{};
  std::string held_step_, held_category_, held_message_;
};

// ---- the user's side ------------------------------------------------------------------------

/// A durable run's result: the run, or why it could not run (a journal error, with details).
template <class Run>
struct durable_outcome {
  std::optional<Run> run;  ///< the run, when it ran (even if it failed or was paused)
  /// When it did not run, or its journal failed while it ran (the run stopped there): a
  /// journal_errc or the journal's own error.
  std::error_code error;
  /// Details of `error`: both fingerprints on a mismatch; the journal's own message when the
  /// journal failed (`last_error_message()` when the journal has one, e.g. an SQLite journal's
  /// path and SQLite's text for a full disk), else the error's message.
  std::string message;

  [[nodiscard]] explicit operator bool() const noexcept { return run.has_value(); }
  [[nodiscard]] Run& operator*() noexcept { return *run; }
  [[nodiscard]] const Run& operator*() const noexcept { return *run; }
  [[nodiscard]] Run* operator->() noexcept { return &*run; }
  [[nodiscard]] const Run* operator->() const noexcept { return &*run; }
};

/// How `rerun_run` prepares the new run.
struct rerun_options {
  run_id id{};  ///< the new run's id; empty: a new one
  /// Who holds the new run while its records are copied (shown by `list` if it stops there).
  std::string_view owner = "tutti-rerun";
  std::chrono::milliseconds lease{30'000};
  /// True: once prepared, the new run stays held by `owner` at the epoch of its start
  /// (`rerun_made::claim`), for the caller to run at once (`durable_workflow::rerun` does);
  /// false: it is handed back, for any engine to claim.
  bool keep = false;
};

/// What `rerun_run` made: the new run, and the steps whose outputs it reuses (in the order the
/// old run finished them).
struct rerun_made {
  run_id id;
  std::vector<std::string> reused;
  std::optional<run_claim> claim;  ///< with `rerun_options::keep`: the claim it is held by
};

/// What a host running claims (a `tutti::runner`) tells `resume_claimed`.
struct claim_control {
  /// Once true, the run stops at its next step boundary and is handed back.
  const std::atomic<bool>* hand_back = nullptr;
  /// The steady clock's reading (ns) at the host's last heartbeat renewal of this run's lease.
  const std::atomic<std::int64_t>* renewed_ns = nullptr;
  /// A run this workflow cannot run (written by another shape, or an input it cannot read) is
  /// parked as dead-lettered (else: handed back, for an engine that can run it).
  bool park_unrunnable = false;
};

/// How a durable workflow claims the runs it runs.
struct durable_options {
  /// This engine's stable name (the pod's or the service instance's): it owns runs as
  /// "name#pid.random" (a new incarnation per process), and a claim recovers at once the runs
  /// an earlier incarnation of the same name held when it died, without waiting for their
  /// leases to expire. Give no two live engines the same name. Empty: it owns runs as
  /// "host#pid.random", and runs of a dead engine are recovered when their lease expires.
  std::string name{};
  /// How long a claim holds without a write. Every journal write renews it; a `tutti::runner`
  /// also renews it while a step runs (a heartbeat). Without a runner, a step that runs longer
  /// than the lease may see its run taken over by another engine: its next write is then
  /// refused and it stops (the step's effect is protected by its idempotency key).
  std::chrono::milliseconds lease{30'000};
};

namespace detail {
/// This process's incarnation: its pid and a random number drawn once (a forked child has
/// another pid, so another incarnation).
inline std::string incarnation() {
#if defined(__unix__) || defined(__APPLE__)
  const long pid = static_cast<long>(::getpid());
#else
  const long pid = 0;
#endif
  static const run_id random = run_id::generate();
  const auto h = random.hex();
  return std::to_string(pid) + "." + std::string(h.data(), 8);
}
/// "name#incarnation", or "host#incarnation" without a name.
inline std::string owner_name(const std::string& name) {
  if (!name.empty()) return name + "#" + incarnation();
  char host[256] = {};
#if defined(__unix__) || defined(__APPLE__)
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
#endif
  return std::string(host[0] != '\0' ? host : "localhost") + "#" + incarnation();
}
}  // namespace detail

/**
 * A workflow bound to a journal: `tutti::durable_workflow durable{payment, journal};`
 *
 * - `durable.run(input, opts, clock, observer)` claims a new run (epoch 1) and writes its start
 *   (input and the workflow's fingerprint), then each attempt's start and end, each step's
 *   output, each compensation and the run's end — each before the engine moves on, each carrying
 *   the run's epoch.
 * - `durable.resume<In>(id, ...)` claims a run that stopped (a crash, an unpause, a journal
 *   error) — refused with `journal_errc::owned` while another engine's lease on it is live —
 *   and replays it: steps whose output is in the journal are not called again (their outputs
 *   are restored); a step whose attempt started without a recorded end is called again with the
 *   same idempotency key; a run that was compensating goes on compensating.
 * - `durable.resume_all<In>(...)` claims and resumes every run of this workflow that is running
 *   and held by no live lease (start-up); runs other engines hold are left to them.
 * - `durable.resume_claimed<In>(claim, ...)`: runs a claim made elsewhere (`tutti::runner`).
 * If the store refuses a write (the run was taken over, or an operator resolved it), the run
 * stops at once: no further call, no compensation, no run end; the outcome's error is
 * `journal_errc::fenced`. Operator commands (pause, retry, re-drive, resolve) are free functions
 * on the journal (`tutti::pause_run(journal, id)`, ...), so a tool can run them without the
 * workflow's code. Lifetime: holds references to the workflow and the journal.
 */
namespace detail {
/// The async layer's way into a durable workflow: defined by <tutti/async.hpp>.
template <class D>
struct async_durable_access;
template <class D, class In>
concept async_durable_included = requires { async_durable_access<D>::available; } && !std::is_void_v<In>;
}  // namespace detail

template <class W, journal J>
class durable_workflow {
 public:
  durable_workflow(const W& workflow, J& journal, durable_options options = {})
      : workflow_(&workflow), journal_(&journal), options_(std::move(options)),
        owner_(detail::owner_name(options_.name)),
        reclaim_(options_.name.empty() ? std::string() : options_.name + "#") {}

  [[nodiscard]] const W& workflow() const noexcept { return *workflow_; }
  [[nodiscard]] J& journal() const noexcept { return *journal_; }
  [[nodiscard]] const durable_options& options() const noexcept { return options_; }
  /// What this engine claims with: its owner name and lease.
  [[nodiscard]] lease_request lease() const noexcept {
    return {owner_, options_.lease, reclaim_};
  }

  /// Starts a new journaled run (`opts.id` empty: a new id).
  template <class In, tutti::clock C = steady_clock, observer O = null_observer>
  auto run(const In& input, const run_options& opts, C& clock, O& obs) const {
    require_storable<In>();
    using run_type = decltype(workflow_->run(input, opts, clock, obs));
    durable_outcome<run_type> out;
    run_options o = opts;
    const auto epoch = begin_run(input, o, out);
    if (!epoch) return out;
    journal_hooks<J, O, C> hooks{*journal_, obs, clock, o.id, nullptr, *epoch, options_.lease};
    out.run.emplace(workflow_->run(input, o, clock, hooks));
    finish(out, hooks);
    return out;
  }
  template <class In>
  auto run(const In& input, const run_options& opts = {}) const {
    null_observer none;
    return run(input, opts, detail::default_clock(), none);
  }
  template <class In, tutti::clock C>
  auto run(const In& input, const run_options& opts, C& clock) const {
    null_observer none;
    return run(input, opts, clock, none);
  }

  /// Records a request in the journal's queue (`journal.submit`): it runs when a runner (or a
  /// `resume`) claims it. Works with no engine up. The run's id, or the first run's for a
  /// resubmission with the same dedup key.
  template <class In>
  result<submitted> submit(const In& input, const submit_options& options = {}) const {
    require_storable<In>();
    std::vector<std::byte> bytes;
    const auto encoding = detail::encode_payload(input, bytes);
    if (!encoding) return journal_errc::serialization;  // its JSON conversion threw
    const std::string key = key_of(input);
    workflow_version wv = identity<In>();
    wv.key = key;
    wv.input_encoding = encoding.value();
    return journal_->submit(W::name.view(), wv, bytes, options);
  }

  /**
   * In an async run (`#include <tutti/async.hpp>`): `co_await durable.async_run(input, opts,
   * clock, observer)`, `async_resume<In>(id, ...)`, `async_resume_claimed<In>(claim, ...)` and
   * `async_resume_all<In>(each, ...)` do what run, resume, resume_claimed and resume_all do,
   * the workflow run with async_run(); the journal's writes stay synchronous (on the run's
   * thread). See docs/async.md.
   */
  template <class In, class... A>
  [[nodiscard]] auto async_run(In input, const run_options& opts = {}, A&... more) const {
    if constexpr (detail::async_durable_included<durable_workflow, In>) {
      return detail::async_durable_access<durable_workflow>::run(*this, std::move(input), opts,
                                                                 more...);
    } else {
      static_assert(detail::async_durable_included<durable_workflow, In>,
                    "tutti: async_run() needs the async layer: #include <tutti/async.hpp> (it "
                    "needs Asio: the tutti::async CMake target), or run the workflow with run().");
    }
  }
  template <class In, class... A>
  [[nodiscard]] auto async_resume(const run_id& id, const run_options& opts = {}, A&... more) const {
    if constexpr (detail::async_durable_included<durable_workflow, In>) {
      return detail::async_durable_access<durable_workflow>::template resume<In>(*this, id, opts,
                                                                                 more...);
    } else {
      static_assert(detail::async_durable_included<durable_workflow, In>,
                    "tutti: async_resume() needs the async layer: #include <tutti/async.hpp>.");
    }
  }
  template <class In, tutti::clock C = steady_clock, observer O = null_observer>
  [[nodiscard]] auto async_resume_claimed(const run_claim& claim, const run_options& opts, C& clock,
                                          O& obs, const claim_control& control = {}) const {
    if constexpr (detail::async_durable_included<durable_workflow, In>) {
      return detail::async_durable_access<durable_workflow>::template resume_claimed<In>(
          *this, claim, opts, clock, obs, control);
    } else {
      static_assert(detail::async_durable_included<durable_workflow, In>,
                    "tutti: async_resume_claimed() needs the async layer: #include "
                    "<tutti/async.hpp>.");
    }
  }
  template <class In, class Each, class... A>
  [[nodiscard]] auto async_resume_all(Each each, const run_options& opts = {}, A&... more) const {
    if constexpr (detail::async_durable_included<durable_workflow, In>) {
      return detail::async_durable_access<durable_workflow>::template resume_all<In>(
          *this, std::move(each), opts, more...);
    } else {
      static_assert(detail::async_durable_included<durable_workflow, In>,
                    "tutti: async_resume_all() needs the async layer: #include <tutti/async.hpp>.");
    }
  }

  /// Claims run `id` and resumes it (see the class comment).
  template <class In, tutti::clock C = steady_clock, observer O = null_observer>
  auto resume(const run_id& id, run_options opts, C& clock, O& obs) const {
    using run_type = decltype(workflow_->run(std::declval<const In&>(), opts, clock, obs));
    auto claimed = journal_->claim(id, lease());
    if (!claimed) {
      durable_outcome<run_type> out;
      out.error = claimed.error();
      out.message = refusal(id, claimed.error());
      return out;
    }
    return resume_claimed<In>(claimed.value(), std::move(opts), clock, obs);
  }
  template <class In>
  auto resume(const run_id& id, const run_options& opts = {}) const {
    null_observer none;
    return resume<In>(id, opts, detail::default_clock(), none);
  }
  template <class In, tutti::clock C>
  auto resume(const run_id& id, const run_options& opts, C& clock) const {
    null_observer none;
    return resume<In>(id, opts, clock, none);
  }

  /**
   * Reruns ended run `old` from its step `from` as a new run (`tutti::rerun_run`: the outputs of
   * the steps before `from` are reused, the new run is linked to the old) and runs it here at
   * once, as `resume` of the new run does; `opts.id`, when set, is the new run's id. A refusal
   * (the old run has not ended, never reached `from`, a reused step was compensated) comes back
   * in `error` (`journal_errc::invalid_command`) and `message`.
   */
  template <class In>
  auto rerun(const run_id& old, std::string_view from, const run_options& opts = {}) const {
    using outcome_type = decltype(resume<In>(old, opts));
    if (auto s = journal_->load(old); s && (s.value().summary.workflow != W::name.view() ||
                                            s.value().summary.version != version)) {
      outcome_type out;
      out.error = journal_errc::invalid_command;
      out.message = "run " + hex(old) + " runs on workflow \"" + s.value().summary.workflow +
                    "\" version " + std::to_string(s.value().summary.version) + "; this is \"" +
                    std::string{W::name.view()} + "\" version " + std::to_string(version) +
                    ": rerun it where that version runs (or with tutti::rerun_run, for a runner)";
      return out;
    }
    rerun_options ro;
    ro.id = opts.id;
    ro.owner = owner_;
    ro.lease = options_.lease;
    ro.keep = true;  // run here at once: no other engine claims it in between
    std::string why;
    auto made = rerun_run(*journal_, old, from, ro, &why);
    if (!made) {
      outcome_type out;
      out.error = made.error();
      out.message = why.empty() ? made.error().message() : why;
      return out;
    }
    null_observer none;
    return resume_claimed<In>(*made.value().claim, opts, detail::default_clock(), none);
  }

  /**
   * Runs a claim this engine holds (from `journal.claim` or `journal.claim_next`): loads the
   * run and replays it as `resume` does, writing with the claim's epoch. A run of another
   * workflow shape (or whose input cannot be read) is reported as `fingerprint_mismatch`
   * (`serialization`) and handed back, or parked as dead-lettered with
   * `control.park_unrunnable` (a runner's choice). Once
   * `*hand_back` (when given) is true, the run stops at its next step boundary and is handed
   * back (a `released` record), as a paused one.
   */
  template <class In, tutti::clock C = steady_clock, observer O = null_observer>
  auto resume_claimed(const run_claim& claim, run_options opts, C& clock, O& obs,
                      const claim_control& control = {}) const {
    using run_type = decltype(workflow_->run(std::declval<const In&>(), opts, clock, obs));
    durable_outcome<run_type> out;
    auto prepared = load_claim<In>(claim, control, out);
    if (!prepared) return out;
    opts.id = claim.id;
    journal_hooks<J, O, C> hooks{*journal_, obs,         clock,
                                 claim.id,  &prepared->plan, claim.epoch,
                                 lease_of(claim)};
    hooks.hand_back_when(control.hand_back);
    hooks.heartbeats(control.renewed_ns);
    out.run.emplace(workflow_->run(prepared->input, opts, clock, hooks));
    finish(out, hooks);
    return out;
  }

  /**
   * Claims and resumes every run of this workflow's version that is running and held by no
   * live lease (its engine died, or handed it back): what a service does at start-up. Runs
   * another engine holds are left alone, so any number of engines may call it at once: each run
   * is resumed by one; runs of other versions are left to the engines that run them.
   * `each(id, outcome)` is called per run claimed. A run this engine cannot run (written by
   * another shape of this version, or with an input it cannot read) is parked as
   * dead-lettered, once: `each` sees the refusal, and the next start-up does not claim it
   * again. Returns how many runs it resumed, or the journal's error when it could not list them.
   */
  template <class In, class Each, tutti::clock C = steady_clock, observer O = null_observer>
  result<std::size_t> resume_all(Each&& each, const run_options& opts, C& clock, O& obs) const {
    auto runs = resumable();
    if (!runs) return runs.error();
    std::size_t n = 0;
    for (const run_summary& s : runs.value()) {
      auto claimed = claim_resumable(s.id);
      if (!claimed) return claimed.error();
      if (!claimed.value()) continue;
      auto r = resume_claimed<In>(*claimed.value(), opts, clock, obs, start_up_control());
      if (r) ++n;
      each(s.id, r);
    }
    return n;
  }
  template <class In, class Each>
  result<std::size_t> resume_all(Each&& each, const run_options& opts = {}) const {
    null_observer none;
    return resume_all<In>(std::forward<Each>(each), opts, detail::default_clock(), none);
  }
  template <class In, class Each, tutti::clock C>
  result<std::size_t> resume_all(Each&& each, const run_options& opts, C& clock) const {
    null_observer none;
    return resume_all<In>(std::forward<Each>(each), opts, clock, none);
  }

  /// The fingerprint written with each run of input type `In`: `fingerprint_of<W, In>()`, its
  /// step output types included. `fingerprint()`: the shape's names only, as tutti wrote
  /// before it recorded output types; a resume accepts runs with either.
  template <class In = void>
  [[nodiscard]] static std::uint64_t fingerprint() {
    static const std::uint64_t fp = fingerprint_of<W, In>();
    return fp;
  }
  /// The version written with each run (`tutti::versioned`; 1 otherwise).
  static constexpr std::uint32_t version = version_of<W>;
  /// What each run of input type `In` records of its workflow: version and fingerprint.
  template <class In = void>
  [[nodiscard]] static workflow_version identity() { return {fingerprint<In>(), version}; }
  /// The business key a run with `input` records (`tutti::keyed`); empty for other workflows.
  template <class In>
  [[nodiscard]] std::string key_of(const In& input) const {
    if constexpr (requires { workflow_->business_key(input); })
      return workflow_->business_key(input);
    else
      return {};
  }

 private:
  template <class D>
  friend struct detail::async_durable_access;

  /// resume_all's candidates: the running runs of this workflow's version.
  result<std::vector<run_summary>> resumable() const {
    run_filter f;
    f.status = run_status::running;
    f.workflow = std::string{W::name.view()};
    f.version = version;
    return journal_->list(f);
  }
  /// How resume_all runs its claims: a run this engine cannot run is parked (it is not claimed
  /// again at every start-up).
  static claim_control start_up_control() noexcept {
    claim_control c;
    c.park_unrunnable = true;
    return c;
  }
  /// resume_all's claim of one: nothing when another engine has it or it moved on since the
  /// listing; the journal's error when it failed.
  result<std::optional<run_claim>> claim_resumable(const run_id& id) const {
    auto claimed = journal_->claim(id, lease());
    if (claimed) return std::optional<run_claim>{std::move(claimed).value()};
    const std::error_code e = claimed.error();
    if (e == journal_errc::owned || e == journal_errc::not_resumable || e == journal_errc::run_not_found)
      return std::optional<run_claim>{};
    return e;
  }

  /// A claimed run, loaded: its replay plan and its input.
  template <class In>
  struct loaded_claim {
    replay_plan plan;
    In input;
  };

  /// Writes a new run's start (`o.id` empty: a new id): its epoch, or nothing with the
  /// refusal in `out`.
  template <class In, class Out>
  std::optional<std::uint64_t> begin_run(const In& input, run_options& o, Out& out) const {
    if (o.id.empty()) o.id = run_id::generate();
    std::vector<std::byte> bytes;
    const auto encoding = detail::encode_payload(input, bytes);
    if (!encoding) {
      out.error = journal_errc::serialization;
      out.message = "the run's input could not be written to the journal: its JSON conversion threw";
      return std::nullopt;
    }
    const std::string key = key_of(input);
    workflow_version wv = identity<In>();
    wv.key = key;
    wv.input_encoding = encoding.value();
    auto started = journal_->start(o.id, W::name.view(), wv, bytes, lease());
    if (!started) {
      out.error = started.error();
      out.message = "the journal refused the run's start: " +
                    detail::journal_failure(*journal_, started.error());
      return std::nullopt;
    }
    return started.value().epoch;
  }

  /// Loads a claimed run to resume it: its plan and input, or nothing with the reason in `out`
  /// (a run of another shape, or whose input cannot be read, is handed back or parked).
  template <class In, class Out>
  std::optional<loaded_claim<In>> load_claim(const run_claim& claim, const claim_control& control,
                                             Out& out) const {
    const run_id& id = claim.id;
    auto loaded = journal_->load(id);
    if (!loaded) {
      out.error = loaded.error();
      out.message = "run " + hex(id) + " could not be loaded from the journal: " +
                    detail::journal_failure(*journal_, loaded.error());
      return std::nullopt;
    }
    const stored_run& stored = loaded.value();
    replay_plan plan = plan_of(stored);
    const bool other_version =
        stored.summary.workflow != W::name.view() || stored.summary.version != version;
    // A run written before fingerprints named output types carries the names-only one.
    const bool same_shape = stored.summary.fingerprint == fingerprint<In>() ||
                            stored.summary.fingerprint == fingerprint();
    if (other_version || (!same_shape && !plan.moved)) {
      out.error = journal_errc::fingerprint_mismatch;
      const std::string why =
          other_version ? "it runs on version " + std::to_string(stored.summary.version) +
                              " of workflow \"" + stored.summary.workflow + "\""
                        : "written by another shape of version " + std::to_string(version);
      // A run of another version is never parked: an engine of that version can run it (an
      // operator may have moved it between a listing and this claim).
      claim_control handling = control;
      if (other_version) handling.park_unrunnable = false;
      if (auto e = unrunnable(claim, handling, why)) {
        out.error = e;
        out.message = "run " + hex(id) + " could not be parked: " +
                      detail::journal_failure(*journal_, e);
        return std::nullopt;
      }
      out.message = "run " + hex(id) + " was written by workflow \"" + stored.summary.workflow +
                    "\" version " + std::to_string(stored.summary.version) + " with fingerprint " +
                    hex64(stored.summary.fingerprint) + "; this is workflow \"" +
                    std::string{W::name.view()} + "\" version " + std::to_string(version) +
                    " with fingerprint " + hex64(fingerprint<In>()) + " (" + shape_of<W, In>() + ")";
      return std::nullopt;
    }
    if (plan.rerun_incomplete && !plan.resolved && !plan.paused && !plan.finished) {
      // Unpaused by an operator before its copies were all written: running it would call
      // steps whose outputs it was to reuse.
      out.error = journal_errc::not_resumable;
      const char* why = "it is a rerun whose copies were cut short (tutti::rerun_run stopped before "
                        "it released the run): resolve it and rerun again";
      if (auto e = unrunnable(claim, control, why)) {
        out.error = e;
        out.message = "run " + hex(id) + " could not be parked: " +
                      detail::journal_failure(*journal_, e);
        return std::nullopt;
      }
      out.message = "run " + hex(id) + " is not run: " + why;
      return std::nullopt;
    }
    if (plan.resolved || plan.paused || plan.finished) {
      // An operator's command landed between the claim and the load (a pause, say).
      (void)journal_->release(id, claim.epoch);
      out.error = journal_errc::not_resumable;
      out.message = "run " + hex(id) + " is " + std::string{to_string(stored.summary.status)} +
                    (plan.paused ? ": unpause it first" : ": nothing to resume");
      return std::nullopt;
    }
    auto input = detail::decode_payload<In>(stored.input, stored.input_encoding);
    if (!input) {
      out.error = journal_errc::serialization;
      if (auto e = unrunnable(claim, control,
                              "its input cannot be read back as this workflow's input type")) {
        out.error = e;
        out.message = "run " + hex(id) + " could not be parked: " +
                      detail::journal_failure(*journal_, e);
        return std::nullopt;
      }
      out.message = "the input of run " + hex(id) + " could not be read back";
      return std::nullopt;
    }
    return loaded_claim<In>{std::move(plan), std::move(input).value()};
  }

  template <class In>
  static constexpr void require_storable() {
    detail::require_journalable<In>();
    static_assert(journalable<In> || detail::refused_bytes<In>() != detail::bytes_kind::plain,
                  "tutti: a journaled run stores its input, and this input type cannot be "
                  "stored. Make it trivially copyable, give it `template <class A> void "
                  "serialize(A& ar, T& v) { ar(v.field1, ...); }`, specialise "
                  "tutti::serializer<T>, or journal it as JSON (tutti::json_payload<T>, "
                  "<tutti/journal/json.hpp>).");
  }
  /// The lease a claim holds for (claims are made with this engine's lease, or a runner's).
  [[nodiscard]] std::chrono::milliseconds lease_of(const run_claim&) const noexcept {
    return options_.lease;
  }
  /// A claimed run this workflow cannot run: handed back, or parked (`park_unrunnable`). The
  /// journal's error when parking it failed (the run stays held until its lease expires).
  std::error_code unrunnable(const run_claim& claim, const claim_control& control,
                             std::string_view why) const {
    if (!control.park_unrunnable) {
      (void)journal_->release(claim.id, claim.epoch);
      return {};
    }
    record_view r;
    r.kind = record_kind::dead_lettered;
    r.epoch = claim.epoch;
    const std::string text = std::string("this engine (workflow \"") + std::string(W::name.view()) +
                             "\" version " + std::to_string(version) + ", shape " + shape_of<W>() +
                             ") cannot run it: " + std::string(why);
    r.message = text;
    auto w = journal_->append(claim.id, r);
    return w ? std::error_code{} : w.error();
  }
  /// After a run: the journal's error, if it stopped the run; a paused run is handed back, so
  /// that an unpause lets any engine claim it at once.
  template <class Out, class Hooks>
  void finish(Out& out, Hooks& hooks) const {
    hooks.flush();  // a record held back for batching: written before the run is let go
    if (hooks.broken()) {
      out.error = hooks.journal_error();
      out.message = hooks.journal_message();
      // A journal that failed (not a fence): hand the run back if the store still takes that,
      // so a resume need not wait for the lease to expire.
      if (!hooks.fenced()) (void)journal_->release(out.run->id(), hooks.epoch());
      return;
    }
    if (hooks.halted()) (void)journal_->release(out.run->id(), hooks.epoch());
  }
  std::string refusal(const run_id& id, const std::error_code& e) const {
    if (e == journal_errc::owned)
      return "run " + hex(id) + " is held by another engine whose lease has not expired";
    if (e == journal_errc::not_resumable) {
      auto st = journal_->status(id);
      const bool paused = st && st.value() == run_status::paused;
      return "run " + hex(id) + " is " +
             (st ? std::string{to_string(st.value())} : std::string{"not resumable"}) +
             (paused ? ": unpause it first" : ": nothing to resume");
    }
    return "run " + hex(id) + " could not be claimed: " + detail::journal_failure(*journal_, e);
  }
  static std::string hex(const run_id& id) {
    const auto h = id.hex();
    return std::string{h.data(), h.size()};
  }
  static std::string hex64(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 0xF];
    return out;
  }

  const W* workflow_;
  J* journal_;
  durable_options options_;
  std::string owner_;
  std::string reclaim_;
};

template <class W, class J>
durable_workflow(const W&, J&) -> durable_workflow<W, J>;
template <class W, class J>
durable_workflow(const W&, J&, durable_options) -> durable_workflow<W, J>;

// ---- operator commands ------------------------------------------------------------------------

namespace detail {
/// An operator's record, checked against the run's status and written in one step of the store.
template <journal J>
result<void> command(J& j, const run_id& id, record_kind kind, std::initializer_list<run_status> from,
                     std::string_view note = {}, bool fence = false) {
  record_view r;
  r.kind = kind;
  r.message = note;
  auto done = j.command(id, r, std::span<const run_status>(from.begin(), from.size()), fence);
  if (!done) return done.error();
  return outcome::success();
}
}  // namespace detail

/// Pauses a running run: no new step starts until `unpause_run` (the step running now finishes;
/// its engine then hands the run back).
template <journal J>
result<void> pause_run(J& j, const run_id& id) {
  return detail::command(j, id, record_kind::paused, {run_status::running});
}
/// Lets a paused run go on: a runner claims it (or `resume` it; or the engine still holding it
/// goes on).
template <journal J>
result<void> unpause_run(J& j, const run_id& id) {
  return detail::command(j, id, record_kind::unpaused, {run_status::paused});
}
/// A run that failed with nothing undone: it runs again from its failed step when next claimed
/// (a runner does so; or `resume` it). A dead-lettered run: it goes on where it stopped
/// (forward, or compensating), its recovery count reset.
template <journal J>
result<void> retry_run(J& j, const run_id& id) {
  auto revived = detail::command(j, id, record_kind::revived, {run_status::dead_lettered});
  if (revived || revived.error() != journal_errc::invalid_command) return revived;
  return detail::command(j, id, record_kind::retry_requested, {run_status::failed});
}
/// A run whose compensation failed: the compensations that did not succeed run again when next
/// claimed.
template <journal J>
result<void> redrive_compensations(J& j, const run_id& id) {
  return detail::command(j, id, record_kind::redrive_requested, {run_status::compensation_failed});
}
/**
 * Moves a run that has not ended to version `version` of its workflow (an operator's decision
 * that this version can finish it: its journal is replayed by that version, by step path, and
 * its shape is not checked). A live run is fenced (its engine stops at its next write); a
 * dead-lettered one goes on (a runner hosting that version claims it). `invalid_command` for a
 * run that ended, or for version 0.
 */
template <journal J>
result<void> move_run(J& j, const run_id& id, std::uint32_t version, std::string_view note = {}) {
  if (version == 0) return journal_errc::invalid_command;
  record_view r;
  r.kind = record_kind::moved;
  r.attempt = version;
  r.message = note;
  static constexpr run_status from[] = {run_status::running, run_status::paused, run_status::queued,
                                        run_status::dead_lettered};
  auto done = j.command(id, r, std::span<const run_status>(from), true);
  if (!done) return done.error();
  return outcome::success();
}

/// Marks a run settled by hand (with a note): it is never resumed. A live run is fenced: the
/// engine running it is refused at its next write and stops there (at the latest at the end of
/// the step it is in); a queued run is cancelled.
template <journal J>
result<void> resolve_run(J& j, const run_id& id, std::string_view note) {
  return detail::command(j, id, record_kind::resolved,
                         {run_status::running, run_status::paused, run_status::failed,
                          run_status::compensation_failed, run_status::queued,
                          run_status::dead_lettered},
                         note, true);
}

// ---- rerun ---------------------------------------------------------------------------------------

namespace detail {
inline std::string id_hex(const run_id& id) {
  const auto h = id.hex();
  return {h.data(), h.size()};
}
/// "charge" for "charge" and for "charge/inner".
inline std::string_view top_step(std::string_view path) noexcept {
  return path.substr(0, path.find('/'));
}
/// What a run says of its place among reruns: the run it reruns (`rerun_of`), the records it
/// copied from it (between its `rerun_of` and its own unpause), and the reruns made of it.
struct rerun_links {
  std::optional<run_id> source;
  std::size_t copies_begin = 0, copies_end = 0;  ///< record indices [begin, end)
  std::vector<run_id> reruns;
};
inline rerun_links links_of(const stored_run& run) {
  rerun_links out;
  const auto& rs = run.records;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].kind == record_kind::rerun_of && !out.source) {
      out.source = run_id::parse(rs[i].message);
      out.copies_begin = out.copies_end = i + 1;
      while (out.copies_end < rs.size() && !(rs[out.copies_end].kind == record_kind::unpaused &&
                                             !rs[out.copies_end].step.empty()))
        ++out.copies_end;
    } else if (rs[i].kind == record_kind::rerun_as) {
      if (auto id = run_id::parse(rs[i].message)) out.reruns.push_back(*id);
    }
  }
  return out;
}
/// Whether `run` copied the output of top-level step `top` (it is a rerun that reused it).
inline bool copied(const stored_run& run, const rerun_links& l, std::string_view top) {
  for (std::size_t i = l.copies_begin; i < l.copies_end && i < run.records.size(); ++i)
    if (run.records[i].kind == record_kind::step_finished && run.records[i].ok &&
        run.records[i].step == top)
      return true;
  return false;
}
/// Whether `run` undid top-level step `top` (or a part of it) after that step's last success
/// before record `before` — or anywhere after it when `before` is the end. A compensation
/// before the step's success (a losing branch of a first-of group, undone as the group ends)
/// does not count.
inline bool undone(const stored_run& run, std::string_view top, std::size_t before = SIZE_MAX) {
  std::size_t last_ok = SIZE_MAX;
  const std::size_t end = std::min(before, run.records.size());
  for (std::size_t i = 0; i < end; ++i) {
    const stored_record& r = run.records[i];
    if (r.kind == record_kind::step_finished && r.ok && r.step == top) last_ok = i;
  }
  if (last_ok == SIZE_MAX) return false;
  for (std::size_t i = last_ok + 1; i < run.records.size(); ++i)
    if (run.records[i].kind == record_kind::compensation_started &&
        top_step(run.records[i].step) == top)
      return true;
  return false;
}
}  // namespace detail

/**
 * Reruns an ended run from step `from` as a new run linked to it (Conductor's rerun): the new
 * run has the old run's workflow, version, fingerprint, business key and input; the records of
 * the steps the old run finished before it first reached `from` (their outputs, and what their
 * parts did: a failed optional branch, a first-of group's undone loser) are copied into it, so
 * that a runner (or `resume`) that claims it calls none of them again; `from` and every step
 * after it run anew, with new idempotency keys (a new run id). The new run's first record after
 * its start says what it reruns (`rerun_of`: the old id, `from`); the old run gets `rerun_as`
 * (the new id). `from` is a top-level step of the workflow (a group or a nested workflow by its
 * own name).
 *
 * Refused with `invalid_command` (the reason in `*why`) when the old run has not ended, never
 * reached `from`, or when an output it would reuse was undone: by the old run (its compensation),
 * or by any run that shares it — the run it was copied from, or another rerun that copied it
 * (a rerun that failed and rolled back undoes the service-side effect all of them share). Rerun
 * from that step or an earlier one instead. `run_not_found`, or the journal's error, otherwise.
 *
 * Crash-safe: the new run starts paused, held by `options.owner`, in the same transaction; its
 * records are copied; the old run is linked; one command unpauses and releases it (its
 * `unpaused` record names `from`: the copies are complete). Cut short, it stays paused, and an
 * engine that is given it anyway (an operator unpaused it) parks it: no engine runs a
 * half-copied rerun. An operator resolves it.
 */
template <journal J>
result<rerun_made> rerun_run(J& j, const run_id& old, std::string_view from,
                             const rerun_options& options = {}, std::string* why = nullptr) {
  const auto refuse = [why](std::string text) -> result<rerun_made> {
    if (why != nullptr) *why = std::move(text);
    return journal_errc::invalid_command;
  };
  const std::string old_hex = detail::id_hex(old);
  if (from.empty() || from.find('/') != std::string_view::npos)
    return refuse("a run is rerun from a top-level step of its workflow; \"" + std::string(from) +
                  "\" is not one");
  auto loaded = j.load(old);
  if (!loaded) {
    if (why != nullptr)
      *why = "run " + old_hex + " could not be loaded: " + detail::journal_failure(j, loaded.error());
    return loaded.error();
  }
  const stored_run& run = loaded.value();
  if (!ended(run.summary.status))
    return refuse("run " + old_hex + " is " + std::string(to_string(run.summary.status)) +
                  ": only a run that ended is rerun (resolve it first, or wait for its end)");
  const auto& records = run.records;
  std::size_t first = records.size();
  for (std::size_t i = 0; i < records.size(); ++i)
    if (!records[i].step.empty() && detail::top_step(records[i].step) == from &&
        records[i].kind != record_kind::rerun_of && records[i].kind != record_kind::rerun_as &&
        records[i].kind != record_kind::unpaused) {
      first = i;
      break;
    }
  if (first == records.size())
    return refuse("run " + old_hex + " never reached step \"" + std::string(from) +
                  "\": rerun from a step it reached");
  // The top-level steps whose last end before `from` is a success: their outputs are reused.
  std::map<std::string, bool, std::less<>> last_ok;
  std::vector<std::string> order;
  for (std::size_t i = 0; i < first; ++i) {
    const stored_record& r = records[i];
    if (r.kind != record_kind::step_finished || r.step.find('/') != std::string::npos) continue;
    if (!last_ok.contains(r.step)) order.push_back(r.step);
    last_ok[r.step] = r.ok;
  }
  rerun_made made;
  for (const std::string& step : order)
    if (last_ok[step]) made.reused.push_back(step);
  const auto reused = [&made](std::string_view path) {
    return std::find(made.reused.begin(), made.reused.end(), detail::top_step(path)) !=
           made.reused.end();
  };

  // No reused output may have been undone by a run that shares it: find where it was made (up
  // the rerun_of links while it is a copy), then that run and every rerun that copied it.
  for (const std::string& top : made.reused) {
    const auto undone_by = [&](const std::string& who) {
      return refuse("step \"" + top + "\" of run " + old_hex + " was compensated" +
                    (who == old_hex ? std::string() : " in run " + who + ", which shares its output") +
                    " (its effect undone): its output cannot be reused; rerun from \"" + top +
                    "\" or an earlier step");
    };
    if (detail::undone(run, top)) return undone_by(old_hex);
    stored_run origin = run;
    for (int depth = 0; depth < 64; ++depth) {
      const detail::rerun_links l = detail::links_of(origin);
      if (!l.source || !detail::copied(origin, l, top)) break;
      auto up = j.load(*l.source);
      if (!up) break;  // purged: nothing left to check there
      origin = std::move(up).value();
      if (detail::undone(origin, top)) return undone_by(detail::id_hex(origin.summary.id));
    }
    std::vector<run_id> todo = detail::links_of(origin).reruns;
    std::vector<run_id> seen{origin.summary.id};
    while (!todo.empty() && seen.size() < 1024) {
      const run_id id = todo.back();
      todo.pop_back();
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      auto other = j.load(id);
      if (!other) continue;  // purged, or a rerun that was never made
      const detail::rerun_links l = detail::links_of(other.value());
      if (!detail::copied(other.value(), l, top)) continue;  // it ran the step itself
      if (detail::undone(other.value(), top)) return undone_by(detail::id_hex(id));
      todo.insert(todo.end(), l.reruns.begin(), l.reruns.end());
    }
  }

  // The new run, paused and held from its first transaction.
  workflow_version wv{run.summary.fingerprint, run.summary.version, run.summary.key};
  wv.input_encoding = run.input_encoding;
  wv.paused = true;
  made.id = options.id.empty() ? run_id::generate() : options.id;
  const std::string new_hex = detail::id_hex(made.id);
  const auto failed = [&](const std::error_code& e, std::string_view doing) -> result<rerun_made> {
    if (why != nullptr)
      *why = "the rerun " + new_hex + " of run " + old_hex + " " + std::string(doing) + ": " +
             detail::journal_failure(j, e);
    return e;
  };
  auto started = j.start(made.id, run.summary.workflow, wv, run.input,
                         lease_request{options.owner, options.lease});
  if (!started) return failed(started.error(), "could not be started");
  const std::uint64_t epoch = started.value().epoch;
  record_view link;
  link.kind = record_kind::rerun_of;
  link.step = from;
  link.message = old_hex;
  link.epoch = epoch;
  if (auto a = j.append(made.id, link); !a)
    return failed(a.error(), "could not be linked (it stays paused)");
  if (plan_of(run).moved) {
    // The old run was moved to its version by an operator (its shape is not checked): so is this.
    const std::string note = "as run " + old_hex + " was";
    record_view moved;
    moved.kind = record_kind::moved;
    moved.attempt = run.summary.version;
    moved.message = note;  // (a view: `note` outlives the append)
    moved.epoch = epoch;
    if (auto a = j.append(made.id, moved); !a)
      return failed(a.error(), "could not be marked moved (it stays paused)");
  }
  for (std::size_t i = 0; i < first; ++i) {
    const stored_record& r = records[i];
    const bool kept = r.kind == record_kind::step_finished ||
                      r.kind == record_kind::compensation_started ||
                      r.kind == record_kind::compensation_finished;
    if (!kept || !reused(r.step)) continue;
    record_view copy = view_of(r);
    copy.time_ns = 0;  // a reading of the old run's clock: not this run's
    copy.epoch = epoch;
    if (auto a = j.append(made.id, copy); !a)
      return failed(a.error(), "could not copy the records of " + r.step + " (it stays paused)");
  }
  record_view back;
  back.kind = record_kind::rerun_as;
  back.step = from;
  back.message = new_hex;
  static constexpr run_status ended_statuses[] = {
      run_status::succeeded, run_status::failed,   run_status::compensated,
      run_status::compensation_failed, run_status::resolved, run_status::dead_lettered};
  static constexpr run_status paused_only[] = {run_status::paused};
  if (auto c = j.command(old, back, std::span<const run_status>(ended_statuses), false); !c) {
    // The old run changed under us (a retry, say): the new run is cancelled, never run.
    record_view cancel;
    cancel.kind = record_kind::resolved;
    const std::string note = "rerun abandoned: run " + old_hex + " could not be linked to it";
    cancel.message = note;
    (void)j.command(made.id, cancel, std::span<const run_status>(paused_only), true);
    return failed(c.error(), "was abandoned: the old run could not be linked to it");
  }
  // The copies are complete: an unpause naming the step says so (an operator's names none).
  record_view go;
  go.kind = record_kind::unpaused;
  go.step = from;
  if (auto c = j.command(made.id, go, std::span<const run_status>(paused_only), !options.keep); !c)
    return failed(c.error(), "could not be released (it stays paused; resolve it and rerun again)");
  if (options.keep) made.claim = std::move(started).value();
  return made;
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_DURABLE_HPP
