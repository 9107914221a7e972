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
#include <memory>        // the parser
#include <iterator>      // std::back_inserter
#include <map>           // failures by step
#include <optional>      // parsed values
#include <span>          // arguments
#include <string>        // output buffers
#include <string_view>   // arguments
#include <system_error>  // journal errors
#include <utility>       // std::pair, std::move
#include <vector>        // tables, option lists

#include <CLI/CLI.hpp>    // the command line
#include <fmt/format.h>  // output
#include <nlohmann/json.hpp>  // --json output, JSON payloads

#include <tutti/journal/json.hpp>     // payload_json

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

/// "tutti-journal <major>.<minor>.<patch>\n" (`tutti-journal --version`).
inline std::string version_text() {
  return fmt::format("tutti-journal {}.{}.{}\n", TUTTI_VERSION_MAJOR, TUTTI_VERSION_MINOR,
                     TUTTI_VERSION_PATCH);
}

/// The commands `tutti-journal` knows, in the order its help lists them.
inline constexpr std::string_view command_names[] = {"list",    "show",    "census", "pause",
                                                     "unpause", "retry",   "redrive", "resolve",
                                                     "move",    "rerun",   "purge",   "help"};

/// A name in `command_names`.
inline bool is_command(std::string_view name) {
  return std::find(std::begin(command_names), std::end(command_names), name) !=
         std::end(command_names);
}

/// What one command line asks for, as the parser leaves it: every value checked, nothing done.
struct request {
  std::string journal;  ///< the journal file (empty where the caller holds the journal: run_cli)
  std::string command;  ///< a name in `command_names`
  std::string run;      ///< RUN: 32 hex digits or a piece of them (show and the operator commands)
  // list
  std::optional<run_status> status;
  std::optional<std::string> workflow;
  std::optional<std::int64_t> since_unix_ms;
  std::optional<std::int64_t> until_unix_ms;
  std::size_t limit = 0;  ///< 0: no limit
  std::optional<std::string> key;          ///< --key
  std::optional<std::string> failed_step;  ///< --failed-step
  std::optional<std::string> error_category;  ///< --error CATEGORY[:VALUE] or a tutti errc name
  std::optional<int> error_value;
  bool stranded = false;
  bool json = false;  ///< list, show and census
  // resolve and move
  std::string note;
  std::uint32_t version = 0;  ///< move: the version the run goes on as
  std::string from;           ///< rerun: the step the new run starts from
  std::optional<run_id> new_id;  ///< rerun --id: the new run's id
  // purge
  std::optional<std::int64_t> older_than_ms;  ///< --older-than
  std::optional<std::int64_t> before_unix_ms;  ///< --before
  std::size_t batch = 500;
  // help
  std::string help_topic;  ///< `help COMMAND`: that command's usage
};

namespace detail {

inline std::string printable(std::string_view s);
inline std::optional<std::int64_t> parse_time(std::string_view s);

/// tutti's error codes by name (`--error timeout`): the `tutti::errc` enumerators.
inline constexpr std::pair<std::string_view, errc> errc_names[] = {
    {"step_failed", errc::step_failed},
    {"exception", errc::exception},
    {"compensation_failed", errc::compensation_failed},
    {"cancelled", errc::cancelled},
    {"timeout", errc::timeout},
    {"circuit_open", errc::circuit_open},
    {"bulkhead_full", errc::bulkhead_full},
    {"rate_limited", errc::rate_limited},
    {"retries_exhausted", errc::retries_exhausted},
    {"invalid_argument", errc::invalid_argument},
    {"no_value", errc::no_value},
    {"paused", errc::paused},
    {"journal_failed", errc::journal_failed},
};

/// `--error E`: a tutti error code's name (`timeout`: category "tutti", value 5), a category
/// (`generic`: any value) or CATEGORY:VALUE (`generic:111`); nullopt if none of these.
inline std::optional<std::pair<std::string, std::optional<int>>> parse_error(std::string_view e) {
  for (const auto& [name, code] : errc_names)
    if (e == name) return std::pair{std::string(error_category().name()), std::optional<int>{static_cast<int>(code)}};
  const auto colon = e.rfind(':');
  if (colon == std::string_view::npos) {
    if (e.empty()) return std::nullopt;
    return std::pair{std::string(e), std::optional<int>{}};
  }
  const std::string_view category = e.substr(0, colon), value = e.substr(colon + 1);
  if (category.empty() || value.empty()) return std::nullopt;
  int v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
  return std::pair{std::string(category), std::optional<int>{v}};
}

inline std::optional<run_status> parse_status(std::string_view s) {
  for (std::uint8_t v = 1; v < 32; ++v) {
    const auto st = static_cast<run_status>(v);
    if (to_string(st) != "unknown" && to_string(st) == s) return st;
  }
  return std::nullopt;
}

/// A duration: a whole number and a unit, ms, s, m, h or d ("30d", "12h", "90m"); nullopt if
/// not one, or not positive, or too long.
inline std::optional<std::int64_t> parse_duration_ms(std::string_view s) {
  std::size_t digits_end = 0;
  while (digits_end < s.size() && s[digits_end] >= '0' && s[digits_end] <= '9') ++digits_end;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + digits_end, n);
  if (digits_end == 0 || ec != std::errc{} || end != s.data() + digits_end || n <= 0)
    return std::nullopt;
  const std::string_view unit = s.substr(digits_end);
  std::int64_t ms = 0;
  if (unit == "ms") ms = 1;
  else if (unit == "s") ms = 1000;
  else if (unit == "m") ms = 60'000;
  else if (unit == "h") ms = 3'600'000;
  else if (unit == "d") ms = 86'400'000;
  else return std::nullopt;
  if (n > INT64_MAX / ms) return std::nullopt;
  return n * ms;
}

