// tutti testing kit — Catch2 matchers over run reports and event logs.
//
// Include after Catch2 (v2: <catch2/catch.hpp>; v3: <catch2/catch_test_macros.hpp> and
// <catch2/matchers/catch_matchers.hpp>, both found by __has_include):
//
//   REQUIRE_THAT(run.report(), tutti::testing::attempted("charge_card", 3));
//   REQUIRE_THAT(run.report(), tutti::testing::compensated({"fx_quote", "authorize"}));
//   REQUIRE_THAT(log, tutti::testing::compensated_in_order({"fx_quote", "authorize"}));
//   REQUIRE_THAT(log, tutti::testing::breaker_opened(1));
#ifndef TUTTI_TESTING_CATCH2_HPP
#define TUTTI_TESTING_CATCH2_HPP

#if __has_include(<catch2/matchers/catch_matchers.hpp>)
#include <catch2/matchers/catch_matchers.hpp>  // Catch2 v3: Catch::Matchers::MatcherBase
#define TUTTI_CATCH_MATCHER_BASE ::Catch::Matchers::MatcherBase
#elif __has_include(<catch2/catch.hpp>)
#include <catch2/catch.hpp>  // Catch2 v2: Catch::MatcherBase
#define TUTTI_CATCH_MATCHER_BASE ::Catch::MatcherBase
#else
#error "tutti/testing/catch2.hpp needs Catch2 (v2 or v3) on the include path"
#endif

#include <cstddef>           // std::size_t
#include <initializer_list>  // step name lists
#include <string>            // descriptions
#include <string_view>       // step names
#include <system_error>      // expected errors
#include <utility>           // std::move
#include <vector>            // step name lists

#include "../config.hpp"
#include "../events.hpp"
#include "../report.hpp"
#include "event_log.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {
namespace detail {
inline std::string join(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) out += ", ";
    out += names[i];
  }
  return out + "]";
}
inline std::vector<std::string> to_strings(std::initializer_list<std::string_view> names) {
  std::vector<std::string> out;
  for (std::string_view n : names) out.emplace_back(n);
  return out;
}
/// A matcher from a predicate and a description: one class for every matcher below.
template <class T, class Pred>
class predicate_matcher final : public TUTTI_CATCH_MATCHER_BASE<T> {
 public:
  predicate_matcher(Pred pred, std::string description)
      : pred_(std::move(pred)), description_(std::move(description)) {}
  bool match(const T& value) const override { return pred_(value); }
  std::string describe() const override { return description_; }

 private:
  Pred pred_;
  std::string description_;
};
template <class T, class Pred>
predicate_matcher<T, Pred> make_matcher(Pred pred, std::string description) {
  return {std::move(pred), std::move(description)};
}
}  // namespace detail

// ---- over a run report ------------------------------------------------------------------

