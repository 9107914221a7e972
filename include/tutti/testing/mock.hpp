// tutti testing kit — mock steps and compensations: scripted outcomes and a log of every call.
#ifndef TUTTI_TESTING_MOCK_HPP
#define TUTTI_TESTING_MOCK_HPP

#include <cstddef>       // std::size_t
#include <cstdint>       // attempt numbers, counts
#include <exception>     // std::exception_ptr for throws()
#include <functional>    // std::function: one scripted outcome (test code, not a hot path)
#include <memory>        // the script and the log, shared by copies of a mock
#include <mutex>         // concurrent runs call one mock
#include <optional>      // an outcome's own duration
#include <stdexcept>     // std::invalid_argument, std::logic_error
#include <string>        // keys, names, messages
#include <string_view>   // key lookups
#include <system_error>  // scripted errors
#include <tuple>         // recorded arguments
#include <type_traits>   // signature checks
#include <utility>       // std::move, std::forward
#include <vector>        // the script and the log

#include "../clock.hpp"
#include "../config.hpp"
#include "../context.hpp"
#include "../result.hpp"
#include "manual_clock.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {

namespace detail {
/// How a parameter is kept in the call log: decayed and copied; `from<"s", T>` as the T it read
/// (the from<> points into the run, which is gone when the test looks).
template <class A>
struct recorded {
  using type = std::remove_cvref_t<A>;
  static const type& keep(const type& a) noexcept { return a; }
};
template <fixed_string Name, class T>
struct recorded<from<Name, T>> {
  using type = T;
  static const T& keep(const from<Name, T>& a) noexcept { return *a; }
};
template <class A>
using recorded_t = typename recorded<std::remove_cvref_t<A>>::type;

template <class R>
using mock_value_t =
    tutti::detail::value_of_t<R>;  // result<T> and T -> T; void, result<void> -> void

[[noreturn]] inline void mock_misuse(const std::string& name, const char* what) {
  throw std::invalid_argument("tutti::testing::mock" +
                              (name.empty() ? std::string{} : " \"" + name + "\"") + ": " + what);
}
}  // namespace detail

/// The primary template only diagnoses: a mock is declared with a function type.
template <class Sig>
class mock {
  static_assert(tutti::detail::always_false<Sig>,
                "tutti: mock<Sig>: Sig must be a function type, the signature of the step it "
                "stands for, e.g. tutti::testing::mock<tutti::result<receipt>(const order&)> or "
                "mock<void(const receipt&)> for a compensation.");
};

/**
 * A step (or compensation) whose behaviour a test scripts and whose calls it inspects.
 * `Sig` is the signature of the callable it stands for: its parameters are bound by the engine
 * like a real step's (the workflow input, `tutti::from<"step", T>`, `tutti::call_context`,
 * `std::stop_token`); it also always receives the `call_context`, to log the attempt and the
 * idempotency key. It returns `tutti::result<T>` where T is the value type of `Sig`'s return
 * type (`result<T>` or `T`; nothing for `void` / `result<void>`).
 *
 * Scripting: outcomes are consumed in order, each once or `times(n)`; the last one, unless it
 * was given `times(n)`, then answers every later call. A call beyond the script throws
 * `std::logic_error` (the run reports it as `errc::exception` with the message), except for a
 * mock returning nothing, which succeeds by default.
 * @code
 * tutti::testing::manual_clock clock;
 * auto charge = tutti::testing::mock<tutti::result<receipt>(const order&)>{"charge"}
 *                   .on(clock)
 *                   .fail(tutti::errc::timeout).times(2).after(3s)  // two timeouts of 3 s each
 *                   .then_return(receipt{42});                     // then success, every call
 * auto test = tutti::testing::replace<"charge">(place_order, charge);
 * auto run = test.run(order{}, {}, clock);
 * CHECK(charge.call_count() == 3);
 * CHECK(charge.calls()[2].attempt == 3);
 * @endcode
 * Copies share the script and the log: the workflow holds a copy, the test inspects its own.
 * Thread-safe: concurrent runs may call one mock, and the test may read the log meanwhile.
 */