/// A positive decimal number that fits `T`.
template <class T>
std::optional<T> parse_positive(std::string_view s) {
  T n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc{} || end != s.data() + s.size() || n == 0) return std::nullopt;
  return n;
}

inline constexpr std::string_view statuses =
    "queued, running, paused, succeeded, failed, compensated, compensation_failed, resolved, "
    "dead_lettered";

inline constexpr std::string_view run_footer =
    "RUN is a run id (32 hex digits), or its first or last digits when they match a single run\n"
    "(ids made by one thread share their first half and differ in their last digits).\n";

inline constexpr std::string_view main_footer =
    "RUN is a run id (32 hex digits), or its first or last digits when they match a single run\n"
    "(ids made by one thread share their first half and differ in their last digits).\n"
    "\n"
    "This tool has no workflow code and runs no step. retry and redrive record the operator's\n"
    "request in the journal and make the run `running` again; the host application carries it "
    "out\non its next resume: durable.resume<In>(id), or durable.resume_all<In>(...) at "
    "start-up.\n"
    "\n"
    "exit status: 0 done; 1 the command does not apply to the run in its current state;\n"
    "2 usage error, unknown or ambiguous run, or a journal that cannot be opened or read.\n";

/// CLI11's help, laid out as tutti-journal's: the usage line first (with JOURNAL before the
/// command), then what the command does, its arguments and options, and the footer; the
/// command list shows each command's first line.
class help_formatter final : public CLI::Formatter {
 public:
  help_formatter() {
    label("Usage", "usage");
    label("OPTIONS", "OPTIONS");
    label("Positionals", "Arguments");
    label("SUBCOMMAND", "COMMAND");
    column_width(24);
  }
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    std::string out = make_usage(app, std::move(name));
    out += '\n';
    const std::string& description = app->get_description();
    if (!description.empty()) {
      out += description;
      out += '\n';
    }
    out += make_positionals(app);
    out += make_groups(app, mode);
    out += make_subcommands(app, mode);
    const std::string footer = app->get_footer();
    if (!footer.empty()) {
      out += '\n';
      out += footer;
    }
    return out;
  }
  /// "usage: tutti-journal JOURNAL resolve RUN --note TEXT": the arguments and the options a
  /// command needs, then "[OPTIONS]" if it has others.
  std::string make_usage(const CLI::App* app, std::string) const override {
    if (app->get_parent() == nullptr)
      return "usage: tutti-journal JOURNAL COMMAND [ARGUMENTS]\n"
             "       tutti-journal [JOURNAL] COMMAND --help     that command's usage\n"
             "       tutti-journal --version\n";
    std::string out = "usage: tutti-journal JOURNAL " + app->get_name();
    for (const CLI::Option* o : app->get_options({}))
      if (o->get_positional()) out += " " + o->get_name(true);
    bool optional = false;
    for (const CLI::Option* o : app->get_options({})) {
      if (o->get_positional() || o == app->get_help_ptr()) continue;
      if (o->get_required())
        out += " " + o->get_name() + " " + o->get_type_name();
      else
        optional = true;
    }
    if (optional) out += " [OPTIONS]";
    out += '\n';
    return out;
  }
  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string& d = sub->get_description();
    std::string out = "  " + sub->get_name();
    out.append(out.size() < 24 ? 24 - out.size() : 1, ' ');
    out.append(d.substr(0, d.find('\n')));
    out += '\n';
    return out;
  }
};

/// A CLI11 check with tutti-journal's message (empty: the value is good).
template <class F>
CLI::Validator check(F f) {
  return CLI::Validator(
      [f](std::string& value) -> std::string { return f(std::string_view{value}); }, "");
}

/**
 * The parser for one command line, its values bound to `r`. With `with_journal`, the first
 * argument that is not a command or an option is the journal file (`tutti-journal JOURNAL list`);
 * without it, the arguments start at the command (`run_cli`).
 */
