// The logger observer: line format, filters, FILE* and callback sinks, real runs, threads.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>
#include <tutti/observe/log.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::event_kind;
using tutti::observe::log_level;

namespace {

namespace bank {
struct category final : std::error_category {
  const char* name() const noexcept override { return "payment"; }
  std::string message(int v) const override {
    return v == 6 ? "the beneficiary's bank rejected the transfer" : "bank error";
  }
};
std::error_code rejected() {
  static const category c;
  return {6, c};
}
}  // namespace bank

const tutti::run_id some_run{0x0123456789abcdefULL, 0x3f2a00000000beefULL};

tutti::event make(event_kind k, std::string_view step = "transfer") {
  tutti::event e;
  e.kind = k;
  e.workflow = "payment";
  e.step = step;
  e.run = some_run;
  return e;
}

/// A sink that keeps every line (thread-safe).
struct captured {
  std::mutex m;
  std::vector<std::string> lines;
  std::vector<log_level> levels;
  auto sink() {
    return [this](log_level l, std::string_view line) {
      const std::lock_guard<std::mutex> lock(m);
      lines.emplace_back(line);
      levels.push_back(l);
    };
  }
};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

/// Counts the events of a run, to compare with the number of lines.
struct counter {
  int events = 0;
  void on_event(const tutti::event&) noexcept { ++events; }
};

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  return text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      out.push_back(text.substr(start));  // an unterminated last line
      break;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("loggers are observers, the timed one asks for time, the untimed one does not",
          "[observe][log]") {
  STATIC_REQUIRE(tutti::observer<tutti::observe::logger>);
  STATIC_REQUIRE(tutti::observer<const tutti::observe::logger>);
  STATIC_REQUIRE(tutti::observer<tutti::observe::untimed_logger>);
  STATIC_REQUIRE(tutti::detail::observer_wants_time<tutti::observe::logger>());
  STATIC_REQUIRE_FALSE(tutti::detail::observer_wants_time<tutti::observe::untimed_logger>());
  STATIC_REQUIRE_FALSE(std::is_constructible_v<tutti::observe::logger, int>);
}

TEST_CASE("a failed attempt reads as one line with step, attempt, error and elapsed time",
          "[observe][log]") {
  auto e = make(event_kind::attempt_failed);
  e.attempt = 2;
  e.error = bank::rejected();
  e.elapsed = 12'300us;
  fmt::memory_buffer b;
  tutti::observe::format_event(b, e, {.run_id_digits = 8});
  CHECK(fmt::to_string(b) ==
        "payment 0000beef  transfer  attempt 2 failed: the beneficiary's bank rejected the "
        "transfer [payment:6] (12.3 ms)");
}

TEST_CASE("every kind of event gives one line naming the workflow, run, step and what happened",
          "[observe][log]") {
  struct expectation {
    event_kind kind;
    std::string_view text;
    log_level level;
  };
  const expectation table[] = {
      {event_kind::step_started, "transfer  started", log_level::debug},
      {event_kind::step_succeeded, "transfer  succeeded after 3 attempts (12.0 ms)", log_level::info},
      {event_kind::step_failed, "transfer  FAILED after 3 attempts: the beneficiary's bank rejected the transfer [payment:6]; account closed (12.0 ms)", log_level::error},
      {event_kind::attempt_started, "transfer  attempt 3 started", log_level::debug},
      {event_kind::attempt_succeeded, "transfer  attempt 3 succeeded (12.0 ms)", log_level::debug},
      {event_kind::retry_scheduled, "transfer  retry in 200.0 ms after attempt 3: the beneficiary's bank", log_level::warning},
      {event_kind::retries_exhausted, "transfer  retries exhausted after 3 attempts: the beneficiary's", log_level::error},
      {event_kind::fallback_served, "transfer  fallback served, covering: the beneficiary's bank rejected the transfer [payment:6]", log_level::warning},
      {event_kind::breaker_rejected, "transfer  rejected by the circuit breaker (open, retry after 200.0 ms)", log_level::warning},
      {event_kind::bulkhead_rejected, "transfer  rejected by the bulkhead (full)", log_level::warning},
      {event_kind::rate_limited, "transfer  rejected by the rate limiter", log_level::warning},
      {event_kind::timeout, "transfer  timed out (attempt 3)", log_level::warning},
      {event_kind::compensation_started, "transfer  compensation started", log_level::debug},
      {event_kind::compensation_succeeded, "transfer  compensated (12.0 ms)", log_level::info},
      {event_kind::compensation_failed, "transfer  compensation FAILED: the beneficiary's bank rejected the transfer [payment:6]; account closed (12.0 ms)", log_level::error},
  };
  for (const auto& x : table) {
    auto e = make(x.kind);
    e.attempt = 3;
    e.error = bank::rejected();
    e.message = "account closed";
    e.elapsed = 12ms;
    e.delay = 200ms;
    e.to = tutti::breaker_state::open;
    captured out;
    tutti::observe::logger log{out.sink()};
    log.on_event(e);
    INFO(tutti::to_string(x.kind));
    REQUIRE(out.lines.size() == 1);
    const std::string& line = out.lines[0];
    INFO(line);
    CHECK(line.rfind("payment 0123456789abcdef3f2a00000000beef  ", 0) == 0);  // workflow, run
    CHECK(contains(line, x.text));
    CHECK(out.levels[0] == x.level);
    CHECK(tutti::observe::level_of(e) == x.level);
    CHECK(line.find('\n') == std::string::npos);
  }
}

TEST_CASE("run lines: start, success, and a failure naming the failed step", "[observe][log]") {
  captured out;
  tutti::observe::logger log{out.sink()};
  auto start = make(event_kind::run_started, {});
  log.on_event(start);
  auto ok = make(event_kind::run_finished, {});
  ok.elapsed = 48'100us;
  log.on_event(ok);
  auto bad = make(event_kind::run_finished, "transfer");
  bad.outcome = tutti::run_outcome::compensated;
  bad.error = bank::rejected();
  log.on_event(bad);
  REQUIRE(out.lines.size() == 3);
  CHECK(out.lines[0] == "payment 0123456789abcdef3f2a00000000beef  run started");
  CHECK(out.lines[1] == "payment 0123456789abcdef3f2a00000000beef  run succeeded (48.1 ms)");
  CHECK(contains(out.lines[2], "  run failed, compensated at transfer: the beneficiary's bank"));
  CHECK(out.levels == std::vector<log_level>{log_level::debug, log_level::info, log_level::error});
}

TEST_CASE("breaker state changes: opening is a warning, closing is info", "[observe][log]") {
  captured out;
  tutti::observe::logger log{out.sink()};
  auto e = make(event_kind::breaker_state_changed);
  e.from = tutti::breaker_state::closed;
  e.to = tutti::breaker_state::open;
  log.on_event(e);
  e.from = tutti::breaker_state::half_open;
  e.to = tutti::breaker_state::closed;
  log.on_event(e);
  REQUIRE(out.lines.size() == 2);
  CHECK(contains(out.lines[0], "transfer  circuit breaker closed -> open"));
  CHECK(contains(out.lines[1], "transfer  circuit breaker half_open -> closed"));
  CHECK(out.levels == std::vector<log_level>{log_level::warning, log_level::info});
}

TEST_CASE("compensation attempts are told apart from the step's attempts", "[observe][log]") {
  captured out;
  tutti::observe::logger log{out.sink()};
  auto e = make(event_kind::attempt_started);
  e.compensation = true;
  e.attempt = 1;
  log.on_event(e);
  REQUIRE(out.lines.size() == 1);
  CHECK(contains(out.lines[0], "transfer  compensation attempt 1 started"));
}

TEST_CASE("options: level, kinds, timestamp, level prefix and short run ids", "[observe][log]") {
  const event_kind all_kinds[] = {
      event_kind::run_started,       event_kind::run_finished,          event_kind::step_started,
      event_kind::step_succeeded,    event_kind::step_failed,           event_kind::attempt_started,
      event_kind::attempt_succeeded, event_kind::attempt_failed,        event_kind::retry_scheduled,
      event_kind::retries_exhausted, event_kind::fallback_served,       event_kind::breaker_state_changed,
      event_kind::breaker_rejected,  event_kind::bulkhead_rejected,     event_kind::rate_limited,
      event_kind::timeout,           event_kind::compensation_started,  event_kind::compensation_succeeded,
      event_kind::compensation_failed, event_kind::step_skipped};
  STATIC_REQUIRE(sizeof(all_kinds) / sizeof(all_kinds[0]) == tutti::event_kind_count);

  SECTION("only_failures writes exactly the events at warning and above") {
    captured out;
    tutti::observe::logger log{out.sink(), tutti::observe::only_failures};
    int expected = 0;
    for (const auto k : all_kinds) {
      auto e = make(k);
      e.to = tutti::breaker_state::open;
      e.outcome = tutti::run_outcome::failed;
      expected += tutti::observe::level_of(e) >= log_level::warning ? 1 : 0;
      log.on_event(e);
    }
    CHECK(expected == 12);
    CHECK(out.lines.size() == static_cast<std::size_t>(expected));
    for (const auto l : out.levels) CHECK(l >= log_level::warning);
  }
  SECTION("a kind set keeps only its kinds") {
    captured out;
    const tutti::observe::event_kinds kinds{event_kind::step_failed, event_kind::run_finished};
    tutti::observe::logger log{out.sink(), {.kinds = kinds}};
    for (const auto k : all_kinds) log.on_event(make(k));
    REQUIRE(out.lines.size() == 2);
    CHECK(contains(out.lines[0], "run succeeded"));  // in the order of all_kinds
    CHECK(contains(out.lines[1], "FAILED"));
    CHECK(tutti::observe::event_kinds::all().without(kinds).contains(event_kind::step_started));
    CHECK_FALSE(tutti::observe::event_kinds::all().without(kinds).contains(event_kind::step_failed));
    CHECK((kinds | tutti::observe::event_kinds{event_kind::timeout}).contains(event_kind::timeout));
  }
  SECTION("timestamp, level prefix, run id digits, no elapsed") {
    captured out;
    tutti::observe::logger log{out.sink(), {.elapsed = false, .timestamp = true, .level = true, .run_id_digits = 4}};
    auto e = make(event_kind::step_succeeded);
    e.time = 1'500'250us;
    e.elapsed = 3ms;
    log.on_event(e);
    REQUIRE(out.lines.size() == 1);
    CHECK(out.lines[0] == "info 1.500250 payment beef  transfer  succeeded");
  }
  SECTION("a callback taking only the line") {
    std::vector<std::string> lines;
    tutti::observe::logger log{[&lines](std::string_view line) { lines.emplace_back(line); }};
    log.on_event(make(event_kind::step_started));
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "transfer  started"));
  }
  SECTION("the untimed logger writes no elapsed time") {
    captured out;
    tutti::observe::untimed_logger log{out.sink()};
    auto e = make(event_kind::step_succeeded);
    e.elapsed = 3ms;
    log.on_event(e);
    REQUIRE(out.lines.size() == 1);
    CHECK_FALSE(log.options().elapsed);
    CHECK(contains(out.lines[0], "transfer  succeeded"));
    CHECK_FALSE(contains(out.lines[0], "ms"));
  }
  SECTION("a throwing callback loses its line, not the run") {
    tutti::observe::logger log{[](std::string_view) { throw std::runtime_error("disk full"); }};
    CHECK_NOTHROW(log.on_event(make(event_kind::step_started)));
  }
}

