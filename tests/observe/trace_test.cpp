// Tests of the trace recorder: Chrome trace-event JSON, parsed back with nlohmann::json.
#include <tutti/observe/trace.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#if TUTTI_TEST_HAVE_NLOHMANN_JSON
#  include <nlohmann/json.hpp>
#endif

using namespace std::chrono_literals;
using tutti::duration;
using tutti::event;
using tutti::event_kind;
using tutti::observe::trace_recorder;

namespace {

#if !TUTTI_TEST_HAVE_NLOHMANN_JSON
/// Stands in for nlohmann::json so that the test compiles without it. Never read: every check
/// of arguments comes after `if (!t.parsed) return;` (and would fail if it were reached).
struct no_json {
  [[nodiscard]] const no_json& at(std::string_view) const { return *this; }
  [[nodiscard]] bool contains(std::string_view) const { return false; }
  template <class T>
  [[nodiscard]] T get() const {
    return T{};
  }
  template <class T>
  friend bool operator==(const no_json&, const T&) {
    return false;
  }
};
#endif

// --- checking a trace ------------------------------------------------------------------------

/// A span ("B"/"E" pair or "X") or an instant ("i") read back from the JSON.
struct span {
  std::string name;
  std::string cat;
  char ph = 'B';  // 'B' (closed by an 'E') or 'i'
  long long pid = 0;
  long long tid = 0;
  double begin = 0;  // microseconds
  double end = 0;
  std::size_t depth = 0;               // open B spans around it on its row
  std::string parent;                  // name of the innermost enclosing B span ("" at top level)
  std::vector<std::string> enclosing;  // names of the enclosing B spans, outermost first
#if TUTTI_TEST_HAVE_NLOHMANN_JSON
  nlohmann::json args = nlohmann::json::object();  // the B's args merged with the E's
#else
  no_json args;
#endif
};

struct checked_trace {
  bool parsed = false;      // false: nlohmann-json is missing, only structural checks were made
  std::vector<span> spans;  // in the order their begin appears
  std::map<long long, std::string> process_names;
  std::map<std::pair<long long, long long>, std::string> thread_names;
  long long recorded = -1;
  long long dropped = -1;

  [[nodiscard]] std::vector<const span*> named(std::string_view name) const {
    std::vector<const span*> out;
    for (const span& s : spans)
      if (s.name == name) out.push_back(&s);
    return out;
  }
  [[nodiscard]] const span& one(std::string_view name) const {
    const auto all = named(name);
    INFO("span " << name);
    REQUIRE(all.size() == 1);
    return *all.front();
  }
  [[nodiscard]] std::vector<std::string> names(char ph) const {
    std::vector<std::string> out;
    for (const span& s : spans)
      if (s.ph == ph) out.push_back(s.name);
    return out;
  }
};

#if TUTTI_TEST_HAVE_NLOHMANN_JSON
/// Parses the trace and checks its structure: the object form with traceEvents, every event
/// well formed; per row, B/E balanced and properly nested (an E closes the innermost open B,
/// with the same name) and time stamps non-decreasing.
checked_trace check_trace(const std::string& text) {
  checked_trace out;
  out.parsed = true;
  const nlohmann::json doc = nlohmann::json::parse(text);  // throws (fails the test) if invalid
  REQUIRE(doc.is_object());
  REQUIRE(doc.at("traceEvents").is_array());
  CHECK(doc.at("displayTimeUnit") == "ms");
  out.recorded = doc.at("otherData").at("recorded_events").get<long long>();
  out.dropped = doc.at("otherData").at("dropped_events").get<long long>();

  struct row {
    std::vector<std::size_t> open;  // indices into out.spans
    double last = -1e300;
  };
  std::map<std::pair<long long, long long>, row> rows;
  long long counted = 0;
  for (const auto& e : doc.at("traceEvents")) {
    REQUIRE(e.is_object());
    const std::string ph = e.at("ph").get<std::string>();
    REQUIRE(ph.size() == 1);
    const long long pid = e.at("pid").get<long long>();
    if (ph == "M") {
      const std::string what = e.at("name").get<std::string>();
      const std::string name = e.at("args").at("name").get<std::string>();
      if (what == "process_name")
        out.process_names[pid] = name;
      else if (what == "thread_name")
        out.thread_names[{pid, e.at("tid").get<long long>()}] = name;
      else
        FAIL("unexpected metadata " << what);
      continue;
    }
    ++counted;
    const long long tid = e.at("tid").get<long long>();
    const double ts = e.at("ts").get<double>();
    REQUIRE(e.at("args").is_object());
    REQUIRE(e.at("name").is_string());
    REQUIRE(e.at("cat").is_string());
    row& r = rows[{pid, tid}];
    INFO("event " << e.dump());
    CHECK(ts >= r.last);  // non-decreasing per row
    r.last = ts;
    const auto make = [&](char kind) {
      span s;
      s.name = e.at("name").get<std::string>();
      s.cat = e.at("cat").get<std::string>();
      s.ph = kind;
      s.pid = pid;
      s.tid = tid;
      s.begin = ts;
      s.end = ts;
      s.depth = r.open.size();
      s.parent = r.open.empty() ? std::string{} : out.spans[r.open.back()].name;
      for (const std::size_t i : r.open) s.enclosing.push_back(out.spans[i].name);
      s.args = e.at("args");
      return s;
    };
    switch (ph[0]) {
      case 'B':
        out.spans.push_back(make('B'));
        r.open.push_back(out.spans.size() - 1);
        break;
      case 'E': {
        REQUIRE_FALSE(r.open.empty());  // an E without an open B
        span& s = out.spans[r.open.back()];
        r.open.pop_back();
        CHECK(e.at("name").get<std::string>() == s.name);  // closes the innermost span
        s.end = ts;
        for (const auto& [k, v] : e.at("args").items()) s.args[k] = v;
        break;
      }
      case 'i':
        CHECK(e.at("s") == "t");
        out.spans.push_back(make('i'));
        break;
      default:
        FAIL("unexpected phase " << ph);  // the recorder writes no "X" events
    }
  }
  for (const auto& [key, r] : rows) {
    INFO("row pid " << key.first << " tid " << key.second);
    CHECK(r.open.empty());                           // every B has its E
    CHECK(out.process_names.count(key.first) == 1);  // every row is named, and its process
    CHECK(out.thread_names.count(key) == 1);
  }
  CHECK(counted >= out.recorded);  // plus the ends of spans still open, added when written
  return out;
}
#else
/// Without nlohmann-json: structural checks only (brackets and quotes balance, as many B as E).
checked_trace check_trace(const std::string& text) {
  WARN("nlohmann-json not found: the trace is checked structurally only, not parsed");
  checked_trace out;
  int depth = 0;
  bool in_string = false;
  std::size_t raw_controls = 0;  // control characters inside strings, not escaped
  bool underflow = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (static_cast<unsigned char>(c) < 0x20) ++raw_controls;
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) underflow = true;
    }
  }
  CHECK(raw_controls == 0);
  CHECK_FALSE(underflow);
  CHECK(depth == 0);
  CHECK_FALSE(in_string);
  const auto count = [&](std::string_view needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(count("\"ph\":\"B\"") == count("\"ph\":\"E\""));
  return out;
}
#endif