template <class R, class... Args>
class mock<R(Args...)> {
 public:
  /// What a successful call produces (void for a mock that returns nothing).
  using value_type = detail::mock_value_t<R>;
  /// What the mock returns to the engine.
  using result_type = result<value_type>;
  /// What a scripted `does(fn)` callable is stored as.
  using action_type = std::function<result_type(Args...)>;

  /// One call, as the log keeps it.
  struct call {
    std::tuple<detail::recorded_t<Args>...> args;  ///< the bound arguments, copied
    std::uint32_t attempt = 0;                     ///< call_context::attempt (1 = first call)
    std::string key;   ///< the idempotency key as services see it: "<run id>:<step path>"
    std::string step;  ///< the step's path ("payment/authorize" when nested)
    run_id run{};      ///< the run the call belonged to
    duration deadline = duration::max();  ///< call_context::deadline (max: none)
    duration at{};          ///< the mock's clock when the call began (0 without a clock)
    std::error_code error;  ///< the error the call returned; empty on success or a throw
    bool threw = false;     ///< the call threw (a scripted throws(), or an unscripted call)

    /// The I-th parameter of `Sig`, as recorded.
    template <std::size_t I>
    [[nodiscard]] const auto& arg() const noexcept {
      return std::get<I>(args);
    }
  };

  /// A mock with an empty script and an empty log.
  mock() : s_(std::make_shared<state>()) {}
  /// The same, with a name for messages ("mock \"charge\": call 3 is not scripted").
  explicit mock(std::string_view name) : mock() { s_->name = std::string{name}; }

  // ---- the script ---------------------------------------------------------------------------

  /// Returns `v` (a copy, each call).
  template <class T>
  mock& returns(T&& v) {
    static_assert(!std::is_void_v<value_type>,
                  "tutti: mock::returns(v): this mock returns nothing (void or result<void>); "
                  "script a success with succeeds().");
    if constexpr (!std::is_void_v<value_type>) {
      static_assert(std::is_constructible_v<value_type, T&&>,
                    "tutti: mock::returns(v): v must convert to the mock's value type (T of the "
                    "result<T> its signature returns).");
      if constexpr (std::is_constructible_v<value_type, T&&>) {
        return push(
            [v = value_type(std::forward<T>(v))](const Args&...) -> result_type { return v; });
      }
    }
    return *this;
  }
  /// Succeeds (a mock returning void or result<void>).
  mock& succeeds() {
    static_assert(std::is_void_v<value_type>,
                  "tutti: mock::succeeds(): this mock returns a value; script it with returns(v).");
    if constexpr (std::is_void_v<value_type>)
      return push([](const Args&...) -> result_type { return outcome::success(); });
    else
      return *this;
  }
  /// Fails with `ec` (any error-code enum converts: `fail(tutti::errc::timeout)`).
  mock& fail(std::error_code ec) {
    if (!ec) detail::mock_misuse(s_->name, "fail(ec) needs a non-empty error code");
    return push([ec](const Args&...) -> result_type { return ec; });
  }
  /// Throws a copy of `e` (the run reports `errc::exception` with its `what()`).
  template <class E>
  mock& throws(E e) {
    return push([p = std::make_exception_ptr(std::move(e))](const Args&...) -> result_type {
      std::rethrow_exception(p);
    });
  }
  /// Calls `fn` with the bound arguments and returns what it returns (e.g. the real service).
  template <class Fn>
  mock& does(Fn fn) {
    static_assert(std::is_invocable_v<const Fn&, Args...>,
                  "tutti: mock::does(fn): fn must be callable with the mock's parameters (those "
                  "of its signature, in order).");
    if constexpr (std::is_invocable_v<const Fn&, Args...>) {
      using ret = std::invoke_result_t<const Fn&, Args...>;
      static_assert(std::is_void_v<ret> ? std::is_void_v<value_type>
                                        : std::is_convertible_v<ret, result_type>,
                    "tutti: mock::does(fn): fn must return the mock's result type (or something "
                    "that converts to it; void for a mock that returns nothing).");
      return push([fn = std::move(fn)](Args... a) -> result_type {
        if constexpr (std::is_void_v<ret>) {
          fn(static_cast<Args&&>(a)...);
          return outcome::success();
        } else {
          return fn(static_cast<Args&&>(a)...);
        }
      });
    }
    return *this;
  }