TEST_CASE("the FILE* sink writes one terminated line per event", "[observe][log]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    tutti::observe::logger log{f};
    log.on_event(make(event_kind::step_started));
    auto e = make(event_kind::attempt_failed);
    e.attempt = 1;
    e.error = bank::rejected();
    log.on_event(e);
  }
  const std::string text = read_all(f);
  std::fclose(f);
  const auto lines = split_lines(text);
  REQUIRE(lines.size() == 2);
  CHECK(text.back() == '\n');
  CHECK(contains(lines[0], "transfer  started"));
  CHECK(contains(lines[1], "transfer  attempt 1 failed: the beneficiary's bank rejected the transfer"));
}

TEST_CASE("a real run logs one line per event, with step names and error messages",
          "[observe][log]") {
  int busy = 2;
  const auto wf = tutti::workflow<"payment">(
      tutti::step<"authorize">([]() -> tutti::result<int> { return 7; })
          .compensate_with([](const int&) -> tutti::result<void> { return tutti::outcome::success(); }),
      tutti::step<"transfer">([&busy](const tutti::call_context&) -> tutti::result<int> {
        if (busy-- > 0) return bank::rejected();
        return 8;
      }) | tutti::retry{tutti::constant_backoff{100ms}, tutti::max_attempts{3}},
      tutti::step<"notify">([]() -> tutti::result<int> { throw std::runtime_error("smtp down"); }));
  tutti::testing::manual_clock clock;
  captured out;
  tutti::observe::logger log{out.sink()};
  counter events;
  auto both = tutti::observe_all(log, events);
  const auto run = wf.run(tutti::unit{}, {}, clock, both);
  REQUIRE_FALSE(run);
  REQUIRE(out.lines.size() == static_cast<std::size_t>(events.events));
  const auto hex = run.id().hex();
  const std::string prefix = "payment " + std::string{hex.data(), hex.size()} + "  ";
  for (const auto& line : out.lines) CHECK(line.rfind(prefix, 0) == 0);

  const auto has = [&](std::string_view part) {
    for (const auto& line : out.lines)
      if (contains(line, part)) return true;
    return false;
  };
  CHECK(has("authorize  succeeded"));
  CHECK(has("transfer  attempt 1 failed: the beneficiary's bank rejected the transfer [payment:6]"));
  CHECK(has("transfer  retry in 100.0 ms after attempt 1"));
  CHECK(has("transfer  succeeded after 3 attempts (200.0 ms)"));
  CHECK(has("notify  FAILED"));
  CHECK(has("smtp down"));
  CHECK(has("authorize  compensated"));
  CHECK(has("run failed, compensated at notify"));
  CHECK(out.lines.front() == prefix + "run started");
  CHECK(contains(out.lines.back(), "run failed, compensated at notify"));
}

