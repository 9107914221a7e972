// tutti — fallback: degrade gracefully with a value, an alternate service or the last good result.
#ifndef TUTTI_POLICY_FALLBACK_HPP
#define TUTTI_POLICY_FALLBACK_HPP

#include <cstddef>       // keyed_last_good's size
#include <iterator>      // std::prev
#include <list>          // keyed_last_good: entries in the order they were stored
#include <mutex>         // last_good: one lock per store or read, off the breaker/bulkhead paths
#include <optional>      // last_good's value
#include <stdexcept>     // std::invalid_argument for a cache of no entries
#include <string_view>   // policy name
#include <system_error>  // predicates
#include <type_traits>   // shape checks
#include <unordered_map> // keyed_last_good: key to entry (and std::hash, std::equal_to, its defaults)
#include <utility>       // std::move

#include "../clock.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../policy.hpp"
#include "../report.hpp"
#include "../result.hpp"
#include "../step.hpp"

TUTTI_BEGIN_NAMESPACE

/// The default fallback predicate: every error except `cancelled` (a cancelled run must stop,
/// not be served a substitute).
struct fallback_on_failure {
  [[nodiscard]] bool operator()(const std::error_code& ec) const noexcept {
    return ec != errc::cancelled;
  }
};

/**
 * The last good result of a step, one value for every input, shared by runs (and threads): a
 * fallback can serve it when the step fails, if it is not older than a staleness bound. Made
 * only by `last_good<T>::shared()`: it serves any input the value stored for another (the price
 * of product 1 for product 2), which is right only for a step whose output does not depend on
 * its input (an exchange rate, a configuration). For outputs that depend on the input use
 * `tutti::keyed_last_good`. Thread-safe; each store and read takes a short lock (a copy of T).
 * Outlives the workflows that use it.
 *
 * @code
 * static auto rate = tutti::last_good<double>::shared();
 * step | tutti::fallback_to_last_good(rate, 30s)
 * @endcode
 */
template <class T>
class last_good {
  struct shared_tag {};
  explicit last_good(shared_tag) noexcept {}

 public:
  /// A cache of one value served to every input (say so: see the class comment).
  [[nodiscard]] static last_good shared() noexcept { return last_good{shared_tag{}}; }

  /// Poison: `last_good<T> cache;` used to mean one value for every input, which serves one
  /// input's result to another; the spelling now says which is meant.
  template <class U = T>
  last_good() {
    static_assert(detail::always_false<U>,
                  "tutti: last_good<T> keeps one value for every input, so a failed call for one "
                  "input would be served the result of another. Keep one value per key: "
                  "tutti::keyed_last_good<Key, T> cache{max_entries}; and "
                  "fallback_to_last_good(cache, key_of_input, max_age); or, if one value for "
                  "every input is meant, say so: auto cache = tutti::last_good<T>::shared();");
  }

  void store(const T& value, duration at) {
    const std::lock_guard<std::mutex> lock(mutex_);
    value_ = value;
    at_ = at;
  }
  /// The stored value if it was stored no earlier than `now - max_age`.
  [[nodiscard]] std::optional<T> get(duration now, duration max_age) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!value_ || now - at_ > max_age) return std::nullopt;
    return value_;
  }
  [[nodiscard]] bool empty() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return !value_.has_value();
  }

 private:
  mutable std::mutex mutex_;
  std::optional<T> value_;
  duration at_{};
};

namespace detail {
[[noreturn]] inline void tutti_invalid_setting_keyed_last_good_needs_at_least_1_entry() {
  throw std::invalid_argument("tutti: a keyed_last_good needs max_entries of at least 1");
}
}  // namespace detail

/**
 * The last good result of a step per key, the key taken from the step's input by a function
 * given to the fallback: `fallback_to_last_good(prices, [](const order& o) { return o.product;
 * }, 5min)`. At most `max_entries` keys are kept; storing a new key when full evicts the entry
 * stored longest ago (the stalest: the first the staleness bound would refuse anyway). Reading
 * does not refresh an entry: a value served during an outage is no fresher for it. Each entry
 * has its own time: one older than the fallback's `max_age` is not served.
 *
 * Thread-safe (one lock per store or read; a read copies T); shared by runs and threads.
 * Outlives the workflows that use it.
 */
template <class Key, class T, class Hash = std::hash<Key>, class Eq = std::equal_to<Key>>
class keyed_last_good {
 public:
  using key_type = Key;
  using value_type = T;

