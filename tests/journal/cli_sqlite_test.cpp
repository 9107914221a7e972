// The real tutti-journal binary on an SQLite journal: list, show, pause (seen by a process that
// has the journal open), and files it must refuse without creating or touching them.
// Built with the tool's path in TUTTI_TEST_JOURNAL_CLI (tests/CMakeLists.txt); without the tool
// (no tutti::sqlite) this file has no test case.
#include <catch2/catch.hpp>

#ifdef TUTTI_TEST_JOURNAL_CLI

#  include <tutti/tutti.hpp>
#  include <tutti/journal/durable.hpp>
#  include <tutti/journal/sqlite.hpp>
#  include <tutti/version.hpp>

#  include <fmt/format.h>

#  include <sys/wait.h>  // WEXITSTATUS

#  include <chrono>
#  include <cstdio>
#  include <filesystem>
#  include <fstream>
#  include <iterator>
#  include <string>
#  include <system_error>

#  if TUTTI_TEST_HAVE_NLOHMANN_JSON
#    include <tutti/journal/json.hpp>
#    include <nlohmann/json.hpp>
#  endif

namespace fs = std::filesystem;
using tutti::record_kind;
using tutti::record_view;
using tutti::run_id;
using tutti::run_status;

namespace {

struct tool_result {
  int code = -1;
  std::string output;  // stdout and stderr
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return q + "'";
}

/// Runs `tutti-journal <args>` (arguments already quoted as needed) through the shell.
tool_result tool(const std::string& args) {
  const std::string cmd = quoted(TUTTI_TEST_JOURNAL_CLI) + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  tool_result o;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int status = ::pclose(p);
  REQUIRE(WIFEXITED(status));
  o.code = WEXITSTATUS(status);
  return o;
}

std::string hex(const run_id& id) {
  const auto h = id.hex();
  return {h.data(), h.size()};
}

/// A fresh directory for this test's files, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("tutti-cli-test-" + hex(run_id::generate()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

const run_id running_id{0xc100000000000000ULL, 1};
const run_id failed_id{0xf100000000000000ULL, 2};

void fill(tutti::sqlite_journal& j) {
  const std::byte input[] = {std::byte{7}, std::byte{7}};
  REQUIRE(j.start(running_id, "shipping", 11, input));
  record_view r;
  r.kind = record_kind::attempt_started;
  r.step = "pack";
  r.attempt = 1;
  REQUIRE(j.append(running_id, r));

  REQUIRE(j.start(failed_id, "payment", 22, input));
  r.step = "charge";
  REQUIRE(j.append(failed_id, r));
  r.kind = record_kind::step_finished;
  r.error_category = "payments";
  r.error_value = 51;
  r.message = "card declined";
  REQUIRE(j.append(failed_id, r));
  record_view end;
  end.kind = record_kind::run_finished;
  end.outcome = 1;  // failed
  REQUIRE(j.append(failed_id, end));
}

}  // namespace

TEST_CASE(
    "tutti-journal lists, shows and pauses runs of an SQLite journal another process has open",
    "[journal][cli][sqlite]") {
  temp_dir dir;
  const std::string file = (dir.path / "runs.db").string();
  auto opened = tutti::sqlite_journal::open(file);
  REQUIRE(opened);
  tutti::sqlite_journal& j = opened.value();
  fill(j);

  tool_result o = tool(quoted(file) + " list");
  INFO(o.output);
  CHECK(o.code == 0);
  CHECK(o.output.find("RUN ID") == 0);
  CHECK(o.output.find(hex(running_id)) != std::string::npos);
  CHECK(o.output.find(hex(failed_id)) != std::string::npos);
  CHECK(o.output.find("shipping") != std::string::npos);

  o = tool(quoted(file) + " list --status failed");
  CHECK(o.code == 0);
  CHECK(o.output.find(hex(failed_id)) != std::string::npos);
  CHECK(o.output.find(hex(running_id)) == std::string::npos);

#  if TUTTI_TEST_HAVE_NLOHMANN_JSON
  o = tool(quoted(file) + " list --json");
  CHECK(o.code == 0);
  const auto doc = nlohmann::json::parse(o.output);
  REQUIRE(doc.at("runs").size() == 2);
  for (const auto& run : doc.at("runs")) {
    if (run.at("id") == hex(failed_id)) {
      CHECK(run.at("workflow") == "payment");
      CHECK(run.at("status") == "failed");
      CHECK(run.at("records") == 4);
    }
  }
#  endif

  o = tool(quoted(file) + " show f1");
  CHECK(o.code == 0);
  CHECK(o.output.find("error payments:51 card declined") != std::string::npos);
  CHECK(o.output.find("outcome failed") != std::string::npos);

  // The operator pauses the run; the host, which has the journal open, sees it before its next
  // step.
  o = tool(quoted(file) + " pause c1");
  CHECK(o.code == 0);
  CHECK(j.status(running_id).value() == run_status::paused);
  o = tool(quoted(file) + " pause " + hex(running_id));
  CHECK(o.code == 1);
  CHECK(o.output.find("is paused; pause applies to running runs") != std::string::npos);

  o = tool(quoted(file) + " retry " + hex(failed_id));
  CHECK(o.code == 0);
  CHECK(j.status(failed_id).value() == run_status::running);
  const auto back = j.load(failed_id);
  REQUIRE(back);
  CHECK(back.value().records.back().kind == record_kind::retry_requested);

  o = tool(quoted(file) + " frobnicate");
  CHECK(o.code == 2);
  CHECK(o.output.find("unknown command 'frobnicate'") != std::string::npos);
}

