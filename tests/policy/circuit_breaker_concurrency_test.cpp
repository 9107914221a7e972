// The circuit breaker hammered from 8 threads (run under TSan in CI): the half-open probe limit
// holds, every granted permit is accounted for exactly once, and the state changes form one
// legal sequence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>
#include <tutti/policy/circuit_breaker.hpp>
#include <tutti/testing/manual_clock.hpp>

using namespace std::chrono_literals;
using S = tutti::breaker_state;

namespace {

using breaker = tutti::circuit_breaker<tutti::testing::manual_clock>;

constexpr int threads = 8;
// Enough to see thousands of state changes, few enough that the 14-bit generation counter does
// not wrap (the per-generation checks below index by it).
constexpr int iterations = 20'000;
constexpr std::uint32_t probes = 3;
constexpr std::size_t generations = 1u << 14;  // the breaker's generation counter wraps here

/// Every state change, in a preallocated array (the listener runs on many threads).
struct event_log {
  static constexpr std::size_t capacity = 16'000;
  std::array<tutti::breaker_event, capacity> events{};
  std::atomic<std::size_t> size{0};
  std::atomic<bool> overflow{false};

  static void on_change(void* self, const tutti::breaker_event& e) {
    auto& log = *static_cast<event_log*>(self);
    const std::size_t i = log.size.fetch_add(1, std::memory_order_relaxed);
    if (i < capacity) log.events[i] = e;
    else log.overflow.store(true, std::memory_order_relaxed);
  }
};

bool legal(S from, S to) {
  switch (to) {
    case S::isolated:
    case S::disabled:
    case S::metrics_only:
    case S::closed: return from != to || to == S::closed;  // by hand from anywhere (closed: also on success)
    case S::open: return from == S::closed || from == S::half_open;
    case S::half_open: return from == S::open;
  }
  return false;
}

struct tally {
  std::uint64_t granted = 0;  // permits granted in a counting state (not disabled)
  std::uint64_t rejected = 0;
};

}  // namespace

TEST_CASE("a breaker hammered from 8 threads keeps its invariants",
          "[policy][circuit_breaker][concurrency]") {
  tutti::testing::manual_clock clock;
  auto log = std::make_unique<event_log>();
  breaker b{{.failure_ratio = 0.5,
             .minimum_calls = 4,
             .window_size = 8,
             .break_for = 1ms,
             .break_growth = 2.0,
             .max_break = 4ms,
             .half_open_probes = probes,
             .half_open_successes = 2,
             .half_open_timeout = 3ms,
             .on_state_change = {&event_log::on_change, log.get()}},
            clock};

  // Probes in use per half-open generation, as the test sees them: +1 after a probe is granted,
  // -1 before it is released without an outcome. Never above `probes`.
  auto probe_use = std::make_unique<std::array<std::atomic<int>, generations>>();
  std::atomic<int> probe_violations{0};
  std::atomic<int> max_probe_use{0};
  std::array<tally, threads> tallies{};
  std::atomic<bool> start{false};

  auto worker = [&](int t) {
    std::uint64_t rng = 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(t + 1);
    auto next = [&rng] {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      return rng;
    };
    std::deque<breaker::permit> held;  // calls still in flight
    auto finish = [&](breaker::permit& p, std::uint64_t r) {
      const bool probe = p.state() == S::half_open;
      const int outcome = static_cast<int>(r % 10);  // 0-5 success, 6-7 failure, 8 release, 9 drop
      if (probe && outcome >= 8) (*probe_use)[p.generation()].fetch_sub(1, std::memory_order_relaxed);
      if (outcome < 6) p.record_success();
      else if (outcome < 8) p.record_failure();
      else if (outcome == 8) p.release();
      else p = breaker::permit{};  // destroyed without a report
    };
    while (!start.load(std::memory_order_acquire)) std::this_thread::yield();
    for (int i = 0; i < iterations; ++i) {
      const std::uint64_t r = next();
      if (r % 256 == 0) clock.advance(1ms);  // time moves: breaks end, deadlines pass
      if (t == 1 && i % 4096 == 100) b.isolate();
      if (t == 1 && i % 4096 == 200) b.reset();
      if (t == 2 && i % 8192 == 300) b.metrics_only();
      if (t == 2 && i % 8192 == 400) b.disable();
      if (t == 2 && i % 8192 == 500) b.reset();

      auto p = b.try_acquire();
      if (!p) {
        ++tallies[static_cast<std::size_t>(t)].rejected;
        if (r % 32 == 1) clock.advance(1ms);  // refused callers back off: time passes
        continue;
      }
      if (p.state() != S::disabled) ++tallies[static_cast<std::size_t>(t)].granted;
      if (p.state() == S::half_open) {
        const int used = (*probe_use)[p.generation()].fetch_add(1, std::memory_order_relaxed) + 1;
        if (used > static_cast<int>(probes)) probe_violations.fetch_add(1, std::memory_order_relaxed);
        int seen = max_probe_use.load(std::memory_order_relaxed);
        while (used > seen && !max_probe_use.compare_exchange_weak(seen, used)) {
        }
      }
      if (r % 4 == 0 && held.size() < 3) {  // keep some calls in flight for a while
        held.push_back(std::move(p));
        continue;
      }
      finish(p, r >> 8);
      if (!held.empty() && r % 3 == 0) {
        finish(held.front(), next());
        held.pop_front();
      }
    }
    for (auto& p : held) finish(p, next());
  };

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  start.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();

  const auto m = b.metrics();
  std::uint64_t granted = 0;
  std::uint64_t rejected = 0;
  for (const auto& t : tallies) {
    granted += t.granted;
    rejected += t.rejected;
  }
  INFO("granted " << granted << ", rejected " << rejected << ", transitions " << m.transitions
                  << ", largest probe use " << max_probe_use.load());

  // The test must have exercised the interesting parts.
  CHECK(m.transitions > 100);
  // Thousands of calls got through (how many were refused depends on how the threads were
  // scheduled: a descheduled thread holds the breaker open while the others are refused).
  CHECK(granted > 1000);
  CHECK(rejected > 0);
  CHECK(max_probe_use.load() >= 2);
  REQUIRE_FALSE(log->overflow.load());
  REQUIRE(m.transitions < generations / 2);  // generations did not wrap: per-generation checks hold

  // 1. The half-open probe limit was never exceeded.
  CHECK(probe_violations.load() == 0);
  CHECK(max_probe_use.load() <= static_cast<int>(probes));

  // 2. Counts are conserved: every permit granted was reported or released exactly once.
  CHECK(m.successes + m.failures + m.ignored == granted);
  CHECK(m.rejected == rejected);

  // 3. The state changes form one legal sequence, ordered by generation.
  const std::size_t n = log->size.load();
  CHECK(n == m.transitions);
  std::vector<tutti::breaker_event> events(log->events.begin(),
                                           log->events.begin() + static_cast<std::ptrdiff_t>(n));
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& c) { return a.generation < c.generation; });
  S current = S::closed;
  std::uint32_t last_generation = 0;
  int illegal = 0;
  int broken_chain = 0;
  for (const auto& e : events) {
    if (e.from != current) ++broken_chain;
    if (!legal(e.from, e.to)) ++illegal;
    if (e.generation <= last_generation && last_generation != 0) ++broken_chain;
    current = e.to;
    last_generation = e.generation;
  }
  CHECK(illegal == 0);
  CHECK(broken_chain == 0);
  CHECK(current == b.state());
}

