// The metrics registry: counters and histograms from events, breaker gauges, and the Prometheus
// text it writes, parsed back by a strict parser of the 0.0.4 text format.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <latch>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>
#include <tutti/observe/metrics.hpp>
#include <tutti/policy/circuit_breaker.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::event_kind;

namespace {

// ---- a parser of the Prometheus text exposition format 0.0.4 ------------------------------------

using labels_t = std::map<std::string, std::string>;

struct sample {
  std::string name;
  labels_t labels;
  double value = 0;
};

struct family {
  std::string type;
  std::string help;
  bool has_help = false;
};

struct exposition {
  std::map<std::string, family> families;
  std::vector<sample> samples;

  [[nodiscard]] std::optional<double> value(const std::string& name, const labels_t& labels) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return std::nullopt;
  }
  [[nodiscard]] std::size_t count(const std::string& name) const {
    std::size_t n = 0;
    for (const auto& s : samples) n += s.name == name ? 1 : 0;
    return n;
  }
};

struct parse_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const std::regex metric_name_re{"[a-zA-Z_:][a-zA-Z0-9_:]*"};
const std::regex label_name_re{"[a-zA-Z_][a-zA-Z0-9_]*"};

double parse_value(const std::string& text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) throw parse_error("bad value: " + text);
  return v;
}

/// Label values: \\ \" and \n are the only escapes.
std::string unescape_label(std::string_view line, std::size_t& i) {
  std::string out;
  for (;;) {
    if (i >= line.size()) throw parse_error("unterminated label value");
    const char c = line[i++];
    if (c == '"') return out;
    if (c == '\n') throw parse_error("raw newline in a label value");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= line.size()) throw parse_error("dangling backslash");
    const char e = line[i++];
    if (e == '\\') out += '\\';
    else if (e == '"') out += '"';
    else if (e == 'n') out += '\n';
    else throw parse_error(std::string{"bad escape \\"} + e);
  }
}

/// The family a sample belongs to: itself, or for histograms the name without its suffix.
std::string family_of(const exposition& x, const std::string& name) {
  if (x.families.count(name) != 0) return name;
  for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string base = name.substr(0, name.size() - suffix.size());
      const auto it = x.families.find(base);
      if (it != x.families.end() && it->second.type == "histogram") return base;
    }
  }
  throw parse_error("sample without a TYPE line before it: " + name);
}

/**
 * Parses `text` and checks the rules of the format: every line ends with a newline; HELP and TYPE
 * come once per family, before its samples; a family's samples are one group; names match the
 * metric and label name grammars; label values use only the three escapes; no sample repeats;
 * histograms have cumulative, increasing buckets ending with le="+Inf" equal to _count, and a _sum.
 */