#  if TUTTI_TEST_HAVE_NLOHMANN_JSON
namespace cli_shop {
struct order {
  std::string sku;
  int cents = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order, sku, cents)
}  // namespace cli_shop
template <>
inline constexpr bool tutti::json_payload<cli_shop::order> = true;

TEST_CASE("tutti-journal shows a run's JSON input and outputs, and reruns it from a step on an "
          "SQLite journal",
          "[journal][cli][sqlite][json][rerun]") {
  temp_dir dir;
  const std::string file = (dir.path / "runs.db").string();
  auto opened = tutti::sqlite_journal::open(file);
  REQUIRE(opened);
  tutti::sqlite_journal& j = opened.value();
  int charges = 0;
  bool lost = true;
  const auto wf = tutti::workflow<"order">(
      tutti::pivot<"charge">([&charges](const cli_shop::order& o) {
        ++charges;
        return cli_shop::order{o.sku, o.cents};
      }),
      tutti::step<"ship">([&lost](tutti::from<"charge", cli_shop::order> o) -> tutti::result<std::string> {
        if (lost) return tutti::errc::step_failed;
        return "parcel-" + o->sku;
      }) | tutti::retry{tutti::constant_backoff{std::chrono::milliseconds(0)}, tutti::max_attempts{2}});
  const tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(cli_shop::order{"lamp", 2500}, {.id = run_id{0xAA, 1}});
  REQUIRE(first);
  REQUIRE(j.status(first->id()).value() == run_status::failed);

  tool_result o = tool(quoted(file) + " show " + hex(first->id()));
  INFO(o.output);
  CHECK(o.code == 0);
  // nlohmann::json writes an object's keys in order.
  CHECK(o.output.find("input        {\"cents\":2500,\"sku\":\"lamp\"}") != std::string::npos);
  o = tool(quoted(file) + " show " + hex(first->id()) + " --json");
  const auto doc = nlohmann::json::parse(o.output);
  CHECK(doc.at("run").at("input").at("sku") == "lamp");
  CHECK(doc.at("steps").at(0).at("output").at("cents") == 2500);

  o = tool(quoted(file) + " rerun " + hex(first->id()) + " --from ship --id " + hex(run_id{0xAA, 2}));
  CHECK(o.code == 0);
  CHECK(o.output.find("it reuses the outputs of charge") != std::string::npos);
  lost = false;
  const auto again = durable.resume<cli_shop::order>(run_id{0xAA, 2});
  REQUIRE(again);
  REQUIRE(again->has_value());
  CHECK(again->value() == "parcel-lamp");
  CHECK(charges == 1);  // the charge was reused, not made again
}
#  endif

TEST_CASE("tutti-journal refuses a missing file without creating it, and a foreign file untouched",
          "[journal][cli][sqlite]") {
  temp_dir dir;
  const fs::path missing = dir.path / "no-such-journal.db";
  tool_result o = tool(quoted(missing.string()) + " list");
  INFO(o.output);
  CHECK(o.code == 2);
  CHECK(o.output.find("cannot open the journal") != std::string::npos);
  CHECK_FALSE(fs::exists(missing));
  CHECK(fs::is_empty(dir.path));  // no -wal, -shm or -journal file either

  const fs::path foreign = dir.path / "notes.txt";
  const std::string text = "not a journal, just some text that is long enough to have a header\n";
  {
    std::ofstream f(foreign, std::ios::binary);
    f << text;
  }
  o = tool(quoted(foreign.string()) + " list");
  CHECK(o.code == 2);
  CHECK(o.output.find("cannot open the journal") != std::string::npos);
  std::ifstream f(foreign, std::ios::binary);
  const std::string after{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  CHECK(after == text);
}

TEST_CASE("tutti-journal prints help without a journal and needs a command after the file",
          "[journal][cli][sqlite]") {
  tool_result o = tool("help");
  CHECK(o.code == 0);
  CHECK(o.output.find("usage: tutti-journal JOURNAL COMMAND") != std::string::npos);
  CHECK(o.output.find("resume_all") != std::string::npos);

  o = tool("");
  CHECK(o.code == 2);
  CHECK(o.output.find("usage:") != std::string::npos);

  temp_dir dir;
  o = tool(quoted((dir.path / "x.db").string()));
  CHECK(o.code == 2);
  CHECK(o.output.find("no command given") != std::string::npos);
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("tutti-journal prints its version and a command's usage without a journal",
          "[journal][cli][sqlite]") {
  tool_result o = tool("--version");
  CHECK(o.code == 0);
  CHECK(o.output == fmt::format("tutti-journal {}.{}.{}\n", TUTTI_VERSION_MAJOR,
                                TUTTI_VERSION_MINOR, TUTTI_VERSION_PATCH));

  o = tool("list --help");
  CHECK(o.code == 0);
  CHECK(o.output.starts_with("usage: tutti-journal JOURNAL list "));

  temp_dir dir;
  o = tool(quoted((dir.path / "x.db").string()) + " resolve -h");
  CHECK(o.code == 0);
  CHECK(o.output.starts_with("usage: tutti-journal JOURNAL resolve RUN --note TEXT\n"));
  CHECK(fs::is_empty(dir.path));  // the journal was not opened, so not created either

  o = tool("--frobnicate");
  CHECK(o.code == 2);
  CHECK(o.output.find("unknown option --frobnicate") != std::string::npos);
}

#endif  // TUTTI_TEST_JOURNAL_CLI
