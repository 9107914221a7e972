// The tutti-journal CLI's logic (tools/tutti_journal/cli.hpp), driven with a memory_journal
// filled by hand: listing, showing, operator commands, run-id prefixes, usage errors, JSON.
// Without CLI11 (tutti-journal is not built then either) it compiles to no test case.
#if TUTTI_TEST_HAVE_CLI11

#include "../../tools/tutti_journal/cli.hpp"

#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/version.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <sstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if TUTTI_TEST_HAVE_NLOHMANN_JSON
#  include <nlohmann/json.hpp>
#endif

using tutti::memory_journal;
using tutti::record_kind;
using tutti::record_view;
using tutti::run_id;
using tutti::run_status;
namespace cli = tutti::journal_cli;

namespace {

// ---- running the CLI ----------------------------------------------------------------------------

struct captured {
  int code = -1;
  std::string out;
  std::string err;
};

std::string read_all(std::FILE* f) {
  std::string text;
  std::rewind(f);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return text;
}

/// Runs `call(args, out, err)` with stdout and stderr captured in temporary files.
template <class Call>
captured capture(std::initializer_list<std::string_view> args, Call call) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  const std::vector<std::string_view> v(args);
  captured c;
  c.code = call(std::span<const std::string_view>(v), out, err);
  c.out = read_all(out);
  c.err = read_all(err);
  return c;
}

captured cli_run(memory_journal& j, std::initializer_list<std::string_view> args) {
  return capture(args, [&j](auto v, std::FILE* out, std::FILE* err) {
    return cli::run_cli(j, v, out, err);
  });
}

/// `parse_command_line` with the journal file first (what main.cpp does before it opens the
/// journal); code -1: a request to carry out on the journal.
captured before_journal(std::initializer_list<std::string_view> args) {
  return capture(args, [](auto v, std::FILE* out, std::FILE* err) {
    const cli::parse_outcome p = cli::parse_command_line(v, true, out, err);
    return p.to_run ? -1 : p.code;
  });
}

std::string hex(const run_id& id) {
  const auto h = id.hex();
  return {h.data(), h.size()};
}

/// The words of the first line of `text` whose first word is `first` (empty if none).
std::vector<std::string> line_of(const std::string& text, std::string_view first) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = std::min(text.find('\n', pos), text.size());
    std::vector<std::string> words;
    std::string word;
    for (std::size_t i = pos; i < end; ++i) {
      if (text[i] == ' ') {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
      } else {
        word += text[i];
      }
    }
    if (!word.empty()) words.push_back(std::move(word));
    if (!words.empty() && words.front() == first) return words;
    pos = end + 1;
  }
  return {};
}
using words = std::vector<std::string>;

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// ---- a journal with runs in every interesting state ---------------------------------------------

// Ids chosen for prefix tests: "a1b2c3d" matches `ok` and `failed`; "a1b2c3d5" only `failed`.
const run_id ok_id{0xa1b2c3d400000000ULL, 1};
const run_id failed_id{0xa1b2c3d500000000ULL, 2};
const run_id comp_failed_id{0xb100000000000000ULL, 3};
const run_id running_id{0xc100000000000000ULL, 4};
const run_id compensated_id{0xd100000000000000ULL, 5};

/// A custom error category, as an application's own errors would be recorded.
constexpr std::string_view payments_category = "payments";

void add(memory_journal& j, const run_id& id, record_view r) { REQUIRE(j.append(id, r)); }

record_view attempt(record_kind k, std::string_view step, std::uint32_t n, bool ok = true) {
  record_view r;
  r.kind = k;
  r.step = step;
  r.attempt = n;
  r.ok = ok;
  return r;
}

record_view failure(record_kind k, std::string_view step, std::uint32_t n, std::string_view cat,
                    int value, std::string_view message) {
  record_view r = attempt(k, step, n, false);
  r.error_category = cat;
  r.error_value = value;
  r.message = message;
  return r;
}

record_view finished(std::uint8_t outcome) {
  record_view r;
  r.kind = record_kind::run_finished;
  r.outcome = outcome;
  return r;
}

const std::byte output_bytes[] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
const std::byte input_bytes[] = {std::byte{9}, std::byte{9}, std::byte{9}};

/// Starts runs a few milliseconds apart (memory_journal stamps them with the wall clock), in
/// this order: ok (payment, succeeded), failed (payment), comp_failed (payment), running
/// (shipping), compensated (shipping).
void fill(memory_journal& j) {
  const auto start = [&j](const run_id& id, std::string_view workflow) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    REQUIRE(j.start(id, workflow, 0x1234abcdULL, input_bytes));
  };
  start(ok_id, "payment");
  add(j, ok_id, attempt(record_kind::attempt_started, "authorize", 1));
  add(j, ok_id, attempt(record_kind::attempt_finished, "authorize", 1));
  {
    record_view r = attempt(record_kind::step_finished, "authorize", 1);
    r.payload = output_bytes;
    add(j, ok_id, r);
  }
  add(j, ok_id, finished(0));

  start(failed_id, "payment");
  add(j, failed_id, attempt(record_kind::attempt_started, "authorize", 1));
  add(j, failed_id, attempt(record_kind::attempt_finished, "authorize", 1));
  add(j, failed_id, attempt(record_kind::step_finished, "authorize", 1));
  add(j, failed_id, attempt(record_kind::attempt_started, "charge", 1));
  add(j, failed_id, failure(record_kind::attempt_finished, "charge", 1, "generic", ETIMEDOUT, ""));
  add(j, failed_id, attempt(record_kind::attempt_started, "charge", 2));
  add(j, failed_id,
      failure(record_kind::attempt_finished, "charge", 2, payments_category, 51, "card declined"));
  add(j, failed_id,
      failure(record_kind::step_finished, "charge", 2, payments_category, 51, "card declined"));
  add(j, failed_id, finished(1));

  start(comp_failed_id, "payment");
  add(j, comp_failed_id, attempt(record_kind::attempt_started, "authorize", 1));
  add(j, comp_failed_id, attempt(record_kind::step_finished, "authorize", 1));
  add(j, comp_failed_id, attempt(record_kind::attempt_started, "charge", 1));
  add(j, comp_failed_id,
      failure(record_kind::step_finished, "charge", 1, payments_category, 51, "card declined"));
  {
    record_view r;
    r.kind = record_kind::compensation_started;
    r.step = "authorize";
    add(j, comp_failed_id, r);
    r.kind = record_kind::compensation_finished;
    r.ok = false;
    r.error_category = "tutti";
    r.error_value = 2;
    r.message = "void_authorization threw: gateway \"down\"";
    add(j, comp_failed_id, r);
  }
  add(j, comp_failed_id, finished(3));

  start(running_id, "shipping");
  add(j, running_id, attempt(record_kind::attempt_started, "pack", 1));

  start(compensated_id, "shipping");
  add(j, compensated_id, attempt(record_kind::attempt_started, "pack", 1));
  add(j, compensated_id, attempt(record_kind::step_finished, "pack", 1));
  add(j, compensated_id, attempt(record_kind::attempt_started, "ship", 1));
  add(j, compensated_id, failure(record_kind::step_finished, "ship", 1, "tutti", 1, ""));
  {
    record_view r;
    r.kind = record_kind::compensation_started;
    r.step = "pack";
    add(j, compensated_id, r);
    r.kind = record_kind::compensation_finished;
    r.ok = true;
    add(j, compensated_id, r);
  }
  add(j, compensated_id, finished(2));

  REQUIRE(j.status(ok_id).value() == run_status::succeeded);
  REQUIRE(j.status(failed_id).value() == run_status::failed);
  REQUIRE(j.status(comp_failed_id).value() == run_status::compensation_failed);
  REQUIRE(j.status(running_id).value() == run_status::running);
  REQUIRE(j.status(compensated_id).value() == run_status::compensated);
}

/// The run ids in `list`'s table output, in order.
std::vector<std::string> listed_ids(const std::string& table) {
  std::vector<std::string> ids;
  for (const run_id& id : {ok_id, failed_id, comp_failed_id, running_id, compensated_id}) {
    if (table.find(hex(id)) != std::string::npos) ids.push_back(hex(id));
  }
  std::sort(ids.begin(), ids.end(), [&table](const std::string& a, const std::string& b) {
    return table.find(a) < table.find(b);
  });
  return ids;
}

std::int64_t started_ms(memory_journal& j, const run_id& id) {
  return j.load(id).value().summary.started_unix_ms;
}

}  // namespace

// ---- list ---------------------------------------------------------------------------------------

TEST_CASE("list prints every run newest first with its workflow, status and record count",
          "[journal][cli][list]") {
  memory_journal j;
  fill(j);
  const captured c = cli_run(j, {"list"});
  CHECK(c.code == 0);
  CHECK(c.err.empty());
  CHECK(c.out.find("RUN ID") == 0);
  for (std::string_view col :
       {"WORKFLOW", "VERSION", "STATUS", "STARTED", "UPDATED", "RECORDS", "EPOCH", "OWNER", "LEASE"})
    CHECK(c.out.find(col) != std::string::npos);
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(compensated_id), hex(running_id),
                                                      hex(comp_failed_id), hex(failed_id),
                                                      hex(ok_id)});
  // The failed run's line: workflow, status, a UTC time and its 10 records.
  const auto line_start = c.out.find(hex(failed_id));
  const std::string line = c.out.substr(line_start, c.out.find('\n', line_start) - line_start);
  CHECK(line.find("payment") != std::string::npos);
  CHECK(line.find(" failed ") != std::string::npos);
  CHECK(line.find("Z ") != std::string::npos);
  // Then its 10 records, epoch 0 (written by hand: never claimed), no owner, no lease, no key,
  // no failure (its end names no step, as an older engine's).
  std::istringstream tokens(line);
  const words w{std::istream_iterator<std::string>(tokens), std::istream_iterator<std::string>()};
  REQUIRE(w.size() >= 6);
  CHECK(words(w.end() - 6, w.end()) == words{"10", "0", "-", "-", "-", "-"});
}