exposition parse(const std::string& text) {
  exposition x;
  if (!text.empty() && text.back() != '\n') throw parse_error("the text does not end with a newline");
  std::set<std::string> closed;  // families whose group of lines has ended
  std::string current;           // the family of the previous line
  std::set<std::pair<std::string, labels_t>> seen;
  const auto enter = [&](const std::string& fam) {
    if (fam == current) return;
    if (closed.count(fam) != 0) throw parse_error("the lines of " + fam + " are not one group");
    if (!current.empty()) closed.insert(current);
    current = fam;
  };
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) throw parse_error("empty line");
    if (line[0] == '#') {
      std::smatch m;
      static const std::regex help_re{"# HELP ([^ ]+) (.*)"};
      static const std::regex type_re{"# TYPE ([^ ]+) (counter|gauge|histogram|summary|untyped)"};
      if (std::regex_match(line, m, help_re)) {
        const std::string name = m[1];
        if (!std::regex_match(name, metric_name_re)) throw parse_error("bad metric name " + name);
        enter(name);
        family& f = x.families[name];
        if (f.has_help) throw parse_error("second HELP for " + name);
        if (!f.type.empty()) throw parse_error("HELP after TYPE for " + name);
        f.has_help = true;
        const std::string raw = m[2];
        for (std::size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] != '\\') {
            f.help += raw[i];
          } else if (i + 1 < raw.size() && (raw[i + 1] == '\\' || raw[i + 1] == 'n')) {
            f.help += raw[i + 1] == 'n' ? '\n' : '\\';
            ++i;
          } else {
            throw parse_error("bad escape in HELP of " + name);
          }
        }
      } else if (std::regex_match(line, m, type_re)) {
        const std::string name = m[1];
        if (!std::regex_match(name, metric_name_re)) throw parse_error("bad metric name " + name);
        enter(name);
        family& f = x.families[name];
        if (!f.type.empty()) throw parse_error("second TYPE for " + name);
        for (const auto& s : x.samples)
          if (family_of(x, s.name) == name) throw parse_error("TYPE after samples of " + name);
        f.type = m[2];
      } else {
        throw parse_error("unknown comment: " + line);
      }
      continue;
    }
    sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, metric_name_re)) throw parse_error("bad metric name " + s.name);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) throw parse_error("label without =");
        const std::string name = line.substr(i, eq - i);
        if (!std::regex_match(name, label_name_re) || name.rfind("__", 0) == 0)
          throw parse_error("bad label name " + name);
        if (eq + 1 >= line.size() || line[eq + 1] != '"') throw parse_error("label value not quoted");
        i = eq + 2;
        const std::string value = unescape_label(line, i);
        if (!s.labels.emplace(name, value).second) throw parse_error("repeated label " + name);
        if (i < line.size() && line[i] == ',') ++i;
        else if (i >= line.size() || line[i] != '}') throw parse_error("expected , or }");
      }
      if (i >= line.size()) throw parse_error("unterminated label set");
      ++i;  // }
    }
    if (i >= line.size() || line[i] != ' ') throw parse_error("no space before the value: " + line);
    const std::string value = line.substr(i + 1);
    if (value.find(' ') != std::string::npos) throw parse_error("unexpected timestamp or text: " + line);
    s.value = parse_value(value);
    const std::string fam = family_of(x, s.name);
    enter(fam);
    if (x.families[fam].type.empty()) throw parse_error("sample before TYPE: " + s.name);
    if (!seen.emplace(s.name, s.labels).second) throw parse_error("repeated sample " + line);
    x.samples.push_back(std::move(s));
  }

  // Histograms: per label set, cumulative increasing buckets, +Inf == _count, and a _sum.
  for (const auto& [name, f] : x.families) {
    if (f.type != "histogram") continue;
    std::map<labels_t, std::vector<std::pair<double, double>>> buckets;
    for (const auto& s : x.samples) {
      if (s.name != name + "_bucket") continue;
      labels_t rest = s.labels;
      const auto le = rest.find("le");
      if (le == rest.end()) throw parse_error(name + " bucket without le");
      const double bound = parse_value(le->second);
      rest.erase(le);
      buckets[rest].emplace_back(bound, s.value);
    }
    if (buckets.empty()) throw parse_error(name + " has no buckets");
    for (const auto& [ls, list] : buckets) {
      for (std::size_t k = 1; k < list.size(); ++k) {
        if (!(list[k].first > list[k - 1].first)) throw parse_error(name + " bucket bounds not increasing");
        if (list[k].second < list[k - 1].second) throw parse_error(name + " buckets not cumulative");
      }
      if (!std::isinf(list.back().first)) throw parse_error(name + " has no +Inf bucket");
      const auto count = x.value(name + "_count", ls);
      if (!count || *count != list.back().second) throw parse_error(name + " +Inf bucket != _count");
      if (!x.value(name + "_sum", ls)) throw parse_error(name + " has no _sum");
    }
  }
  return x;
}

// ---- events and workflows ---------------------------------------------------------------------

tutti::event make(event_kind k, std::string_view workflow, std::string_view step = {}) {
  tutti::event e;
  e.kind = k;
  e.workflow = workflow;
  e.step = step;
  e.run = tutti::run_id{1, 2};
  return e;
}

std::error_code declined() { return tutti::errc::step_failed; }

}  // namespace

TEST_CASE("the registry is an observer that asks for time", "[observe][metrics]") {
  STATIC_REQUIRE(tutti::observer<tutti::observe::metrics_registry>);
  STATIC_REQUIRE(tutti::detail::observer_wants_time<tutti::observe::metrics_registry>());
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tutti::observe::metrics_registry>);
  STATIC_REQUIRE(tutti::observe::watchable_breaker<tutti::circuit_breaker<>>);
  STATIC_REQUIRE_FALSE(tutti::observe::watchable_breaker<int>);
}