  /// Keeps at most `max_entries` keys (at least 1, else std::invalid_argument).
  explicit keyed_last_good(std::size_t max_entries) : max_(max_entries) {
    if (max_entries == 0) detail::tutti_invalid_setting_keyed_last_good_needs_at_least_1_entry();
  }
  keyed_last_good(const keyed_last_good&) = delete;
  keyed_last_good& operator=(const keyed_last_good&) = delete;

  /// Stores `value` for `key` at time `at`, evicting the oldest entry if a new key finds it full.
  void store(const Key& key, const T& value, duration at) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->value = value;
      it->second->at = at;
      order_.splice(order_.end(), order_, it->second);  // now the newest
      return;
    }
    if (index_.size() >= max_) {
      index_.erase(order_.front().key);
      order_.pop_front();
    }
    order_.push_back(entry{key, value, at});
    index_.emplace(key, std::prev(order_.end()));
  }
  /// The value stored for `key` if it was stored no earlier than `now - max_age`.
  [[nodiscard]] std::optional<T> get(const Key& key, duration now, duration max_age) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = index_.find(key);
    if (it == index_.end() || now - it->second->at > max_age) return std::nullopt;
    return it->second->value;
  }
  /// Keys held now (a snapshot).
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return index_.size();
  }
  [[nodiscard]] std::size_t max_entries() const noexcept { return max_; }

 private:
  struct entry {
    Key key;
    T value;
    duration at;
  };
  mutable std::mutex mutex_;
  std::size_t max_;
  std::list<entry> order_;  // oldest store first
  std::unordered_map<Key, typename std::list<entry>::iterator, Hash, Eq> index_;
};

namespace detail {
template <class V>
struct value_source {
  V value;
  static constexpr std::string_view kind = "value";
  template <class T, class Call>
  result<T> get(Call&, const std::error_code&) const {
    static_assert(std::is_convertible_v<const V&, T>,
                  "tutti: fallback(value): the value must convert to the step's output type.");
    return T(value);
  }
};

template <class F>
struct callable_source {
  F fn;
  static constexpr std::string_view kind = "alternate";
  /// Whether the alternate is a coroutine (it returns an awaitable): awaited in async runs.
  static constexpr bool coroutine = [] {
    if constexpr (signature_of<F>::known)
      return awaitable_type<std::remove_cvref_t<typename signature_of<F>::return_type>>;
    else
      return false;
  }();

  template <class T, class Call>
  result<T> get(Call& call, const std::error_code&) const {
    using In = typename Call::input_type;
    static_assert(!coroutine,
                  "tutti: fallback_to(f): f is a coroutine (it returns an awaitable). A coroutine "
                  "alternate is awaited in async runs (wf.async_run(...)); in a sync run, give "
                  "fallback_to a plain callable.");
    result<T> r = [&] {
      if constexpr (signature_of<F>::known) {
        return capture<T, signature_of<F>::nothrow>(call, false, [&]() -> decltype(auto) {
          return call_with(fn, call, typename signature_of<F>::args{});
        });
      } else if constexpr (std::is_invocable_v<const F&, const In&>) {
        return capture<T>(call, false, [&]() -> decltype(auto) { return fn(call.input()); });
      } else {
        static_assert(std::is_invocable_v<const F&>,
                      "tutti: fallback_to(f): f must take what a step may take (the input, "
                      "from<...>, call_context) and return the step's output type.");
        return capture<T>(call, false, [&]() -> decltype(auto) { return fn(); });
      }
    }();
    return r;
  }
};

template <class T>
struct last_good_source {
  last_good<T>* cache;
  duration max_age;
  static constexpr std::string_view kind = "last_good";
  template <class U, class Call>
  result<U> get(Call& call, const std::error_code& ec) const {
    static_assert(std::is_same_v<U, T>,
                  "tutti: fallback_to_last_good(cache, age): the cache must hold the step's "
                  "output type.");
    if (auto v = cache->get(call.clock().now(), max_age)) return std::move(*v);
    return ec;
  }
  template <class Call, class U>
  void store(Call& call, const U& value) const {
    cache->store(value, call.clock().now());
  }
};

template <class Cache, class KeyOf>
struct keyed_last_good_source {
  Cache* cache;
  KeyOf key_of;
  duration max_age;
  static constexpr std::string_view kind = "last_good";
  template <class Call>
  typename Cache::key_type key(Call& call) const {
    using In = typename Call::input_type;
    static_assert(std::is_invocable_v<const KeyOf&, const In&>,
                  "tutti: fallback_to_last_good(cache, key_of, age): key_of must take the "
                  "workflow's input (by value or const&) and return the cache's key.");
    static_assert(std::is_convertible_v<std::invoke_result_t<const KeyOf&, const In&>,
                                        typename Cache::key_type>,
                  "tutti: fallback_to_last_good(cache, key_of, age): key_of must return the "
                  "cache's key type.");
    return key_of(call.input());
  }
  template <class U, class Call>
  result<U> get(Call& call, const std::error_code& ec) const {
    static_assert(std::is_same_v<U, typename Cache::value_type>,
                  "tutti: fallback_to_last_good(cache, key_of, age): the cache must hold the "
                  "step's output type.");
    if (auto v = cache->get(key(call), call.clock().now(), max_age)) return std::move(*v);
    return ec;
  }
  template <class Call, class U>
  void store(Call& call, const U& value) const {
    cache->store(key(call), value, call.clock().now());
  }
};
}  // namespace detail

