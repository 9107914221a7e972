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
  CHECK(contains(text, "1.50 ms"));
  auto untimed = wf.run(tutti::unit{}, {}, clock);
  CHECK_FALSE(contains(fmt::format("{}", untimed.report()), " ms"));
}

TEST_CASE("the durations of a timed report have two decimals and line up in one column",
          "[core][report][format]") {
  tutti::testing::manual_clock clock;
  auto wait = [&clock](tutti::duration d) { return [&clock, d] { clock.advance(d); }; };
  auto wf = tutti::workflow<"w">(
      tutti::step<"instant">(wait(0ns)), tutti::step<"sub_micro">(wait(784ns)),
      tutti::step<"micro">(wait(2784ns)), tutti::step<"rounds_up">(wait(999'996ns)),
      tutti::step<"milli">(wait(10'500us)), tutti::step<"second">(wait(2500ms)),
      tutti::step<"long">(wait(1234'567ms)));
  auto run = wf.run(tutti::unit{}, {.timing = true}, clock);
  const auto lines = lines_of(fmt::format("{}", run.report()));
  REQUIRE(lines.size() == 8);

  // Each step's line ends with its duration: a number with two decimals and a unit.
  const std::vector<std::pair<std::string, std::string>> expected{
      {"instant", "0.00 us"},   {"sub_micro", "0.78 us"}, {"micro", "2.78 us"},
      {"rounds_up", "1.00 ms"}, {"milli", "10.50 ms"},    {"second", "2.50 s"},
      {"long", "1234.57 s"}};
  std::vector<std::size_t> points;  // column of each duration's decimal point
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const std::string& line = lines[i + 1];
    INFO(line);
    REQUIRE(contains(line, fmt::format("{}. {}", i + 1, expected[i].first)));
    const auto space = line.rfind(' ');
    const auto start = line.rfind(' ', space - 1) + 1;
    const std::string number = line.substr(start, space - start);
    const std::string unit = line.substr(space + 1);
    CHECK(number + " " + unit == expected[i].second);
    CHECK((unit == "us" || unit == "ms" || unit == "s"));
    REQUIRE(number.size() >= 4);
    CHECK(number[number.size() - 3] == '.');
    points.push_back(start + number.size() - 3);
  }
  // Whole parts below 1000 are right-aligned: their decimal points share a column.
  for (std::size_t i = 0; i + 1 < points.size(); ++i) CHECK(points[i] == points.front());
  CHECK(contains(lines[0], "(1237.08 s)"));  // the whole run, same format, unpadded
}

TEST_CASE("no line of a formatted report ends with a space or a tab", "[core][report][format]") {
  using tutti::step;
  tutti::testing::manual_clock clock;
  std::vector<std::string> texts;
  const auto add = [&texts](const auto& run) { texts.push_back(fmt::format("{}", run.report())); };

  // Succeeded, untimed and timed; failed with compensations, one of them failing.
  auto plain = tutti::workflow<"plain">(step<"a">([] { return 1; }), step<"bb">([] {}));
  add(plain.run());
  add(plain.run(tutti::unit{}, {.timing = true}, clock));
  add(failing_workflow().run());
  add(failing_workflow().run(tutti::unit{}, {.timing = true}, clock));

  // Failed and compensated; messages that end in blanks.
  auto undone = tutti::workflow<"undone">(
      step<"reserve">([] { return 1; }).compensate_with([](int) {}),
      step<"charge">([]() -> tutti::result<int> { throw std::runtime_error("declined \t "); }));
  add(undone.run());
  add(undone.run(tutti::unit{}, {.timing = true}, clock));

  // A nested workflow, a parallel group, a skipped step and a fallback.
  auto nested = tutti::workflow<"outer">(
      step<"first">([] { return 1; }),
      tutti::workflow<"inner">(step<"x">([] { return 2; }), step<"y">([] { return 3; })),
      tutti::parallel<"gather">(step<"p">([] { return 4; }), step<"q">([] { return 5; })),
      tutti::when([] { return false; }, step<"gift_wrap">([] { return 6; })),
      step<"price">([]() -> tutti::result<int> { return tutti::errc::bulkhead_full; }) |
          tutti::fallback(42));
  add(nested.run());
  auto timed = nested.run(tutti::unit{}, {.timing = true}, clock);
  REQUIRE(timed.report().step("gift_wrap").status == tutti::step_status::skipped);
  REQUIRE(timed.report().step("price").fallback_served);
  add(timed);

  for (const std::string& text : texts) {
    INFO(text);
    const auto lines = lines_of(text);
    CHECK(lines.size() >= 3);
    for (const std::string& line : lines) {
      INFO("line: [" << line << "]");
      CHECK_FALSE(line.empty());
      if (!line.empty()) CHECK((line.back() != ' ' && line.back() != '\t'));
    }
  }
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