TEST_CASE("the parser of the test rejects what the format forbids", "[observe][metrics]") {
  CHECK_NOTHROW(parse("# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"\\\\\\n\"} 1\n"));
  CHECK(parse("# TYPE a counter\na{l=\"q\\\"b\\\\s\\nn\"} 2\n").samples.at(0).labels.at("l") == "q\"b\\s\nn");
  CHECK_THROWS_AS(parse("a_total 1\n"), parse_error);                                 // no TYPE
  CHECK_THROWS_AS(parse("# TYPE a counter\na 1"), parse_error);                         // no final newline
  CHECK_THROWS_AS(parse("# TYPE a counter\na{l=\"\\t\"} 1\n"), parse_error);            // bad escape
  CHECK_THROWS_AS(parse("# TYPE 1a counter\n1a 1\n"), parse_error);                     // bad name
  CHECK_THROWS_AS(parse("# TYPE a counter\na 1\n# TYPE b counter\nb 1\na{x=\"1\"} 1\n"), parse_error);  // split group
  CHECK_THROWS_AS(parse("# TYPE a counter\na 1\na 2\n"), parse_error);                  // repeated
  CHECK_THROWS_AS(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n"),
                  parse_error);  // not cumulative
  CHECK_THROWS_AS(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 3\n"),
                  parse_error);  // +Inf != count
}

TEST_CASE("events are counted per workflow and step", "[observe][metrics]") {
  tutti::observe::metrics_registry m;
  auto feed = [&](event_kind k, std::string_view step = "charge", auto&&... setters) {
    auto e = make(k, "pay", step);
    (setters(e), ...);
    m.on_event(e);
  };
  const auto comp = [](tutti::event& e) { e.compensation = true; };
  feed(event_kind::run_started, {});
  feed(event_kind::step_started);
  feed(event_kind::attempt_started);
  feed(event_kind::attempt_failed);
  feed(event_kind::retry_scheduled);
  feed(event_kind::attempt_started);
  feed(event_kind::attempt_failed);
  feed(event_kind::retries_exhausted);
  feed(event_kind::fallback_served);
  feed(event_kind::step_succeeded, "charge", [](tutti::event& e) { e.elapsed = 30ms; });
  feed(event_kind::step_started, "ship");
  feed(event_kind::breaker_rejected, "ship");
  feed(event_kind::bulkhead_rejected, "ship");
  feed(event_kind::rate_limited, "ship");
  feed(event_kind::timeout, "ship");
  feed(event_kind::breaker_state_changed, "ship", [](tutti::event& e) {
    e.from = tutti::breaker_state::closed;
    e.to = tutti::breaker_state::open;
  });
  feed(event_kind::step_failed, "ship", [](tutti::event& e) { e.elapsed = 2s; });
  feed(event_kind::compensation_started);
  feed(event_kind::attempt_started, "charge", comp);
  feed(event_kind::attempt_failed, "charge", comp);  // not an attempt failure of the step
  feed(event_kind::retry_scheduled, "charge", comp);  // not a retry of the step
  feed(event_kind::attempt_started, "charge", comp);
  feed(event_kind::compensation_succeeded);
  feed(event_kind::run_finished, {}, [](tutti::event& e) {
    e.outcome = tutti::run_outcome::compensated;
    e.elapsed = 3s;
  });

  const auto charge = m.step_stats_of("pay", "charge");
  REQUIRE(charge);
  CHECK(charge->started == 1);
  CHECK(charge->succeeded == 1);
  CHECK(charge->failed == 0);
  CHECK(charge->attempts == 2);
  CHECK(charge->attempt_failures == 2);
  CHECK(charge->retries == 1);
  CHECK(charge->retries_exhausted == 1);
  CHECK(charge->fallbacks == 1);
  CHECK(charge->compensation_attempts == 2);
  CHECK(charge->compensations_succeeded == 1);
  CHECK(charge->compensations_failed == 0);
  CHECK(charge->duration.count == 1);
  CHECK(charge->duration.sum == 30ms);

  const auto ship = m.step_stats_of("pay", "ship");
  REQUIRE(ship);
  CHECK(ship->started == 1);
  CHECK(ship->failed == 1);
  CHECK(ship->attempts == 0);
  CHECK(ship->breaker_rejections == 1);
  CHECK(ship->bulkhead_rejections == 1);
  CHECK(ship->rate_limited == 1);
  CHECK(ship->timeouts == 1);
  CHECK(ship->transitions(tutti::breaker_state::closed, tutti::breaker_state::open) == 1);
  CHECK(ship->transitions(tutti::breaker_state::open, tutti::breaker_state::closed) == 0);
  CHECK(ship->duration.sum == 2s);

  const auto runs = m.run_stats_of("pay");
  REQUIRE(runs);
  CHECK(runs->started == 1);
  CHECK(runs->compensated == 1);
  CHECK(runs->finished() == 1);
  CHECK(runs->duration.sum == 3s);

  CHECK_FALSE(m.step_stats_of("pay", "nothing"));
  CHECK_FALSE(m.step_stats_of("other", "charge"));
  CHECK_FALSE(m.run_stats_of("other"));
  CHECK(m.series_count() == 3);

  const auto x = parse(m.to_prometheus());
  CHECK(x.value("tutti_step_attempts_total", {{"workflow", "pay"}, {"step", "charge"}}) == 2.0);
  CHECK(x.value("tutti_step_rejections_total", {{"workflow", "pay"}, {"step", "ship"}, {"by", "bulkhead"}}) == 1.0);
  CHECK(x.value("tutti_step_breaker_transitions_total",
                {{"workflow", "pay"}, {"step", "ship"}, {"from", "closed"}, {"to", "open"}}) == 1.0);
  CHECK(x.count("tutti_step_breaker_transitions_total") == 1);  // only the pairs seen
  CHECK(x.value("tutti_runs_total", {{"workflow", "pay"}, {"outcome", "compensated"}}) == 1.0);
  CHECK(x.value("tutti_runs_total", {{"workflow", "pay"}, {"outcome", "succeeded"}}) == 0.0);
  CHECK(x.value("tutti_run_duration_seconds_sum", {{"workflow", "pay"}}) == 3.0);
  CHECK(x.families.at("tutti_step_duration_seconds").type == "histogram");
  CHECK(x.families.at("tutti_step_calls_total").type == "counter");
}

