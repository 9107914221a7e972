// tutti-journal — operator commands on a journal. The CLI's logic, templated on the journal so
// that tests drive it with a memory_journal; main.cpp opens a SQLite journal and calls run_cli.
#ifndef TUTTI_TOOLS_TUTTI_JOURNAL_CLI_HPP
#define TUTTI_TOOLS_TUTTI_JOURNAL_CLI_HPP

#include <algorithm>     // std::max, std::find
#include <charconv>      // numbers in arguments
#include <chrono>        // ISO 8601 times
#include <concepts>      // std::convertible_to
#include <cstdint>       // times, counts
#include <cstdio>        // std::FILE
#include <exception>     // last-resort catch
#include <functional>    // std::less<>
#include <iterator>      // std::back_inserter
#include <map>           // failures by step
#include <optional>      // parsed values
#include <span>          // arguments
#include <string>        // output buffers
#include <string_view>   // arguments
#include <system_error>  // journal errors
#include <utility>       // std::pair, std::move
#include <vector>        // tables, option lists

#include <fmt/format.h>  // output

#include <tutti/journal/durable.hpp>  // operator commands, plan_of
#include <tutti/journal/journal.hpp>  // records, run_status, run_filter
#include <tutti/version.hpp>          // --version

namespace tutti::journal_cli {

/// The process exit codes of `tutti-journal`.
enum exit_code : int {
  exit_ok = 0,       ///< done
  exit_refused = 1,  ///< the command does not apply to the run in its state
  exit_usage = 2,    ///< bad arguments, unknown or ambiguous run, or a journal error
};

/// The help text (`tutti-journal help`).
inline constexpr std::string_view help_text =
    R"(tutti-journal: operator commands on a tutti journal (a SQLite file)

usage: tutti-journal JOURNAL COMMAND [ARGUMENTS]
       tutti-journal [JOURNAL] COMMAND --help     that command's usage
       tutti-journal --version

commands:
  list [--status S] [--workflow W] [--since T] [--until T] [--limit N] [--stranded]
       [--json]
                   runs, newest first: run id, workflow, version, status, started, updated,
                   records, epoch, owner, and its lease: live (its engine holds it) or
                   expired (its engine died or stalled).
                   --stranded: running runs no engine is running (held by nobody, or by
                   an expired lease): any engine may claim them.
                   S: queued, running, paused, succeeded, failed, compensated,
                      compensation_failed, resolved, dead_lettered
                   W: the workflow's name (exact)
                   T: ISO 8601 (2026-11-22, 2026-11-22T11:40:00Z, 2026-11-22T13:40+02:00;
                      no zone: UTC) or milliseconds since the Unix epoch.
                      Runs started at or after --since and before --until.
  show RUN [--json]
                   one run: its header, every record, and per step what the journal says
                   (attempts, succeeded, failed, compensated).
  pause RUN        a running run: no new step starts until it is unpaused (the step in
                   progress finishes; the process running it stops the run there).
  unpause RUN      a paused run: it is running again; a runner (or the host application's
                   next resume) carries it on.
  retry RUN        a failed run: its failed step runs again when next claimed. A
                   dead_lettered run: it goes on where it stopped (revived).
  redrive RUN      a compensation_failed run: its compensations that did not succeed run
                   again when next claimed.
  resolve RUN --note TEXT
                   a queued, running, paused, failed, compensation_failed or dead_lettered
                   run: settled by hand (the note says how). It is never resumed; a live run
                   stops at its engine's next write, a queued one never runs.
  move RUN --version N [--note TEXT]
                   a queued, running, paused or dead_lettered run: it goes on as version N
                   of its workflow (a service hosting version N claims it; its journal is
                   replayed there, step by step, its shape not checked). A live run stops at
                   its engine's next write; a dead_lettered one is running again.
  help             this text.

RUN is a run id (32 hex digits), or its first or last digits when they match a single run
(ids made by one thread share their first half and differ in their last digits).

This tool has no workflow code and runs no step. retry and redrive record the operator's
request in the journal and make the run `running` again; the host application carries it out
on its next resume: durable.resume<In>(id), or durable.resume_all<In>(...) at start-up.

exit status: 0 done; 1 the command does not apply to the run in its current state;
2 usage error, unknown or ambiguous run, or a journal that cannot be opened or read.
)";

/// "tutti-journal <major>.<minor>.<patch>\n" (`tutti-journal --version`).
inline std::string version_text() {
  return fmt::format("tutti-journal {}.{}.{}\n", TUTTI_VERSION_MAJOR, TUTTI_VERSION_MINOR,
                     TUTTI_VERSION_PATCH);
}

/// The commands `tutti-journal` knows, as `help_text` lists them.
inline constexpr std::string_view command_names[] = {"list",    "show",    "pause", "unpause", "retry",
                                                     "redrive", "resolve", "move",  "help"};

/// A name in `command_names`.
inline bool is_command(std::string_view name) {
  return std::find(std::begin(command_names), std::end(command_names), name) !=
         std::end(command_names);
}

/**
 * The usage of one command (`tutti-journal list --help`): its usage line, its entry in
 * `help_text` and, for a command that takes a RUN, what RUN may be. `help_text` for "help";
 * empty for a name that is not a command.
 */