inline std::unique_ptr<CLI::App> make_parser(request& r, bool with_journal) {
  auto app = std::make_unique<CLI::App>(
      "tutti-journal: operator commands on a tutti journal (a SQLite file)", "tutti-journal");
  app->formatter(std::make_shared<help_formatter>());
  app->set_version_flag("--version", version_text());
  // Arguments no option or command takes are told apart below (parse_command_line): an unknown
  // option, an unknown command, one argument too many. Subcommands take this over when added.
  app->allow_extras();
  if (with_journal)
    app->add_option("JOURNAL", r.journal, "the journal file (a name starting with - as ./-name)")
        ->type_name("");

  const auto run_arg = [&r](CLI::App* c) {
    c->add_option("RUN", r.run, "the run: its id, or its first or last digits")
        ->type_name("")
        ->required();
    c->footer(std::string{run_footer});
  };
  const auto json_flag = [&r](CLI::App* c) {
    c->add_flag("--json", r.json, "print JSON (one object) instead of text");
  };

  // ---- list ----
  CLI::App* list = app->add_subcommand(
      "list",
      "runs, newest first, with their status, owner and lease\n"
      "Per run: id, workflow, version, status, started, updated, records, epoch,\n"
      "owner, and its lease: live (its engine holds it) or expired (its engine\n"
      "died or stalled).");
  list->add_option_function<std::string>(
          "--status", [&r](const std::string& s) { r.status = parse_status(s); },
          "only runs in status S: queued, running, paused, succeeded,\n"
          "failed, compensated, compensation_failed, resolved,\n"
          "dead_lettered")
      ->type_name("S")
      ->check(check([](std::string_view s) {
        return parse_status(s) ? std::string{}
                               : fmt::format("unknown status '{}' ({})", printable(s), statuses);
      }));
  list->add_option_function<std::string>(
          "--workflow", [&r](const std::string& w) { r.workflow = w; },
          "only runs of the workflow named W (exact)")
      ->type_name("W")
      ->check(check([](std::string_view w) {
        return w.empty() ? std::string{"needs a name"} : std::string{};
      }));
  const auto time_check = check([](std::string_view t) {
    return parse_time(t) ? std::string{}
                         : fmt::format(
                               "'{}' is not a time (ISO 8601 such as 2026-11-22T11:40:00Z, or "
                               "milliseconds since the Unix epoch)",
                               printable(t));
  });
  list->add_option_function<std::string>(
          "--since", [&r](const std::string& t) { r.since_unix_ms = parse_time(t); },
          "only runs started at or after T: ISO 8601 (2026-11-22,\n"
          "2026-11-22T11:40:00Z, 2026-11-22T13:40+02:00; no zone: UTC)\n"
          "or milliseconds since the Unix epoch")
      ->type_name("T")
      ->check(time_check);
  list->add_option_function<std::string>(
          "--until", [&r](const std::string& t) { r.until_unix_ms = parse_time(t); },
          "only runs started before T (as --since)")
      ->type_name("T")
      ->check(time_check);
  const auto positive_check = check([](std::string_view n) {
    return parse_positive<std::size_t>(n)
               ? std::string{}
               : fmt::format("'{}' is not a positive number", printable(n));
  });
  list->add_option_function<std::string>(
          "--limit", [&r](const std::string& n) { r.limit = *parse_positive<std::size_t>(n); },
          "at most N runs (the newest)")
      ->type_name("N")
      ->check(positive_check);
  list->add_option_function<std::string>(
          "--key", [&r](const std::string& k) { r.key = k; },
          "only runs with the business key K (tutti::keyed; exact)")
      ->type_name("K")
      ->check(check([](std::string_view k) {
        return k.empty() ? std::string{"needs a key"} : std::string{};
      }));
  list->add_option_function<std::string>(
          "--failed-step", [&r](const std::string& st) { r.failed_step = st; },
          "only runs whose failure is step S (its path, as show prints it:\n"
          "outer/inner)")
      ->type_name("S")
      ->check(check([](std::string_view st) {
        return st.empty() ? std::string{"needs a step"} : std::string{};
      }));
  list->add_option_function<std::string>(
          "--error",
          [&r](const std::string& e) {
            auto parsed = *parse_error(e);
            r.error_category = std::move(parsed.first);
            r.error_value = parsed.second;
          },
          "only runs whose failure has error E: a tutti error code's name\n"
          "(timeout, circuit_open, exception, ...), a category (generic),\n"
          "or CATEGORY:VALUE (generic:111)")
      ->type_name("E")
      ->check(check([](std::string_view e) {
        return parse_error(e) ? std::string{}
                              : fmt::format("'{}' is not an error (a tutti error code's name, a "
                                            "category, or CATEGORY:VALUE)",
                                            printable(e));
      }));
  list->add_flag("--stranded", r.stranded,
                 "only running runs no engine is running (held by nobody, or\n"
                 "by an expired lease): any engine may claim them");
  json_flag(list);

  // ---- show ----
  CLI::App* show = app->add_subcommand(
      "show",
      "one run: its header, every record, and what each step did\n"
      "Per step, what the journal says: attempts, succeeded, failed,\n"
      "compensated.");
  run_arg(show);
  json_flag(show);

  // ---- census ----
  CLI::App* census = app->add_subcommand(
      "census",
      "how many runs are in each status, and the oldest waiting ones\n"
      "Counts the journal's runs by status and shows when the oldest running,\n"
      "queued and paused runs started (a runner exports the same numbers as\n"
      "its tutti_journal_* gauges).");
  json_flag(census);

  // ---- operator commands ----

  run_arg(app->add_subcommand(
      "pause",
      "stop a running run before its next step\n"
      "No new step starts until it is unpaused (the step in progress\n"
      "finishes; the process running it stops the run there)."));
  run_arg(app->add_subcommand(
      "unpause",
      "let a paused run go on\n"
      "It is running again; a runner (or the host application's next resume)\n"
      "carries it on."));
  run_arg(app->add_subcommand(
      "retry",
      "run a failed run's failed step again, or revive a dead_lettered run\n"
      "A failed run: its failed step runs again when next claimed. A\n"
      "dead_lettered run: it goes on where it stopped."));
  run_arg(app->add_subcommand(
      "redrive",
      "run a compensation_failed run's failed compensations again\n"
      "Its compensations that did not succeed run again when next claimed."));
  CLI::App* resolve = app->add_subcommand(
      "resolve",
      "mark a run settled by hand (--note says how)\n"
      "A queued, running, paused, failed, compensation_failed or dead_lettered\n"
      "run. It is never resumed; a live run stops at its engine's next write, a\n"
      "queued one never runs.");
  run_arg(resolve);
  resolve->add_option("--note", r.note, "how the run was settled (recorded in the journal)")
      ->type_name("TEXT")
      ->required()
      ->check(check([](std::string_view n) {
        return n.empty() ? std::string{"say how the run was settled"} : std::string{};
      }));
  CLI::App* move = app->add_subcommand(
      "move",
      "let a run go on as another version of its workflow\n"
      "A queued, running, paused or dead_lettered run goes on as version N (a\n"
      "service hosting version N claims it; its journal is replayed there, step\n"
      "by step, its shape not checked). A live run stops at its engine's next\n"
      "write; a dead_lettered one is running again.");
  run_arg(move);
  move->add_option_function<std::string>(
          "--version", [&r](const std::string& v) { r.version = *parse_positive<std::uint32_t>(v); },
          "the version the run goes on as (1 or more)")
      ->type_name("N")
      ->required()
      ->check(check([](std::string_view v) {
        return parse_positive<std::uint32_t>(v)
                   ? std::string{}
                   : fmt::format("'{}' is not a version (1 or more)", printable(v));
      }));
  move->add_option("--note", r.note, "why (recorded in the journal)")->type_name("TEXT");
  CLI::App* rerun = app->add_subcommand(
      "rerun",
      "run an ended run again from one of its steps, as a new run\n"
      "The new run has the old run's workflow, version, input and key; the\n"
      "outputs of the steps the old run finished before STEP are copied into\n"
      "it (not called again); STEP and the steps after it run anew, with new\n"
      "idempotency keys. Each run names the other. A runner (or a resume)\n"
      "carries it on. Refused when the old run has not ended, never reached\n"
      "STEP, or when a step it would reuse was compensated.");
  run_arg(rerun);
  rerun->add_option("--from", r.from, "the top-level step the new run starts from")
      ->type_name("STEP")
      ->required()
      ->check(check([](std::string_view f) {
        return f.empty() ? std::string{"name the step to rerun from"} : std::string{};
      }));
  rerun->add_option_function<std::string>(
          "--id", [&r](const std::string& v) { r.new_id = run_id::parse(v); },
          "the new run's id (32 hex digits); default: a new one")
      ->type_name("ID")
      ->check(check([](std::string_view v) {
        return run_id::parse(v) ? std::string{}
                                : fmt::format("'{}' is not a run id (32 hex digits)", printable(v));
      }));

  // ---- purge ----
  CLI::App* purge = app->add_subcommand(
      "purge",
      "delete ended runs older than a limit (retention)\n"
      "Deletes the succeeded, failed, compensated, compensation_failed,\n"
      "resolved and dead_lettered runs last written before the limit, with\n"
      "their records, in batches (one short write transaction each: a service\n"
      "using the journal goes on writing in between). Runs that have not ended\n"
      "are never touched. A purged run's dedup key is forgotten.");
  purge->add_option_function<std::string>(
          "--older-than", [&r](const std::string& d) { r.older_than_ms = parse_duration_ms(d); },
          "last written longer ago than D: a number and ms, s, m, h or d\n"
          "(30d, 12h, 90m)")
      ->type_name("D")
      ->check(check([](std::string_view d) {
        return parse_duration_ms(d) ? std::string{}
                                    : fmt::format("'{}' is not a duration (30d, 12h, 90m, 45s, "
                                                  "500ms)",
                                                  printable(d));
      }));
  purge->add_option_function<std::string>(
          "--before", [&r](const std::string& t) { r.before_unix_ms = parse_time(t); },
          "last written before T (as list --since)")
      ->type_name("T")
      ->check(time_check);
  purge->add_option_function<std::string>(
          "--batch", [&r](const std::string& n) { r.batch = *parse_positive<std::size_t>(n); },
          "runs per write transaction (default 500)")
      ->type_name("N")
      ->check(positive_check);

  // ---- help ----
  app->add_subcommand("help", "this text; help COMMAND: that command's usage")
      ->add_option("COMMAND", r.help_topic, "a command")
      ->type_name("");
  // Set last: subcommands take these over from their parent when they are added.
  for (CLI::App* c : app->get_subcommands({})) c->group("Commands");
  app->footer(std::string{main_footer});
  app->require_subcommand(0, 1);
  return app;
}