TEST_CASE("histograms count each latency in the first bucket whose bound it does not exceed",
          "[observe][metrics]") {
  tutti::observe::metrics_registry m{{.step_buckets = {1ms, 10ms, 100ms}, .run_buckets = {1s}}};
  for (const tutti::duration d : std::initializer_list<tutti::duration>{500us, 1ms, 5ms, 50ms, 1s, 100ms, 0ns}) {
    auto e = make(event_kind::step_succeeded, "w", "s");
    e.elapsed = d;
    m.on_event(e);
  }
  const auto s = m.step_stats_of("w", "s");
  REQUIRE(s);
  CHECK(s->duration.counts == std::vector<std::uint64_t>{3, 4, 6, 7});
  CHECK(s->duration.count == 7);
  CHECK(s->duration.sum == 500us + 1ms + 5ms + 50ms + 1s + 100ms);

  const auto x = parse(m.to_prometheus());
  const auto bucket = [&](const std::string& le) {
    return x.value("tutti_step_duration_seconds_bucket", {{"workflow", "w"}, {"step", "s"}, {"le", le}});
  };
  CHECK(bucket("0.001") == 3.0);
  CHECK(bucket("0.01") == 4.0);
  CHECK(bucket("0.1") == 6.0);
  CHECK(bucket("+Inf") == 7.0);
  CHECK(x.count("tutti_step_duration_seconds_bucket") == 4);
  CHECK(x.value("tutti_step_duration_seconds_count", {{"workflow", "w"}, {"step", "s"}}) == 7.0);
  CHECK(x.value("tutti_step_duration_seconds_sum", {{"workflow", "w"}, {"step", "s"}}) ==
        Approx(1.1565));
  // The step had no run events: no run families at all.
  CHECK(x.families.count("tutti_runs_total") == 0);
}

TEST_CASE("a step event without a step path is ignored, not counted on the run series",
          "[observe][metrics]") {
  tutti::observe::metrics_registry m{{.step_buckets = {1ms, 2ms, 3ms, 4ms, 5ms}, .run_buckets = {}}};
  m.on_event(make(event_kind::run_started, "w"));
  for (const auto k : {event_kind::step_started, event_kind::step_succeeded, event_kind::step_failed,
                       event_kind::timeout, event_kind::attempt_started}) {
    auto e = make(k, "w");
    e.elapsed = 10ms;
    m.on_event(e);
  }
  CHECK(m.series_count() == 1);
  const auto r = m.run_stats_of("w");
  REQUIRE(r);
  CHECK(r->started == 1);
  CHECK(r->duration.count == 0);
  CHECK_NOTHROW(parse(m.to_prometheus()));
}