  /// Readable aliases for the outcomes after the first: `fail(ec).times(2).then_return(v)`.
  template <class T>
  mock& then_return(T&& v) {
    return returns(std::forward<T>(v));
  }
  mock& then_succeed() { return succeeds(); }
  mock& then_fail(std::error_code ec) { return fail(ec); }
  template <class E>
  mock& then_throw(E e) {
    return throws(std::move(e));
  }
  template <class Fn>
  mock& then_do(Fn fn) {
    return does(std::move(fn));
  }

  /// The outcome scripted last is used `n` times (n >= 1), then the next one.
  mock& times(std::uint32_t n) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    if (n == 0) detail::mock_misuse(s_->name, "times(n) needs n >= 1");
    if (s_->script.empty())
      detail::mock_misuse(s_->name, "times(n) follows an outcome: fail(ec).times(2)");
    s_->script.back().times = n;
    s_->script.back().counted = true;
    return *this;
  }
  /// The outcome scripted last comes after `d` of virtual time (needs `on(clock)`).
  mock& after(duration d) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    check_time(d);
    if (s_->script.empty())
      detail::mock_misuse(s_->name, "after(d) follows an outcome: fail(ec).after(3s)");
    s_->script.back().delay = d;
    return *this;
  }
  /// The manual clock that `takes` and `after` move forward.
  mock& on(manual_clock& clock) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    s_->clock = &clock;
    return *this;
  }
  /// Every call takes `d` of virtual time (unless its outcome has its own `after`): the mock
  /// advances the clock by `d` before it answers, so timeouts and deadlines see a slow service.
  mock& takes(duration d) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    check_time(d);
    s_->delay = d;
    return *this;
  }
  /// `on(clock).takes(d)`.
  mock& takes(duration d, manual_clock& clock) { return on(clock).takes(d); }

  // ---- the call -------------------------------------------------------------------------------

  /// Called by the engine: logs the call, moves the clock, answers from the script.
  result_type operator()(Args... args, const call_context& ctx) const {
    pending p = begin_call(args..., ctx);
    if (p.clock != nullptr && p.delay.count() > 0) p.clock->advance(p.delay);
    return answer(p, static_cast<Args&&>(args)...);
  }

  // The two halves of a call, for a mock that waits between them without holding a thread
  // (tutti::testing::async_mock): begin_call logs it and reads its script entry, answer runs it.

  /// A call begun: its log entry and what it is to do.
  struct pending {
    std::size_t index = 0;
    std::uint64_t generation = 0;
    action_type act;
    duration delay{};
    manual_clock* clock = nullptr;
  };
  pending begin_call(const std::remove_reference_t<Args>&... args, const call_context& ctx) const {
    pending p;
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::string key;
    ctx.key().append_to(key);
    p.clock = s_->clock;
    s_->log.push_back(call{std::tuple<detail::recorded_t<Args>...>(
                               detail::recorded<std::remove_cvref_t<Args>>::keep(args)...),
                           ctx.attempt, std::move(key), std::string{ctx.step}, ctx.run,
                           ctx.deadline, p.clock != nullptr ? p.clock->now() : duration{},
                           std::error_code{}, false});
    p.index = s_->log.size() - 1;
    p.generation = s_->generation;
    p.delay = s_->delay;
    if (entry* e = s_->next()) {
      p.act = e->act;  // a copy: the script may grow while this call runs
      if (e->delay) p.delay = *e->delay;
    }
    return p;
  }
  result_type answer(pending& p, Args... args) const {
    if (!p.act) {
      if constexpr (std::is_void_v<value_type>) {
        return outcome::success();
      } else {
        finish(p.index, p.generation, {}, true);
        throw std::logic_error("tutti::testing::mock" +
                               (s_->name.empty() ? std::string{} : " \"" + s_->name + "\"") +
                               ": call " + std::to_string(p.index + 1) +
                               " is not scripted; script it with returns(v), fail(ec), throws(e) "
                               "or does(fn), and times(n)");
      }
    }
    try {
      result_type r = p.act(static_cast<Args&&>(args)...);
      finish(p.index, p.generation, r.has_value() ? std::error_code{} : r.error(), false);
      return r;
    } catch (...) {
      finish(p.index, p.generation, {}, true);
      throw;
    }
  }
  /// A begun call that never answered (its wait was cancelled): logged with `ec`.
  void abandon(const pending& p, std::error_code ec) const { finish(p.index, p.generation, ec, false); }

  // ---- the log ------------------------------------------------------------------------------

  /// Every call so far, in the order they began.
  [[nodiscard]] std::vector<call> calls() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->log;
  }
  [[nodiscard]] std::size_t call_count() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->log.size();
  }
  /// The latest call. Throws std::logic_error if there was none.
  [[nodiscard]] call last_call() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    if (s_->log.empty())
      throw std::logic_error("tutti::testing::mock: last_call() of a mock never called");
    return s_->log.back();
  }
  /// The idempotency key of each call, in order ("<run id>:<step path>").
  [[nodiscard]] std::vector<std::string> keys() const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::vector<std::string> out;
    out.reserve(s_->log.size());
    for (const auto& c : s_->log) out.push_back(c.key);
    return out;
  }
  /// How many calls carried idempotency key `key`.
  [[nodiscard]] std::size_t count_with_key(std::string_view key) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    std::size_t n = 0;
    for (const auto& c : s_->log) n += c.key == key ? 1 : 0;
    return n;
  }
  /// Whether some call carried idempotency key `key`.
  [[nodiscard]] bool called_with_key(std::string_view key) const {
    return count_with_key(key) != 0;
  }
  /// Forgets the calls (the script and its position are kept).
  void clear_calls() {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    s_->log.clear();
    ++s_->generation;
  }
  /// The name given at construction (may be empty).
  [[nodiscard]] const std::string& name() const noexcept { return s_->name; }

 private:
  struct entry {
    action_type act;
    std::uint32_t times = 1;
    bool counted = false;           // times(n) was given: no repeating when last
    std::optional<duration> delay;  // after(d)
  };
  struct state {
    mutable std::mutex mutex;
    std::string name;
    std::vector<entry> script;
    std::size_t pos = 0;     // current outcome
    std::uint32_t used = 0;  // calls it has answered
    std::vector<call> log;
    std::uint64_t generation = 0;  // +1 per clear_calls()
    manual_clock* clock = nullptr;
    duration delay{};

    // The outcome of the next call; nullptr past the end of the script.
    entry* next() {
      while (pos < script.size()) {
        entry& e = script[pos];
        if (pos + 1 == script.size() && !e.counted) {  // the last outcome answers from then on
          ++used;
          return &e;
        }
        if (used < e.times) {
          ++used;
          return &e;
        }
        ++pos;
        used = 0;
      }
      return nullptr;
    }
  };

  template <class Fn>
  mock& push(Fn fn) {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    s_->script.push_back(entry{action_type(std::move(fn)), 1, false, std::nullopt});
    return *this;
  }
  void check_time(duration d) const {
    if (d.count() < 0) detail::mock_misuse(s_->name, "a virtual duration must not be negative");
    if (s_->clock == nullptr)
      detail::mock_misuse(s_->name,
                          "takes(d) and after(d) move a manual clock: call on(clock) first");
  }
  // Records how call `index` ended, unless clear_calls() has run since it began.
  void finish(std::size_t index, std::uint64_t generation, std::error_code ec, bool threw) const {
    const std::lock_guard<std::mutex> lock(s_->mutex);
    if (generation == s_->generation) {
      s_->log[index].error = ec;
      s_->log[index].threw = threw;
    }
  }

  std::shared_ptr<state> s_;
};

/**
 * A mock compensation: `mock_compensation<void(const receipt&)>`, given to `compensate_with`
 * or to `replace_compensation`. It is a mock whose signature returns nothing; it succeeds unless
 * scripted otherwise (`fail(ec)`, `throws(e)`), and logs what it was given (`arg<0>()`).
 */
template <class Sig>
  requires std::is_function_v<Sig> && std::is_void_v<typename mock<Sig>::value_type>
using mock_compensation = mock<Sig>;

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_MOCK_HPP