TEST_CASE("nested workflows log their steps by path", "[observe][log]") {
  const auto inner = tutti::workflow<"checks">(tutti::step<"fraud">([]() -> tutti::result<int> { return 1; }));
  const auto wf = tutti::workflow<"payment">(inner, tutti::step<"book">([]() -> tutti::result<int> { return 2; }));
  captured out;
  tutti::observe::logger log{out.sink()};
  const auto run = wf.run(tutti::unit{}, {}, log);
  REQUIRE(run);
  bool nested = false;
  for (const auto& line : out.lines) nested = nested || contains(line, "  checks/fraud  succeeded");
  CHECK(nested);
}

TEST_CASE("lines of concurrent runs written to one FILE* never interleave", "[observe][log]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  const auto wf = tutti::workflow<"concurrent">(
      tutti::step<"a">([](const int& x) -> tutti::result<int> { return x + 1; }),
      tutti::step<"b">([](const int& x) -> tutti::result<int> {
        if (x % 3 == 0) return bank::rejected();
        return x;
      }));
  constexpr int threads = 4;
  constexpr int runs = 200;
  {
    tutti::observe::logger log{f};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (int i = 0; i < runs; ++i) (void)wf.run(i, {}, log);
      });
    for (auto& t : pool) t.join();
  }
  const std::string text = read_all(f);
  std::fclose(f);
  const auto lines = split_lines(text);
  // Per run: run_started, a (4 lines), b (4 lines), run_finished = 10 lines.
  CHECK(lines.size() == static_cast<std::size_t>(threads * runs * 10));
  CHECK(text.back() == '\n');
  std::size_t failures = 0;
  for (const auto& line : lines) {
    REQUIRE(line.rfind("concurrent ", 0) == 0);  // each line starts where a line starts
    REQUIRE(line.size() > 44);
    failures += contains(line, "  b  FAILED: the beneficiary's bank") ? 1 : 0;
  }
  // Steps take the run's input: b fails for the 67 multiples of 3 in 0..199.
  CHECK(failures == static_cast<std::size_t>(threads * 67));
}