inline std::string command_help(std::string_view command) {
  if (!is_command(command)) return {};
  if (command == "help") return std::string{help_text};
  const std::string_view text = help_text;
  constexpr std::string_view description_indent = "                   ";
  // The entry: the line "  <command> ..." and the description lines indented below it.
  std::string entry;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!entry.empty()) {
      if (!line.starts_with(description_indent)) break;
    } else if (!(line.starts_with("  ") && line.substr(2).starts_with(command) &&
                 (line.size() == 2 + command.size() || line[2 + command.size()] == ' '))) {
      continue;
    }
    entry.append(line);
    entry.push_back('\n');
  }
  // The synopsis: the entry's first line, up to its description.
  std::string_view synopsis = std::string_view{entry}.substr(2, entry.find('\n') - 2);
  synopsis = synopsis.substr(0, synopsis.find("  "));
  std::string out = fmt::format("usage: tutti-journal JOURNAL {}\n\n{}", synopsis, entry);
  if (synopsis.find("RUN") != std::string_view::npos) {
    const std::size_t run = text.find("\nRUN is") + 1;
    out += '\n';
    out.append(text.substr(run, text.find("\n\n", run) + 1 - run));
  }
  return out;
}

namespace detail {

// ---- text helpers -----------------------------------------------------------------------------

inline std::string hex_of(const run_id& id) {
  const auto h = id.hex();
  return {h.data(), h.size()};
}

inline std::string lower(std::string_view s) {
  std::string out{s};
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline bool is_hex(std::string_view s) {
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

/// Text for a terminal: control characters (a message may hold anything) become escapes, so a
/// record cannot move the cursor or break the table.
inline std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (u < 0x20 || u == 0x7f)
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", u);
    else
      out += c;
  }
  return out;
}

/// Display width: code points, not bytes (UTF-8 workflow names and messages stay aligned).
inline std::size_t width(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

/// Rows of cells printed with aligned columns; the last column is not padded.
struct table {
  std::vector<std::vector<std::string>> rows;

  void print(std::FILE* out) const {
    std::vector<std::size_t> w;
    for (const auto& row : rows) {
      if (w.size() < row.size()) w.resize(row.size(), 0);
      for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], width(row[i]));
    }
    std::string line;
    for (const auto& row : rows) {
      line.clear();
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line.append(w[i] - width(row[i]) + 2, ' ');
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      fmt::print(out, "{}\n", line);
    }
  }
};

// ---- JSON ---------------------------------------------------------------------------------------

/// Appends `s` as a JSON string. Invalid UTF-8 (a message may hold any bytes) becomes U+FFFD,
/// so the output is always valid JSON.
inline void json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20)
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
          else
            out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length, the smallest code point it may encode (no overlong
    // forms), and no surrogates or values above U+10FFFF.
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0)
      len = 2, cp = c & 0x1Fu, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
      len = 3, cp = c & 0x0Fu, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
      len = 4, cp = c & 0x07u, min = 0x10000;
    bool valid = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      valid = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    valid = valid && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (valid) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

inline std::string json_string(std::string_view s) {
  std::string out;
  json_string(out, s);
  return out;
}

// ---- times --------------------------------------------------------------------------------------

/// "2026-11-22T11:39:58.123Z"; "-" for 0 (not recorded). Defined for every value: outside
/// the years 0000 to 9999 (a damaged or hand-made stamp) the number itself, as Unix
/// milliseconds ("-9223372036854775808").
inline std::string format_time(std::int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  // 0000-01-01T00:00:00.000Z and 10000-01-01T00:00:00.000Z: within them the calendar
  // arithmetic below cannot overflow, and the year has four digits.
  constexpr std::int64_t first_ms = -62167219200000;
  constexpr std::int64_t end_ms = 253402300800000;
  if (unix_ms < first_ms || unix_ms >= end_ms) return std::to_string(unix_ms);
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{unix_ms}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

/// Reads exactly `n` digits at `s[pos]`.
inline std::optional<int> digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const char c = s[pos + k];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

/**
 * Milliseconds since the Unix epoch from "1763811598123" (all digits) or ISO 8601:
 * YYYY-MM-DD[(T|space)HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]]; no zone means UTC.
 */
inline std::optional<std::int64_t> parse_time(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
  }
  using namespace std::chrono;
  std::size_t pos = 0;
  const auto y = digits(s, pos, 4);
  if (!y || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  const auto mo = digits(s, pos, 2);
  if (!mo || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  const auto d = digits(s, pos, 2);
  if (!d) return std::nullopt;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  std::int64_t ms = duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
  if (pos == s.size()) return ms;

  if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
  ++pos;
  const auto hh = digits(s, pos, 2);
  if (!hh || *hh > 23 || pos >= s.size() || s[pos++] != ':') return std::nullopt;
  const auto mm = digits(s, pos, 2);
  if (!mm || *mm > 59) return std::nullopt;
  int ss = 0;
  int frac_ms = 0;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    const auto sec = digits(s, pos, 2);
    if (!sec || *sec > 60) return std::nullopt;  // 60: a leap second
    ss = *sec;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      std::size_t n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 3) frac_ms = frac_ms * 10 + (s[pos] - '0');
        ++n;
        ++pos;
      }
      if (n == 0) return std::nullopt;
      for (; n < 3; ++n) frac_ms *= 10;
    }
  }
  ms += ((static_cast<std::int64_t>(*hh) * 60 + *mm) * 60 + ss) * 1000 + frac_ms;
  if (pos == s.size()) return ms;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return ms;
  if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
  const int sign = s[pos++] == '+' ? 1 : -1;
  const auto oh = digits(s, pos, 2);
  if (!oh || *oh > 23) return std::nullopt;
  int om = 0;
  if (pos < s.size()) {
    if (s[pos] == ':') ++pos;
    const auto m = digits(s, pos, 2);
    if (!m || *m > 59) return std::nullopt;
    om = *m;
  }
  if (pos != s.size()) return std::nullopt;
  return ms - sign * (static_cast<std::int64_t>(*oh) * 60 + om) * 60'000;
}