// --- feeding synthetic events ----------------------------------------------------------------

/// Plays one run's events into an observer, on a virtual clock.
struct feeder {
  trace_recorder& rec;
  tutti::run_id id;
  std::string_view workflow = "wf";
  duration now{};

  event make(event_kind k, std::string_view step = {}, std::uint32_t attempt = 0) const {
    event e;
    e.kind = k;
    e.workflow = workflow;
    e.step = step;
    e.run = id;
    e.attempt = attempt;
    e.time = now;
    return e;
  }
  void operator()(event_kind k, std::string_view step = {}, std::uint32_t attempt = 0) {
    rec.on_event(make(k, step, attempt));
  }
  void operator()(const event& e) { rec.on_event(e); }
};

constexpr tutti::run_id id1{1, 1};
constexpr tutti::run_id id2{1, 2};

/// One successful run: step "a" (one attempt), step "b" (fails once, waits 100 ms, succeeds).
void play_retry_run(trace_recorder& rec, tutti::run_id id, std::string_view wf = "wf",
                    duration start = {}) {
  feeder f{rec, id, wf, start};
  f(event_kind::run_started);
  f(event_kind::step_started, "a");
  f(event_kind::attempt_started, "a", 1);
  f.now += 5ms;
  f(event_kind::attempt_succeeded, "a", 1);
  f(event_kind::step_succeeded, "a", 1);
  f(event_kind::step_started, "b");
  f(event_kind::attempt_started, "b", 1);
  f.now += 1ms;
  auto failed = f.make(event_kind::attempt_failed, "b", 1);
  failed.error = std::make_error_code(std::errc::resource_unavailable_try_again);
  f(failed);
  auto retry = f.make(event_kind::retry_scheduled, "b", 1);
  retry.error = failed.error;
  retry.delay = 100ms;
  f(retry);
  f.now += 100ms;
  f(event_kind::attempt_started, "b", 2);
  f.now += 2ms;
  f(event_kind::attempt_succeeded, "b", 2);
  f(event_kind::step_succeeded, "b", 2);
  f(event_kind::run_finished);
}

}  // namespace

// --- the JSON writer's pieces ----------------------------------------------------------------

