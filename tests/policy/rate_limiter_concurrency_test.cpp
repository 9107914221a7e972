// Rate limiter under contention (run under TSan too): 8 threads on a shared manual clock. Over
// any interval from construction, never more tokens than the bucket allows; counts conserved.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <latch>
#include <map>
#include <thread>
#include <tutti/policy/rate_limiter.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

namespace {
constexpr int thread_count = 8;

// A virtual clock for threads: time moves only by advance() (a ticker thread calls it), and
// sleep_for(d) blocks (yielding, never sleeping in real time) until the time has moved by d. So
// while one thread waits for its token, the others keep calling, as on a real clock.
class ticking_clock {
 public:
  [[nodiscard]] tutti::duration now() const noexcept {
    return tutti::duration{now_.load(std::memory_order_acquire)};
  }
  void sleep_for(tutti::duration d) noexcept {
    const long long until = now_.load(std::memory_order_acquire) + d.count();
    while (now_.load(std::memory_order_acquire) < until) std::this_thread::yield();
  }
  void advance(tutti::duration d) noexcept { now_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<long long> now_{0};
};
static_assert(tutti::clock<ticking_clock>);

// Moves a ticking_clock on by `step` per turn of its own thread, until destroyed.
class ticker {
 public:
  ticker(ticking_clock& clock, tutti::duration step)
      : thread_([this, &clock, step] {
          while (!stop_.load(std::memory_order_acquire)) {
            clock.advance(step);
            std::this_thread::yield();
          }
        }) {}
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;
  ~ticker() {
    stop_.store(true, std::memory_order_release);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

template <class Body>
void on_threads(Body body) {
  std::latch start{thread_count};
  std::vector<std::thread> pool;
  pool.reserve(thread_count);
  for (int t = 0; t < thread_count; ++t)
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (auto& th : pool) th.join();
}

// (time a grant was used, tokens) for every grant. Checks that for every grant, the tokens used
// up to its time are at most burst + tokens_per_period * (whole periods since construction).
// Returns the number of grants checked.
long check_schedule(std::vector<std::pair<tutti::duration, std::uint32_t>> grants,
                    const tutti::rate_limiter_config& cfg) {
  std::sort(grants.begin(), grants.end());
  std::int64_t used = 0;
  long violations = 0;
  for (std::size_t i = 0; i < grants.size(); ++i) {
    used += grants[i].second;
    const bool last_at_this_time = i + 1 == grants.size() || grants[i + 1].first != grants[i].first;
    if (!last_at_this_time) continue;
    const std::int64_t periods = grants[i].first / cfg.period;
    if (used > cfg.burst + periods * cfg.tokens_per_period) ++violations;
  }
  CHECK(violations == 0);
  return static_cast<long>(grants.size());
}
}  // namespace

TEST_CASE("8 threads draining the bucket every period get exactly what it holds",
          "[policy][rate_limiter][concurrency]") {
  constexpr int rounds = 200;
  constexpr int tries = 4;  // 8 threads x 4 tries = 32 per round > burst: every round drains it
  manual_clock clock;
  const tutti::rate_limiter_config cfg{.tokens_per_period = 5, .period = 10ms, .burst = 10};
  tutti::rate_limiter limiter{cfg, clock};
  std::atomic<long> granted{0};
  std::barrier next_round{thread_count, [&]() noexcept { clock.advance(cfg.period); }};
  on_threads([&](int) {
    for (int r = 0; r < rounds; ++r) {
      for (int i = 0; i < tries; ++i)
        if (limiter.try_acquire()) granted.fetch_add(1, std::memory_order_relaxed);
      next_round.arrive_and_wait();
    }
  });
  // 10 at the start, then 5 at each of the 199 boundaries reached before the last round.
  CHECK(granted.load() == 10 + 5 * (rounds - 1));
  CHECK(limiter.accepted() == static_cast<std::uint64_t>(granted.load()));
  CHECK(limiter.accepted() + limiter.rejected() == std::uint64_t{thread_count} * rounds * tries);
  CHECK(limiter.delayed() == 0);
}

TEST_CASE("8 threads through a throttled workflow with waits never beat the schedule",
          "[policy][rate_limiter][concurrency]") {
  constexpr int runs = 1000;
  ticking_clock clock;
  const tutti::rate_limiter_config cfg{
      .tokens_per_period = 3, .period = 1ms, .burst = 4, .max_wait = 1ms};
  tutti::rate_limiter limiter{cfg, clock};
  std::vector<std::vector<std::pair<tutti::duration, std::uint32_t>>> used(thread_count);
  std::atomic<long> ok{0};
  std::atomic<long> limited{0};
  std::atomic<long> other{0};
  // The step records when it runs: after any wait for its token.
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&](const int& t) {
                                   used[static_cast<std::size_t>(t)].emplace_back(clock.now(), 1U);
                                 }) |
                                 tutti::throttle(limiter));
  {
    const ticker time_moves{clock, 20us};
    on_threads([&](int t) {
      for (int i = 0; i < runs; ++i) {
        const auto run = wf.run(t, {}, clock);
        if (run)
          ok.fetch_add(1, std::memory_order_relaxed);
        else if (run.error() == tutti::errc::rate_limited)
          limited.fetch_add(1, std::memory_order_relaxed);
        else
          other.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::vector<std::pair<tutti::duration, std::uint32_t>> all;
  for (const auto& v : used) all.insert(all.end(), v.begin(), v.end());
  CHECK(check_schedule(all, cfg) == ok.load());
  CHECK(other.load() == 0);
  CHECK(ok.load() + limited.load() == long{thread_count} * runs);
  CHECK(limiter.accepted() == static_cast<std::uint64_t>(ok.load()));
  CHECK(limiter.rejected() == static_cast<std::uint64_t>(limited.load()));
  CHECK(limiter.delayed() <= limiter.accepted());
}

TEST_CASE("8 threads reserving in every period get exactly the tokens due within max_wait",
          "[policy][rate_limiter][concurrency]") {
  constexpr int rounds = 100;
  constexpr int tries = 4;  // 32 calls per period: more than can be served or reserved
  manual_clock clock;
  const tutti::rate_limiter_config cfg{
      .tokens_per_period = 3, .period = 1ms, .burst = 4, .max_wait = 2ms};
  tutti::rate_limiter limiter{cfg, clock};
  std::vector<std::vector<tutti::duration>> due(thread_count);  // when each grant may act
  std::barrier next_round{thread_count, [&]() noexcept { clock.advance(cfg.period); }};
  on_threads([&](int t) {
    for (int r = 0; r < rounds; ++r) {
      for (int i = 0; i < tries; ++i) {
        const tutti::duration now = clock.now();  // time moves only between rounds
        const auto granted = limiter.reserve(1, cfg.max_wait);
        if (granted) due[static_cast<std::size_t>(t)].push_back(now + granted.wait);
      }
      next_round.arrive_and_wait();
    }
  });
  std::map<tutti::duration, int> per_time;
  for (const auto& v : due)
    for (const auto d : v) ++per_time[d];
  // At 0: the burst of 4, plus reservations of the refills at 1 ms and 2 ms. At k ms: one
  // refill of 3 reserved (for k + 2 ms, the furthest within max_wait). Whatever the interleaving.
  std::map<tutti::duration, int> expected{{0ms, 4}};
  for (int k = 1; k <= rounds + 1; ++k) expected[tutti::duration{std::chrono::milliseconds{k}}] = 3;
  CHECK(per_time == expected);
  const long granted = 4 + 3L * (rounds + 1);
  CHECK(limiter.accepted() == static_cast<std::uint64_t>(granted));
  CHECK(limiter.accepted() + limiter.rejected() == std::uint64_t{thread_count} * rounds * tries);
  CHECK(limiter.delayed() == static_cast<std::uint64_t>(granted - 4));
}