TEST_CASE("bucket bounds must be positive and strictly increasing", "[observe][metrics]") {
  using tutti::observe::metrics_registry;
  CHECK_THROWS_AS(metrics_registry({.step_buckets = {10ms, 10ms}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics_registry({.step_buckets = {10ms, 1ms}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics_registry({.run_buckets = {0ms}}), std::invalid_argument);
  CHECK_NOTHROW(metrics_registry({.step_buckets = {}}));  // only +Inf
}

TEST_CASE("label values with quotes, backslashes and newlines round-trip through the text",
          "[observe][metrics]") {
  tutti::observe::metrics_registry m;
  const std::string workflow = "say \"hi\"\\now\nnext line";
  const std::string step = "a\\\"b/\n\\n";
  auto e = make(event_kind::step_started, workflow, step);
  m.on_event(e);
  e.kind = event_kind::step_succeeded;
  m.on_event(e);
  const std::string text = m.to_prometheus();
  const auto x = parse(text);
  CHECK(x.value("tutti_step_started_total", {{"workflow", workflow}, {"step", step}}) == 1.0);
  CHECK(x.value("tutti_step_calls_total", {{"workflow", workflow}, {"step", step}, {"result", "succeeded"}}) == 1.0);
  // Every line is one sample or comment: the raw newlines never reached the text.
  for (const auto& s : x.samples) CHECK(s.name.rfind("tutti_", 0) == 0);
}

TEST_CASE("counts after N real runs with M failures are exact", "[observe][metrics]") {
  constexpr int runs = 50;
  int busy_left = 0;  // charge fails this many times before it succeeds
  const auto wf = tutti::workflow<"payment">(
      tutti::step<"reserve">([](const int&) -> tutti::result<int> { return 1; })
          .compensate_with([](const int&) -> tutti::result<void> { return tutti::outcome::success(); }),
      tutti::step<"charge">([&busy_left](const int&) -> tutti::result<int> {
        if (busy_left > 0) {
          --busy_left;
          return tutti::errc::timeout;
        }
        return 2;
      }) | tutti::retry{tutti::constant_backoff{10ms}, tutti::max_attempts{2}},
      tutti::step<"quote">([](const int& i) -> tutti::result<int> {
        if (i % 10 == 3) return declined();
        return 3;
      }) | tutti::fallback(0),
      tutti::step<"ship">([](const int& i) -> tutti::result<int> {
        if (i % 5 == 4) return declined();
        return 4;
      }));

  tutti::testing::manual_clock clock;
  tutti::observe::metrics_registry m{{.step_buckets = {5ms, 15ms, 1s}}};
  int retried = 0, exhausted = 0, failed = 0, fell_back = 0, ship_failed = 0;
  for (int i = 0; i < runs; ++i) {
    busy_left = i % 7 == 0 ? 1 : i % 7 == 1 ? 2 : 0;  // 1: one retry; 2: retries exhausted
    const bool charge_ok = busy_left < 2;
    retried += busy_left > 0 ? 1 : 0;
    exhausted += busy_left == 2 ? 1 : 0;
    fell_back += charge_ok && i % 10 == 3 ? 1 : 0;
    ship_failed += charge_ok && i % 5 == 4 ? 1 : 0;
    const bool ok = charge_ok && i % 5 != 4;
    failed += ok ? 0 : 1;
    (void)wf.run(i, {}, clock, m);
  }
  REQUIRE(failed > 0);
  const auto r = m.run_stats_of("payment");
  REQUIRE(r);
  CHECK(r->started == runs);
  CHECK(r->succeeded == static_cast<std::uint64_t>(runs - failed));
  CHECK(r->compensated == static_cast<std::uint64_t>(failed));  // reserve is undone each time
  CHECK(r->failed == 0);
  CHECK(r->compensation_failed == 0);

  const auto reserve = m.step_stats_of("payment", "reserve");
  REQUIRE(reserve);
  CHECK(reserve->succeeded == runs);
  CHECK(reserve->compensations_succeeded == static_cast<std::uint64_t>(failed));
  CHECK(reserve->compensation_attempts == static_cast<std::uint64_t>(failed));

  const auto charge = m.step_stats_of("payment", "charge");
  REQUIRE(charge);
  CHECK(charge->started == runs);
  CHECK(charge->retries == static_cast<std::uint64_t>(retried));
  CHECK(charge->attempts == static_cast<std::uint64_t>(runs + retried));
  CHECK(charge->attempt_failures == static_cast<std::uint64_t>(retried + exhausted));
  CHECK(charge->retries_exhausted == static_cast<std::uint64_t>(exhausted));
  CHECK(charge->failed == static_cast<std::uint64_t>(exhausted));
  CHECK(charge->succeeded == static_cast<std::uint64_t>(runs - exhausted));
  // Latencies on the manual clock: 0 (first try), 10 ms (one retry, also when exhausted).
  CHECK(charge->duration.counts == std::vector<std::uint64_t>{static_cast<std::uint64_t>(runs - retried),
                                                              static_cast<std::uint64_t>(runs),
                                                              static_cast<std::uint64_t>(runs),
                                                              static_cast<std::uint64_t>(runs)});
  CHECK(charge->duration.sum == retried * 10ms);

  const auto quote = m.step_stats_of("payment", "quote");
  REQUIRE(quote);
  CHECK(quote->fallbacks == static_cast<std::uint64_t>(fell_back));
  CHECK(quote->failed == 0);

  const auto x = parse(m.to_prometheus());
  const auto v = [&](const std::string& name, labels_t l) { return x.value(name, l).value_or(-1.0); };
  CHECK(v("tutti_runs_started_total", {{"workflow", "payment"}}) == runs);
  CHECK(v("tutti_runs_total", {{"workflow", "payment"}, {"outcome", "compensated"}}) == failed);
  CHECK(v("tutti_step_calls_total", {{"workflow", "payment"}, {"step", "ship"}, {"result", "failed"}}) ==
        ship_failed);
  CHECK(v("tutti_step_calls_total", {{"workflow", "payment"}, {"step", "ship"}, {"result", "succeeded"}}) ==
        runs - exhausted - ship_failed);
  CHECK(v("tutti_step_retries_total", {{"workflow", "payment"}, {"step", "charge"}}) == retried);
  CHECK(v("tutti_step_fallbacks_total", {{"workflow", "payment"}, {"step", "quote"}}) == fell_back);
  CHECK(v("tutti_step_duration_seconds_bucket", {{"workflow", "payment"}, {"step", "charge"}, {"le", "0.005"}}) ==
        runs - retried);
  CHECK(v("tutti_step_duration_seconds_count", {{"workflow", "payment"}, {"step", "charge"}}) == runs);
  CHECK(v("tutti_step_duration_seconds_sum", {{"workflow", "payment"}, {"step", "charge"}}) ==
        Approx(retried * 0.010));
  CHECK(v("tutti_run_duration_seconds_count", {{"workflow", "payment"}}) == runs);
}

TEST_CASE("a breaker opening in real runs: transitions, rejections and the watched state",
          "[observe][metrics]") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker bank{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures,
                            .consecutive_failures = 3,
                            .break_for = 5s},
      clock};
  bool up = false;
  const auto wf = tutti::workflow<"pay">(tutti::step<"transfer">([&up]() -> tutti::result<int> {
                                           if (!up) return tutti::errc::timeout;
                                           return 1;
                                         }) |
                                         tutti::guard(bank));
  tutti::observe::metrics_registry m;
  m.watch_breaker("bank", bank);
  for (int i = 0; i < 5; ++i) (void)wf.run(tutti::unit{}, {}, clock, m);  // 3 failures, 2 rejections
  REQUIRE(bank.state() == tutti::breaker_state::open);

  auto s = m.step_stats_of("pay", "transfer");
  REQUIRE(s);
  CHECK(s->attempts == 3);
  CHECK(s->attempt_failures == 3);
  CHECK(s->breaker_rejections == 2);
  CHECK(s->failed == 5);
  CHECK(s->transitions(tutti::breaker_state::closed, tutti::breaker_state::open) == 1);

  auto x = parse(m.to_prometheus());
  const auto state = [&](const exposition& e, const char* st) {
    return e.value("tutti_breaker_state", {{"breaker", "bank"}, {"state", st}}).value_or(-1.0);
  };
  CHECK(state(x, "open") == 1.0);
  CHECK(state(x, "closed") == 0.0);
  CHECK(x.count("tutti_breaker_state") == 6);
  CHECK(x.value("tutti_breaker_rejected_total", {{"breaker", "bank"}}) == 2.0);
  CHECK(x.value("tutti_breaker_outcomes_total", {{"breaker", "bank"}, {"outcome", "failure"}}) == 3.0);
  CHECK(x.value("tutti_breaker_transitions_total", {{"breaker", "bank"}}) == 1.0);
  CHECK(x.families.at("tutti_breaker_state").type == "gauge");

  clock.advance(5s);  // the break ends; the probe succeeds and closes it
  up = true;
  REQUIRE(wf.run(tutti::unit{}, {}, clock, m));
  s = m.step_stats_of("pay", "transfer");
  CHECK(s->transitions(tutti::breaker_state::open, tutti::breaker_state::half_open) == 1);
  CHECK(s->transitions(tutti::breaker_state::half_open, tutti::breaker_state::closed) == 1);
  x = parse(m.to_prometheus());
  CHECK(state(x, "closed") == 1.0);
  CHECK(state(x, "open") == 0.0);

  m.unwatch_breaker("bank");
  x = parse(m.to_prometheus());
  CHECK(x.families.count("tutti_breaker_state") == 0);
}

TEST_CASE("every breaker of a breaker registry is exported, also those created later",
          "[observe][metrics]") {
  tutti::testing::manual_clock clock;
  tutti::breaker_registry<std::string, 8, tutti::testing::manual_clock> hosts{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures, .consecutive_failures = 1},
      clock};
  tutti::observe::metrics_registry m;
  m.watch_breakers("host:", hosts);
  CHECK(parse(m.to_prometheus()).families.count("tutti_breaker_state") == 0);

  auto* a = hosts.get("a.example");
  auto* b = hosts.get("b.example");
  REQUIRE((a != nullptr && b != nullptr));
  a->try_acquire().record_failure();
  const auto x = parse(m.to_prometheus());
  CHECK(x.value("tutti_breaker_state", {{"breaker", "host:a.example"}, {"state", "open"}}) == 1.0);
  CHECK(x.value("tutti_breaker_state", {{"breaker", "host:b.example"}, {"state", "closed"}}) == 1.0);
  CHECK(x.count("tutti_breaker_state") == 12);
}

TEST_CASE("nested workflow steps are counted under their path", "[observe][metrics]") {
  const auto inner = tutti::workflow<"checks">(tutti::step<"fraud">([]() -> tutti::result<int> { return 1; }));
  const auto wf = tutti::workflow<"payment">(inner, tutti::step<"book">([]() -> tutti::result<int> { return 2; }));
  tutti::observe::metrics_registry m;
  for (int i = 0; i < 3; ++i) REQUIRE(wf.run(tutti::unit{}, {}, m));
  const auto fraud = m.step_stats_of("payment", "checks/fraud");
  REQUIRE(fraud);
  CHECK(fraud->succeeded == 3);
  const auto outer = m.step_stats_of("payment", "checks");
  REQUIRE(outer);
  CHECK(outer->succeeded == 3);
  CHECK_FALSE(m.run_stats_of("checks"));  // runs are counted under the outermost workflow
  const auto x = parse(m.to_prometheus());
  CHECK(x.value("tutti_step_calls_total", {{"workflow", "payment"}, {"step", "checks/fraud"}, {"result", "succeeded"}}) == 3.0);
}

TEST_CASE("four threads of runs into one registry give exact totals, while it is scraped",
          "[observe][metrics][concurrency]") {
  constexpr int threads = 4;
  constexpr int runs = 1500;
  const auto wf = tutti::workflow<"concurrent">(
      tutti::step<"first">([](const int&) -> tutti::result<int> { return 1; })
          .compensate_with([](const int&) -> tutti::result<void> { return tutti::outcome::success(); }),
      tutti::step<"second">([](const int& i) -> tutti::result<int> {
        if (i % 4 == 0) return declined();
        return 2;
      }));
  tutti::testing::manual_clock clock;
  tutti::observe::metrics_registry m;
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    while (!done.load()) {
      const std::string text = m.to_prometheus();
      try {
        (void)parse(text);
      } catch (const parse_error&) {
        scrapes.store(-1000000);
        return;
      }
      scrapes.fetch_add(1);
    }
  });
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < runs; ++i) (void)wf.run(i, {}, clock, m);
    });
  for (auto& t : pool) t.join();
  done.store(true);
  scraper.join();
  CHECK(scrapes.load() >= 1);  // every scrape parsed

  constexpr std::uint64_t total = threads * runs;
  constexpr std::uint64_t failures = threads * (runs / 4);
  const auto r = m.run_stats_of("concurrent");
  REQUIRE(r);
  CHECK(r->started == total);
  CHECK(r->succeeded == total - failures);
  CHECK(r->compensated == failures);
  CHECK(r->duration.count == total);
  const auto first = m.step_stats_of("concurrent", "first");
  const auto second = m.step_stats_of("concurrent", "second");
  REQUIRE((first && second));
  CHECK(first->succeeded == total);
  CHECK(first->attempts == total);
  CHECK(first->compensations_succeeded == failures);
  CHECK(second->failed == failures);
  CHECK(second->succeeded == total - failures);
  CHECK(second->duration.count == total);
  CHECK(m.series_count() == 3);
  const auto x = parse(m.to_prometheus());
  CHECK(x.value("tutti_runs_started_total", {{"workflow", "concurrent"}}) == static_cast<double>(total));
  CHECK(m.dropped_events() == 0);
}