TEST_CASE("list finds runs by business key, failed step and error", "[journal][cli][list][search]") {
  memory_journal j;
  const run_id a{0xA, 1}, b{0xA, 2}, c{0xA, 3};
  // A failed run's end names its step and error.
  const auto ended_at = [](std::uint8_t outcome, std::string_view step, std::string_view cat,
                           int value) {
    record_view r = finished(outcome);
    r.step = step;
    r.error_category = cat;
    r.error_value = value;
    return r;
  };
  REQUIRE(j.start(a, "order", {0x1234abcdULL, 1, "order-8812"}, input_bytes));
  add(j, a, failure(record_kind::step_finished, "charge", 1, "tutti", 5, "timed out"));
  add(j, a, ended_at(1, "charge", "tutti", 5));
  REQUIRE(j.start(b, "order", {0x1234abcdULL, 1, "order-8812"}, input_bytes));
  add(j, b, finished(0));
  REQUIRE(j.start(c, "order", {0x1234abcdULL, 1, "order-9"}, input_bytes));
  add(j, c, failure(record_kind::step_finished, "reserve", 1, "generic", ECONNREFUSED, "refused"));
  add(j, c, ended_at(2, "reserve", "generic", ECONNREFUSED));
  const auto ids_of = [&](std::initializer_list<std::string_view> args) {
    const captured out = cli_run(j, args);
    INFO(out.err);
    CHECK(out.code == 0);
    std::set<std::string> found;
    for (const run_id& id : {a, b, c})
      if (out.out.find(hex(id)) != std::string::npos) found.insert(hex(id));
    return found;
  };
  CHECK(ids_of({"list", "--key", "order-8812"}) == std::set<std::string>{hex(a), hex(b)});
  CHECK(ids_of({"list", "--key", "order-8812", "--status", "failed"}) == std::set<std::string>{hex(a)});
  CHECK(ids_of({"list", "--key", "order-1"}).empty());
  CHECK(ids_of({"list", "--failed-step", "charge"}) == std::set<std::string>{hex(a)});
  CHECK(ids_of({"list", "--failed-step", "reserve"}) == std::set<std::string>{hex(c)});
  // An error by tutti's name, by category, by category and value.
  CHECK(ids_of({"list", "--error", "timeout"}) == std::set<std::string>{hex(a)});
  CHECK(ids_of({"list", "--error", "circuit_open"}).empty());
  CHECK(ids_of({"list", "--error", "tutti"}) == std::set<std::string>{hex(a)});
  CHECK(ids_of({"list", "--error", "generic"}) == std::set<std::string>{hex(c)});
  CHECK(ids_of({"list", "--error", "generic:" + std::to_string(ECONNREFUSED)}) ==
        std::set<std::string>{hex(c)});
  CHECK(ids_of({"list", "--error", "generic:1"}).empty());

  // The table shows the key and the failure, with the error's message where it is known.
  const captured table = cli_run(j, {"list", "--key", "order-8812", "--status", "failed"});
  CHECK(table.out.find("order-8812") != std::string::npos);
  CHECK(table.out.find("charge (tutti 5: timed out)") != std::string::npos);
  // show prints them in its header; --json carries them.
  const captured shown = cli_run(j, {"show", hex(a)});
  CHECK(shown.out.find("key") != std::string::npos);
  CHECK(shown.out.find("charge (tutti 5: timed out)") != std::string::npos);
#if TUTTI_TEST_HAVE_NLOHMANN_JSON
  const auto doc = nlohmann::json::parse(cli_run(j, {"list", "--json", "--key", "order-8812"}).out);
  REQUIRE(doc["runs"].size() == 2);
  for (const auto& run : doc["runs"]) {
    CHECK(run["key"] == "order-8812");
    if (run["id"] == hex(a)) {
      CHECK(run["failure"]["step"] == "charge");
      CHECK(run["failure"]["category"] == "tutti");
      CHECK(run["failure"]["value"] == 5);
    } else {
      CHECK(run["failure"].is_null());
    }
  }
  const auto one = nlohmann::json::parse(cli_run(j, {"show", hex(c), "--json"}).out);
  CHECK(one["run"]["key"] == "order-9");
  CHECK(one["run"]["failure"]["step"] == "reserve");
  CHECK(one["run"]["input_size"] == 3);
#endif

  // Bad values are usage errors that name the option.
  const auto refused = [&j](std::initializer_list<std::string_view> args, std::string_view option) {
    const captured out = cli_run(j, args);
    INFO(option);
    CHECK(out.code == 2);
    CHECK(out.err.find(option) != std::string::npos);
  };
  refused({"list", "--error", "generic:x"}, "--error");
  refused({"list", "--error", ":5"}, "--error");
  refused({"list", "--key", ""}, "--key");
  refused({"list", "--failed-step", ""}, "--failed-step");
}

TEST_CASE("list filters by status and by workflow", "[journal][cli][list]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"list", "--status", "failed"});
  CHECK(c.code == 0);
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(failed_id)});

  c = cli_run(j, {"list", "--status=compensation_failed"});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(comp_failed_id)});

  c = cli_run(j, {"list", "--workflow", "shipping"});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(compensated_id), hex(running_id)});

  c = cli_run(j, {"list", "--workflow", "payment", "--status", "succeeded"});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(ok_id)});

  c = cli_run(j, {"list", "--status", "paused"});
  CHECK(c.code == 0);
  CHECK(c.out == "no runs match\n");
}

TEST_CASE("list filters by start time, as milliseconds or ISO 8601, and limits the count",
          "[journal][cli][list]") {
  memory_journal j;
  fill(j);
  const std::int64_t third = started_ms(j, comp_failed_id);
  REQUIRE(third > started_ms(j, failed_id));
  REQUIRE(started_ms(j, running_id) > third);

  // --since is inclusive, --until exclusive.
  captured c = cli_run(j, {"list", "--since", std::to_string(third)});
  CHECK(c.code == 0);
  CHECK(listed_ids(c.out) ==
        std::vector<std::string>{hex(compensated_id), hex(running_id), hex(comp_failed_id)});
  const std::string until = "--until=" + std::to_string(third);
  c = cli_run(j, {"list", until});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(failed_id), hex(ok_id)});

  // The same bounds written as ISO 8601 (UTC with milliseconds, and with an offset).
  const std::string iso = cli::detail::format_time(third);
  c = cli_run(j, {"list", "--since", iso, "--until", std::to_string(started_ms(j, running_id))});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(comp_failed_id)});

  c = cli_run(j, {"list", "--since", "2000-01-01T02:00:00+02:00"});
  CHECK(listed_ids(c.out).size() == 5);
  c = cli_run(j, {"list", "--until", "2000-01-01"});
  CHECK(c.code == 0);
  CHECK(c.out == "no runs match\n");

  c = cli_run(j, {"list", "--limit", "2"});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(compensated_id), hex(running_id)});
  c = cli_run(j, {"list", "--workflow", "payment", "--limit", "1"});
  CHECK(listed_ids(c.out) == std::vector<std::string>{hex(comp_failed_id)});
}

