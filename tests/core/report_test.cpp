// The run report: lines per step, and its fmt rendering.
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}
bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

auto failing_workflow() {
  return tutti::workflow<"checkout">(
      tutti::step<"reserve">([] { return 1; }).compensate_with([](int) {}),
      tutti::step<"charge">([] { return 2; })
          .compensate_with([](int) -> tutti::result<void> { return tutti::errc::timeout; }),
      tutti::step<"ship">([]() -> tutti::result<int> {
        throw std::runtime_error("no courier");
      }),
      tutti::step<"notify">([] {}));
}
}  // namespace

TEST_CASE("report lines look up by index and by name", "[core][report]") {
  auto run = failing_workflow().run();
  const auto report = run.report();
  CHECK(report.workflow() == "checkout");
  CHECK(report.size() == 4);
  CHECK(report.id() == run.id());
  CHECK(report[2].name == "ship");
  CHECK(report.step("charge").status == tutti::step_status::compensation_failed);
  CHECK(report.step("missing").name.empty());
  CHECK(report.count(tutti::step_status::not_started) == 1);
  CHECK(report.outcome() == tutti::run_outcome::compensation_failed);
  CHECK_FALSE(report.succeeded());
}

TEST_CASE("a formatted report has a header and one entry per step with its status",
          "[core][report][format]") {
  auto run = failing_workflow().run();
  const std::string text = fmt::format("{}", run.report());
  const auto lines = lines_of(text);
  REQUIRE_FALSE(lines.empty());
  const auto hex = run.id().hex();
  CHECK(contains(lines[0], "checkout"));
  CHECK(contains(lines[0], std::string_view{hex.data(), hex.size()}));
  CHECK(contains(lines[0], tutti::to_string(tutti::run_outcome::compensation_failed)));

  // Each step's entry starts with its number and name, in order, followed by its status.
  const std::vector<std::pair<std::string, tutti::step_status>> expected{
      {"reserve", tutti::step_status::compensated},
      {"charge", tutti::step_status::compensation_failed},
      {"ship", tutti::step_status::failed},
      {"notify", tutti::step_status::not_started}};
  std::size_t at = 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    while (at < lines.size() && !contains(lines[at], fmt::format("{}. {}", i + 1, expected[i].first)))
      ++at;
    REQUIRE(at < lines.size());
    CHECK(contains(lines[at], tutti::to_string(expected[i].second)));
    ++at;
  }
  CHECK(contains(text, "no courier"));                       // the exception's message
  CHECK(contains(text, tutti::describe(tutti::errc::timeout)));  // the compensation's error
}

TEST_CASE("a timed report shows durations", "[core][report][format]") {
  tutti::testing::manual_clock clock;
  auto wf = tutti::workflow<"w">(tutti::step<"wait">([&clock] { clock.advance(1500us); }));
  auto run = wf.run(tutti::unit{}, {.timing = true}, clock);
  const std::string text = fmt::format("{}", run.report());
  CHECK(contains(text, "1500.0 us"));
  auto untimed = wf.run(tutti::unit{}, {}, clock);
  CHECK_FALSE(contains(fmt::format("{}", untimed.report()), " us"));
}

TEST_CASE("statuses and outcomes have distinct names", "[core][report]") {
  using tutti::step_status;
  const std::vector<step_status> all{step_status::not_started, step_status::succeeded,
                                     step_status::failed,      step_status::compensated,
                                     step_status::compensation_failed, step_status::skipped};
  std::vector<std::string_view> names;
  for (auto s : all) names.push_back(tutti::to_string(s));
  std::sort(names.begin(), names.end());
  CHECK(std::unique(names.begin(), names.end()) == names.end());
}
