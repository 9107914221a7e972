// A full disk under a durable run: a real write refusal (the file-size limit of a child process,
// RLIMIT_FSIZE: the kernel refuses writes past it, as a full disk does). The run stops where its
// journal stopped, its outcome carries the journal's own words (path and SQLite's text), and
// once there is room again a resume finishes it.
#include <catch2/catch.hpp>

#ifndef TUTTI_TEST_NO_SQLITE

#  include <signal.h>
#  include <sys/resource.h>
#  include <sys/wait.h>
#  include <unistd.h>

#  include <cstdio>
#  include <filesystem>
#  include <fstream>
#  include <string>
#  include <vector>

#  include <tutti/tutti.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/sqlite.hpp>

#  include "support/temp_dir.hpp"

namespace {

auto make_workflow() {
  return tutti::workflow<"big">(
      tutti::step<"a">([] { return std::vector<char>(48 * 1024, 'a'); }),
      tutti::step<"b">([](tutti::from<"a", std::vector<char>> a) { return a->size(); }));
}

/// In a child process limited to `limit` bytes per file: durable runs until one fails. Writes
/// the failing outcome's error and message to `report`; exit 0 if a run failed with a message.
int child(const std::string& path, const std::string& report, rlim_t limit) {
  ::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing the process
  std::string why;
  auto j = tutti::sqlite_journal::open(path, {}, &why);
  if (!j) return 10;
  const rlimit lim{limit, limit};
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 11;
  const auto wf = make_workflow();
  const tutti::durable_workflow durable{wf, j.value(), {.name = "disk-full"}};
  for (int i = 0; i < 1000; ++i) {
    const auto out = durable.run(tutti::unit{});
    if (out.error) {
      std::ofstream(report) << out.error.message() << "\n" << out.message << "\n"
                            << (out.run ? "ran" : "did not run") << "\n";
      return out.message.empty() ? 12 : 0;
    }
  }
  return 13;
}

}  // namespace

TEST_CASE("a durable run on a full disk stops with the journal's message, a resume finishes it",
          "[journal][sqlite][durable]") {
  const support::temp_dir dir;
  const std::string path = dir.file("full.db");
  const std::string report = dir.file("report.txt");
  {
    auto j = tutti::sqlite_journal::open(path);  // created with room
    REQUIRE(j);
  }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) std::_Exit(child(path, report, 512 * 1024));
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  std::ifstream in(report);
  std::string error, message, ran;
  std::getline(in, error);
  std::getline(in, message);
  std::getline(in, ran);
  INFO("error: " << error << "\nmessage: " << message);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(message.find(path) != std::string::npos);  // the journal's own words: its path...
  CHECK((message.find("full") != std::string::npos || message.find("I/O") != std::string::npos ||
         message.find("disk") != std::string::npos));  // ...and SQLite's text

  // Room again: the run that stopped is resumed by the same engine name, and finishes.
  auto j = tutti::sqlite_journal::open(path);
  REQUIRE(j);
  const auto wf = make_workflow();
  const tutti::durable_workflow durable{wf, j.value(), {.name = "disk-full"}};
  std::size_t resumed = 0, failed = 0;
  const auto n = durable.resume_all<tutti::unit>([&](const tutti::run_id&, const auto& out) {
    ++resumed;
    if (!out || out.error || !out->has_value()) ++failed;
  });
  REQUIRE(n);
  CHECK(failed == 0);
  tutti::run_filter running;
  running.status = tutti::run_status::running;
  CHECK(j.value().list(running).value().empty());
  if (ran == "ran") CHECK(resumed >= 1);  // it had started: it was stranded and is now done
}

#endif  // TUTTI_TEST_NO_SQLITE