TEST_CASE("format_time prints every int64 value: a date within years 0000-9999, else the number",
          "[journal][cli][list]") {
  using cli::detail::format_time;
  CHECK(format_time(INT64_MIN) == "-9223372036854775808");
  CHECK(format_time(INT64_MAX) == "9223372036854775807");
  CHECK(format_time(INT64_MIN + 1) == "-9223372036854775807");
  CHECK(format_time(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_time(0) == "-");
  CHECK(format_time(1) == "1970-01-01T00:00:00.001Z");
  CHECK(format_time(1795347600123) == "2026-11-22T11:40:00.123Z");
  CHECK(format_time(-62167219200000) == "0000-01-01T00:00:00.000Z");
  CHECK(format_time(-62167219200001) == "-62167219200001");
  CHECK(format_time(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(format_time(253402300800000) == "253402300800000");
}

TEST_CASE("times parse as ISO 8601 in UTC or with an offset, or as Unix milliseconds",
          "[journal][cli][list]") {
  using cli::detail::format_time;
  using cli::detail::parse_time;
  // 2026-11-22T11:40:00Z = 1795347600 s since the epoch.
  CHECK(parse_time("2026-11-22T11:40:00Z") == 1795347600000);
  CHECK(parse_time("2026-11-22T11:40:00") == 1795347600000);
  CHECK(parse_time("2026-11-22 11:40") == 1795347600000);
  CHECK(parse_time("2026-11-22T13:40:00+02:00") == 1795347600000);
  CHECK(parse_time("2026-11-22T06:40-0500") == 1795347600000);
  CHECK(parse_time("2026-11-22T11:40:00.25Z") == 1795347600250);
  CHECK(parse_time("2026-11-22T11:40:00.123456Z") == 1795347600123);
  CHECK(parse_time("2026-11-22") == 1795305600000);
  CHECK(parse_time("1795347600123") == 1795347600123);
  CHECK(format_time(1795347600123) == "2026-11-22T11:40:00.123Z");
  CHECK(parse_time(format_time(1795347600123)) == 1795347600123);
  CHECK(format_time(0) == "-");

  for (std::string_view bad :
       {"", "yesterday", "2026-13-01", "2026-02-30", "2026-11-22T25:00", "2026-11-22T11:40:00Q",
        "2026-11-22T11", "2026-11-22T11:40:00.Z", "2026-11-22T11:40+2", "-5", "12ab"}) {
    INFO(bad);
    CHECK_FALSE(parse_time(bad).has_value());
  }
}

// ---- show ---------------------------------------------------------------------------------------

TEST_CASE("show prints the run's header, every record with its errors, and a per-step summary",
          "[journal][cli][show]") {
  memory_journal j;
  fill(j);
  const captured c = cli_run(j, {"show", hex(failed_id)});
  CHECK(c.code == 0);
  CHECK(c.err.empty());
  const std::string& o = c.out;
  CHECK(line_of(o, "run") == words{"run", hex(failed_id)});
  CHECK(line_of(o, "workflow") == words{"workflow", "payment"});
  CHECK(line_of(o, "fingerprint") == words{"fingerprint", "000000001234abcd"});
  CHECK(line_of(o, "status") == words{"status", "failed"});
  CHECK(line_of(o, "records") == words{"records", "10"});
  CHECK(line_of(o, "input") == words{"input", "3", "bytes", "(binary:", "only", "the",
                                     "workflow's", "program", "reads", "them)"});
  CHECK(line_of(o, "started").size() == 2);
  CHECK(line_of(o, "SEQ") ==
        words{"SEQ", "TIME", "KIND", "STEP", "ATTEMPT", "OK", "PAYLOAD", "DETAIL"});
  CHECK(line_of(o, "1") == words{"1", "-", "run_started", "-", "-", "-", "3", "bytes"});
  CHECK(line_of(o, "9") == words{"9", "-", "step_finished", "charge", "2", "no", "-", "error",
                                 "payments:51", "card", "declined"});
  CHECK(line_of(o, "10") ==
        words{"10", "-", "run_finished", "-", "-", "-", "-", "outcome", "failed"});

  // Every record: seq 1..10 at the start of a line, every kind.
  const auto records = j.load(failed_id).value().records;
  REQUIRE(records.size() == 10);
  for (const auto& r : records) {
    INFO(r.seq);
    CHECK(o.find("\n" + std::to_string(r.seq) + " ") != std::string::npos);
  }
  CHECK(count(o, "attempt_started") == 3);
  CHECK(count(o, "attempt_finished") == 3);
  CHECK(count(o, "step_finished") == 2);
  CHECK(count(o, "run_started") == 1);
  CHECK(o.find("outcome failed") != std::string::npos);
  // Errors as category:value message; a missing message comes from a known category.
  CHECK(count(o, "error payments:51 card declined") == 2);
  CHECK(o.find("error generic:" + std::to_string(ETIMEDOUT) + " " +
               std::generic_category().message(ETIMEDOUT)) != std::string::npos);

  // The summary from plan_of: authorize succeeded, charge failed after 2 attempts.
  const auto steps = o.find("steps:");
  REQUIRE(steps != std::string::npos);
  const std::string summary = o.substr(steps);
  CHECK(line_of(summary, "STEP") ==
        words{"STEP", "ATTEMPTS", "SUCCEEDED", "COMPENSATED", "FAILED", "OUTPUT"});
  CHECK(line_of(summary, "authorize") == words{"authorize", "1", "yes", "-", "no", "-"});
  CHECK(line_of(summary, "charge") ==
        words{"charge", "2", "no", "-", "yes", "(payments:51", "card", "declined)", "-"});
  CHECK(line_of(summary, "retry") == words{"retry", hex(failed_id), "the", "failed", "step", "runs",
                                           "again", "when", "a", "runner", "(or", "a", "resume)",
                                           "claims", "it"});
  CHECK(line_of(summary, "resolve").at(1) == hex(failed_id));
}

TEST_CASE("show summarises compensations and prints notes, payload sizes and escaped messages",
          "[journal][cli][show]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"show", hex(comp_failed_id)});
  CHECK(c.code == 0);
  CHECK(c.out.find("compensation_started") != std::string::npos);
  CHECK(c.out.find("error tutti:2 void_authorization threw: gateway \"down\"") !=
        std::string::npos);
  CHECK(c.out.find("no (1 attempt)") != std::string::npos);
  CHECK(line_of(c.out, "redrive").at(1) == hex(comp_failed_id));

  c = cli_run(j, {"show", hex(compensated_id)});
  CHECK(c.out.find("yes (1 attempt)") != std::string::npos);
  CHECK(c.out.find("error tutti:1 step failed") != std::string::npos);  // the category's text
  CHECK(c.out.find("outcome compensated") != std::string::npos);

  c = cli_run(j, {"show", hex(ok_id)});
  CHECK(line_of(c.out, "4") ==
        words{"4", "-", "step_finished", "authorize", "1", "yes", "4", "bytes"});
  CHECK(c.out.find("next:") == std::string::npos);

  REQUIRE(cli_run(j, {"resolve", hex(running_id), "--note", "line one\nline two\x1b[31m"}).code ==
          0);
  c = cli_run(j, {"show", hex(running_id)});
  CHECK(c.out.find("note: line one\\nline two\\x1b[31m") != std::string::npos);
  CHECK(c.out.find('\x1b') == std::string::npos);
}

TEST_CASE("show prints JSON inputs and outputs decoded, and --json carries them as JSON values",
          "[journal][cli][show][json]") {
  memory_journal j;
  const run_id id{0x15, 1};
  const std::string input = R"({"order":"A-7","cents":1250,"note":"\u00e9\u00e9\u00e9"})";
  tutti::workflow_version wv{0x1234abcdULL, 1, "A-7"};
  wv.input_encoding = tutti::payload_encoding::json;
  REQUIRE(j.start(id, "payment", wv, std::as_bytes(std::span(input.data(), input.size()))));
  const auto output = [&](std::string_view step, std::string_view text, tutti::payload_encoding e) {
    record_view r;
    r.kind = record_kind::step_finished;
    r.step = step;
    r.attempt = 1;
    r.ok = true;
    r.payload = std::as_bytes(std::span(text.data(), text.size()));
    r.outcome = static_cast<std::uint8_t>(e);
    REQUIRE(j.append(id, r));
  };
  const std::string long_text = R"({"receipt":")" + std::string(200, 'x') + R"("})";
  output("authorize", R"({"authorization":"auth-7"})", tutti::payload_encoding::json);
  output("charge", long_text, tutti::payload_encoding::json);
  output("label", "\x01\x02\x03", tutti::payload_encoding::binary);
  output("broken", R"({"cut":)", tutti::payload_encoding::json);

  captured c = cli_run(j, {"show", hex(id)});
  REQUIRE(c.code == 0);
  // The input, compact, its fields in their order; é as UTF-8.
  const std::string shown =
      "{\"order\":\"A-7\",\"cents\":1250,\"note\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}";
  CHECK(line_of(c.out, "input") == words{"input", shown});
  // Cut to 40 bytes in the records' table: byte 37 is inside the first é, so the cut is before
  // it (36 bytes and "...").
  CHECK(line_of(c.out, "1").at(6) == shown.substr(0, 36) + "...");
  const std::string steps = c.out.substr(c.out.find("steps:"));
  CHECK(line_of(steps, "authorize").back() == R"({"authorization":"auth-7"})");
  // A long value is cut, with "..." to say so; bytes by their size; bad JSON says so.
  const std::string cut = line_of(steps, "charge").back();
  CHECK(cut.size() == 60);
  CHECK(cut.substr(cut.size() - 3) == "...");
  CHECK(cut.substr(0, 12) == R"({"receipt":")");
  CHECK(line_of(steps, "label") == words{"label", "1", "yes", "-", "no", "3", "bytes"});
  CHECK(line_of(steps, "broken") ==
        words{"broken", "1", "yes", "-", "no", "7", "bytes", "(invalid", "JSON)"});

  c = cli_run(j, {"show", hex(id), "--json"});
  REQUIRE(c.code == 0);
  const auto doc = nlohmann::json::parse(c.out);
  CHECK(doc["run"]["input_encoding"] == "json");
  CHECK(doc["run"]["input"]["order"] == "A-7");
  CHECK(doc["run"]["input"]["note"] == "\xc3\xa9\xc3\xa9\xc3\xa9");
  CHECK(doc["run"]["input_size"] == input.size());
  CHECK(doc["records"][0]["payload_encoding"] == "json");
  CHECK(doc["records"][0]["payload"]["cents"] == 1250);
  std::map<std::string, nlohmann::json> outputs;
  for (const auto& s : doc["steps"]) outputs[s["step"].get<std::string>()] = s["output"];
  CHECK(outputs.at("authorize")["authorization"] == "auth-7");
  CHECK(outputs.at("charge")["receipt"].get<std::string>().size() == 200);  // whole in JSON
  CHECK(outputs.at("label").is_null());   // bytes: only the workflow's program reads them
  CHECK(outputs.at("broken").is_null());
  for (const auto& r : doc["records"])
    if (r["step"] == "label") CHECK(r["payload_encoding"] == "binary");
}

// ---- operator commands ----------------------------------------------------------------------

TEST_CASE("rerun makes a new run from a step of an ended run, reusing the earlier outputs",
          "[journal][cli][rerun]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"rerun", hex(failed_id), "--from", "charge"});
  INFO(c.err);
  REQUIRE(c.code == 0);
  CHECK(c.err.empty());
  const auto w = line_of(c.out, "run");
  REQUIRE(w.size() > 8);
  const std::string made = w.at(1);
  CHECK(std::vector<std::string>(w.begin() + 2, w.end()) ==
        words{"reruns", "run", hex(failed_id), "from", "step", "charge:", "it", "reuses", "the",
              "outputs", "of", "authorize."});
  const auto runs = j.list({}).value();
  const auto it = std::find_if(runs.begin(), runs.end(),
                               [&made](const tutti::run_summary& s) { return hex(s.id) == made; });
  REQUIRE(it != runs.end());
  CHECK(it->status == run_status::running);
  CHECK(it->owner.empty());  // handed back for a runner
  CHECK(it->workflow == "payment");
  const auto plan = tutti::plan_of(j.load(it->id).value());
  CHECK(plan.steps.at("authorize").succeeded);
  CHECK_FALSE(plan.steps.contains("charge"));
  // Each names the other in show.
  c = cli_run(j, {"show", made});
  CHECK(c.out.find("reruns run " + hex(failed_id) + " from charge") != std::string::npos);
  c = cli_run(j, {"show", hex(failed_id)});
  CHECK(c.out.find("rerun as run " + made + " from charge") != std::string::npos);
  CHECK(line_of(c.out, "status") == words{"status", "resolved"});  // settled by its rerun
  CHECK(cli_run(j, {"retry", hex(failed_id)}).code == 1);

  // Refusals, with the reason; nothing is made.
  c = cli_run(j, {"rerun", hex(running_id), "--from", "authorize"});
  CHECK(c.code == 1);
  CHECK(c.err.find("is running: only a run that ended is rerun") != std::string::npos);
  c = cli_run(j, {"rerun", hex(comp_failed_id), "--from", "charge"});
  CHECK(c.code == 1);
  CHECK(c.err.find("\"authorize\" of run " + hex(comp_failed_id) + " was compensated") !=
        std::string::npos);
  c = cli_run(j, {"rerun", hex(failed_id), "--from", "ship"});
  CHECK(c.code == 1);
  CHECK(c.err.find("never reached step \"ship\"") != std::string::npos);
  CHECK(j.list({}).value().size() == runs.size());
  c = cli_run(j, {"rerun", hex(failed_id)});
  CHECK(c.code == 2);
  CHECK(c.err.find("--from") != std::string::npos);

  // A rerun whose preparation stopped (it began paused, nothing released it): show offers
  // resolve only, not unpause.
  tutti::workflow_version wv{0x1234abcdULL, 1};
  wv.paused = true;
  const run_id cut{0xC07, 1};
  REQUIRE(j.start(cut, "payment", wv, input_bytes, tutti::lease_request{.owner = "tutti-rerun"}));
  c = cli_run(j, {"show", hex(cut)});
  CHECK(line_of(c.out, "status") == words{"status", "paused"});
  CHECK(line_of(c.out, "unpause").empty());
  REQUIRE(line_of(c.out, "resolve").size() > 2);
  CHECK(c.out.find("a rerun whose preparation stopped") != std::string::npos);
}

TEST_CASE("pause and unpause change a running run's status and are refused otherwise",
          "[journal][cli][command]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"pause", hex(running_id)});
  CHECK(c.code == 0);
  CHECK(c.out.find("paused") != std::string::npos);
  CHECK(j.status(running_id).value() == run_status::paused);

  c = cli_run(j, {"pause", hex(running_id)});
  CHECK(c.code == 1);
  CHECK(c.err ==
        "tutti-journal: run " + hex(running_id) + " is paused; pause applies to running runs\n");

  c = cli_run(j, {"unpause", hex(running_id)});
  CHECK(c.code == 0);
  CHECK(j.status(running_id).value() == run_status::running);

  c = cli_run(j, {"unpause", hex(running_id)});
  CHECK(c.code == 1);
  CHECK(c.err.find("is running; unpause applies to paused runs") != std::string::npos);

  c = cli_run(j, {"pause", hex(ok_id)});
  CHECK(c.code == 1);
  CHECK(c.err.find("is succeeded; pause applies to running runs") != std::string::npos);
  CHECK(j.status(ok_id).value() == run_status::succeeded);

  const auto records = j.load(running_id).value().records;
  REQUIRE(records.size() == 4);
  CHECK(records[2].kind == record_kind::paused);
  CHECK(records[3].kind == record_kind::unpaused);
}

TEST_CASE("retry records the request on a failed run and is refused on other runs",
          "[journal][cli][command]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"retry", hex(ok_id)});
  CHECK(c.code == 1);
  CHECK(c.err ==
        "tutti-journal: run " + hex(ok_id) + " is succeeded; retry applies to failed and dead_lettered runs\n");
  CHECK(c.out.empty());

  c = cli_run(j, {"retry", hex(comp_failed_id)});
  CHECK(c.code == 1);
  CHECK(c.err.find("is compensation_failed; retry applies to failed and dead_lettered runs (a compensation failed: "
                   "use redrive)") != std::string::npos);
  CHECK(j.status(comp_failed_id).value() == run_status::compensation_failed);

  c = cli_run(j, {"retry", hex(failed_id)});
  CHECK(c.code == 0);
  CHECK(c.out.find("retry requested") != std::string::npos);
  CHECK(c.out.find("resume") != std::string::npos);  // who carries it out
  CHECK(j.status(failed_id).value() == run_status::running);
  CHECK(j.load(failed_id).value().records.back().kind == record_kind::retry_requested);

  // After the request the failed step is no longer marked failed: the next resume runs it.
  c = cli_run(j, {"show", hex(failed_id)});
  CHECK(c.out.find("retry_requested") != std::string::npos);
  CHECK(line_of(c.out.substr(c.out.find("steps:")), "charge") ==
        words{"charge", "2", "no", "-", "no", "-"});

  c = cli_run(j, {"retry", hex(failed_id)});
  CHECK(c.code == 1);
  CHECK(c.err.find("is running; retry applies to failed and dead_lettered runs") != std::string::npos);
}

TEST_CASE("redrive records the request on a compensation_failed run and is refused on others",
          "[journal][cli][command]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"redrive", hex(failed_id)});
  CHECK(c.code == 1);
  CHECK(c.err.find("is failed; redrive applies to compensation_failed runs (no compensation "
                   "failed: use retry)") != std::string::npos);
  CHECK(j.status(failed_id).value() == run_status::failed);

  c = cli_run(j, {"redrive", hex(compensated_id)});
  CHECK(c.code == 1);

  c = cli_run(j, {"redrive", hex(comp_failed_id)});
  CHECK(c.code == 0);
  CHECK(c.out.find("re-drive requested") != std::string::npos);
  CHECK(j.status(comp_failed_id).value() == run_status::running);
  CHECK(j.load(comp_failed_id).value().records.back().kind == record_kind::redrive_requested);
}

TEST_CASE("resolve needs a note, records it and settles the run for good",
          "[journal][cli][command]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"resolve", hex(failed_id)});
  CHECK(c.code == 2);
  CHECK(c.err.find("--note is required") != std::string::npos);
  c = cli_run(j, {"resolve", hex(failed_id), "--note", ""});
  CHECK(c.code == 2);
  CHECK(j.status(failed_id).value() == run_status::failed);

  c = cli_run(j, {"resolve", hex(failed_id), "--note", "refunded by hand, ticket 42"});
  CHECK(c.code == 0);
  CHECK(j.status(failed_id).value() == run_status::resolved);
  const auto last = j.load(failed_id).value().records.back();
  CHECK(last.kind == record_kind::resolved);
  CHECK(last.message == "refunded by hand, ticket 42");
  CHECK(cli_run(j, {"show", hex(failed_id)}).out.find("note: refunded by hand, ticket 42") !=
        std::string::npos);

  c = cli_run(j, {"resolve", hex(failed_id), "--note", "again"});
  CHECK(c.code == 1);
  CHECK(c.err.find("is resolved; resolve applies to queued, running, paused, failed, "
                   "compensation_failed and dead_lettered runs") != std::string::npos);
  c = cli_run(j, {"retry", hex(failed_id)});
  CHECK(c.code == 1);

  // The note may come before the run id, and start with dashes.
  c = cli_run(j, {"resolve", "--note", "settled", hex(comp_failed_id)});
  CHECK(c.code == 0);
  c = cli_run(j, {"resolve", "--", hex(running_id), "--note"});
  CHECK(c.code == 2);  // after `--`, "--note" is an argument, not the option
  CHECK(c.err.find("--note is required") != std::string::npos);
  CHECK(j.status(running_id).value() == run_status::running);
  c = cli_run(j, {"show", "--", hex(running_id)});  // `--` before RUN is no error
  CHECK(c.code == 0);
  CHECK(c.out.find(hex(running_id)) != std::string::npos);
  c = cli_run(j, {"resolve", hex(running_id), "--note=--help: cancelled by the customer"});
  CHECK(c.code == 0);
  CHECK(j.load(running_id).value().records.back().message == "--help: cancelled by the customer");
  c = cli_run(j, {"resolve", hex(ok_id), "--note", "nothing to settle"});
  CHECK(c.code == 1);
}

TEST_CASE("move puts a run on another version of its workflow, and list and show print versions",
          "[journal][cli][command][version]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"move", hex(running_id)});
  CHECK(c.code == 2);
  CHECK(c.err.find("--version is required") != std::string::npos);
  c = cli_run(j, {"move", hex(running_id), "--version", "0"});
  CHECK(c.code == 2);
  c = cli_run(j, {"move", hex(running_id), "--version", "two"});
  CHECK(c.code == 2);
  CHECK(j.load(running_id).value().summary.version == 1);

  c = cli_run(j, {"move", hex(running_id), "--version", "3", "--note", "v3 adds a receipt"});
  CHECK(c.code == 0);
  CHECK(c.out.find("moved to version 3") != std::string::npos);
  const auto moved = j.load(running_id).value();
  CHECK(moved.summary.version == 3);
  CHECK(moved.records.back().kind == record_kind::moved);
  CHECK(moved.records.back().attempt == 3);
  CHECK(moved.records.back().message == "v3 adds a receipt");
  const std::string shown = cli_run(j, {"show", hex(running_id)}).out;
  CHECK(line_of(shown, "version") == words{"version", "3"});
  CHECK(shown.find("note: v3 adds a receipt") != std::string::npos);
  // The list's version column: 3 for the moved run, 1 for the others.
  const std::string listed = cli_run(j, {"list"}).out;
  CHECK(listed.find("VERSION") != std::string::npos);
  CHECK(line_of(listed, hex(running_id))[2] == "3");
  CHECK(line_of(listed, hex(ok_id))[2] == "1");

  c = cli_run(j, {"move", hex(ok_id), "--version", "2"});
  CHECK(c.code == 1);
  CHECK(c.err.find("move applies to queued, running, paused and dead_lettered runs") !=
        std::string::npos);
}

// ---- run ids ------------------------------------------------------------------------------------
// ---- run ids ------------------------------------------------------------------------------------

TEST_CASE("the first or last digits of a run id select it when unique, others are refused",
          "[journal][cli][id]") {
  memory_journal j;
  fill(j);
  captured c = cli_run(j, {"show", "a1b2c3d5"});
  CHECK(c.code == 0);
  CHECK(c.out.find(hex(failed_id)) != std::string::npos);

  // The last digits: ids made by one thread differ there.
  c = cli_run(j, {"show", "00000002"});
  CHECK(c.code == 0);
  CHECK(c.out.find(hex(failed_id)) != std::string::npos);

  c = cli_run(j, {"pause", "C1"});  // case does not matter
  CHECK(c.code == 0);
  CHECK(j.status(running_id).value() == run_status::paused);

  c = cli_run(j, {"retry", "a1b2c3d"});
  CHECK(c.code == 2);
  CHECK(c.err.find("a1b2c3d is ambiguous: 2 run ids start or end with it") != std::string::npos);
  CHECK(c.err.find(hex(ok_id)) != std::string::npos);
  CHECK(c.err.find(hex(failed_id)) != std::string::npos);
  CHECK(j.status(failed_id).value() == run_status::failed);

  // A piece that begins one id and ends another is ambiguous too.
  const run_id two{0x2000000000000000ULL, 0x10};
  REQUIRE(j.start(two, "payment", 1, {}));
  c = cli_run(j, {"show", "2"});
  CHECK(c.code == 2);
  CHECK(c.err.find("2 is ambiguous: 2 run ids start or end with it") != std::string::npos);
  CHECK(c.out.empty());

  c = cli_run(j, {"show", "ffff"});
  CHECK(c.code == 2);
  CHECK(c.err == "tutti-journal: no run id starts or ends with ffff\n");

  c = cli_run(j, {"show", "ffffffffffffffffffffffffffffffff"});
  CHECK(c.code == 2);
  CHECK(c.err == "tutti-journal: no run ffffffffffffffffffffffffffffffff in the journal\n");
  c = cli_run(j, {"pause", "ffffffffffffffffffffffffffffffff"});
  CHECK(c.code == 2);
  CHECK(c.err.find("no run ffffffffffffffffffffffffffffffff in the journal") != std::string::npos);

  for (std::string_view bad : {"xyz", "a1b2-c3", "ffffffffffffffffffffffffffffffff0"}) {
    INFO(bad);
    c = cli_run(j, {"show", bad});
    CHECK(c.code == 2);
    CHECK(c.err.find("is not a run id") != std::string::npos);
  }
}

// ---- usage --------------------------------------------------------------------------------------

TEST_CASE("usage errors exit with 2 and say what is wrong", "[journal][cli][usage]") {
  memory_journal j;
  fill(j);
  struct bad_call {
    std::vector<std::string_view> args;
    std::string_view says;
  };
  const std::vector<bad_call> calls = {
      {{}, "no command given"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"list", "--status", "broken"}, "--status: unknown status 'broken'"},
      {{"list", "--status"}, "list: --status"},
      {{"list", "--limit", "0"}, "--limit: '0' is not a positive number"},
      {{"list", "--limit", "ten"}, "is not a positive number"},
      {{"list", "--since", "last tuesday"}, "--since: 'last tuesday' is not a time"},
      {{"list", "--since", "2026-11-22", "--until", "2026-11-21"},
       "--since must be before --until"},
      {{"list", "--stranded", "--status", "failed"}, "--stranded lists running runs"},
      {{"list", "--workflow", ""}, "--workflow: needs a name"},
      {{"list", "extra"}, "list: unexpected argument 'extra'"},
      {{"list", "--json=maybe"}, "--json"},
      {{"list", "--verbose"}, "list: unknown option --verbose"},
      {{"show"}, "show: RUN is required"},
      {{"show", "a1", "b1"}, "show: unexpected argument 'b1'"},
      {{"pause"}, "pause: RUN is required"},
      {{"retry", "--note", "x", "d1"}, "retry: unknown option --note"},
      {{"move", "d1", "--version", "two"}, "move: --version: 'two' is not a version"},
      {{"help", "frobnicate"}, "help: unknown command 'frobnicate'"},
  };
  for (const bad_call& b : calls) {
    std::string joined;
    for (auto a : b.args) joined += std::string{a} + " ";
    INFO(joined);
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    const int code = cli::run_cli(j, std::span<const std::string_view>(b.args), out, err);
    const std::string o = read_all(out);
    const std::string e = read_all(err);
    CHECK(code == 2);
    CHECK(o.empty());
    CHECK(e.find(b.says) != std::string::npos);
    CHECK(e.find("tutti-journal help") != std::string::npos);
  }
  // Nothing changed.
  CHECK(j.status(failed_id).value() == run_status::failed);
  CHECK(j.status(running_id).value() == run_status::running);
}

TEST_CASE("help lists every command and says who carries out retry and redrive",
          "[journal][cli][usage]") {
  memory_journal j;
  const captured c = cli_run(j, {"help"});
  CHECK(c.code == 0);
  for (std::string_view cmd : {"list", "show", "pause", "unpause", "retry", "redrive", "resolve"})
    CHECK(c.out.find("\n  " + std::string{cmd} + " ") != std::string::npos);
  CHECK(c.out.find("resume_all") != std::string::npos);
  CHECK(c.out.find("exit status") != std::string::npos);
}

TEST_CASE("tutti-journal --version prints the name and version and exits 0",
          "[journal][cli][usage]") {
  const std::string expected = fmt::format("tutti-journal {}.{}.{}\n", TUTTI_VERSION_MAJOR,
                                           TUTTI_VERSION_MINOR, TUTTI_VERSION_PATCH);
  for (const captured& c :
       {before_journal({"--version"}), before_journal({"runs.db", "--version"})}) {
    CHECK(c.code == 0);
    CHECK(c.out == expected);
    CHECK(c.err.empty());
  }
  memory_journal j;
  const captured c = cli_run(j, {"--version"});
  CHECK(c.code == 0);
  CHECK(c.out == expected);
}

TEST_CASE("tutti-journal --help, -h and help print the usage without a journal and exit 0",
          "[journal][cli][usage]") {
  for (std::string_view flag : {"--help", "-h", "help"}) {
    INFO(flag);
    for (const captured& c : {before_journal({flag}), before_journal({"runs.db", flag})}) {
      CHECK(c.code == 0);
      CHECK(c.out == cli::help_text());
      CHECK(c.err.empty());
    }
  }
}

TEST_CASE("COMMAND --help prints that command's usage and exits 0, without running it",
          "[journal][cli][usage]") {
  memory_journal j;
  fill(j);
  const std::string running = hex(running_id);
  const std::string help = cli::help_text();
  for (std::string_view cmd : cli::command_names) {
    if (cmd == "help") continue;
    INFO(cmd);
    const std::string usage = cli::command_help(cmd);
    // The usage line, then the one-line summary the command list shows for it.
    CHECK(usage.starts_with("usage: tutti-journal JOURNAL " + std::string{cmd}));
    const auto listed = help.find("\n  " + std::string{cmd} + " ");
    REQUIRE(listed != std::string::npos);
    const std::size_t summary_at = help.find_first_not_of(' ', listed + 3 + cmd.size());
    const std::string summary = help.substr(summary_at, help.find('\n', summary_at) - summary_at);
    CHECK(usage.find("\n\n" + summary + "\n") != std::string::npos);
    const bool takes_run = usage.substr(0, usage.find('\n')).find(" RUN") != std::string::npos;
    CHECK(takes_run == (cmd != "list" && cmd != "purge" && cmd != "census"));
    CHECK((usage.find("RUN is a run id") != std::string::npos) == takes_run);
    CHECK(usage.find("exit status") == std::string::npos);  // the whole tool's footer is not

    for (std::string_view flag : {"--help", "-h"}) {
      INFO(flag);
      // After the command, alone or after its arguments; with the journal or before opening one;
      // and as `help COMMAND`.
      for (const captured& c : {cli_run(j, {cmd, flag}), cli_run(j, {cmd, running, flag}),
                                cli_run(j, {"help", cmd}), before_journal({cmd, flag}),
                                before_journal({"runs.db", cmd, flag}),
                                before_journal({"runs.db", cmd, running, "--note", "x", flag})}) {
        CHECK(c.code == 0);
        CHECK(c.out == usage);
        CHECK(c.err.empty());
      }
    }
  }
  // Each option with its value's name, and what a command needs on its usage line.
  CHECK(cli::command_help("list").find("--since T") != std::string::npos);
  CHECK(cli::command_help("list").starts_with("usage: tutti-journal JOURNAL list [OPTIONS]\n"));
  CHECK(cli::command_help("resolve").starts_with(
      "usage: tutti-journal JOURNAL resolve RUN --note TEXT\n"));
  CHECK(cli::command_help("move").starts_with(
      "usage: tutti-journal JOURNAL move RUN --version N [OPTIONS]\n"));
  CHECK(cli::command_help("frobnicate").empty());
  CHECK(cli::command_help("help") == help);
  // Nothing was paused, retried or resolved.
  CHECK(j.status(running_id).value() == run_status::running);
  CHECK(j.status(failed_id).value() == run_status::failed);
}

TEST_CASE("an unknown option is a usage error with exit code 2", "[journal][cli][usage]") {
  memory_journal j;
  for (const captured& c : {before_journal({"--frobnicate"}), before_journal({"-x", "list"}),
                            cli_run(j, {"--frobnicate"})}) {
    CHECK(c.code == cli::exit_usage);
    CHECK(c.out.empty());
    CHECK(c.err.find("unknown option -") != std::string::npos);
    CHECK(c.err.find("tutti-journal help") != std::string::npos);
  }
  const captured c = cli_run(j, {"list", "--frobnicate", "--status", "failed"});
  CHECK(c.code == cli::exit_usage);
  CHECK(c.err.find("list: unknown option --frobnicate") != std::string::npos);
  CHECK(c.err.find("tutti-journal help list") != std::string::npos);
}

TEST_CASE("before opening a journal: a command is needed after the file", "[journal][cli][usage]") {
  CHECK(before_journal({"runs.db", "list"}).code == -1);  // the journal is opened next
  CHECK(before_journal({"runs.db", "show", "a1"}).code == -1);
  for (const captured& c : {before_journal({}), before_journal({"runs.db"})}) {
    CHECK(c.code == cli::exit_usage);
    CHECK(c.out.empty());
    CHECK(c.err.find("usage: tutti-journal JOURNAL COMMAND") != std::string::npos);
  }
  CHECK(before_journal({"runs.db"}).err.find("no command given after the journal file") !=
        std::string::npos);
  const captured no_file = before_journal({"list", "--json"});
  CHECK(no_file.code == cli::exit_usage);
  CHECK(no_file.err.find("no journal file given") != std::string::npos);
}

TEST_CASE("a parsed command line carries the journal, the command and every value checked",
          "[journal][cli][usage]") {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  const std::vector<std::string_view> list_args = {
      "runs.db", "list",    "--status", "failed", "--limit", "3", "--since=2026-11-22",
      "--until", "1800000000000", "--workflow", "checkout", "--json"};
  const cli::parse_outcome l = cli::parse_command_line(list_args, true, out, err);
  REQUIRE(l.to_run);
  CHECK(l.to_run->journal == "runs.db");
  CHECK(l.to_run->command == "list");
  CHECK(l.to_run->status == run_status::failed);
  CHECK(l.to_run->limit == 3);
  CHECK(l.to_run->since_unix_ms == std::optional<std::int64_t>{1'795'305'600'000});  // 2026-11-22
  CHECK(l.to_run->until_unix_ms == std::optional<std::int64_t>{1'800'000'000'000});
  CHECK(l.to_run->workflow == std::optional<std::string>{"checkout"});
  CHECK(l.to_run->json);
  CHECK_FALSE(l.to_run->stranded);

  const std::vector<std::string_view> move_args = {"move", "--note", "v2 adds a receipt", "c0ffee",
                                                   "--version", "2"};
  const cli::parse_outcome m = cli::parse_command_line(move_args, false, out, err);
  REQUIRE(m.to_run);
  CHECK(m.to_run->journal.empty());
  CHECK(m.to_run->command == "move");
  CHECK(m.to_run->run == "c0ffee");
  CHECK(m.to_run->version == 2);
  CHECK(m.to_run->note == "v2 adds a receipt");
  CHECK(read_all(out).empty());
  CHECK(read_all(err).empty());
}

// ---- JSON ---------------------------------------------------------------------------------------

TEST_CASE("the CLI's JSON escapes text and replaces invalid UTF-8", "[journal][cli][json]") {
  using cli::detail::json;
  using cli::detail::json_text;
  CHECK(json_text(json("plain")) == "\"plain\"");
  CHECK(json_text(json("a\"b\\c")) == "\"a\\\"b\\\\c\"");
  CHECK(json_text(json("tab\there\nline\r\x01\x1f")) == "\"tab\\there\\nline\\r\\u0001\\u001f\"");
  CHECK(json_text(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")) ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");  // valid UTF-8 kept
  // Invalid sequences become U+FFFD; what is around them stays, and the text is valid JSON.
  for (const std::string bad : {"bad \xff end", "cut \xe2\x82", "overlong \xc0\xaf",
                                "surrogate \xed\xa0\x80"}) {
    INFO(bad);
    const std::string text = json_text(json(bad));
    const auto back = nlohmann::json::parse(text).get<std::string>();
    CHECK(back.find("\xef\xbf\xbd") != std::string::npos);
    CHECK(back.substr(0, bad.find(' ') + 1) == bad.substr(0, bad.find(' ') + 1));
  }
}

#if TUTTI_TEST_HAVE_NLOHMANN_JSON

TEST_CASE("list --json is valid JSON with every run's fields", "[journal][cli][json]") {
  memory_journal j;
  fill(j);
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  REQUIRE(j.start(run_id{0xe1, 6}, "p\xc3\xa9 \"quoted\"\n\xff", 7, {}));
  const captured c = cli_run(j, {"list", "--json"});
  REQUIRE(c.code == 0);
  const auto doc = nlohmann::json::parse(c.out);
  REQUIRE(doc.at("runs").is_array());
  REQUIRE(doc.at("runs").size() == 6);
  const auto& newest = doc.at("runs").at(0);
  CHECK(newest.at("workflow").get<std::string>() == "p\xc3\xa9 \"quoted\"\n\xef\xbf\xbd");
  CHECK(newest.at("fingerprint").get<std::string>() == "0000000000000007");
  CHECK(newest.at("version").get<int>() == 1);
  const auto& failed = doc.at("runs").at(4);
  CHECK(failed.at("id").get<std::string>() == hex(failed_id));
  CHECK(failed.at("workflow").get<std::string>() == "payment");
  CHECK(failed.at("status").get<std::string>() == "failed");
  CHECK(failed.at("records").get<int>() == 10);
  CHECK(failed.at("started_unix_ms").get<std::int64_t>() == started_ms(j, failed_id));
  CHECK(cli::detail::parse_time(failed.at("started").get<std::string>()) ==
        started_ms(j, failed_id));
  CHECK(failed.at("updated_unix_ms").get<std::int64_t>() >= started_ms(j, failed_id));

  const auto none = nlohmann::json::parse(cli_run(j, {"list", "--status", "paused", "--json"}).out);
  CHECK(none.at("runs").empty());
}

TEST_CASE("show --json is valid JSON with the header, every record and the step summary",
          "[journal][cli][json]") {
  memory_journal j;
  fill(j);
  REQUIRE(cli_run(j, {"redrive", hex(comp_failed_id)}).code == 0);
  const captured c = cli_run(j, {"show", "b1", "--json"});
  REQUIRE(c.code == 0);
  const auto doc = nlohmann::json::parse(c.out);
  CHECK(doc.at("run").at("id").get<std::string>() == hex(comp_failed_id));
  CHECK(doc.at("run").at("status").get<std::string>() == "running");
  CHECK(doc.at("run").at("input_size").get<int>() == 3);
  const auto& records = doc.at("records");
  const auto stored = j.load(comp_failed_id).value().records;
  REQUIRE(records.size() == stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    INFO(i);
    CHECK(records.at(i).at("seq").get<std::uint64_t>() == stored[i].seq);
    CHECK(records.at(i).at("kind").get<std::string>() == tutti::to_string(stored[i].kind));
    CHECK(records.at(i).at("step").get<std::string>() == stored[i].step);
  }
  CHECK(records.at(5).at("kind") == "compensation_started");
  const auto& comp = records.at(6);
  CHECK(comp.at("kind") == "compensation_finished");
  CHECK(comp.at("ok") == false);
  CHECK(comp.at("error").at("category") == "tutti");
  CHECK(comp.at("error").at("value") == 2);
  CHECK(comp.at("error").at("message") == "void_authorization threw: gateway \"down\"");
  CHECK(records.at(7).at("outcome") == "compensation_failed");
  CHECK(records.at(8).at("kind") == "redrive_requested");
  CHECK(records.at(0).at("payload_size") == 3);
  CHECK_FALSE(records.at(0).contains("error"));

  CHECK(doc.at("finished") == false);
  CHECK(doc.at("paused") == false);
  CHECK(doc.at("resolved") == false);
  const auto& steps = doc.at("steps");
  REQUIRE(steps.size() == 2);
  CHECK(steps.at(0).at("step") == "authorize");
  CHECK(steps.at(0).at("succeeded") == true);
  CHECK(steps.at(0).at("compensated") == false);
  CHECK(steps.at(0).at("compensation_attempts") == 1);
  CHECK(steps.at(1).at("step") == "charge");
  CHECK(steps.at(1).at("failed") == true);
  CHECK(steps.at(1).at("attempts") == 1);
  CHECK(steps.at(1).at("error").at("category") == "payments");
  CHECK(steps.at(1).at("error").at("message") == "card declined");
}

#endif  // TUTTI_TEST_HAVE_NLOHMANN_JSON

TEST_CASE("show and list print a live run's owner and epoch, resolve fences its engine",
          "[journal][cli]") {
  memory_journal j;
  const run_id id{0xC11, 7};
  REQUIRE(j.start(id, "payment", 0x1234abcdULL, input_bytes,
                  tutti::lease_request{.owner = "pay-1#42.abc", .lease = std::chrono::seconds(30)}));
  captured c = cli_run(j, {"show", hex(id)});
  CHECK(c.code == 0);
  CHECK(line_of(c.out, "epoch") == words{"epoch", "1"});
  CHECK(c.out.find("pay-1#42.abc (lease until ") != std::string::npos);
  CHECK(c.out.find("epoch 1 by pay-1#42.abc") != std::string::npos);  // the claimed record
  c = cli_run(j, {"list"});
  CHECK(c.out.find("pay-1#42.abc") != std::string::npos);
  c = cli_run(j, {"resolve", hex(id), "--note", "refunded by phone"});
  CHECK(c.code == 0);
  // The engine that held it is refused at its next write: it stops there.
  record_view r;
  r.kind = record_kind::attempt_started;
  r.step = "authorize";
  r.epoch = 1;
  CHECK(j.append(id, r).error() == tutti::journal_errc::fenced);
  CHECK(j.load(id).value().summary.epoch == 2);
  CHECK(j.status(id).value() == tutti::run_status::resolved);
}

TEST_CASE("list and show tell a live run from a stranded one, and list --stranded finds them",
          "[journal][cli][search]") {
  tutti::testing::manual_clock clock{std::chrono::hours(1)};
  memory_journal j{{.lease_clock = tutti::any_clock{clock}}};
  const run_id held{0xC12, 1}, died{0xC12, 2}, handed_back{0xC12, 3}, queued{0xC12, 4};
  REQUIRE(j.start(died, "payment", 1, input_bytes,
                  tutti::lease_request{.owner = "pay-1#1.aaa", .lease = std::chrono::seconds(10)}));
  clock.advance(std::chrono::seconds(20));  // pay-1's lease ran out 10 s ago
  REQUIRE(j.start(held, "payment", 1, input_bytes,
                  tutti::lease_request{.owner = "pay-2#2.bbb", .lease = std::chrono::seconds(30)}));
  REQUIRE(j.start(handed_back, "payment", 1, input_bytes));  // never claimed: nobody holds it
  REQUIRE(j.submit("payment", 1, input_bytes, {.id = queued}));

  captured c = cli_run(j, {"list"});
  REQUIRE(c.code == 0);
  CHECK(c.out.find("LEASE") != std::string::npos);
  CHECK(c.out.find("live, 30.0 s left") != std::string::npos);
  CHECK(c.out.find("expired 10.0 s ago") != std::string::npos);

  c = cli_run(j, {"list", "--stranded"});
  REQUIRE(c.code == 0);
  CHECK(c.out.find(hex(died)) != std::string::npos);
  CHECK(c.out.find(hex(handed_back)) != std::string::npos);
  CHECK(c.out.find(hex(held)) == std::string::npos);
  CHECK(c.out.find(hex(queued)) == std::string::npos);
  CHECK(cli_run(j, {"list", "--stranded", "--status", "failed"}).code == 2);

  c = cli_run(j, {"show", hex(died)});
  CHECK(c.out.find("pay-1#1.aaa (lease until ") != std::string::npos);
  CHECK(c.out.find("expired 10.0 s ago") != std::string::npos);
  CHECK(line_of(c.out, "stranded").size() > 1);
  c = cli_run(j, {"show", hex(held)});
  CHECK(c.out.find("live, 30.0 s left") != std::string::npos);
  CHECK(line_of(c.out, "stranded").empty());

#if TUTTI_TEST_HAVE_NLOHMANN_JSON
  const auto listed = nlohmann::json::parse(cli_run(j, {"list", "--json"}).out);
  std::map<std::string, std::pair<std::string, bool>> lease;
  for (const auto& run : listed.at("runs"))
    lease[run.at("id").get<std::string>()] = {run.at("lease").get<std::string>(),
                                              run.at("stranded").get<bool>()};
  CHECK(lease.at(hex(held)) == std::pair<std::string, bool>{"live", false});
  CHECK(lease.at(hex(died)) == std::pair<std::string, bool>{"expired", true});
  CHECK(lease.at(hex(handed_back)) == std::pair<std::string, bool>{"none", true});
  CHECK(lease.at(hex(queued)) == std::pair<std::string, bool>{"none", false});
#endif
}

// ---- census -------------------------------------------------------------------------------------

TEST_CASE("census counts the runs by status and shows the oldest waiting ones", "[journal][cli][census]") {
  memory_journal j;
  fill(j);
  const tutti::run_id queued_id{0xC0, 0x9};
  REQUIRE(j.submit("payment", 1, {}, {.id = queued_id}));
  const auto listed = j.list(tutti::run_filter{}).value();
  std::map<run_status, std::size_t> expected;
  for (const auto& r : listed) ++expected[r.status];
  REQUIRE(expected[run_status::running] >= 1);

  const captured c = cli_run(j, {"census"});
  CHECK(c.code == 0);
  CHECK(c.err.empty());
  // A header, the nine statuses in their order, the total.
  std::vector<std::string> lines;
  for (std::size_t at = 0, nl; (nl = c.out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(c.out.substr(at, nl - at));
  REQUIRE(lines.size() == 11);
  CHECK(lines[0].starts_with("STATUS"));
  const std::vector<run_status> order = {
      run_status::queued,    run_status::running,     run_status::paused,
      run_status::succeeded, run_status::failed,      run_status::compensated,
      run_status::compensation_failed, run_status::resolved, run_status::dead_lettered};
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::istringstream row{lines[i + 1]};
    std::string name;
    std::size_t n = 0;
    row >> name >> n;
    CHECK(name == tutti::to_string(order[i]));
    CHECK(n == expected[order[i]]);
  }
  CHECK(lines[2].find(" started ") != std::string::npos);      // running: its oldest
  CHECK(lines[1].find(" submitted ") != std::string::npos);    // queued: when it was submitted
  CHECK(lines[10] == fmt::format("total                {}", listed.size()));

#if TUTTI_TEST_HAVE_NLOHMANN_JSON
  const auto doc = nlohmann::json::parse(cli_run(j, {"census", "--json"}).out);
  CHECK(doc.at("total").get<std::size_t>() == listed.size());
  for (const auto s : order) CHECK(doc.at("runs").at(std::string{tutti::to_string(s)}).get<std::size_t>() == expected[s]);
  CHECK(doc.at("oldest").contains("running"));
  CHECK(doc.at("oldest").contains("queued"));
  CHECK_FALSE(doc.at("oldest").contains("paused"));  // none is paused
  CHECK(doc.at("oldest").at("running").at("age_ms").get<std::int64_t>() >= 0);
#endif
}

// ---- retention ----------------------------------------------------------------------------------

TEST_CASE("purge deletes the ended runs older than a limit and keeps the others",
          "[journal][cli][retention]") {
  memory_journal j;
  fill(j);
  const auto before = j.list(tutti::run_filter{}).value();
  std::size_t ended_runs = 0;
  for (const auto& r : before) ended_runs += tutti::ended(r.status) ? 1 : 0;
  REQUIRE(ended_runs >= 3);
  REQUIRE(ended_runs < before.size());  // the running run stays

  // Nothing is a day old yet.
  captured c = cli_run(j, {"purge", "--older-than", "1d"});
  CHECK(c.code == 0);
  CHECK(c.out.starts_with("purged 0 ended runs last written before "));
  CHECK(j.list(tutti::run_filter{}).value().size() == before.size());

  // A limit after every write: every ended run goes, in batches of two.
  c = cli_run(j, {"purge", "--before", "2999-01-01", "--batch", "2"});
  CHECK(c.code == 0);
  CHECK(c.out == fmt::format("purged {} ended runs last written before 2999-01-01T00:00:00.000Z\n",
                             ended_runs));
  const auto after = j.list(tutti::run_filter{}).value();
  CHECK(after.size() == before.size() - ended_runs);
  for (const auto& r : after) CHECK_FALSE(tutti::ended(r.status));
  CHECK(j.status(running_id).value() == run_status::running);
  CHECK(j.load(ok_id).error() == tutti::journal_errc::run_not_found);

  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string_view>, std::string>>{
           {{"purge"}, "purge: say which runs: --older-than D or --before T"},
           {{"purge", "--older-than", "1d", "--before", "2026-01-01"}, "(one of them)"},
           {{"purge", "--older-than", "3w"}, "--older-than: '3w' is not a duration"},
           {{"purge", "--older-than", "0d"}, "'0d' is not a duration"},
           {{"purge", "--before", "soon"}, "--before: 'soon' is not a time"},
           {{"purge", "--older-than", "1d", "--batch", "0"}, "--batch: '0' is not a positive number"}}) {
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    CHECK(cli::run_cli(j, std::span<const std::string_view>(args), out, err) == cli::exit_usage);
    CHECK(read_all(out).empty());
    CHECK(read_all(err).find(says) != std::string::npos);
  }
  CHECK(j.list(tutti::run_filter{}).value().size() == after.size());
}

// ---- the examples in docs/durability/operations.md ---------------------------------------------
//
// Every ```text block of docs/durability/operations.md that follows a line
// `<!-- cli-example: NAME -->` is what the CLI prints for the commands of example NAME below. They
// run on a journal this test writes record by record — the records an engine writes, with fixed
// owner names and a manual clock for every time, so the output is the same on every run — in the
// order below (the page's story: each command sees what the earlier ones did). The test fails
// when the page differs from the output; with TUTTI_UPDATE_DOCS=1 in the environment it rewrites
// the blocks instead.

#ifdef TUTTI_TEST_SOURCE_DIR
namespace {
namespace docs_examples {

using namespace std::chrono_literals;

constexpr std::int64_t t0_ms = 1'796'546'847'252;  // 2026-12-06T08:47:27.252Z
constexpr std::uint64_t payment_fp = 0x974004fe088921e2ULL;
constexpr std::uint64_t refund_fp = 0x7910582144253fb6ULL;

run_id id(unsigned n) { return {0x242ee4d118a7c07fULL, 0xf1fea8f7b44118d0ULL + n}; }

/// The journal of the page's story: runs 8d0 to 8d7.
struct story {
  tutti::testing::manual_clock clock{std::chrono::milliseconds(t0_ms)};
  memory_journal j{options(clock)};

  static tutti::memory_journal_options options(tutti::testing::manual_clock& c) {
    tutti::memory_journal_options o;
    o.lease_clock = tutti::any_clock{c};
    o.wall_clock = tutti::any_clock{c};
    return o;
  }

  /// Writes one run's records as an engine does: its epoch on each, run-clock times.
  struct run {
    story& s;
    run_id rid;
    std::string key;
    std::uint64_t epoch = 0;
    std::int64_t t_ns = 5'000'000'000;
    void claim(std::string_view owner) {
      const auto c = s.j.claim(rid, tutti::lease_request{owner, 30s});
      REQUIRE(c);
      epoch = c.value().epoch;
      s.clock.advance(1ms);
    }
    void add(record_view r) {
      r.epoch = epoch;
      if (r.kind != record_kind::dead_lettered) {
        r.time_ns = t_ns;
        t_ns += 187'000 + static_cast<std::int64_t>(r.kind) * 1'000;
      }
      REQUIRE(s.j.append(rid, r));
    }
    /// A step that succeeded: its output as JSON (`authorize`, `charge`: the workflow's types
    /// are journaled as JSON), or as 17 bytes (`ship`: a type journaled as bytes).
    void step_ok(std::string_view step) {
      static const std::byte output[17] = {};
      add(attempt(record_kind::attempt_started, step, 1));
      add(attempt(record_kind::attempt_finished, step, 1, true));
      record_view r = attempt(record_kind::step_finished, step, 1, true);
      std::string text;
      if (step == "ship") {
        r.payload = output;
      } else {
        text = fmt::format(R"({{"{}":"{}-{}","cents":4200}})", step == "authorize" ? "authorization" : "charge",
                           step == "authorize" ? "auth" : "ch", key);
        r.payload = std::as_bytes(std::span(text.data(), text.size()));
        r.outcome = static_cast<std::uint8_t>(tutti::payload_encoding::json);
      }
      add(r);
    }
    void step_failed(std::string_view step, std::string_view cat, int value, std::string_view msg) {
      add(attempt(record_kind::attempt_started, step, 1));
      add(failure(record_kind::attempt_finished, step, 1, cat, value, msg));
      add(failure(record_kind::step_finished, step, 1, cat, value, msg));
    }
    void undo(std::string_view step, bool ok) {
      record_view r;
      r.kind = record_kind::compensation_started;
      r.step = step;
      add(r);
      r.kind = record_kind::compensation_finished;
      r.ok = ok;
      if (!ok) {
        r.error_category = "tutti";
        r.error_value = static_cast<int>(tutti::errc::exception);
        r.message = "void_authorization threw: gateway \"down\"";
      }
      add(r);
    }
    /// The run's end; a failed run's names the step it failed at and the run's error.
    void finish(std::uint8_t outcome, std::string_view step = {}, std::string_view cat = {},
                int value = 0, std::string_view message = {}) {
      record_view r = finished(outcome);
      r.step = step;
      r.error_category = cat;
      r.error_value = value;
      r.message = message;
      add(r);
    }
  };

  /// A payment's input as JSON; a refund's as 8 bytes (its type is journaled as bytes).
  static std::string payment_input(std::string_view key) {
    return fmt::format(R"({{"order":"{}","cents":4200,"card":"tok_4242"}})", key);
  }
  run begin(unsigned n, std::string_view workflow, std::string_view key) {
    static const std::byte input[8] = {};
    tutti::workflow_version wv{workflow == "refund" ? refund_fp : payment_fp, 1, key};
    const std::string text = payment_input(key);
    if (workflow == "refund") {
      REQUIRE(j.start(id(n), workflow, wv, input));
    } else {
      wv.input_encoding = tutti::payload_encoding::json;
      REQUIRE(j.start(id(n), workflow, wv, std::as_bytes(std::span(text.data(), text.size()))));
    }
    clock.advance(3ms);
    return run{*this, id(n), std::string(key)};
  }

  story() {
    run r0 = begin(0, "payment", "A-1001");  // succeeded
    r0.claim("payments-1#22898.d4b1f461");
    r0.step_ok("authorize");
    r0.step_ok("charge");
    r0.step_ok("ship");
    r0.finish(0);
    run r1 = begin(1, "payment", "A-1002");  // compensated: the card was declined
    r1.claim("payments-1#22898.d4b1f461");
    r1.step_ok("authorize");
    r1.step_failed("charge", payments_category, 51, "card declined");
    r1.undo("authorize", true);
    r1.finish(2, "charge", payments_category, 51, "card declined");
    run r2 = begin(2, "payment", "A-1003");  // compensation_failed: the undo threw
    r2.claim("payments-1#22898.d4b1f461");
    r2.step_ok("authorize");
    r2.step_failed("charge", payments_category, 51, "card declined");
    r2.undo("authorize", false);
    r2.finish(3, "charge", payments_category, 51, "card declined");
    run r3 = begin(3, "refund", "R-77");  // failed
    r3.claim("payments-1#22898.d4b1f461");
    r3.step_failed("lookup", "tutti", static_cast<int>(tutti::errc::step_failed), "");
    r3.finish(1, "lookup", "tutti", static_cast<int>(tutti::errc::step_failed));
    // Dead-lettered: its engine died inside charge, the next one too, and the third parked it.
    run r5 = begin(5, "payment", "A-1005");
    r5.claim("payments-2#22900.5bba1441");
    r5.step_ok("authorize");
    r5.add(attempt(record_kind::attempt_started, "charge", 1));
    clock.advance(31s);
    r5.claim("payments-3#22901.3ca05bfb");
    r5.t_ns += 511'000'000;
    r5.add(attempt(record_kind::attempt_started, "charge", 2));
    clock.advance(31s);
    r5.claim("payments-2#22959.37f56381");
    {
      record_view parked;
      parked.kind = record_kind::dead_lettered;
      parked.message = "taken over 2 times without a step finishing in between (max_recoveries 1): parked";
      r5.add(parked);
    }
    // Running: its engine holds it (it died inside charge; its lease has not run out yet).
    run r4 = begin(4, "payment", "A-1004");
    r4.claim("payments-1#22899.d6c28ce7");
    r4.step_ok("authorize");
    r4.add(attempt(record_kind::attempt_started, "charge", 1));
    // Queued: submitted while no runner was up.
    for (const unsigned n : {6u, 7u}) {
      const std::string key = fmt::format("A-100{}", n);
      const std::string text = payment_input(key);
      tutti::workflow_version wv{payment_fp, 1, key};
      wv.input_encoding = tutti::payload_encoding::json;
      REQUIRE(j.submit("payment", wv, std::as_bytes(std::span(text.data(), text.size())),
                       {.id = id(n)}));
    }
    clock.advance(1200ms);
  }
};

/// One example: the commands, each as it is typed after `tutti-journal runs.db`.
struct example {
  std::string_view name;
  std::vector<std::vector<std::string_view>> commands;
  bool show_exit_code = false;  // `$ echo $?` and the code after the last command
};

/// The examples, in the page's order.
std::vector<example> examples() {
  return {
      {"usage-error", {{"list", "--limit", "0"}}, true},
      {"ambiguous", {{"show", "242e"}}},
      {"list", {{"list"}, {"list", "--status", "failed", "--workflow", "refund"}}},
      {"search", {{"list", "--key", "A-1003"}, {"list", "--error", "payments:51"}}},
      {"show-8d2", {{"show", "8d2"}}},
      {"show-8d4", {{"show", "8d4"}}},
      {"refused", {{"retry", "8d0"}, {"retry", "8d2"}}},
      {"pause", {{"pause", "8d4"}, {"pause", "8d4"}, {"unpause", "8d4"}}},
      {"redrive", {{"redrive", "8d2"}}},
      {"show-8d5", {{"show", "8d5"}}},
      {"retry-8d5", {{"retry", "8d5"}, {"show", "8d5"}}},
      {"resolve-8d3", {{"resolve", "8d3", "--note", "refunded by hand, ticket OPS-1432"}, {"show", "8d3"}}},
      {"resolve-8d6", {{"resolve", "8d6", "--note", "cancelled by the customer"}, {"list", "--status", "queued"}}},
      {"rerun-8d0", {{"rerun", "8d0", "--from", "ship", "--id", "242ee4d118a7c07ff1fea8f7b44118d8"},
                     {"show", "8d8"},
                     {"rerun", "8d1", "--from", "charge"}}},
      {"purge", {{"purge", "--before", "2026-12-06T08:47:27.262Z"}}},
      {"census", {{"census"}}},
      {"json", {{"list", "--key", "A-1003", "--json"}}},
  };
}

/// How a typed argument is shown: quoted when it has a space.
std::string shown(std::string_view arg) {
  if (arg.find(' ') == std::string_view::npos) return std::string(arg);
  return "\"" + std::string(arg) + "\"";
}

/// What the page shows for `e`: each command line and what it printed.
std::string transcript(memory_journal& j, const example& e) {
  std::string text;
  int code = 0;
  for (const auto& args : e.commands) {
    text += "$ tutti-journal runs.db";
    for (const auto a : args) text += " " + shown(a);
    text += "\n";
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    REQUIRE(out != nullptr);
    REQUIRE(err != nullptr);
    code = cli::run_cli(j, std::span<const std::string_view>(args), out, err);
    text += read_all(out);
    text += read_all(err);
  }
  if (e.show_exit_code) text += fmt::format("$ echo $?\n{}\n", code);
  return text;
}

/// Replaces the block after each `<!-- cli-example: NAME -->` in `page` with `blocks[NAME]`;
/// the names it found, in order, in `found`.
std::string with_blocks(const std::string& page, const std::map<std::string, std::string>& blocks,
                        std::vector<std::string>& found) {
  static constexpr std::string_view tag = "<!-- cli-example: ";
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const auto at = page.find(tag, pos);
    if (at == std::string::npos) break;
    const auto name_end = page.find(" -->", at);
    REQUIRE(name_end != std::string::npos);
    const std::string name = page.substr(at + tag.size(), name_end - at - tag.size());
    found.push_back(name);
    const auto open = page.find("\n```text\n", name_end);
    REQUIRE(open == page.find('\n', name_end));  // the block follows the tag's line
    const auto body = open + 9;
    const auto close = page.find("```\n", body);
    REQUIRE(close != std::string::npos);
    out += page.substr(pos, body - pos);
    const auto b = blocks.find(name);
    out += b == blocks.end() ? page.substr(body, close - body) : b->second;
    pos = close;
  }
  out += page.substr(pos);
  return out;
}

}  // namespace docs_examples
}  // namespace

TEST_CASE("the CLI examples in docs/durability/operations.md are what the CLI prints",
          "[journal][cli][docs]") {
  using namespace docs_examples;
  story s;
  std::map<std::string, std::string> blocks;
  for (const example& e : examples()) blocks[std::string(e.name)] = transcript(s.j, e);

  const std::string path = std::string(TUTTI_TEST_SOURCE_DIR) + "/docs/durability/operations.md";
  std::string page;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    page = read_all(f);  // closes f
  }
  std::vector<std::string> found;
  const std::string expected = with_blocks(page, blocks, found);
  // Every example appears once on the page, and the page names no other.
  std::vector<std::string> names;
  for (const auto& [name, text] : blocks) names.push_back(name);
  std::sort(found.begin(), found.end());
  CHECK(found == names);

  const char* update = std::getenv("TUTTI_UPDATE_DOCS");
  if (update != nullptr && std::string_view(update) == "1" && expected != page) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(expected.data(), 1, expected.size(), f) == expected.size());
    REQUIRE(std::fclose(f) == 0);
    WARN("rewrote the examples in " << path);
    return;
  }
  // Name the first example that differs, with both texts.
  for (const auto& [name, text] : blocks) {
    std::map<std::string, std::string> one{{name, text}};
    std::vector<std::string> ignored;
    if (with_blocks(page, one, ignored) != page) {
      INFO("example '" << name << "' differs; the CLI prints:\n" << text);
      INFO("run the test with TUTTI_UPDATE_DOCS=1 to rewrite the page's examples");
      CHECK(false);
    }
  }
  CHECK(expected == page);
}
#endif  // TUTTI_TEST_SOURCE_DIR

#endif  // TUTTI_TEST_HAVE_CLI11
