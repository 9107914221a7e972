// tutti testing kit — an observer that keeps every event of the runs it watches, for assertions.
#ifndef TUTTI_TESTING_EVENT_LOG_HPP
#define TUTTI_TESTING_EVENT_LOG_HPP

#include <cstddef>      // std::size_t
#include <mutex>        // concurrent runs append to one log
#include <string>       // owned copies of names and messages
#include <string_view>  // lookups
#include <vector>       // the events

#include "../config.hpp"
#include "../events.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {

/**
 * Records every event of the runs it observes, with owned copies of the strings an event only
 * borrows: `tutti::testing::event_log log; wf.run(input, {}, clock, log);` then assert on
 * `log.count(tutti::event_kind::retry_scheduled)` or with the Catch2 matchers of
 * `<tutti/testing/catch2.hpp>`. Asks for time (`wants_time`), so events carry clock readings.
 * Thread-safe: concurrent runs append under a mutex; read it when they are done.
 */
class event_log {
 public:
  static constexpr bool wants_time = true;

  /// One recorded event: the event, whose views point into the owned strings beside it.
  struct entry {
    event_kind kind;
    bool compensation;
    std::uint32_t attempt;
    run_outcome outcome;
    breaker_state from, to;
    std::string workflow, step, message;
    run_id run;
    std::error_code error;
    duration time, delay, elapsed;
  };

  void on_event(const event& e) {
    entry x{e.kind,  e.compensation,           e.attempt,
            e.outcome, e.from,                 e.to,
            std::string{e.workflow}, std::string{e.step}, std::string{e.message},
            e.run,   e.error,                  e.time,
            e.delay, e.elapsed};
    const std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back(std::move(x));
  }

  /// Every event so far, in the order they were emitted.
  [[nodiscard]] std::vector<entry> entries() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
  }
  /// Events of one kind, optionally of one step (by path), in order.
  [[nodiscard]] std::vector<entry> of(event_kind kind, std::string_view step = {}) const {
    std::vector<entry> out;
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& x : entries_)
      if (x.kind == kind && (step.empty() || x.step == step)) out.push_back(x);
    return out;
  }
  /// Number of events of one kind (of one step, when given).
  [[nodiscard]] std::size_t count(event_kind kind, std::string_view step = {}) const {
    std::size_t n = 0;
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& x : entries_) n += x.kind == kind && (step.empty() || x.step == step) ? 1 : 0;
    return n;
  }
  /// Paths of the steps undone by a compensation, in the order they were undone.
  [[nodiscard]] std::vector<std::string> compensated_steps() const {
    std::vector<std::string> out;
    for (const auto& x : of(event_kind::compensation_succeeded)) out.push_back(x.step);
    return out;
  }
  /// How many times a breaker was seen opening (a change to `open`).
  [[nodiscard]] std::size_t breaker_openings(std::string_view step = {}) const {
    std::size_t n = 0;
    for (const auto& x : of(event_kind::breaker_state_changed, step))
      n += x.to == breaker_state::open ? 1 : 0;
    return n;
  }
  void clear() {
    const std::lock_guard<std::mutex> lock(mutex_);
    entries_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<entry> entries_;
};

static_assert(observer<event_log>);

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_EVENT_LOG_HPP