/// The usage of `command` as `tutti-journal COMMAND --help` prints it.
inline std::string help_of(std::string_view command) {
  request r;
  const auto app = make_parser(r, true);
  if (command.empty() || command == "help") return app->help();
  for (const CLI::App* sub : app->get_subcommands({}))
    if (sub->get_name() == command) return sub->help("", CLI::AppFormatMode::Normal);
  return {};
}

}  // namespace detail

/// The help text (`tutti-journal help`): every command, what RUN may be, the exit codes.
inline std::string help_text() { return detail::help_of("help"); }

/**
 * The usage of one command (`tutti-journal list --help`): its usage line, what it does, its
 * arguments and options and, for a command that takes a RUN, what RUN may be. `help_text()` for
 * "help"; empty for a name that is not a command.
 */
inline std::string command_help(std::string_view command) {
  return is_command(command) ? detail::help_of(command) : std::string{};
}

/// A parsed command line (`request`), or the exit code of one that needed no journal: help,
/// the version, or a usage error (printed).
struct parse_outcome {
  std::optional<request> to_run;
  int code = exit_ok;
};

/**
 * Parses a command line: `args` without the program's name; with `with_journal`, the journal file
 * comes first (`{"runs.db", "list", "--json"}`), else the command (`{"list", "--json"}`). Help
 * (`help`, `--help`, `-h`, `help COMMAND`, `COMMAND --help`) and `--version` are printed to `out`
 * and need no journal; a usage error is printed to `err`, with exit code `exit_usage`.
 */