TEST_CASE("JSON strings escape quotes, backslashes and control characters", "[observe][trace]") {
  const auto esc = [](std::string_view s) {
    std::string out;
    tutti::observe::detail::append_json_string(out, s);
    return out;
  };
  CHECK(esc("") == R"("")");
  CHECK(esc("plain text") == R"("plain text")");
  CHECK(esc("a\"b\\c/d") == R"("a\"b\\c/d")");
  CHECK(esc("l1\nl2\r\t\b\f") == R"("l1\nl2\r\t\b\f")");
  CHECK(esc(std::string_view("\x00\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\x7f\"");
  // Well-formed UTF-8 passes through; anything else becomes U+FFFD.
  CHECK(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xbb") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xbb\"");
  CHECK(esc("\xff") == R"("\ufffd")");
  CHECK(esc("\xc0\xaf") == R"("\ufffd\ufffd")");                      // overlong '/'
  CHECK(esc("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");            // a UTF-16 surrogate
  CHECK(esc("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
  CHECK(esc("x\xe2\x82") == R"("x\ufffd\ufffd")");                    // cut short
}

TEST_CASE("time stamps are exact microseconds", "[observe][trace]") {
  const auto us = [](duration d) {
    std::string out;
    tutti::observe::detail::append_json_microseconds(out, d);
    return out;
  };
  CHECK(us(0ns) == "0");
  CHECK(us(1ns) == "0.001");
  CHECK(us(1500ns) == "1.5");
  CHECK(us(1250ns) == "1.25");
  CHECK(us(100ms) == "100000");
  CHECK(us(-1ns) == "-0.001");
  CHECK(us(duration::max()) == "9223372036854775.807");
  CHECK(us(duration::min()) == "-9223372036854775.808");
}

// --- synthetic runs --------------------------------------------------------------------------

TEST_CASE("a run becomes nested spans: run, steps, attempts and a backoff wait",
          "[observe][trace]") {
  STATIC_REQUIRE(tutti::observer<trace_recorder>);
  STATIC_REQUIRE(tutti::detail::observer_wants_time<trace_recorder>());
  trace_recorder rec;
  play_retry_run(rec, id1);
  CHECK(rec.dropped() == 0);
  const std::string json = rec.to_json();
  const checked_trace t = check_trace(json);
  if (!t.parsed) return;

  CHECK(t.recorded == static_cast<long long>(rec.size()));
  CHECK(t.dropped == 0);
  REQUIRE(t.process_names.size() == 1);
  CHECK(t.process_names.begin()->second == "wf");
  REQUIRE(t.thread_names.size() == 1);
  CHECK(t.thread_names.begin()->second == "run 00000000000000010000000000000001");

  const span& run = t.one("wf");
  CHECK(run.cat == "run");
  CHECK(run.depth == 0);
  CHECK(run.begin == 0);
  CHECK(run.end == 108'000);
  CHECK(run.args.at("run") == "00000000000000010000000000000001");
  CHECK(run.args.at("outcome") == "succeeded");

  const span& a = t.one("a");
  CHECK(a.cat == "step");
  CHECK(a.parent == "wf");
  CHECK(a.end - a.begin == 5'000);
  CHECK(a.args.at("attempts") == 1);
  CHECK(a.args.at("result") == "succeeded");

  const span& b = t.one("b");
  CHECK(b.parent == "wf");
  CHECK(b.args.at("attempts") == 2);
  CHECK(b.end - b.begin == 103'000);

  const auto attempts = t.named("attempt 1");
  REQUIRE(attempts.size() == 2);  // a's and b's
  const span& b1 = *attempts[1];
  CHECK(b1.parent == "b");
  CHECK(b1.cat == "attempt");
  CHECK(b1.args.at("result") == "failed");
  CHECK(b1.args.at("error").get<std::string>().find("[generic:11]") != std::string::npos);
  const span& b2 = t.one("attempt 2");
  CHECK(b2.parent == "b");
  CHECK(b2.args.at("attempt") == 2);

  const span& wait = t.one("backoff");
  CHECK(wait.ph == 'B');
  CHECK(wait.cat == "retry");
  CHECK(wait.parent == "b");
  CHECK(wait.begin == b1.end);
  CHECK(wait.end - wait.begin == 100'000);  // the virtual delay, exactly
  CHECK(wait.end == b2.begin);
  CHECK(wait.args.at("after_attempt") == 1);
  CHECK(wait.args.at("delay_us") == 100'000);
  CHECK(wait.args.at("step") == "b");
}

TEST_CASE("names and messages with quotes, backslashes, newlines and control characters round-trip",
          "[observe][trace]") {
  const std::string nasty = "bad \"quote\"\nline\x01 back\\slash\ttab \x1f caf\xc3\xa9";
  const std::string wf_name = "wf \"x\"\\\n";
  const std::string step = "st\"ep\n\x02";
  trace_recorder rec;
  feeder f{rec, id1, wf_name};
  f(event_kind::run_started);
  f(event_kind::step_started, step);
  f(event_kind::attempt_started, step, 1);
  auto failed = f.make(event_kind::attempt_failed, step, 1);
  failed.error = tutti::errc::exception;
  std::string message = nasty;  // the recorder copies: the view dies with the event
  failed.message = message;
  f(failed);
  message.assign(message.size(), '#');
  auto step_failed = f.make(event_kind::step_failed, step, 1);
  step_failed.error = tutti::errc::exception;
  step_failed.message = nasty;
  f(step_failed);
  auto fin = f.make(event_kind::run_finished);
  fin.outcome = tutti::run_outcome::failed;
  fin.error = tutti::errc::exception;
  fin.message = nasty;
  f(fin);

  const std::string json = rec.to_json();
  const checked_trace t = check_trace(json);
  if (!t.parsed) {
    CHECK(json.find("bad \\\"quote\\\"\\nline\\u0001 back\\\\slash\\ttab \\u001f") !=
          std::string::npos);
    return;
  }
  CHECK(t.process_names.begin()->second == wf_name);
  const span& run = t.one(wf_name);
  CHECK(run.args.at("message") == nasty);
  CHECK(run.args.at("outcome") == "failed");
  CHECK(run.args.at("error") == "a user callable threw an exception [tutti:2]");
  const span& s = t.one(step);
  CHECK(s.args.at("message") == nasty);
  CHECK(s.args.at("result") == "failed");
  CHECK(t.one("attempt 1").args.at("message") == nasty);
}

TEST_CASE("instant events for fallbacks, breakers, rejections, timeouts and exhausted retries",
          "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1};
  f(event_kind::run_started);
  f(event_kind::step_started, "s");
  auto rejected = f.make(event_kind::breaker_rejected, "s");
  rejected.error = tutti::errc::circuit_open;
  rejected.to = tutti::breaker_state::open;
  rejected.delay = 2s;
  f(rejected);
  auto changed = f.make(event_kind::breaker_state_changed, "s");
  changed.from = tutti::breaker_state::open;
  changed.to = tutti::breaker_state::half_open;
  f(changed);
  f(event_kind::bulkhead_rejected, "s");
  f(event_kind::rate_limited, "s");
  f(event_kind::timeout, "s", 1);
  f(event_kind::retries_exhausted, "s", 3);
  auto fb = f.make(event_kind::fallback_served, "s");
  fb.error = tutti::errc::circuit_open;
  f(fb);
  f(event_kind::step_succeeded, "s");
  f(event_kind::run_finished);

  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.names('i') == std::vector<std::string>{"breaker_rejected", "breaker_state_changed",
                                                 "bulkhead_rejected", "rate_limited", "timeout",
                                                 "retries_exhausted", "fallback_served"});
  for (const span& s : t.spans) {
    if (s.ph != 'i') continue;
    CHECK(s.cat == "policy");
    CHECK(s.parent == "s");
    CHECK(s.args.at("step") == "s");
  }
  CHECK(t.one("breaker_rejected").args.at("state") == "open");
  CHECK(t.one("breaker_rejected").args.at("retry_after_us") == 2'000'000);
  CHECK(t.one("breaker_state_changed").args.at("from") == "open");
  CHECK(t.one("breaker_state_changed").args.at("to") == "half_open");
  CHECK(t.one("retries_exhausted").args.at("attempt") == 3);
  CHECK(t.one("fallback_served").args.at("error") == "circuit breaker is open [tutti:6]");
}

TEST_CASE("compensations are spans of category compensation, with their attempts",
          "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1};
  f(event_kind::run_started);
  for (const char* s : {"a", "b"}) {
    f(event_kind::step_started, s);
    f(event_kind::attempt_started, s, 1);
    f.now += 1ms;
    f(event_kind::attempt_succeeded, s, 1);
    f(event_kind::step_succeeded, s, 1);
  }
  f(event_kind::step_started, "c");
  f(event_kind::attempt_started, "c", 1);
  f(event_kind::attempt_failed, "c", 1);
  f(event_kind::step_failed, "c", 1);
  for (const char* s : {"b", "a"}) {
    f(event_kind::compensation_started, s);
    auto started = f.make(event_kind::attempt_started, s, 1);
    started.compensation = true;
    f(started);
    f.now += 1ms;
    auto done = f.make(event_kind::attempt_succeeded, s, 1);
    done.compensation = true;
    f(done);
    f(event_kind::compensation_succeeded, s);
  }
  auto fin = f.make(event_kind::run_finished);
  fin.outcome = tutti::run_outcome::compensated;
  f(fin);

  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  std::vector<std::string> order;
  for (const span& s : t.spans)
    if (s.cat == "compensation") order.push_back(s.name + " in " + s.parent);
  CHECK(order == std::vector<std::string>{"compensate b in wf", "attempt 1 in compensate b",
                                          "compensate a in wf", "attempt 1 in compensate a"});
  CHECK(t.one("compensate b").args.at("result") == "succeeded");
  CHECK(t.one("compensate b").args.at("step") == "b");
  CHECK(t.one("wf").args.at("outcome") == "failed, compensated");
}

TEST_CASE("spans whose end never comes are closed, marked unfinished", "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1};
  f(event_kind::run_started);
  f(event_kind::step_started, "outer");
  f(event_kind::step_started, "outer/inner");
  f(event_kind::attempt_started, "outer/inner", 1);
  f.now += 1ms;
  f(event_kind::step_succeeded, "outer", 1);  // inner and its attempt never ended
  f(event_kind::step_failed, "stray", 1);     // an end without a begin: an instant
  f(event_kind::step_started, "open");
  f.now += 2ms;
  f(event_kind::timeout, "open");  // the run is still going when the trace is written

  const std::string mid = rec.to_json();
  const checked_trace t = check_trace(mid);
  if (t.parsed) {
    CHECK(t.one("attempt 1").args.at("unfinished") == true);
    CHECK(t.one("attempt 1").end == 1000);
    CHECK(t.one("outer/inner").args.at("unfinished") == true);
    CHECK(t.one("outer/inner").parent == "outer");
    CHECK_FALSE(t.one("outer").args.contains("unfinished"));
    CHECK(t.one("step_failed").ph == 'i');
    CHECK(t.one("open").args.at("unfinished") == true);
    CHECK(t.one("open").end == 3000);  // the last time seen for the run
    CHECK(t.one("wf").args.at("unfinished") == true);
  }

  f(event_kind::step_succeeded, "open");
  f(event_kind::run_finished);
  const checked_trace done = check_trace(rec.to_json());
  if (done.parsed) {
    CHECK_FALSE(done.one("open").args.contains("unfinished"));
    CHECK_FALSE(done.one("wf").args.contains("unfinished"));
  }
}

TEST_CASE("a backoff ends early when the run's next event comes sooner", "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1};
  f(event_kind::run_started);
  f(event_kind::step_started, "s");
  auto retry = f.make(event_kind::retry_scheduled, "s", 1);
  retry.delay = 1s;
  f(retry);
  const checked_trace waiting = check_trace(rec.to_json());  // written during the wait
  if (waiting.parsed) CHECK(waiting.one("backoff").args.at("unfinished") == true);
  f.now += 300ms;  // a clock whose sleep returned early
  f(event_kind::attempt_started, "s", 2);
  f(event_kind::attempt_succeeded, "s", 2);
  f(event_kind::step_succeeded, "s", 2);
  f(event_kind::run_finished);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  const span& wait = t.one("backoff");
  CHECK(wait.end - wait.begin == 300'000);
  CHECK(wait.args.at("delay_us") == 1'000'000);
  CHECK_FALSE(wait.args.contains("unfinished"));
}

TEST_CASE("a backoff of unbounded delay does not overflow", "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1, "wf", 5s};
  f(event_kind::run_started);
  f(event_kind::step_started, "s");
  auto retry = f.make(event_kind::retry_scheduled, "s", 1);
  retry.delay = duration::max();
  f(retry);
  f.now += 1s;
  f(event_kind::step_failed, "s", 1);
  f(event_kind::run_finished);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.one("backoff").end - t.one("backoff").begin == 1'000'000);
}

TEST_CASE("a second run_started for the same run id starts a new row", "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1};
  f(event_kind::run_started);
  f(event_kind::step_started, "s");
  f(event_kind::run_started);  // e.g. a resumed run with the same id
  f(event_kind::run_finished);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.thread_names.size() == 2);
  CHECK(t.named("wf").size() == 2);
  CHECK(t.one("s").args.at("unfinished") == true);
}

TEST_CASE("the event cap drops later events, counts them and keeps the trace balanced",
          "[observe][trace]") {
  trace_recorder rec{{.max_events = 7}};
  CHECK(rec.options().max_events == 7);
  play_retry_run(rec, id1);  // 13 events
  play_retry_run(rec, id2);  // all dropped
  // Kept: run B, a B, attempt B, attempt E, a E, b B, attempt B (7), then the ends of the spans
  // still open: attempt E, b E, run E.
  CHECK(rec.size() == 10);
  CHECK(rec.dropped() == 26 - 10);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.dropped == 16);
  CHECK(t.recorded == 10);
  CHECK(t.thread_names.size() == 1);  // no row for the run that left no event
  CHECK(t.named("backoff").empty());
  CHECK(t.one("b").args.at("attempts") == 2);  // ends keep their arguments

  rec.clear();
  CHECK(rec.size() == 0);
  CHECK(rec.dropped() == 0);
  play_retry_run(rec, id2);
  CHECK(rec.size() == 10);
}

TEST_CASE("clear() during a run drops the ends of spans begun before it", "[observe][trace]") {
  trace_recorder rec;
  feeder f{rec, id1};
  f(event_kind::run_started);
  f(event_kind::step_started, "a");
  rec.clear();
  f(event_kind::step_succeeded, "a");
  f(event_kind::step_started, "b");
  f(event_kind::step_succeeded, "b");
  f(event_kind::run_finished);
  CHECK(rec.size() == 2);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.names('B') == std::vector<std::string>{"b"});
}

TEST_CASE("concurrent runs from threads each get their own row", "[observe][trace]") {
  constexpr int threads = 4;
  constexpr int runs = 25;
  trace_recorder rec;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&rec, i] {
      for (int r = 0; r < runs; ++r)
        play_retry_run(
            rec,
            tutti::run_id{static_cast<std::uint64_t>(i + 1), static_cast<std::uint64_t>(r + 1)},
            i % 2 == 0 ? "even" : "odd");
    });
  for (auto& t : pool) t.join();
  CHECK(rec.size() == threads * runs * 14u /* 13 events, and the end of the backoff */);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.process_names.size() == 2);
  CHECK(t.thread_names.size() == static_cast<std::size_t>(threads * runs));
  CHECK(t.named("backoff").size() == static_cast<std::size_t>(threads * runs));
  for (const span* b : t.named("backoff")) CHECK(b->end - b->begin == 100'000);
}

TEST_CASE("per-thread lanes put the runs of one thread on one row", "[observe][trace]") {
  trace_recorder rec{{.lanes = tutti::observe::trace_lanes::per_thread}};
  std::vector<std::thread> pool;
  for (int i = 0; i < 3; ++i)
    pool.emplace_back([&rec, i] {
      for (int r = 0; r < 5; ++r)
        // The runs of a thread follow each other on one clock (each would start at 0 on its
        // own manual clock, and time would go back on the row).
        play_retry_run(
            rec,
            tutti::run_id{static_cast<std::uint64_t>(i + 1), static_cast<std::uint64_t>(r + 1)},
            "wf", r * 1s);
    });
  for (auto& t : pool) t.join();
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.thread_names.size() == 3);
  for (const auto& [key, name] : t.thread_names) CHECK(name.rfind("thread ", 0) == 0);
  CHECK(t.named("wf").size() == 15);
}

TEST_CASE("write and save put the same JSON in a file, I/O errors are returned",
          "[observe][trace]") {
  trace_recorder rec;
  play_retry_run(rec, id1);
  const std::string json = rec.to_json();
  std::string appended = "prefix";
  rec.write(appended);
  CHECK(appended == "prefix" + json);

  const auto read_file = [](std::FILE* file) {
    std::string text;
    std::rewind(file);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file)) > 0;) text.append(buf, n);
    return text;
  };
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  const auto written = rec.write(tmp);
  CHECK(written.has_value());
  CHECK(read_file(tmp) == json);
  std::fclose(tmp);

  const std::string path = "trace_test_save.json";
  const auto saved = rec.save(path);
  REQUIRE(saved.has_value());
  std::FILE* back = std::fopen(path.c_str(), "rb");
  REQUIRE(back != nullptr);
  CHECK(read_file(back) == json);
  std::fclose(back);
  std::remove(path.c_str());

  const auto failed = rec.save("no/such/directory/trace.json");
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error() == std::errc::no_such_file_or_directory);
  CHECK(rec.write(static_cast<std::FILE*>(nullptr)).error() == std::errc::invalid_argument);
}