TEST_CASE("a skipped conditional step counts as started and skipped, with no latency",
          "[observe][metrics]") {
  tutti::observe::metrics_registry m;
  auto e = make(event_kind::step_started, "pay", "notify");
  m.on_event(e);
  e.kind = event_kind::step_skipped;
  e.elapsed = 1ms;
  m.on_event(e);
  const auto notify = m.step_stats_of("pay", "notify");
  REQUIRE(notify);
  CHECK(notify->started == 1);
  CHECK(notify->skipped == 1);
  CHECK(notify->succeeded == 0);
  CHECK(notify->failed == 0);
  CHECK(notify->duration.count == 0);
  const auto x = parse(m.to_prometheus());
  CHECK(x.families.at("tutti_step_skipped_total").type == "counter");
  CHECK(x.value("tutti_step_skipped_total", {{"workflow", "pay"}, {"step", "notify"}}) == 1.0);
  CHECK(x.value("tutti_step_calls_total",
                {{"workflow", "pay"}, {"step", "notify"}, {"result", "succeeded"}}) == 0.0);

  // A real run: `when` with a false condition.
  const auto wf = tutti::workflow<"maybe">(
      tutti::step<"first">([] { return 1; }),
      tutti::when([](tutti::from<"first", int> v) { return *v > 1; },
                  tutti::step<"x">([] { return 2; })));
  for (int i = 0; i < 3; ++i) REQUIRE(wf.run(tutti::unit{}, {}, m));
  const auto skipped = m.step_stats_of("maybe", "x");
  REQUIRE(skipped);
  CHECK(skipped->started == 3);
  CHECK(skipped->skipped == 3);
  CHECK(skipped->succeeded == 0);
  CHECK(skipped->attempts == 0);
  CHECK(m.step_stats_of("maybe", "first")->skipped == 0);
  CHECK(parse(m.to_prometheus())
            .value("tutti_step_skipped_total", {{"workflow", "maybe"}, {"step", "x"}}) == 3.0);
}