inline parse_outcome parse_command_line(std::span<const std::string_view> args, bool with_journal,
                                        std::FILE* out, std::FILE* err) {
  request r;
  const auto app = detail::make_parser(r, with_journal);
  // CLI11 takes the arguments last first.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  const auto usage_error = [&](const CLI::App* where, std::string_view message) {
    const std::string command = where != nullptr ? where->get_name() : std::string{};
    fmt::print(err, "tutti-journal: {}{}\n(`tutti-journal {}` tells the usage)\n",
               command.empty() ? "" : command + ": ", detail::printable(message),
               command.empty() || command == "help" ? "help" : "help " + command);
    return parse_outcome{std::nullopt, exit_usage};
  };
  const auto selected = [&app]() -> const CLI::App* {
    const auto subs = app->get_subcommands();
    return subs.empty() ? nullptr : subs.front();
  };
  try {
    app->parse(reversed);
  } catch (const CLI::CallForHelp&) {
    fmt::print(out, "{}", app->help());
    return {std::nullopt, exit_ok};
  } catch (const CLI::CallForVersion&) {
    fmt::print(out, "{}", version_text());
    return {std::nullopt, exit_ok};
  } catch (const CLI::ParseError& e) {
    return usage_error(selected(), e.what());
  }
  const CLI::App* command = selected();
  // What no option or command took: an option before the command, or a word that is no command.
  std::vector<std::string> rest = app->remaining(true);
  std::erase(rest, std::string{"--"});  // CLI11 leaves the end-of-options marker here
  if (!rest.empty() && rest.front().size() > 1 && rest.front().starts_with("-"))
    return usage_error(command, fmt::format("unknown option {}", rest.front()));
  if (command == nullptr) {
    if (!rest.empty()) return usage_error(nullptr, fmt::format("unknown command '{}'", rest.front()));
    return usage_error(nullptr, fmt::format("no command given{} (usage: tutti-journal JOURNAL "
                                            "COMMAND [ARGUMENTS])",
                                            r.journal.empty() ? "" : " after the journal file"));
  }
  if (!rest.empty()) return usage_error(command, fmt::format("unexpected argument '{}'", rest.front()));
  r.command = command->get_name();
  if (r.command == "help") {
    if (!r.help_topic.empty() && !is_command(r.help_topic))
      return usage_error(command, fmt::format("unknown command '{}'", r.help_topic));
    fmt::print(out, "{}", detail::help_of(r.help_topic));
    return {std::nullopt, exit_ok};
  }
  if (r.command == "list") {
    if (r.since_unix_ms && r.until_unix_ms && *r.since_unix_ms >= *r.until_unix_ms)
      return usage_error(command, "--since must be before --until");
    if (r.stranded && r.status && *r.status != run_status::running)
      return usage_error(command, "--stranded lists running runs: no other --status");
  }
  if (r.command == "purge" && r.older_than_ms.has_value() == r.before_unix_ms.has_value())
    return usage_error(command, "say which runs: --older-than D or --before T (one of them)");
  if (with_journal && r.journal.empty())
    return usage_error(nullptr, "no journal file given: tutti-journal JOURNAL COMMAND");
  return {std::move(r), exit_ok};
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

/// The CLI's JSON documents: fields in the order they are added.
using json = nlohmann::ordered_json;

