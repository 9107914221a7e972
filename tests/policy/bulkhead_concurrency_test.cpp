// Bulkhead under contention (run under TSan too): 8 threads, never more than max_concurrent
// inside, every permit given back, counts conserved.
#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>
#include <tutti/policy/bulkhead.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>
#include <vector>

using namespace std::chrono_literals;

namespace {
constexpr int thread_count = 8;

void raise_to(std::atomic<int>& high, int value) noexcept {
  int seen = high.load(std::memory_order_relaxed);
  while (seen < value && !high.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

// What a step sees: how many calls are inside at once, and the most ever seen.
struct occupancy {
  std::atomic<int> inside{0};
  std::atomic<int> high{0};
  std::atomic<long> calls{0};

  void enter_and_leave() noexcept {
    raise_to(high, inside.fetch_add(1, std::memory_order_acq_rel) + 1);
    std::this_thread::yield();  // stay inside a little, so that others pile up
    inside.fetch_sub(1, std::memory_order_acq_rel);
    calls.fetch_add(1, std::memory_order_relaxed);
  }
};

struct tally {
  std::atomic<long> ok{0};
  std::atomic<long> full{0};
  std::atomic<long> other{0};
  template <class Run>
  void count(const Run& run) noexcept {
    if (run)
      ok.fetch_add(1, std::memory_order_relaxed);
    else if (run.error() == tutti::errc::bulkhead_full)
      full.fetch_add(1, std::memory_order_relaxed);
    else
      other.fetch_add(1, std::memory_order_relaxed);
  }
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
}  // namespace

TEST_CASE("8 threads never have more than max_concurrent calls inside an isolated step",
          "[policy][bulkhead][concurrency]") {
  constexpr int runs = 3000;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 3}};
  occupancy seen;
  tally results;
  auto wf =
      tutti::workflow<"w">(tutti::step<"s">([&]() { seen.enter_and_leave(); }) | tutti::isolate(b));
  on_threads([&](int) {
    for (int i = 0; i < runs; ++i) results.count(wf.run());
  });
  CHECK(seen.high.load() <= 3);
  CHECK(seen.high.load() >= 1);
  CHECK(results.other.load() == 0);
  CHECK(results.ok.load() + results.full.load() == long{thread_count} * runs);
  CHECK(seen.calls.load() == results.ok.load());
  CHECK(b.accepted() == static_cast<std::uint64_t>(results.ok.load()));
  CHECK(b.rejected() == static_cast<std::uint64_t>(results.full.load()));
  CHECK(b.in_use() == 0);  // every permit given back
}

TEST_CASE("8 threads waiting on a shared manual clock keep the limit and the counts",
          "[policy][bulkhead][concurrency]") {
  constexpr int runs = 500;
  tutti::testing::manual_clock clock;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = 2, .max_wait = 3ms}};
  occupancy seen;
  tally results;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() {
                                   seen.enter_and_leave();
                                   clock.sleep_for(100us);  // the call takes (virtual) time
                                 }) |
                                 tutti::isolate(b));
  on_threads([&](int) {
    for (int i = 0; i < runs; ++i) results.count(wf.run(tutti::unit{}, {}, clock));
  });
  CHECK(seen.high.load() <= 2);
  CHECK(results.other.load() == 0);
  CHECK(results.ok.load() + results.full.load() == long{thread_count} * runs);
  CHECK(seen.calls.load() == results.ok.load());
  CHECK(b.accepted() == static_cast<std::uint64_t>(results.ok.load()));
  CHECK(b.rejected() == static_cast<std::uint64_t>(results.full.load()));
  CHECK(b.in_use() == 0);
}

TEST_CASE("permits taken on some threads and given back on others are all accounted for",
          "[policy][bulkhead][concurrency]") {
  constexpr int per_producer = 4000;
  constexpr std::uint32_t limit = 5;
  tutti::bulkhead b{tutti::bulkhead_config{.max_concurrent = limit}};
  std::mutex m;
  std::deque<tutti::bulkhead::permit> handed_over;
  std::atomic<int> producers_left{thread_count / 2};
  std::atomic<long> taken{0};
  std::atomic<long> given_back{0};
  std::atomic<std::uint32_t> worst{0};
  on_threads([&](int t) {
    if (t % 2 == 0) {  // producers: take permits and hand them over
      for (int i = 0; i < per_producer; ++i) {
        auto p = b.try_acquire();
        const std::uint32_t now = b.in_use();
        std::uint32_t w = worst.load(std::memory_order_relaxed);
        while (w < now && !worst.compare_exchange_weak(w, now, std::memory_order_relaxed)) {
        }
        if (!p) continue;
        taken.fetch_add(1, std::memory_order_relaxed);
        const std::scoped_lock lock{m};
        handed_over.push_back(std::move(p));
      }
      producers_left.fetch_sub(1, std::memory_order_release);
    } else {  // consumers: give them back
      for (;;) {
        std::optional<tutti::bulkhead::permit> p;
        {
          const std::scoped_lock lock{m};
          if (!handed_over.empty()) {
            p.emplace(std::move(handed_over.front()));
            handed_over.pop_front();
          }
        }
        if (p) {
          p.reset();  // the slot goes back here, on another thread than it was taken
          given_back.fetch_add(1, std::memory_order_relaxed);
        } else if (producers_left.load(std::memory_order_acquire) == 0) {
          const std::scoped_lock lock{m};
          if (handed_over.empty()) break;
        } else {
          std::this_thread::yield();
        }
      }
    }
  });
  CHECK(worst.load() <= limit);
  CHECK(taken.load() == given_back.load());
  CHECK(b.accepted() == static_cast<std::uint64_t>(taken.load()));
  CHECK(b.accepted() + b.rejected() == std::uint64_t{thread_count / 2} * per_producer);
  CHECK(b.in_use() == 0);
}