/**
 * On a failure the predicate accepts (default: any but `cancelled`), serves a substitute:
 * `fallback(value)`, `fallback_to(alternate_callable)` or `fallback_to_last_good(cache, max_age)`.
 * The step then succeeds; the report marks it `fallback_served` and keeps the error it covered.
 * If the substitute fails too (an alternate service down, no fresh cached value) the step fails
 * with the original error. Put it outside a retry: `step | retry{...} | fallback(...)`.
 */
template <class Source, class When = fallback_on_failure>
struct fallback_policy {
  static constexpr std::string_view policy_name = "fallback";
  Source source;
  When when{};

  /// The same fallback, used only for errors `pred(const std::error_code&)` accepts.
  template <class Pred>
  [[nodiscard]] constexpr fallback_policy<Source, Pred> on(Pred pred) const {
    return {source, pred};
  }
  [[nodiscard]] constexpr policy_info info() const noexcept {
    return {policy_name, 1, duration{}, duration::max(), Source::kind};
  }

  template <class Next, class Call>
  auto invoke(Next&& next, Call& call) const -> decltype(next()) {
    auto r = next();
    using R = decltype(r);
    using T = typename R::value_type;
    if constexpr (requires { source.store(call, r.assume_value()); }) {
      if (r.has_value()) {  // a cache: every success refreshes it
        source.store(call, r.assume_value());
        return r;
      }
    } else {
      if (TUTTI_LIKELY(r.has_value())) return r;
    }
    if (!when(r.error())) return r;
    R substitute = source.template get<T>(call, r.error());
    if (!substitute.has_value()) {
      call.note("the fallback could not serve either");
      return r;
    }
    call.keep_error(r.error());  // first: the fallback_served event reports it
    call.mark(step_flag::fallback_served);
    return substitute;
  }
};

/// Serve `value` when the step fails.
template <class V>
[[nodiscard]] constexpr auto fallback(V value) {
  return fallback_policy<detail::value_source<V>>{{std::move(value)}};
}
/// Call an alternate callable (an alternate service) when the step fails; it takes what a step
/// may take.
template <class F>
[[nodiscard]] constexpr auto fallback_to(F alternate) {
  return fallback_policy<detail::callable_source<F>>{{std::move(alternate)}};
}
/// Serve the step's last good result if it is at most `max_age` old (on the run's clock);
/// every success of the step refreshes `cache`, one value for every input
/// (`last_good<T>::shared()`).
template <class T>
[[nodiscard]] auto fallback_to_last_good(last_good<T>& cache, duration max_age) {
  return fallback_policy<detail::last_good_source<T>>{{&cache, max_age}};
}
/// Serve the last good result stored for this input's key, `key_of(input)`, if it is at most
/// `max_age` old; every success of the step refreshes its key's entry in `cache`.
/// `key_of` must not throw.
template <class Key, class T, class Hash, class Eq, class KeyOf>
[[nodiscard]] auto fallback_to_last_good(keyed_last_good<Key, T, Hash, Eq>& cache, KeyOf key_of,
                                         duration max_age) {
  return fallback_policy<
      detail::keyed_last_good_source<keyed_last_good<Key, T, Hash, Eq>, KeyOf>>{
      {&cache, std::move(key_of), max_age}};
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_FALLBACK_HPP