/// `doc` as one line of JSON. Text that is not valid UTF-8 (a message may hold any bytes)
/// becomes U+FFFD, so the output is always valid JSON.
inline std::string json_text(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A journal payload as the CLI prints it: the value for a JSON payload, null otherwise.
inline json payload_value(std::span<const std::byte> bytes, payload_encoding e) {
  return payload_json<json>(bytes, e);
}

/// A payload in a table: its JSON (cut to at most `max` bytes, "..." included, never inside a
/// UTF-8 sequence), or its size for bytes.
inline std::string payload_text(std::span<const std::byte> bytes, payload_encoding e,
                                std::size_t max = std::string::npos) {
  if (e == payload_encoding::json) {
    const auto* p = reinterpret_cast<const char*>(bytes.data());
    const json j = json::parse(p, p + bytes.size(), nullptr, false);
    if (j.is_discarded()) return fmt::format("{} bytes (invalid JSON)", bytes.size());
    std::string t = json_text(j);
    if (t.size() > max && max >= 3) {
      std::size_t keep = max - 3;  // not inside a UTF-8 sequence
      while (keep > 0 && (static_cast<unsigned char>(t[keep]) & 0xC0) == 0x80) --keep;
      t = t.substr(0, keep) + "...";
    }
    return t;
  }
  return fmt::format("{} bytes", bytes.size());
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

  [[nodiscard]] int list(const request& r) const {
    run_filter f;
    f.status = r.status;
    if (r.workflow) f.workflow = *r.workflow;
    const std::optional<std::int64_t> until = r.until_unix_ms;
    if (r.since_unix_ms) f.started_after_unix_ms = *r.since_unix_ms;
    if (until) f.started_before_unix_ms = *until;
    if (r.limit != 0) f.limit = r.limit;
    if (r.key) f.key = *r.key;
    if (r.failed_step) f.failed_step = *r.failed_step;
    if (r.error_category) {
      f.error_category = *r.error_category;
      f.error_value = r.error_value;
    }
    const bool only_stranded = r.stranded;
    if (only_stranded) f.status = run_status::running;

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

    if (r.json) {
      json doc = json::object();
      json& list = doc["runs"] = json::array();
      for (const run_summary& s : runs) list.push_back(summary_json(s));
      fmt::print(out, "{}\n", json_text(doc));
      return exit_ok;
    }
    if (runs.empty()) {
      fmt::print(out, "no runs match\n");
      return exit_ok;
    }
    table t;
    t.rows.push_back({"RUN ID", "WORKFLOW", "VERSION", "STATUS", "STARTED", "UPDATED", "RECORDS",
                      "EPOCH", "OWNER", "LEASE", "KEY", "FAILURE"});
    for (const run_summary& s : runs)
      t.rows.push_back({hex_of(s.id), printable(s.workflow), std::to_string(s.version),
                        std::string{to_string(s.status)},
                        format_time(s.started_unix_ms), format_time(s.updated_unix_ms),
                        std::to_string(s.records), std::to_string(s.epoch),
                        s.owner.empty() ? "-" : printable(s.owner), lease_text(s, now),
                        s.key.empty() ? "-" : printable(s.key), failure_text(s)});
    t.print(out);
    return exit_ok;
  }

  /// A run's summary as a JSON object.
  json summary_json(const run_summary& s) const {
    const std::int64_t now = now_ms();
    json j = json::object();
    j["id"] = hex_of(s.id);
    j["workflow"] = s.workflow;
    j["version"] = s.version;
    j["fingerprint"] = fmt::format("{:016x}", s.fingerprint);
    j["status"] = to_string(s.status);
    j["started_unix_ms"] = s.started_unix_ms;
    j["started"] = format_time(s.started_unix_ms);
    j["updated_unix_ms"] = s.updated_unix_ms;
    j["updated"] = format_time(s.updated_unix_ms);
    j["records"] = s.records;
    j["owner"] = s.owner;
    j["epoch"] = s.epoch;
    j["lease_until_ms"] = s.lease_until_ms;
    j["lease"] = lease_name(lease_state_of(s, now));
    j["stranded"] = stranded(s, now);
    j["recoveries"] = s.recoveries;
    j["partition"] = s.partition;
    j["priority"] = s.priority;
    j["key"] = s.key.empty() ? json(nullptr) : json(s.key);
    if (s.failed_step.empty())
      j["failure"] = nullptr;
    else
      j["failure"] = {{"step", s.failed_step}, {"category", s.error_category}, {"value", s.error_value}};
    return j;
  }

  /// "charge (tutti 1: step failed)": the step a failed run ended at and its error; "-" for none.
  static std::string failure_text(const run_summary& s) {
    if (s.failed_step.empty()) return "-";
    const std::error_code ec = tutti::detail::error_from_record(s.error_category, s.error_value);
    if (&ec.category() == &tutti::detail::stored_category())
      return fmt::format("{} ({} {})", printable(s.failed_step), printable(s.error_category),
                         s.error_value);
    return fmt::format("{} ({} {}: {})", printable(s.failed_step), printable(s.error_category),
                       s.error_value, printable(ec.message()));
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
  /// Whether a record carries a value (a run's input, a step's output) and its encoding.
  static bool carries_payload(const stored_record& r) {
    return r.kind == record_kind::run_started || (r.kind == record_kind::step_finished && r.ok);
  }
  static payload_encoding encoding_of(const stored_record& r) {
    return carries_payload(r) ? static_cast<payload_encoding>(r.outcome) : payload_encoding::binary;
  }
  /// The run's input for `show`: its JSON, or its size and why it is not shown.
  static std::string input_text(const stored_run& run) {
    if (run.input_encoding == payload_encoding::json)
      return printable(payload_text(run.input, run.input_encoding));
    return fmt::format("{} bytes (binary: only the workflow's program reads them)", run.input.size());
  }
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

  [[nodiscard]] int show(const request& r) const {
    int code = exit_ok;
    const auto id = find_run(r.run, code);
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
      // (A rerun's link names the step it reran from, not a step of this run.)
      if (!r.step.empty() && r.kind != record_kind::rerun_of && r.kind != record_kind::rerun_as &&
          std::find(order.begin(), order.end(), r.step) == order.end())
        order.push_back(r.step);
      if (r.kind == record_kind::step_finished && !r.ok) failure[r.step] = &r;
    }
    for (const auto& [path, s] : plan.steps)
      if (std::find(order.begin(), order.end(), path) == order.end()) order.push_back(path);
    // Only steps the plan knows (a run_finished record names the step it failed at, which the
    // plan knows unless the record was written by hand).
    std::erase_if(order, [&plan](const std::string& p) { return !plan.steps.contains(p); });

    // Record times are run-clock readings (not wall-clock): shown relative to the first one.
    std::int64_t t0 = 0;
    for (const stored_record& r : run.records)
      if (r.time_ns != 0) {
        t0 = r.time_ns;
        break;
      }

    if (r.json) {
      json doc = json::object();
      json& head = doc["run"] = summary_json(run.summary);
      head["input_size"] = run.input.size();
      head["input_encoding"] = to_string(run.input_encoding);
      head["input"] = payload_value(run.input, run.input_encoding);
      json& records = doc["records"] = json::array();
      for (const stored_record& r : run.records) {
        json j = json::object();
        j["seq"] = r.seq;
        j["time_ns"] = r.time_ns;
        j["kind"] = to_string(r.kind);
        j["step"] = r.step;
        j["attempt"] = r.attempt;
        j["ok"] = !is_finish(r.kind) ? json(nullptr) : json(r.ok);
        j["payload_size"] = r.payload.size();
        if (carries_payload(r)) {
          j["payload_encoding"] = to_string(encoding_of(r));
          j["payload"] = payload_value(r.payload, encoding_of(r));
        }
        if (r.kind == record_kind::run_finished)
          j["outcome"] = to_string(status_after_outcome(r.outcome));
        if (has_error(r) || (r.kind == record_kind::run_finished && !r.error_category.empty()))
          j["error"] = {{"category", r.error_category}, {"value", r.error_value}, {"message", r.message}};
        else if (!r.message.empty())
          j["note"] = r.message;
        records.push_back(std::move(j));
      }
      doc["finished"] = plan.finished;
      doc["paused"] = plan.paused;
      doc["resolved"] = plan.resolved;
      doc["rerun_incomplete"] = plan.rerun_incomplete;
      json& steps = doc["steps"] = json::array();
      for (const std::string& path : order) {
        const step_replay& s = plan.steps.at(path);
        json j = json::object();
        j["step"] = path;
        j["attempts"] = s.attempts;
        j["succeeded"] = s.succeeded;
        j["failed"] = s.failed;
        j["compensated"] = s.compensated;
        j["compensation_attempts"] = s.compensation_attempts;
        if (s.succeeded) j["output"] = payload_value(s.payload, s.encoding);
        if (const auto f = failure.find(path); s.failed && f != failure.end())
          j["error"] = {{"category", f->second->error_category},
                        {"value", f->second->error_value},
                        {"message", f->second->message}};
        steps.push_back(std::move(j));
      }
      fmt::print(out, "{}\n", json_text(doc));
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
                 {"input", input_text(run)},
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
    if (!run.summary.key.empty()) head.rows.push_back({"key", printable(run.summary.key)});
    if (!run.summary.failed_step.empty())
      head.rows.push_back({"failure", failure_text(run.summary)});
    head.print(out);

    table recs;
    recs.rows.push_back({"SEQ", "TIME", "KIND", "STEP", "ATTEMPT", "OK", "PAYLOAD", "DETAIL"});
    for (const stored_record& r : run.records) {
      std::string detail;
      if (has_error(r))
        detail = "error " + printable(error_text(r));
      else if (r.kind == record_kind::run_finished)
        detail = fmt::format("outcome {}{}", to_string(status_after_outcome(r.outcome)),
                             r.error_category.empty() ? std::string()
                                                      : ", error " + printable(error_text(r)));
      else if (r.kind == record_kind::claimed)
        detail = fmt::format("epoch {} by {}{}", r.epoch, printable(r.message),
                             r.ok ? " (takeover)" : "");
      else if (r.kind == record_kind::paused && r.ok)
        detail = "began paused: a rerun being prepared";
      else if (r.kind == record_kind::unpaused && !r.step.empty())
        detail = "the rerun's copies are complete: released";
      else if (r.kind == record_kind::rerun_of || r.kind == record_kind::rerun_as)
        detail = fmt::format("{} run {} from {}", r.kind == record_kind::rerun_of ? "reruns" : "rerun as",
                             printable(r.message), printable(r.step));
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
                           r.payload.empty() ? "-" : printable(payload_text(r.payload, encoding_of(r), 40)),
                           detail});
    }
    fmt::print(out, "\n");
    recs.print(out);

    fmt::print(out, "\nsteps:\n");
    if (order.empty()) {
      fmt::print(out, "  none recorded\n");
    } else {
      table steps;
      steps.rows.push_back({"  STEP", "ATTEMPTS", "SUCCEEDED", "COMPENSATED", "FAILED", "OUTPUT"});
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
                              s.succeeded ? "yes" : "no", compensated, failed,
                              s.succeeded && !s.payload.empty()
                                  ? printable(payload_text(s.payload, s.encoding, 60))
                                  : "-"});
      }
      steps.print(out);
    }
    const table hint = next_steps(run.summary.status, hex_of(run.summary.id), plan.rerun_incomplete);
    if (!hint.rows.empty()) {
      fmt::print(out, "\nnext:\n");
      hint.print(out);
    }
    return exit_ok;
  }

  /// What an operator may do next with a run in status `s`.
  static table next_steps(run_status s, const std::string& id, bool rerun_incomplete = false) {
    table t;
    const std::string resolve = "  resolve " + id + " --note TEXT";
    if (rerun_incomplete && s != run_status::resolved) {  // paused, or parked by an engine
      // Its copies may be cut short: unpausing it would not make an engine run it.
      t.rows = {{resolve, "a rerun whose preparation stopped: never run; resolve it, then rerun "
                          "the old run again"}};
      return t;
    }
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

  // ---- census ----

  [[nodiscard]] int census(const request& r) const {
    if constexpr (requires { { journal.census() } -> std::same_as<result<run_census>>; }) {
      auto counted = journal.census();
      if (!counted) return journal_error(counted.error(), "counting the runs failed");
      const run_census& c = counted.value();
      static constexpr run_status order[] = {
          run_status::queued,    run_status::running,     run_status::paused,
          run_status::succeeded, run_status::failed,      run_status::compensated,
          run_status::compensation_failed, run_status::resolved, run_status::dead_lettered};
      const auto oldest_of = [&c](run_status s) {
        return s == run_status::running  ? c.oldest_running_unix_ms
               : s == run_status::queued ? c.oldest_queued_unix_ms
               : s == run_status::paused ? c.oldest_paused_unix_ms
                                         : std::int64_t{0};
      };
      if (r.json) {
        json doc = json::object();
        doc["time"] = format_time(c.now_unix_ms);
        doc["total"] = c.total();
        json& counts = doc["runs"] = json::object();
        for (const run_status s : order) counts[std::string{to_string(s)}] = c.count(s);
        json& oldest = doc["oldest"] = json::object();
        for (const run_status s : {run_status::queued, run_status::running, run_status::paused}) {
          const std::int64_t since = oldest_of(s);
          if (since == 0) continue;
          oldest[std::string{to_string(s)}] = {
              {"since", format_time(since)},
              {"age_ms", std::max<std::int64_t>(0, c.now_unix_ms - since)}};
        }
        fmt::print(out, "{}\n", json_text(doc));
        return exit_ok;
      }
      table t;
      t.rows.push_back({"STATUS", "RUNS", "OLDEST"});
      for (const run_status s : order) {
        const std::int64_t since = oldest_of(s);
        std::string oldest = "-";
        if (since != 0)
          oldest = fmt::format("{} {} ({:.1f} s ago)",
                               s == run_status::queued ? "submitted" : "started", format_time(since),
                               static_cast<double>(std::max<std::int64_t>(0, c.now_unix_ms - since)) /
                                   1000.0);
        else if (s != run_status::queued && s != run_status::running && s != run_status::paused)
          oldest = "";
        t.rows.push_back({std::string{to_string(s)}, std::to_string(c.count(s)), oldest});
      }
      t.rows.push_back({"total", std::to_string(c.total()), ""});
      t.print(out);
      return exit_ok;
    } else {
      return usage_error("census: this journal cannot count its runs");
    }
  }

  // ---- retention ----

  [[nodiscard]] int purge(const request& r) const {
    if constexpr (requires {
                    { journal.purge_ended(std::int64_t{}, std::size_t{}) } -> std::same_as<result<std::uint64_t>>;
                  }) {
      const std::int64_t before =
          r.before_unix_ms ? *r.before_unix_ms
                           : std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                     .count() -
                                 *r.older_than_ms;
      auto n = journal.purge_ended(before, r.batch);
      if (!n) return journal_error(n.error(), "purging ended runs failed");
      fmt::print(out, "purged {} ended run{} last written before {}\n", n.value(),
                 n.value() == 1 ? "" : "s", format_time(before));
      return exit_ok;
    } else {
      return usage_error("purge: this journal cannot purge runs");
    }
  }

  // ---- operator commands ----

  enum class command { pause, unpause, retry, redrive, resolve, move };

  [[nodiscard]] int rerun(const request& r) const {
    int code = exit_ok;
    const auto id = find_run(r.run, code);
    if (!id) return code;
    std::string why;
    rerun_options o;
    o.owner = "tutti-journal rerun";
    if (r.new_id) o.id = *r.new_id;
    auto made = rerun_run(journal, *id, r.from, o, &why);
    if (!made) {
      if (made.error() == journal_errc::invalid_command) {
        fmt::print(err, "tutti-journal: {}\n", printable(why));
        return exit_refused;
      }
      if (made.error() == journal_errc::run_not_found)
        return run_error(made.error(), *id, "rerun failed");
      fmt::print(err, "tutti-journal: rerun failed: {}\n",
                 printable(why.empty() ? made.error().message() : why));
      return exit_usage;
    }
    const rerun_made& m = made.value();
    std::string reused;
    for (const std::string& step : m.reused)
      reused += (reused.empty() ? "" : ", ") + printable(step);
    fmt::print(out,
               "run {} reruns run {} from step {}: it reuses the outputs of {}.\n"
               "A runner carries it on, or the host application's next resume "
               "(durable.resume, or durable.resume_all at start-up).\n",
               hex_of(m.id), hex_of(*id), printable(r.from),
               reused.empty() ? std::string("no step") : reused);
    return exit_ok;
  }

  [[nodiscard]] int operate(command c, const request& r) const {
    const std::string_view name = r.command;
    const std::string_view note = r.note;
    const std::uint32_t version = r.version;
    int code = exit_ok;
    const auto id = find_run(r.run, code);
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

  [[nodiscard]] int execute(const request& r) const {
    const std::string_view cmd = r.command;
    if (cmd == "list") return list(r);
    if (cmd == "show") return show(r);
    if (cmd == "pause") return operate(command::pause, r);
    if (cmd == "unpause") return operate(command::unpause, r);
    if (cmd == "retry") return operate(command::retry, r);
    if (cmd == "redrive") return operate(command::redrive, r);
    if (cmd == "resolve") return operate(command::resolve, r);
    if (cmd == "move") return operate(command::move, r);
    if (cmd == "rerun") return rerun(r);
    if (cmd == "purge") return purge(r);
    if (cmd == "census") return census(r);
    return usage_error(fmt::format("unknown command '{}'", printable(cmd)));
  }
};

}  // namespace detail

