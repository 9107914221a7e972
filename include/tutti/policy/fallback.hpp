// tutti — fallback: degrade gracefully with a value, an alternate service or the last good result.
#ifndef TUTTI_POLICY_FALLBACK_HPP
#define TUTTI_POLICY_FALLBACK_HPP

#include <mutex>         // last_good: one lock per store or read, off the breaker/bulkhead paths
#include <optional>      // last_good's value
#include <string_view>   // policy name
#include <system_error>  // predicates
#include <type_traits>   // shape checks
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
 * The last good result of a step, shared by runs (and threads): a fallback can serve it when
 * the step fails, if it is not older than a staleness bound. Thread-safe; each store and read
 * takes a short lock (a copy of T). Outlives the workflows that use it.
 */
template <class T>
class last_good {
 public:
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
  template <class T, class Call>
  result<T> get(Call& call, const std::error_code&) const {
    using In = typename Call::input_type;
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
    if constexpr (std::is_same_v<Source, detail::last_good_source<T>>) {
      if (r.has_value()) {
        source.cache->store(r.assume_value(), call.clock().now());
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
/// every success of the step refreshes `cache`.
template <class T>
[[nodiscard]] auto fallback_to_last_good(last_good<T>& cache, duration max_age) {
  return fallback_policy<detail::last_good_source<T>>{{&cache, max_age}};
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_POLICY_FALLBACK_HPP