// ---- arguments ----------------------------------------------------------------------------------

/// "help", "--help" or "-h".
inline bool is_help(std::string_view a) { return a == "help" || a == "--help" || a == "-h"; }

/// A command's arguments ask for its usage: `--help` or `-h` before any `--`.
inline bool asks_for_help(std::span<const std::string_view> args) {
  for (const std::string_view a : args) {
    if (a == "--") return false;
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

struct option_spec {
  std::string_view name;  // "--status"
  bool takes_value = true;
};

struct parsed_args {
  std::vector<std::string_view> positional;
  std::vector<std::pair<std::string_view, std::string_view>> options;  // name, value ("" for flags)
  std::string error;                                                   // non-empty: a usage error

  [[nodiscard]] const std::string_view* find(std::string_view name) const {
    for (const auto& [n, v] : options)
      if (n == name) return &v;
    return nullptr;
  }
  [[nodiscard]] bool has(std::string_view name) const { return find(name) != nullptr; }
};

/// `--name value`, `--name=value`, flags; `--` ends the options (a note may start with "--").
inline parsed_args parse_args(std::span<const std::string_view> args,
                              std::initializer_list<option_spec> specs) {
  parsed_args p;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (options_done || a.size() < 2 || a.substr(0, 2) != "--") {
      p.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    const auto eq = a.find('=');
    const std::string_view name = a.substr(0, eq);
    const option_spec* spec = nullptr;
    for (const option_spec& s : specs)
      if (s.name == name) spec = &s;
    if (spec == nullptr) {
      p.error = fmt::format("unknown option {}", printable(name));
      return p;
    }
    if (p.has(name)) {
      p.error = fmt::format("{} given twice", name);
      return p;
    }
    std::string_view value;
    if (!spec->takes_value) {
      if (eq != std::string_view::npos) {
        p.error = fmt::format("{} takes no value", name);
        return p;
      }
    } else if (eq != std::string_view::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      p.error = fmt::format("{} needs a value", name);
      return p;
    }
    p.options.emplace_back(name, value);
  }
  return p;
}

inline std::optional<run_status> parse_status(std::string_view s) {
  for (std::uint8_t v = 1; v < 32; ++v) {
    const auto st = static_cast<run_status>(v);
    if (to_string(st) != "unknown" && to_string(st) == s) return st;
  }
  return std::nullopt;
}

// ---- the session ------------------------------------------------------------------------------

/// One invocation: the journal, where output goes, and shared error reporting.
template <class J>
struct session {
  J& journal;
  std::FILE* out;
  std::FILE* err;

  [[nodiscard]] int usage_error(std::string_view message) const {
    fmt::print(err, "tutti-journal: {}\n(`tutti-journal help` lists the commands)\n", message);
    return exit_usage;
  }
  [[nodiscard]] int journal_error(const std::error_code& ec, std::string_view what) const {
    fmt::print(err, "tutti-journal: {}: {} ({}:{})\n", what, ec.message(), ec.category().name(),
               ec.value());
    // A backend that keeps the whole story (sqlite_journal: path, SQLite's text) tells it.
    if constexpr (requires(const J& j) {
                    { j.last_error_message() } -> std::convertible_to<std::string>;
                  }) {
      const std::string details = journal.last_error_message();
      if (!details.empty()) fmt::print(err, "  {}\n", printable(details));
    }
    return exit_usage;
  }

  /**
   * A run id from its 32 hex digits, or from a shorter piece that begins or ends exactly one
   * run's id: ids generated by one thread share their first half and count up in the second,
   * so the last digits tell a process's runs apart and the first digits tell processes apart.
   * Nullopt after printing why not.
   */
  std::optional<run_id> find_run(std::string_view text, int& code) const {
    code = exit_usage;
    if (text.empty() || text.size() > 32 || !is_hex(text)) {
      code = usage_error(
          fmt::format("'{}' is not a run id (32 hex digits, or the first or last digits of one)",
                      printable(text)));
      return std::nullopt;
    }
    if (text.size() == 32) return run_id::parse(text);
    auto runs = journal.list(run_filter{});
    if (!runs) {
      code = journal_error(runs.error(), "listing runs to match the piece of id failed");
      return std::nullopt;
    }
    const std::string piece = lower(text);
    std::vector<run_id> matches;
    for (const run_summary& s : runs.value()) {
      const std::string h = hex_of(s.id);
      if (h.starts_with(piece) || h.ends_with(piece)) matches.push_back(s.id);
    }
    if (matches.empty()) {
      fmt::print(err, "tutti-journal: no run id starts or ends with {}\n", piece);
      return std::nullopt;
    }
    if (matches.size() > 1) {
      std::string some;
      for (std::size_t i = 0; i < matches.size() && i < 5; ++i)
        some += fmt::format("\n  {}", hex_of(matches[i]));
      if (matches.size() > 5) some += fmt::format("\n  ... and {} more", matches.size() - 5);
      fmt::print(err,
                 "tutti-journal: {} is ambiguous: {} run ids start or end with it (give more "
                 "digits):{}\n",
                 piece, matches.size(), some);
      return std::nullopt;
    }
    code = exit_ok;
    return matches.front();
  }

  // ---- list ----

  [[nodiscard]] int list(std::span<const std::string_view> args) const {
    const parsed_args p = parse_args(args, {{"--status"},
                                            {"--workflow"},
                                            {"--since"},
                                            {"--until"},
                                            {"--limit"},
                                            {"--stranded", false},
                                            {"--json", false}});
    if (!p.error.empty()) return usage_error("list: " + p.error);
    if (!p.positional.empty())
      return usage_error(fmt::format("list: unexpected argument '{}'", printable(p.positional[0])));
    run_filter f;
    if (const auto* s = p.find("--status")) {
      f.status = parse_status(*s);
      if (!f.status)
        return usage_error(fmt::format(
            "list: unknown status '{}' (queued, running, paused, succeeded, failed, "
            "compensated, compensation_failed, resolved, dead_lettered)",
            printable(*s)));
    }
    if (const auto* w = p.find("--workflow")) {
      if (w->empty()) return usage_error("list: --workflow needs a name");
      f.workflow = std::string{*w};
    }
    std::optional<std::int64_t> since;
    std::optional<std::int64_t> until;
    for (const auto& [name, slot] : {std::pair{"--since", &since}, std::pair{"--until", &until}}) {
      if (const auto* t = p.find(name)) {
        *slot = parse_time(*t);
        if (!*slot)
          return usage_error(
              fmt::format("list: {} '{}' is not a time (ISO 8601 such as 2026-11-22T11:40:00Z, or "
                          "milliseconds since the Unix epoch)",
                          name, printable(*t)));
      }
    }
    if (since && until && *since >= *until)
      return usage_error("list: --since must be before --until");
    if (since) f.started_after_unix_ms = *since;
    if (until) f.started_before_unix_ms = *until;
    if (const auto* l = p.find("--limit")) {
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(l->data(), l->data() + l->size(), n);
      if (ec != std::errc{} || end != l->data() + l->size() || n == 0)
        return usage_error(
            fmt::format("list: --limit '{}' is not a positive number", printable(*l)));
      f.limit = n;
    }

    const bool only_stranded = p.has("--stranded");
    if (only_stranded) {
      if (f.status && *f.status != run_status::running)
        return usage_error("list: --stranded lists running runs: no other --status");
      f.status = run_status::running;
    }

    std::vector<run_summary> runs;
    // The journal reads an upper bound of 0 as "none": a bound at or before the epoch matches
    // no run (every run starts after it).
    if (!until || *until > 0) {
      auto listed = journal.list(f);
      if (!listed) return journal_error(listed.error(), "listing runs failed");
      runs = std::move(listed).value();
    }
    const std::int64_t now = now_ms();
    if (only_stranded)
      std::erase_if(runs, [now](const run_summary& s) { return !stranded(s, now); });

    if (p.has("--json")) {
      std::string j = R"({"runs":[)";
      for (std::size_t i = 0; i < runs.size(); ++i) {
        if (i != 0) j += ',';
        append_summary_json(j, runs[i]);
      }
      j += "]}\n";
      fmt::print(out, "{}", j);
      return exit_ok;
    }
    if (runs.empty()) {
      fmt::print(out, "no runs match\n");
      return exit_ok;
    }
    table t;
    t.rows.push_back(
        {"RUN ID", "WORKFLOW", "VERSION", "STATUS", "STARTED", "UPDATED", "RECORDS", "EPOCH", "OWNER", "LEASE"});
    for (const run_summary& s : runs)
      t.rows.push_back({hex_of(s.id), printable(s.workflow), std::to_string(s.version),
                        std::string{to_string(s.status)},
                        format_time(s.started_unix_ms), format_time(s.updated_unix_ms),
                        std::to_string(s.records), std::to_string(s.epoch),
                        s.owner.empty() ? "-" : printable(s.owner), lease_text(s, now)});
    t.print(out);
    return exit_ok;
  }

  void append_summary_json(std::string& j, const run_summary& s) const {
    const std::int64_t now = now_ms();
    fmt::format_to(std::back_inserter(j),
                   R"({{"id":"{}","workflow":{},"version":{},"fingerprint":"{:016x}","status":"{}",)"
                   R"("started_unix_ms":{},"started":"{}","updated_unix_ms":{},)"
                   R"("updated":"{}","records":{},"owner":{},"epoch":{},"lease_until_ms":{},)"
                   R"("lease":"{}","stranded":{},"recoveries":{},"partition":{},"priority":{}}})",
                   hex_of(s.id), json_string(s.workflow), s.version, s.fingerprint, to_string(s.status),
                   s.started_unix_ms, format_time(s.started_unix_ms), s.updated_unix_ms,
                   format_time(s.updated_unix_ms), s.records, json_string(s.owner), s.epoch,
                   s.lease_until_ms, lease_name(lease_state_of(s, now)), stranded(s, now),
                   s.recoveries, json_string(s.partition), s.priority);
  }

  /// The store's time for leases: the journal's lease clock where it tells it, else the wall
  /// clock (Unix milliseconds, as SQLite's leases by default).
  [[nodiscard]] std::int64_t now_ms() const {
    if constexpr (requires { journal.lease_now_ms(); }) {
      return journal.lease_now_ms();
    } else {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    }
  }
  static std::string_view lease_name(lease_state l) {
    switch (l) {
      case lease_state::none: return "none";
      case lease_state::live: return "live";
      case lease_state::expired: return "expired";
    }
    return "none";
  }
  /// "-", "live, 28.1 s left" or "expired 4.2 s ago".
  static std::string lease_text(const run_summary& s, std::int64_t now) {
    switch (lease_state_of(s, now)) {
      case lease_state::none: return "-";
      case lease_state::live:
        return fmt::format("live, {:.1f} s left", static_cast<double>(s.lease_until_ms - now) / 1000.0);
      case lease_state::expired:
        return fmt::format("expired {:.1f} s ago", static_cast<double>(now - s.lease_until_ms) / 1000.0);
    }
    return "-";
  }

  // ---- show ----

  static bool is_finish(record_kind k) {
    return k == record_kind::attempt_finished || k == record_kind::step_finished ||
           k == record_kind::compensation_finished;
  }
  static bool has_error(const stored_record& r) { return is_finish(r.kind) && !r.ok; }
  /// "category:value message"; the message is the one recorded or, for categories this program
  /// knows (tutti, tutti.journal, generic, system), the category's text for the value.
  static std::string error_text(const stored_record& r) {
    std::string text = fmt::format("{}:{}", r.error_category, r.error_value);
    std::string message = r.message;
    if (message.empty()) {
      const std::error_code ec = tutti::detail::error_from_record(r.error_category, r.error_value);
      if (&ec.category() != &tutti::detail::stored_category()) message = ec.message();
    }
    if (!message.empty()) text += " " + message;
    return text;
  }
  static bool is_operator(record_kind k) {
    return k == record_kind::paused || k == record_kind::unpaused ||
           k == record_kind::retry_requested || k == record_kind::redrive_requested ||
           k == record_kind::resolved || k == record_kind::revived || k == record_kind::moved;
  }

  [[nodiscard]] int show(std::span<const std::string_view> args) const {
    const parsed_args p = parse_args(args, {{"--json", false}});
    if (!p.error.empty()) return usage_error("show: " + p.error);
    if (p.positional.size() != 1) return usage_error("show: give one run id: show RUN [--json]");
    int code = exit_ok;
    const auto id = find_run(p.positional[0], code);
    if (!id) return code;
    auto loaded = journal.load(*id);
    if (!loaded) return run_error(loaded.error(), *id, "loading the run failed");
    const stored_run& run = loaded.value();
    const replay_plan plan = plan_of(run);

    // Steps in the order the run first touched them (the plan's map is sorted by path).
    std::vector<std::string> order;
    // Each step's last failure as recorded (plan_of maps categories it does not know to
    // "stored"; the record keeps the name).
    std::map<std::string, const stored_record*, std::less<>> failure;
    for (const stored_record& r : run.records) {
      if (!r.step.empty() && std::find(order.begin(), order.end(), r.step) == order.end())
        order.push_back(r.step);
      if (r.kind == record_kind::step_finished && !r.ok) failure[r.step] = &r;
    }
    for (const auto& [path, s] : plan.steps)
      if (std::find(order.begin(), order.end(), path) == order.end()) order.push_back(path);

    // Record times are run-clock readings (not wall-clock): shown relative to the first one.
    std::int64_t t0 = 0;
    for (const stored_record& r : run.records)
      if (r.time_ns != 0) {
        t0 = r.time_ns;
        break;
      }

    if (p.has("--json")) {
      std::string j = R"({"run":)";
      append_summary_json(j, run.summary);
      j.pop_back();  // reopen the object for the input size
      fmt::format_to(std::back_inserter(j), R"(,"input_size":{}}},"records":[)", run.input.size());
      for (std::size_t i = 0; i < run.records.size(); ++i) {
        const stored_record& r = run.records[i];
        if (i != 0) j += ',';
        fmt::format_to(std::back_inserter(j),
                       R"({{"seq":{},"time_ns":{},"kind":"{}","step":{},"attempt":{},)"
                       R"("ok":{},"payload_size":{})",
                       r.seq, r.time_ns, to_string(r.kind), json_string(r.step), r.attempt,
                       !is_finish(r.kind) ? "null"
                       : r.ok             ? "true"
                                          : "false",
                       r.payload.size());
        if (r.kind == record_kind::run_finished)
          fmt::format_to(std::back_inserter(j), R"(,"outcome":"{}")",
                         to_string(status_after_outcome(r.outcome)));
        if (has_error(r))
          fmt::format_to(std::back_inserter(j),
                         R"(,"error":{{"category":{},"value":{},"message":{}}})",
                         json_string(r.error_category), r.error_value, json_string(r.message));
        else if (!r.message.empty())
          fmt::format_to(std::back_inserter(j), R"(,"note":{})", json_string(r.message));
        j += '}';
      }
      fmt::format_to(std::back_inserter(j),
                     R"(],"finished":{},"paused":{},"resolved":{},"steps":[)", plan.finished,
                     plan.paused, plan.resolved);
      for (std::size_t i = 0; i < order.size(); ++i) {
        const step_replay& s = plan.steps.at(order[i]);
        if (i != 0) j += ',';
        fmt::format_to(std::back_inserter(j),
                       R"({{"step":{},"attempts":{},"succeeded":{},"failed":{},)"
                       R"("compensated":{},"compensation_attempts":{})",
                       json_string(order[i]), s.attempts, s.succeeded, s.failed, s.compensated,
                       s.compensation_attempts);
        if (const auto f = failure.find(order[i]); s.failed && f != failure.end())
          fmt::format_to(std::back_inserter(j),
                         R"(,"error":{{"category":{},"value":{},"message":{}}})",
                         json_string(f->second->error_category), f->second->error_value,
                         json_string(f->second->message));
        j += '}';
      }
      j += "]}\n";
      fmt::print(out, "{}", j);
      return exit_ok;
    }

    table head;
    head.rows = {{"run", hex_of(run.summary.id)},
                 {"workflow", printable(run.summary.workflow)},
                 {"version", std::to_string(run.summary.version)},
                 {"fingerprint", fmt::format("{:016x}", run.summary.fingerprint)},
                 {"status", std::string{to_string(run.summary.status)}},
                 {"started", format_time(run.summary.started_unix_ms)},
                 {"updated", format_time(run.summary.updated_unix_ms)},
                 {"records", std::to_string(run.records.size())},
                 {"input", fmt::format("{} bytes", run.input.size())},
                 {"epoch", std::to_string(run.summary.epoch)},
                 {"owner", run.summary.owner.empty()
                               ? std::string("-")
                               : fmt::format("{} (lease until {}: {})", printable(run.summary.owner),
                                             format_time(run.summary.lease_until_ms),
                                             lease_text(run.summary, now_ms()))}};
    if (stranded(run.summary, now_ms()))
      head.rows.push_back({"stranded", "no engine is running it: a runner (or a resume) claims it"});
    if (run.summary.recoveries != 0)
      head.rows.push_back({"recoveries", std::to_string(run.summary.recoveries)});
    if (!run.summary.partition.empty())
      head.rows.push_back({"partition", printable(run.summary.partition)});
    head.print(out);

    table recs;
    recs.rows.push_back({"SEQ", "TIME", "KIND", "STEP", "ATTEMPT", "OK", "PAYLOAD", "DETAIL"});
    for (const stored_record& r : run.records) {
      std::string detail;
      if (has_error(r))
        detail = "error " + printable(error_text(r));
      else if (r.kind == record_kind::run_finished)
        detail = fmt::format("outcome {}", to_string(status_after_outcome(r.outcome)));
      else if (r.kind == record_kind::claimed)
        detail = fmt::format("epoch {} by {}{}", r.epoch, printable(r.message),
                             r.ok ? " (takeover)" : "");
      else if (!r.message.empty())
        detail = "note: " + printable(r.message);
      const bool attempt_kind = r.kind == record_kind::attempt_started ||
                                r.kind == record_kind::attempt_finished ||
                                r.kind == record_kind::step_finished;
      recs.rows.push_back({std::to_string(r.seq),
                           r.time_ns == 0
                               ? "-"
                               : fmt::format("+{:.6f}s", static_cast<double>(r.time_ns - t0) / 1e9),
                           std::string{to_string(r.kind)}, r.step.empty() ? "-" : printable(r.step),
                           attempt_kind ? std::to_string(r.attempt) : "-",
                           is_finish(r.kind) ? (r.ok ? "yes" : "no") : "-",
                           r.payload.empty() ? "-" : std::to_string(r.payload.size()), detail});
    }
    fmt::print(out, "\n");
    recs.print(out);

    fmt::print(out, "\nsteps:\n");
    if (order.empty()) {
      fmt::print(out, "  none recorded\n");
    } else {
      table steps;
      steps.rows.push_back({"  STEP", "ATTEMPTS", "SUCCEEDED", "COMPENSATED", "FAILED"});
      for (const std::string& path : order) {
        const step_replay& s = plan.steps.at(path);
        std::string compensated = "-";
        if (s.compensation_attempts != 0)
          compensated =
              fmt::format("{} ({} attempt{})", s.compensated ? "yes" : "no",
                          s.compensation_attempts, s.compensation_attempts == 1 ? "" : "s");
        std::string failed = s.failed ? "yes" : "no";
        if (const auto f = failure.find(path); s.failed && f != failure.end())
          failed += " (" + printable(error_text(*f->second)) + ")";
        steps.rows.push_back({"  " + printable(path), std::to_string(s.attempts),
                              s.succeeded ? "yes" : "no", compensated, failed});
      }
      steps.print(out);
    }
    const table hint = next_steps(run.summary.status, hex_of(run.summary.id));
    if (!hint.rows.empty()) {
      fmt::print(out, "\nnext:\n");
      hint.print(out);
    }
    return exit_ok;
  }

  /// What an operator may do next with a run in status `s`.
  static table next_steps(run_status s, const std::string& id) {
    table t;
    const std::string resolve = "  resolve " + id + " --note TEXT";
    switch (s) {
      case run_status::failed:
        t.rows = {{"  retry " + id, "the failed step runs again when a runner (or a resume) claims it"},
                  {resolve, "settled by hand; never resumed"}};
        break;
      case run_status::compensation_failed:
        t.rows = {
            {"  redrive " + id, "the failed compensations run again when a runner (or a resume) claims it"},
            {resolve, "settled by hand; never resumed"}};
        break;
      case run_status::paused:
        t.rows = {{"  unpause " + id, "running again; a runner (or the host's next resume) carries it on"},
                  {resolve, "settled by hand; never resumed"}};
        break;
      case run_status::dead_lettered:
        t.rows = {{"  retry " + id, "back to running; a runner (or a resume) carries it on"},
                  {resolve, "settled by hand; never resumed"}};
        break;
      case run_status::queued:
        t.rows = {{resolve, "cancelled: never runs"}};
        break;
      case run_status::running:
        t.rows = {{"  pause " + id, "stops at its next step boundary"},
                  {resolve, "settled by hand: the engine running it stops at its next write"}};
        break;
      default:
        break;
    }
    return t;
  }

  /// A journal error about run `id`; run_not_found gets a plain sentence.
  [[nodiscard]] int run_error(const std::error_code& ec, const run_id& id,
                              std::string_view what) const {
    if (ec == journal_errc::run_not_found) {
      fmt::print(err, "tutti-journal: no run {} in the journal\n", hex_of(id));
      return exit_usage;
    }
    return journal_error(ec, what);
  }

  // ---- operator commands ----

  enum class command { pause, unpause, retry, redrive, resolve, move };

  [[nodiscard]] int operate(command c, std::string_view name,
                            std::span<const std::string_view> args) const {
    const parsed_args p = c == command::resolve ? parse_args(args, {{"--note"}})
                          : c == command::move  ? parse_args(args, {{"--version"}, {"--note"}})
                                                : parse_args(args, {});
    if (!p.error.empty()) return usage_error(fmt::format("{}: {}", name, p.error));
    if (p.positional.size() != 1)
      return usage_error(fmt::format("{}: give one run id: {} RUN{}", name, name,
                                     c == command::resolve ? " --note TEXT"
                                     : c == command::move  ? " --version N [--note TEXT]"
                                                           : ""));
    std::string_view note;
    if (c == command::resolve) {
      const auto* n = p.find("--note");
      if (n == nullptr || n->empty())
        return usage_error("resolve: say how the run was settled: resolve RUN --note TEXT");
      note = *n;
    }
    std::uint32_t version = 0;
    if (c == command::move) {
      const auto* v = p.find("--version");
      std::uint32_t n = 0;
      const auto [end, ec] = v == nullptr ? std::from_chars_result{nullptr, std::errc::invalid_argument}
                                          : std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || end != v->data() + v->size() || n == 0)
        return usage_error("move: say which version: move RUN --version N (N: 1 or more)");
      version = n;
      if (const auto* n = p.find("--note")) note = *n;
    }
    int code = exit_ok;
    const auto id = find_run(p.positional[0], code);
    if (!id) return code;

    result<void> done = outcome::success();
    std::string_view applies;
    switch (c) {
      case command::pause:
        done = pause_run(journal, *id);
        applies = "pause applies to running runs";
        break;
      case command::unpause:
        done = unpause_run(journal, *id);
        applies = "unpause applies to paused runs";
        break;
      case command::retry:
        done = retry_run(journal, *id);
        applies = "retry applies to failed and dead_lettered runs";
        break;
      case command::redrive:
        done = redrive_compensations(journal, *id);
        applies = "redrive applies to compensation_failed runs";
        break;
      case command::resolve:
        done = resolve_run(journal, *id, note);
        applies =
            "resolve applies to queued, running, paused, failed, compensation_failed and "
            "dead_lettered runs";
        break;
      case command::move:
        done = move_run(journal, *id, version, note);
        applies = "move applies to queued, running, paused and dead_lettered runs";
        break;
    }
    const std::string hex = hex_of(*id);
    if (!done) {
      if (done.error() != journal_errc::invalid_command)
        return run_error(done.error(), *id, fmt::format("{} failed", name));
      auto now = journal.status(*id);
      if (!now) return run_error(now.error(), *id, "reading the run's status failed");
      std::string why = fmt::format("run {} is {}; {}", hex, to_string(now.value()), applies);
      if (c == command::retry && now.value() == run_status::compensation_failed)
        why += " (a compensation failed: use redrive)";
      if (c == command::redrive && now.value() == run_status::failed)
        why += " (no compensation failed: use retry)";
      fmt::print(err, "tutti-journal: {}\n", why);
      return exit_refused;
    }
    switch (c) {
      case command::pause:
        fmt::print(out, "run {} paused: no new step starts until it is unpaused\n", hex);
        break;
      case command::unpause:
        fmt::print(out,
                   "run {} unpaused: it is running again.\n"
                   "A runner carries it on, or the host application's next resume "
                   "(durable.resume, or durable.resume_all at start-up).\n",
                   hex);
        break;
      case command::retry:
        fmt::print(out,
                   "run {}: retry requested; the run is running again.\n"
                   "A runner carries it on (a failed run from its failed step, a dead-lettered "
                   "one where it stopped), or the host application's next resume "
                   "(durable.resume, or durable.resume_all at start-up).\n",
                   hex);
        break;
      case command::redrive:
        fmt::print(out,
                   "run {}: re-drive requested; the run is running again.\n"
                   "Its failed compensations run when a runner claims it, or on the host "
                   "application's next resume (durable.resume, or durable.resume_all at "
                   "start-up).\n",
                   hex);
        break;
      case command::resolve:
        fmt::print(out, "run {} resolved by hand: it will not be resumed\n", hex);
        break;
      case command::move:
        fmt::print(out,
                   "run {} moved to version {} of its workflow.\n"
                   "A runner hosting version {} carries it on (or durable.resume with that "
                   "version).\n",
                   hex, version, version);
        break;
    }
    return exit_ok;
  }

  [[nodiscard]] int dispatch(std::span<const std::string_view> args) const {
    if (args.empty()) return usage_error("no command given");
    const std::string_view cmd = args[0];
    const auto rest = args.subspan(1);
    if (is_help(cmd)) {
      fmt::print(out, "{}", help_text);
      return exit_ok;
    }
    if (cmd == "--version") {
      fmt::print(out, "{}", version_text());
      return exit_ok;
    }
    if (is_command(cmd) && asks_for_help(rest)) {
      fmt::print(out, "{}", command_help(cmd));
      return exit_ok;
    }
    if (cmd.size() > 1 && cmd[0] == '-')
      return usage_error(fmt::format("unknown option {}", printable(cmd)));
    if (cmd == "list") return list(rest);
    if (cmd == "show") return show(rest);
    if (cmd == "pause") return operate(command::pause, cmd, rest);
    if (cmd == "unpause") return operate(command::unpause, cmd, rest);
    if (cmd == "retry") return operate(command::retry, cmd, rest);
    if (cmd == "redrive") return operate(command::redrive, cmd, rest);
    if (cmd == "resolve") return operate(command::resolve, cmd, rest);
    if (cmd == "move") return operate(command::move, cmd, rest);
    return usage_error(fmt::format("unknown command '{}'", printable(cmd)));
  }
};

}  // namespace detail