TEST_CASE("a large trace is written in pieces", "[observe][trace]") {
  trace_recorder rec;
  for (std::uint64_t r = 1; r <= 300; ++r) play_retry_run(rec, tutti::run_id{7, r});
  const std::string json = rec.to_json();
  CHECK(json.size() > 3 * 64 * 1024);
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  REQUIRE(rec.write(tmp).has_value());
  CHECK(std::ftell(tmp) == static_cast<long>(json.size()));
  std::fclose(tmp);
  (void)check_trace(json);
}

// --- real runs on a manual clock --------------------------------------------------------------

namespace {
bool encloses(const span& outer, const span& inner) {
  return outer.pid == inner.pid && outer.tid == inner.tid && outer.begin <= inner.begin &&
         inner.end <= outer.end &&
         std::find(inner.enclosing.begin(), inner.enclosing.end(), outer.name) !=
             inner.enclosing.end();
}
}  // namespace

TEST_CASE("a real run: steps, attempts and backoff waits at their virtual times",
          "[observe][trace]") {
  tutti::testing::manual_clock clock{1s};
  int busy = 2;
  const auto wf = tutti::workflow<"checkout">(
      tutti::step<"reserve">([&clock] {
        clock.advance(5ms);
        return 1;
      }),
      tutti::step<"charge">([&]() -> tutti::result<int> {
        clock.advance(10ms);
        if (busy-- > 0) return tutti::errc::timeout;
        return 2;
      }) | tutti::retry{tutti::exponential_backoff{.first = 100ms, .cap = 2s},
                        tutti::max_attempts{5}});
  trace_recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.has_value());
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  const auto hex = run.id().hex();
  const std::string id(hex.data(), hex.size());

  CHECK(t.process_names.at(1) == "checkout");
  CHECK(t.thread_names.at({1, 1}) == "run " + id);
  const span& whole = t.one("checkout");
  CHECK(whole.args.at("run") == id);
  CHECK(whole.args.at("outcome") == "succeeded");
  CHECK(whole.begin == 1'000'000);            // the clock's reading: 1 s
  CHECK(whole.end - whole.begin == 335'000);  // 5 + 3 * 10 + 100 + 200 ms
  CHECK(t.one("reserve").end - t.one("reserve").begin == 5'000);
  const span& charge = t.one("charge");
  CHECK(charge.parent == "checkout");
  CHECK(charge.args.at("attempts") == 3);

  const auto waits = t.named("backoff");
  REQUIRE(waits.size() == 2);
  CHECK(waits[0]->end - waits[0]->begin == 100'000);
  CHECK(waits[1]->end - waits[1]->begin == 200'000);
  CHECK(waits[0]->args.at("error") == "timed out [tutti:5]");
  CHECK(waits[1]->args.at("after_attempt") == 2);
  const span& second = t.one("attempt 2");
  const span& third = t.one("attempt 3");
  CHECK(second.begin == waits[0]->end);  // the next attempt starts when the wait ends
  CHECK(third.begin == waits[1]->end);
  for (const span* s : {waits[0], waits[1], &second, &third}) CHECK(encloses(charge, *s));
  CHECK(third.args.at("result") == "succeeded");
}

TEST_CASE("a real run: a fallback is an instant inside its step", "[observe][trace]") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"pricing">(
      tutti::step<"price">([]() -> tutti::result<int> { return tutti::errc::timeout; }) |
      tutti::fallback(7));
  trace_recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.has_value());
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  const span& served = t.one("fallback_served");
  CHECK(served.ph == 'i');
  CHECK(served.args.at("error") == "timed out [tutti:5]");
  CHECK(encloses(t.one("price"), served));
  CHECK(t.one("price").args.at("result") == "succeeded");
}

TEST_CASE("a real run: compensations in reverse order, a thrown message round-trips exactly",
          "[observe][trace]") {
  tutti::testing::manual_clock clock;
  const std::string nasty = "bad \"quote\"\nline\x01 and \\ and \t";
  const auto wf = tutti::workflow<"trip">(
      tutti::step<"flight">([&clock] {
        clock.advance(1ms);
        return 1;
      }).compensate_with([&clock](int) { clock.advance(2ms); }),
      tutti::step<"hotel">([&clock] {
        clock.advance(1ms);
        return 2;
      }).compensate_with([&clock](int) { clock.advance(3ms); }),
      tutti::step<"car">([&nasty]() -> int { throw std::runtime_error(nasty); }));
  trace_recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.outcome() == tutti::run_outcome::compensated);
  const std::string json = rec.to_json();
  const checked_trace t = check_trace(json);
  if (!t.parsed) {
    CHECK(json.find(R"(bad \"quote\"\nline\u0001 and \\ and \t)") != std::string::npos);
    return;
  }
  const span& car = t.one("car");
  CHECK(car.args.at("result") == "failed");
  CHECK(car.args.at("message") == nasty);
  CHECK(car.args.at("error") == "a user callable threw an exception [tutti:2]");
  const span& whole = t.one("trip");
  CHECK(whole.args.at("outcome") == "failed, compensated");
  CHECK(whole.args.at("failed_step") == "car");
  CHECK(whole.args.at("message") == nasty);

  std::vector<std::string> undo;
  for (const span& s : t.spans)
    if (s.cat == "compensation" && s.parent == "trip") undo.push_back(s.name);
  CHECK(undo == std::vector<std::string>{"compensate hotel", "compensate flight"});
  const span& hotel = t.one("compensate hotel");
  const span& flight = t.one("compensate flight");
  CHECK(hotel.end - hotel.begin == 3'000);
  CHECK(flight.end - flight.begin == 2'000);
  CHECK(car.end <= hotel.begin);
  CHECK(hotel.end <= flight.begin);
  CHECK(flight.end <= whole.end);
  for (const span* s : {&hotel, &flight}) {
    CHECK(s->args.at("result") == "succeeded");
    // The compensation's own call is an attempt span of category "compensation" inside it.
    bool found = false;
    for (const span& a : t.spans)
      if (a.name == "attempt 1" && a.cat == "compensation" && a.parent == s->name) found = true;
    CHECK(found);
  }
}

TEST_CASE("a real run: nested workflow steps nest inside the outer step", "[observe][trace]") {
  tutti::testing::manual_clock clock;
  const auto card = tutti::workflow<"card">(
      tutti::step<"authorize">([&clock] {
        clock.advance(4ms);
        return std::string{"AUTH-1"};
      }),
      tutti::step<"capture">([&clock](tutti::from<"authorize", std::string> a) {
        clock.advance(6ms);
        return *a + "/captured";
      }));
  const auto checkout = tutti::workflow<"checkout">(tutti::step<"validate">([] {}), card,
                                                    tutti::step<"receipt">([] {}));
  trace_recorder rec;
  const auto run = checkout.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.has_value());
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.process_names.size() == 1);  // one process: the outermost workflow
  const span& outer = t.one("card");
  CHECK(outer.parent == "checkout");
  CHECK(outer.end - outer.begin == 10'000);
  const span& authorize = t.one("card/authorize");
  const span& capture = t.one("card/capture");
  CHECK(encloses(outer, authorize));
  CHECK(encloses(outer, capture));
  CHECK(authorize.end - authorize.begin == 4'000);
  CHECK(capture.end - capture.begin == 6'000);
  CHECK(t.one("validate").end <= outer.begin);
  CHECK(outer.end <= t.one("receipt").begin);
}

TEST_CASE("a real run: a late success is undone inside its step", "[observe][trace]") {
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"order">(tutti::step<"reserve">([&clock] {
                                             clock.advance(5s);  // past the 2 s limit
                                             return 17;
                                           }).compensate_with([&clock](int) {
    clock.advance(1ms);
  }) | tutti::timeout{2s});
  trace_recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.error() == tutti::errc::timeout);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  const span& reserve = t.one("reserve");
  const span& undo = t.one("compensate reserve");
  CHECK(encloses(reserve, undo));
  CHECK(undo.end - undo.begin == 1'000);
  CHECK(encloses(reserve, t.one("timeout")));
  CHECK(reserve.args.at("result") == "failed");
}

TEST_CASE("a real run: breaker rejections and state changes are instants", "[observe][trace]") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker breaker{
      tutti::breaker_config{
          .failure_ratio = 0.5, .minimum_calls = 2, .window_size = 4, .break_for = 5s},
      clock};
  const auto wf = tutti::workflow<"pay">(
      tutti::step<"charge">([]() -> tutti::result<int> { return tutti::errc::timeout; }) |
      tutti::guard(breaker));
  trace_recorder rec;
  for (int i = 0; i < 3; ++i) (void)wf.run(tutti::unit{}, {}, clock, rec);
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.thread_names.size() == 3);  // three runs, three rows
  const span& changed = t.one("breaker_state_changed");
  CHECK(changed.args.at("from") == "closed");
  CHECK(changed.args.at("to") == "open");
  const span& rejected = t.one("breaker_rejected");
  CHECK(rejected.args.at("state") == "open");
  CHECK(rejected.args.at("retry_after_us") == 5'000'000);
  CHECK(rejected.parent == "charge");
  CHECK(t.named("attempt 1").size() == 2);  // no attempt for the rejected call
}

TEST_CASE("a real run: the recorder works inside observe_all and with concurrent runs",
          "[observe][trace]") {
  struct counter {
    std::atomic<int> events{0};
    void on_event(const tutti::event&) noexcept { ++events; }
  };
  const auto wf = tutti::workflow<"ping">(tutti::step<"a">([] { return 1; }),
                                          tutti::step<"b">([] { return 2; }));
  trace_recorder rec;
  counter count;
  auto both = tutti::observe_all(rec, count);
  STATIC_REQUIRE(decltype(both)::wants_time);
  constexpr int threads = 4;
  constexpr int runs = 20;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&] {
      for (int r = 0; r < runs; ++r) (void)wf.run(tutti::unit{}, {}, both);  // the steady clock
    });
  for (auto& th : pool) th.join();
  CHECK(rec.size() == static_cast<std::size_t>(count.events.load()));
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  CHECK(t.thread_names.size() == static_cast<std::size_t>(threads * runs));
  CHECK(t.named("ping").size() == static_cast<std::size_t>(threads * runs));
  for (const span* s : t.named("ping")) CHECK(s->args.at("outcome") == "succeeded");
}

