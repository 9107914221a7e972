// tutti — fmt formatters for run reports, statuses, run ids and idempotency keys.
#ifndef TUTTI_FORMAT_HPP
#define TUTTI_FORMAT_HPP

#include <fmt/format.h>  // fmt::formatter

#include <algorithm>     // std::max, std::copy
#include <iterator>      // std::back_inserter
#include <string>        // describe()
#include <string_view>   // names
#include <system_error>  // error codes

#include "config.hpp"
#include "context.hpp"
#include "report.hpp"

TUTTI_BEGIN_NAMESPACE

/// "message [category:value]" for an error code, e.g. "timed out [tutti:5]".
[[nodiscard]] inline std::string describe(const std::error_code& ec) {
  return fmt::format("{} [{}:{}]", ec.message(), ec.category().name(), ec.value());
}

namespace detail {
inline void format_duration(fmt::memory_buffer& out, duration d) {
  const auto ns = d.count();
  if (ns < 10'000) fmt::format_to(std::back_inserter(out), "{} ns", ns);
  else if (ns < 10'000'000) fmt::format_to(std::back_inserter(out), "{:.1f} us", static_cast<double>(ns) / 1e3);
  else if (ns < 10'000'000'000LL) fmt::format_to(std::back_inserter(out), "{:.1f} ms", static_cast<double>(ns) / 1e6);
  else fmt::format_to(std::back_inserter(out), "{:.2f} s", static_cast<double>(ns) / 1e9);
}

/// The text of a whole report, one line per step.
inline void format_report(fmt::memory_buffer& out, const run_report& r) {
  auto it = std::back_inserter(out);
  const auto hex = r.id().hex();
  fmt::format_to(it, "workflow \"{}\"  run {}  -> {}", r.workflow(),
                 std::string_view{hex.data(), hex.size()}, to_string(r.outcome()));
  if (r.timed()) {
    out.append(std::string_view{"  ("});
    format_duration(out, r.elapsed());
    out.push_back(')');
  }
  out.push_back('\n');
  std::size_t width = 4;
  for (std::size_t i = 0; i < r.size(); ++i) width = std::max(width, r[i].name.size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    const step_report s = r[i];
    fmt::format_to(it, "  {:>2}. {:<{}}  ", i + 1, s.name, width);
    if (s.attempts > 0)
      fmt::format_to(it, "{:<19}  {:<11}", to_string(s.status),
                     fmt::format("{} attempt{}", s.attempts, s.attempts == 1 ? "" : "s"));
    else
      out.append(to_string(s.status));
    if (s.timed) {
      out.append(std::string_view{"  "});
      format_duration(out, s.elapsed);
    }
    if (s.fallback_served)
      fmt::format_to(it, "\n      fallback served, covering: {}", describe(s.error));
    if (s.gave_up_early) out.append(std::string_view{"\n      retry gave up early"});
    if (s.timed_out) out.append(std::string_view{"\n      timed out"});
    if (s.late_compensated) out.append(std::string_view{"\n      late result undone"});
    if (s.late_compensation_failed) out.append(std::string_view{"\n      undoing the late result FAILED"});
    if (s.late_success_kept) out.append(std::string_view{"\n      the late result stands (not undone)"});
    if (s.restored) out.append(std::string_view{"\n      restored from the journal (not called again)"});
    if (s.status == step_status::failed) {
      fmt::format_to(it, "\n      error: {}", describe(s.error));
      if (!s.message.empty()) fmt::format_to(it, "\n      message: {}", s.message);
    }
    if (s.status == step_status::compensated)
      fmt::format_to(it, "\n      undone by its compensation ({} call{})", s.compensation_attempts,
                     s.compensation_attempts == 1 ? "" : "s");
    if (s.status == step_status::compensation_failed) {
      fmt::format_to(it, "\n      compensation FAILED: {}", describe(s.compensation_error));
      if (!s.compensation_message.empty())
        fmt::format_to(it, "\n      message: {}", s.compensation_message);
    }
    out.push_back('\n');
  }
}
}  // namespace detail

TUTTI_END_NAMESPACE

template <>
struct fmt::formatter<tutti::step_status> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(tutti::step_status s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tutti::to_string(s), ctx);
  }
};

template <>
struct fmt::formatter<tutti::run_outcome> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(tutti::run_outcome o, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tutti::to_string(o), ctx);
  }
};

template <>
struct fmt::formatter<tutti::errc> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(tutti::errc e, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tutti::describe(e), ctx);
  }
};

template <>
struct fmt::formatter<tutti::run_id> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const tutti::run_id& id, Ctx& ctx) const {
    const auto h = id.hex();
    return fmt::formatter<std::string_view>::format(std::string_view{h.data(), h.size()}, ctx);
  }
};

#if FMT_VERSION < 100000  // fmt 10 formats std::error_code itself
/// "message [category:value]", as tutti::describe.
template <>
struct fmt::formatter<std::error_code> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const std::error_code& ec, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tutti::describe(ec), ctx);
  }
};
#endif

/// "<run id>:<step path>", the form services receive.
template <>
struct fmt::formatter<tutti::idempotency_key> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const tutti::idempotency_key& k, Ctx& ctx) const {
    std::string text;
    k.append_to(text);
    return fmt::formatter<std::string_view>::format(text, ctx);
  }
};

/// A whole run report, one line per step: `fmt::print("{}\n", run.report())`.
template <>
struct fmt::formatter<tutti::run_report> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Ctx>
  auto format(const tutti::run_report& r, Ctx& ctx) const {
    fmt::memory_buffer buf;
    tutti::detail::format_report(buf, r);
    return std::copy(buf.begin(), buf.end(), ctx.out());
  }
};

#endif  // TUTTI_FORMAT_HPP