/**
 * Carries out a parsed command line (`parse_command_line`) on `journal`. Output goes to `out`,
 * messages about failures to `err`. Returns the exit code (see `exit_code`).
 */
template <journal J>
int run_request(J& journal, const request& r, std::FILE* out, std::FILE* err) {
  try {
    return detail::session<J>{journal, out, err}.execute(r);
  } catch (const std::exception& e) {
    std::fprintf(err, "tutti-journal: %s\n", e.what());
  } catch (...) {
    std::fputs("tutti-journal: unexpected error\n", err);
  }
  return exit_usage;
}

/**
 * Runs one `tutti-journal` command on `journal`: `args` are the command and its arguments
 * (`{"list", "--status", "failed"}`), without the program and journal file names. Output goes to
 * `out`, messages about failures to `err`. Returns the exit code (see `exit_code`).
 */
template <journal J>
int run_cli(J& journal, std::span<const std::string_view> args, std::FILE* out, std::FILE* err) {
  parse_outcome parsed;
  try {
    parsed = parse_command_line(args, false, out, err);
  } catch (const std::exception& e) {
    std::fprintf(err, "tutti-journal: %s\n", e.what());
    return exit_usage;
  }
  if (!parsed.to_run) return parsed.code;
  return run_request(journal, *parsed.to_run, out, err);
}

}  // namespace tutti::journal_cli

#endif  // TUTTI_TOOLS_TUTTI_JOURNAL_CLI_HPP