TEST_CASE("concurrent probes of one half-open period never exceed the limit",
          "[policy][circuit_breaker][concurrency]") {
  // Many threads race for the probe slots of the same half-open period, again and again.
  tutti::testing::manual_clock clock;
  breaker b{{.mode = tutti::breaker_mode::consecutive_failures,
             .consecutive_failures = 1,
             .break_for = 1ms,
             .half_open_probes = 2,
             .half_open_successes = 2},
            clock};
  constexpr int rounds = 300;
  for (int round = 0; round < rounds; ++round) {
    b.reset();
    b.try_acquire().record_failure();
    REQUIRE(b.state() == S::open);
    clock.advance(1ms);
    std::atomic<int> granted{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    std::array<breaker::permit, threads> permits;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        permits[static_cast<std::size_t>(t)] = b.try_acquire();
        if (permits[static_cast<std::size_t>(t)]) granted.fetch_add(1);
      });
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
    REQUIRE(granted.load() == 2);
    REQUIRE(b.state() == S::half_open);
    for (auto& p : permits) p.record_success();
    REQUIRE(b.state() == S::closed);
  }
}

TEST_CASE("time-window buckets started by many threads at once lose no call",
          "[policy][circuit_breaker][concurrency]") {
  // Every thread's first call finds a bucket of an older period and races to empty it for the
  // new one: the one that wins empties it, the others wait for it and then count; none is lost.
  tutti::testing::manual_clock clock;
  breaker b{{.mode = tutti::breaker_mode::time_window,
             .failure_ratio = 1.0,
             .minimum_calls = 1'000'000,
             .window_duration = 8s,
             .window_buckets = 8},
            clock};
  constexpr int rounds = 20;
  constexpr int per_thread = 500;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < threads) std::this_thread::yield();
        for (int i = 0; i < per_thread; ++i) {
          auto p = b.try_acquire();
          if ((i + t) % 4 == 0) p.record_failure();
          else p.record_success();
        }
      });
    for (auto& t : pool) t.join();
    const auto m = b.metrics();
    INFO("round " << round);
    // Everything of this round is in one bucket; the earlier rounds left the window.
    CHECK(m.window_calls == threads * per_thread);
    CHECK(m.window_failures == threads * per_thread / 4);
    clock.advance(8s);  // the next round's bucket is of a later period, the same ring position
  }
  CHECK(b.state() == S::closed);
}