namespace {
/// A parallel group whose four branches all wait inside their steps for each other (on the run's
/// latch, the workflow's input), then a conditional step that is skipped.
auto fan_workflow(tutti::thread_pool& pool) {
  const auto branch = [](int v) {
    return [v](std::latch* all_in) {
      all_in->arrive_and_wait();
      return v;
    };
  };
  return tutti::workflow<"fan">(
      tutti::parallel<"g">(pool, tutti::step<"a">(branch(1)), tutti::step<"b">(branch(2)),
                           tutti::step<"c">(branch(3)), tutti::step<"d">(branch(4))),
      tutti::when([](std::latch*) { return false; }, tutti::step<"x">([] { return 0; })));
}
}  // namespace

TEST_CASE("the branches of parallel runs on pools, counted from their threads, add up exactly",
          "[observe][metrics][concurrency][parallel]") {
  constexpr int threads = 2;
  constexpr int runs = 100;
  tutti::observe::metrics_registry m;
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&] {
      // A pool per caller: a run's four branches always find four threads to wait together on.
      tutti::thread_pool pool{4};
      const auto wf = fan_workflow(pool);
      for (int i = 0; i < runs; ++i) {
        std::latch all_in{4};
        if (wf.run(&all_in, {}, m).has_value()) ++ok;
      }
    });
  for (auto& t : callers) t.join();
  constexpr std::uint64_t total = threads * runs;
  CHECK(ok.load() == static_cast<int>(total));
  const auto r = m.run_stats_of("fan");
  REQUIRE(r);
  CHECK(r->started == total);
  CHECK(r->succeeded == total);
  CHECK(r->duration.count == total);
  for (const std::string_view step : {"g", "g/a", "g/b", "g/c", "g/d"}) {
    INFO("step " << step);
    const auto s = m.step_stats_of("fan", step);
    REQUIRE(s);
    CHECK(s->started == total);
    CHECK(s->succeeded == total);
    CHECK(s->failed == 0);
    CHECK(s->skipped == 0);
    CHECK(s->attempts == total);
    CHECK(s->duration.count == total);
  }
  const auto x = m.step_stats_of("fan", "x");
  REQUIRE(x);
  CHECK(x->started == total);
  CHECK(x->skipped == total);
  CHECK(x->succeeded + x->failed == 0);
  CHECK(m.series_count() == 7);  // the run, g, four branches, x
  CHECK(m.dropped_events() == 0);
  const auto text = parse(m.to_prometheus());
  const auto all = static_cast<double>(total);
  CHECK(text.value("tutti_step_started_total", {{"workflow", "fan"}, {"step", "g/c"}}) == all);
  CHECK(text.value("tutti_step_calls_total",
                   {{"workflow", "fan"}, {"step", "g/c"}, {"result", "succeeded"}}) == all);
  CHECK(text.value("tutti_step_skipped_total", {{"workflow", "fan"}, {"step", "x"}}) == all);
}
