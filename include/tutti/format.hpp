// tutti — fmt formatters for run reports, statuses, run ids and idempotency keys.
#ifndef TUTTI_FORMAT_HPP
#define TUTTI_FORMAT_HPP

#include <fmt/format.h>  // fmt::formatter

#include <algorithm>     // std::max, std::copy
#include <cstdint>       // rounding durations
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
/**
 * A duration with two decimals in the unit that keeps its whole part below 1000: "0.78 us",
 * "2.78 us", "10.50 ms", "2.50 s" (seconds above 1000 keep growing). Rounded once, in integers,
 * so 999.996 us reads "1.00 ms". `column`: the whole part is right-aligned to three places, so
 * the decimal points of a column of durations line up.
 */
inline void format_duration(fmt::memory_buffer& out, duration d, bool column = false) {
  const auto count = d.count();
  // The magnitude, unsigned so that the most negative count cannot overflow.
  const std::uint64_t ns =
      count < 0 ? 0 - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  std::uint64_t hundredths = (ns + 5) / 10;  // of a microsecond
  std::string_view unit = "us";
  if (hundredths >= 100'000) {
    hundredths = (ns + 5'000) / 10'000;
    unit = "ms";
    if (hundredths >= 100'000) {
      hundredths = (ns + 5'000'000) / 10'000'000;
      unit = "s";
    }
  }
  const std::string whole = fmt::format("{}{}", count < 0 ? "-" : "", hundredths / 100);
  fmt::format_to(std::back_inserter(out), "{:>{}}.{:02} {}", whole, column ? 3 : 1,
                 hundredths % 100, unit);
}

/// Removes the spaces and tabs that end lines in `out` from `from` on: padding of a last column,
/// or the end of a message.
inline void trim_line_ends(fmt::memory_buffer& out, std::size_t from) {
  std::size_t kept = from;
  std::size_t blanks = 0;  // spaces and tabs read but not yet kept
  for (std::size_t i = from; i < out.size(); ++i) {
    const char c = out[i];
    if (c == ' ' || c == '\t') {
      ++blanks;
      continue;
    }
    if (c != '\n')
      for (; blanks > 0; --blanks) out[kept++] = out[i - blanks];
    blanks = 0;
    out[kept++] = c;
  }
  out.resize(kept);
}

/// The text of a whole report, one line per step. No line ends with a space or a tab.
inline void format_report(fmt::memory_buffer& out, const run_report& r) {
  const std::size_t begin = out.size();
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
    if (s.attempts > 0) {
      // The attempts are padded only when the duration column follows them.
      fmt::format_to(it, "{:<19}  {:<{}}", to_string(s.status),
                     fmt::format("{} attempt{}", s.attempts, s.attempts == 1 ? "" : "s"),
                     s.timed ? 11 : 0);
      if (s.timed) {
        out.append(std::string_view{"  "});
        format_duration(out, s.elapsed, /*column=*/true);
      }
    } else {
      out.append(to_string(s.status));
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
  trim_line_ends(out, begin);
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

/// The 32 hex digits, as `run_id::hex()`; string format specs apply (`{:>40}`).
template <>
struct fmt::formatter<tutti::run_id> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const tutti::run_id& id, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(id.hex().view(), ctx);
  }
};

/// What `run_id::hex()` returns: `fmt::format("{}", id.hex())`.
template <>
struct fmt::formatter<tutti::run_id::hex_digits> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const tutti::run_id::hex_digits& h, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(h.view(), ctx);
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