/// The run succeeded.
inline auto succeeded() {
  return detail::make_matcher<run_report>([](const run_report& r) { return r.succeeded(); },
                                          "succeeded");
}
/// The run ended with this outcome.
inline auto ended(run_outcome o) {
  return detail::make_matcher<run_report>([o](const run_report& r) { return r.outcome() == o; },
                                          "ended " + std::string{to_string(o)});
}
/// The run failed at `step` (and, when given, with an error equal to `ec`).
inline auto failed_at(std::string_view step, std::error_code ec = {}) {
  std::string text = "failed at step " + std::string{step};
  if (ec) text += " with \"" + ec.message() + "\"";
  return detail::make_matcher<run_report>(
      [name = std::string{step}, ec](const run_report& r) {
        if (r.succeeded() || r.failed_index() >= r.size()) return false;
        const step_report s = r[r.failed_index()];
        return s.name == name && (!ec || s.error == ec);
      },
      std::move(text));
}
/// Step `step` was called exactly `n` times (every retry counts).
inline auto attempted(std::string_view step, std::uint32_t n) {
  return detail::make_matcher<run_report>(
      [name = std::string{step}, n](const run_report& r) {
        const step_report s = r.step(name);
        return s.name == name && s.attempts == n;
      },
      "step " + std::string{step} + " attempted " + std::to_string(n) + " time" +
          (n == 1 ? "" : "s"));
}
/// Step `step` ended with status `s`.
inline auto step_is(std::string_view step, step_status s) {
  return detail::make_matcher<run_report>(
      [name = std::string{step}, s](const run_report& r) {
        const step_report line = r.step(name);
        return line.name == name && line.status == s;
      },
      "step " + std::string{step} + " " + std::string{to_string(s)});
}
/// Exactly these steps were undone by their compensation (any order; see compensated_in_order).
inline auto compensated(std::initializer_list<std::string_view> steps) {
  std::vector<std::string> want = detail::to_strings(steps);
  std::string text = "compensated exactly " + detail::join(want);
  return detail::make_matcher<run_report>(
      [want = std::move(want)](const run_report& r) {
        std::size_t found = 0;
        for (std::size_t i = 0; i < r.size(); ++i) {
          const step_report s = r[i];
          if (s.status != step_status::compensated) continue;
          bool listed = false;
          for (const auto& w : want) listed = listed || w == s.name;
          if (!listed) return false;
          ++found;
        }
        return found == want.size();
      },
      std::move(text));
}
/// A fallback served step `step`'s value.
inline auto fallback_served(std::string_view step) {
  return detail::make_matcher<run_report>(
      [name = std::string{step}](const run_report& r) {
        const step_report s = r.step(name);
        return s.name == name && s.fallback_served;
      },
      "fallback served step " + std::string{step});
}

// ---- over an event log (order and things the report does not keep) -----------------------

/// Compensations succeeded in exactly this order (step paths), and no other.
inline auto compensated_in_order(std::initializer_list<std::string_view> steps) {
  std::vector<std::string> want = detail::to_strings(steps);
  std::string text = "compensated in the order " + detail::join(want);
  return detail::make_matcher<event_log>(
      [want = std::move(want)](const event_log& log) { return log.compensated_steps() == want; },
      std::move(text));
}
/// A breaker guarding (any step, or `step`) was seen opening exactly `n` times.
inline auto breaker_opened(std::size_t n, std::string_view step = {}) {
  std::string text = "breaker opened " + std::to_string(n) + " time" + (n == 1 ? "" : "s");
  if (!step.empty()) text += " at step " + std::string{step};
  return detail::make_matcher<event_log>(
      [n, name = std::string{step}](const event_log& log) { return log.breaker_openings(name) == n; },
      std::move(text));
}
/// Exactly `n` events of kind `kind` (of step `step`, when given).
inline auto emitted(event_kind kind, std::size_t n, std::string_view step = {}) {
  std::string text = "emitted " + std::string{to_string(kind)} + " " + std::to_string(n) +
                     " time" + (n == 1 ? "" : "s");
  if (!step.empty()) text += " for step " + std::string{step};
  return detail::make_matcher<event_log>(
      [kind, n, name = std::string{step}](const event_log& log) {
        return log.count(kind, name) == n;
      },
      std::move(text));
}
/// These kinds occur in this order (other events may come between them).
inline auto emitted_in_order(std::initializer_list<event_kind> kinds) {
  std::vector<event_kind> want(kinds);
  std::string text = "emitted in order [";
  for (std::size_t i = 0; i < want.size(); ++i)
    text += (i != 0 ? ", " : "") + std::string{to_string(want[i])};
  text += "]";
  return detail::make_matcher<event_log>(
      [want = std::move(want)](const event_log& log) {
        std::size_t next = 0;
        for (const auto& e : log.entries())
          if (next < want.size() && e.kind == want[next]) ++next;
        return next == want.size();
      },
      std::move(text));
}

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_CATCH2_HPP