// --- parallel groups: one run's events from several threads at once -------------------------

namespace {
/// Lets threads take turns: `wait_for(n)` blocks until turn n, `next()` passes to the next one.
struct turns {
  std::atomic<int> turn{0};
  void wait_for(int n) {
    for (int t = turn.load(); t != n; t = turn.load()) turn.wait(t);
  }
  void next() {
    turn.fetch_add(1);
    turn.notify_all();
  }
};
}  // namespace

TEST_CASE("branch spans of one run sent from two threads, interleaved, nest on rows of their own",
          "[observe][trace][parallel]") {
  for (const auto lanes :
       {tutti::observe::trace_lanes::per_run, tutti::observe::trace_lanes::per_thread}) {
    trace_recorder rec{{.lanes = lanes}};
    feeder f{rec, id1};
    f(event_kind::run_started);
    f(event_kind::step_started, "g");
    turns order;
    // Two "pool threads": begins and ends cross (a B, b B, a E, b E); "g/b" never ends.
    std::thread t1([&] {
      feeder mine{rec, id1, "wf", 1ms};
      order.wait_for(0);
      mine(event_kind::step_started, "g/a");
      mine(event_kind::attempt_started, "g/a", 1);
      order.next();
      order.wait_for(2);
      mine.now = 3ms;
      mine(event_kind::attempt_succeeded, "g/a", 1);
      mine(event_kind::step_succeeded, "g/a", 1);
      order.next();
    });
    std::thread t2([&] {
      feeder mine{rec, id1, "wf", 2ms};
      order.wait_for(1);
      mine(event_kind::step_started, "g/b");
      mine(event_kind::attempt_started, "g/b", 1);
      order.next();
    });
    order.wait_for(3);
    t1.join();
    t2.join();
    f.now = 4ms;
    f(event_kind::step_succeeded, "g", 1);
    f(event_kind::run_finished);
    CHECK(rec.dropped() == 0);
    const checked_trace t = check_trace(rec.to_json());  // balanced and nested on every row
    if (!t.parsed) continue;
    CHECK(t.thread_names.size() == 3);  // the run's own thread and the two others
    const span& run = t.one("wf");
    const span& g = t.one("g");
    const span& a = t.one("g/a");
    const span& b = t.one("g/b");
    CHECK(g.parent == "wf");
    CHECK(a.depth == 0);  // top level of its own row
    CHECK(b.depth == 0);
    std::set<std::pair<long long, long long>> rows{
        {run.pid, run.tid}, {a.pid, a.tid}, {b.pid, b.tid}};
    CHECK(rows.size() == 3);
    CHECK(a.end == 3'000);
    CHECK(a.args.at("result") == "succeeded");
    CHECK_FALSE(a.args.contains("unfinished"));
    CHECK_FALSE(g.args.contains("unfinished"));
    CHECK(b.args.at("unfinished") == true);  // closed by the run's end, on its own row
    CHECK(b.end == 4'000);
    CHECK(run.args.at("outcome") == "succeeded");
    if (lanes == tutti::observe::trace_lanes::per_run) {
      const auto hex = id1.hex();
      const std::string row = "run " + std::string(hex.data(), hex.size());
      CHECK(t.thread_names.at({run.pid, run.tid}) == row);
      CHECK(t.thread_names.at({a.pid, a.tid}).rfind(row + " thread ", 0) == 0);
      CHECK(t.thread_names.at({b.pid, b.tid}).rfind(row + " thread ", 0) == 0);
    } else {
      for (const auto& [key, name] : t.thread_names) CHECK(name.rfind("thread ", 0) == 0);
    }
  }
}

TEST_CASE("a real run: parallel branches on a thread pool, all inside their steps at once",
          "[observe][trace][parallel]") {
  for (const auto lanes :
       {tutti::observe::trace_lanes::per_run, tutti::observe::trace_lanes::per_thread}) {
    tutti::thread_pool pool{4};
    std::latch all_in{4};  // each branch waits here until the four are inside their steps
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    const auto branch = [&](int v) {
      return [&, v] {
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        all_in.arrive_and_wait();
        --inside;
        return v;
      };
    };
    const auto wf = tutti::workflow<"fan">(
        tutti::step<"before">([] { return 0; }),
        tutti::parallel<"g">(pool, tutti::step<"a">(branch(1)), tutti::step<"b">(branch(2)),
                             tutti::step<"c">(branch(3)), tutti::step<"d">(branch(4))),
        tutti::step<"after">([](tutti::from<"g", std::tuple<int, int, int, int>> g) {
          return std::get<0>(*g) + std::get<1>(*g) + std::get<2>(*g) + std::get<3>(*g);
        }));
    trace_recorder rec{{.lanes = lanes}};
    const auto run = wf.run(tutti::unit{}, {}, rec);  // the steady clock
    REQUIRE(run.has_value());
    CHECK(run.value() == 10);
    CHECK(most.load() == 4);  // they really overlapped
    CHECK(rec.dropped() == 0);
    const checked_trace t = check_trace(rec.to_json());  // balanced and nested on every row
    if (!t.parsed) continue;
    const span& whole = t.one("fan");
    CHECK(whole.args.at("outcome") == "succeeded");
    const span& g = t.one("g");
    CHECK(g.parent == "fan");
    CHECK(g.args.at("result") == "succeeded");
    std::set<std::pair<long long, long long>> rows;
    double last_begin = 0;
    double first_end = 1e300;
    for (const std::string_view name : {"g/a", "g/b", "g/c", "g/d"}) {
      INFO("branch " << name);
      const span& s = t.one(name);  // one B, closed by its E (check_trace)
      CHECK(s.args.at("result") == "succeeded");
      CHECK_FALSE(s.args.contains("unfinished"));
      CHECK(s.begin >= g.begin);
      CHECK(s.end <= g.end);
      // On the run's row (the waiting thread ran it) it is inside the group; elsewhere it is at
      // the top of its own row.
      if (s.pid == whole.pid && s.tid == whole.tid)
        CHECK(std::find(s.enclosing.begin(), s.enclosing.end(), "g") != s.enclosing.end());
      else
        CHECK(s.depth == 0);
      rows.emplace(s.pid, s.tid);
      last_begin = std::max(last_begin, s.begin);
      first_end = std::min(first_end, s.end);
      // Its attempt nests inside it, on its row.
      bool attempt = false;
      for (const span& a : t.spans)
        if (a.name == "attempt 1" && a.parent == name && a.pid == s.pid && a.tid == s.tid)
          attempt = true;
      CHECK(attempt);
    }
    CHECK(rows.size() == 4);         // four threads at once: four rows
    CHECK(last_begin <= first_end);  // all four spans overlap
    for (const span& s : t.spans) CHECK_FALSE(s.args.contains("unfinished"));
    CHECK(t.one("before").end <= g.begin);
    CHECK(g.end <= t.one("after").begin);
  }
}

TEST_CASE("a real run: a skipped conditional step is a closed span with result skipped",
          "[observe][trace]") {
  tutti::testing::manual_clock clock;
  const auto wf =
      tutti::workflow<"maybe">(tutti::step<"first">([] { return 1; }),
                               tutti::when([](tutti::from<"first", int> v) { return *v > 1; },
                                           tutti::step<"x">([] { return 2; })),
                               tutti::step<"last">([] { return 3; }));
  trace_recorder rec;
  const auto run = wf.run(tutti::unit{}, {}, clock, rec);
  REQUIRE(run.has_value());
  const checked_trace t = check_trace(rec.to_json());
  if (!t.parsed) return;
  const span& x = t.one("x");
  CHECK(x.parent == "maybe");
  CHECK(x.args.at("result") == "skipped");
  CHECK_FALSE(x.args.contains("unfinished"));
  CHECK(t.named("attempt 1").size() == 2);  // first and last: x made no call
  CHECK(x.end <= t.one("last").begin);
  CHECK(t.one("maybe").args.at("outcome") == "succeeded");
}
