// tutti-journal: operator commands on a tutti journal in an SQLite file.
//   tutti-journal JOURNAL COMMAND [ARGUMENTS]     (tutti-journal help)
// Opens the journal (never creating one) and hands the command to run_cli (cli.hpp).
#include <cstdio>       // stdout, stderr
#include <span>         // arguments for run_cli
#include <string>       // the path
#include <string_view>  // arguments
#include <vector>       // arguments

#include <fmt/core.h>  // messages

#include <tutti/journal/sqlite.hpp>  // the journal file

#include "cli.hpp"

namespace {

namespace cli = tutti::journal_cli;

int run(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const auto is_help = [](std::string_view a) { return a == "help" || a == "--help" || a == "-h"; };
  if (args.empty()) {
    fmt::print(stderr, "usage: tutti-journal JOURNAL COMMAND [ARGUMENTS]  (tutti-journal help)\n");
    return cli::exit_usage;
  }
  // Help needs no journal: `tutti-journal help` and `tutti-journal FILE help`.
  if (is_help(args[0]) || (args.size() >= 2 && is_help(args[1]))) {
    fmt::print(stdout, "{}", cli::help_text);
    return cli::exit_ok;
  }
  if (args.size() < 2) {
    fmt::print(stderr,
               "tutti-journal: no command given after the journal file\n"
               "usage: tutti-journal JOURNAL COMMAND [ARGUMENTS]  (tutti-journal help)\n");
    return cli::exit_usage;
  }

  const std::string path{args[0]};
  tutti::sqlite_options options;
  options.create_if_missing = false;  // a typo in the path must not leave an empty journal behind
  std::string why;
  auto journal = tutti::sqlite_journal::open(path, options, &why);
  if (!journal) {
    const std::error_code ec = journal.error();
    fmt::print(stderr, "tutti-journal: cannot open the journal {}: {} ({}:{})\n",
               cli::detail::printable(path), ec.message(), ec.category().name(), ec.value());
    if (!why.empty()) fmt::print(stderr, "  {}\n", cli::detail::printable(why));
    return cli::exit_usage;
  }
  return cli::run_cli(journal.value(), std::span<const std::string_view>(args).subspan(1), stdout,
                      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {  // run_cli catches its own; this covers opening and the journal's destructor
    std::fputs("tutti-journal: unexpected error\n", stderr);
    return cli::exit_usage;
  }
}
