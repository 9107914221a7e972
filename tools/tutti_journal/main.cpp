// tutti-journal: operator commands on a tutti journal in an SQLite file.
//   tutti-journal JOURNAL COMMAND [ARGUMENTS]     (tutti-journal help, tutti-journal --version)
// Parses the command line (CLI11, cli.hpp), opens the journal (never creating one) and runs the
// command with run_request.
#include <cstdio>       // stdout, stderr
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
  // Help, the version and usage errors need no journal.
  const cli::parse_outcome parsed = cli::parse_command_line(args, true, stdout, stderr);
  if (!parsed.to_run) return parsed.code;

  const std::string& path = parsed.to_run->journal;
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
  return cli::run_request(journal.value(), *parsed.to_run, stdout, stderr);
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
