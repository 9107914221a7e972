// The main of the [postgres] test programs: without a server to test against (TUTTI_PG_CONNINFO
// unset: scripts/test could not start one), the program says why and exits 77, which ctest
// reports as skipped, never as passed. Listing the test cases (ctest's discovery) needs no
// server.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.substr(0, 6) == "--list" || a == "-l" || a == "-t" || a == "--help" || a == "-h")
      listing = true;
  }
  const char* conninfo = std::getenv("TUTTI_PG_CONNINFO");
  if (!listing && (conninfo == nullptr || *conninfo == '\0')) {
    const char* why = std::getenv("TUTTI_PG_SKIP_REASON");
    std::printf("SKIPPED: the [postgres] tests need a PostgreSQL server: %s\n",
                why != nullptr && *why != '\0'
                    ? why
                    : "TUTTI_PG_CONNINFO is not set (scripts/test starts a server and sets it)");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
