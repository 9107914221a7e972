// What a consumer of find_package(tutti COMPONENTS sqlite) builds: opens an SQLite journal in a
// fresh file and lists its runs. Proves tutti::sqlite carries SQLite's headers and library.
#include <tutti/journal/sqlite.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "consumer_journal.db";
  std::remove(path.c_str());
  std::string why;
  auto journal = tutti::sqlite_journal::open(path, {}, &why);
  if (!journal) {
    fmt::print(stderr, "open failed: {}\n", why);
    return 1;
  }
  auto runs = journal.value().list({});
  if (!runs || !runs.value().empty()) return 1;
  fmt::print("tutti {} sqlite journal at {}: {} runs\n", TUTTI_VERSION, path, runs.value().size());
  return 0;
}