/**
 * What `tutti-journal` does before it opens a journal: `args` are the program's arguments without
 * its name (`{"runs.db", "list"}`). Help (`help`, `--help`, `-h`, `COMMAND --help`), the version
 * (`--version`) and usage errors need no journal: they are printed and their exit code returned.
 * Nullopt when `args[0]` names a journal to open and `args[1...]` are for `run_cli`.
 */
inline std::optional<int> run_without_journal(std::span<const std::string_view> args,
                                              std::FILE* out, std::FILE* err) {
  constexpr std::string_view usage =
      "usage: tutti-journal JOURNAL COMMAND [ARGUMENTS]  (tutti-journal help)\n";
  if (args.empty()) {
    fmt::print(err, "{}", usage);
    return exit_usage;
  }
  const auto says = [out](std::string_view text) {
    fmt::print(out, "{}", text);
    return exit_ok;
  };
  if (detail::is_help(args[0])) return says(help_text);
  if (args[0] == "--version") return says(version_text());
  // `COMMAND --help`, and `JOURNAL COMMAND --help` without opening the journal.
  const std::size_t command_at = args.size() > 1 && is_command(args[1]) ? 1 : 0;
  if (is_command(args[command_at]) && detail::asks_for_help(args.subspan(command_at + 1)))
    return says(command_help(args[command_at]));
  if (args[0].size() > 1 && args[0][0] == '-') {  // a journal named so is given as ./-name
    fmt::print(err, "tutti-journal: unknown option {}\n{}", detail::printable(args[0]), usage);
    return exit_usage;
  }
  if (args.size() < 2) {
    fmt::print(err, "tutti-journal: no command given after the journal file\n{}", usage);
    return exit_usage;
  }
  if (detail::is_help(args[1])) return says(help_text);
  if (args[1] == "--version") return says(version_text());
  return std::nullopt;
}

/**
 * Runs one `tutti-journal` command on `journal`: `args` are the command and its arguments
 * (`{"list", "--status", "failed"}`), without the program and journal file names. Output goes to
 * `out`, messages about failures to `err`. Returns the exit code (see `exit_code`).
 */
template <journal J>
int run_cli(J& journal, std::span<const std::string_view> args, std::FILE* out, std::FILE* err) {
  try {
    return detail::session<J>{journal, out, err}.dispatch(args);
  } catch (const std::exception& e) {
    std::fprintf(err, "tutti-journal: %s\n", e.what());
  } catch (...) {
    std::fputs("tutti-journal: unexpected error\n", err);
  }
  return exit_usage;
}

}  // namespace tutti::journal_cli

#endif  // TUTTI_TOOLS_TUTTI_JOURNAL_CLI_HPP
