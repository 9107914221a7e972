// Executors: the executor concept, inline_executor, and thread_pool (exactly-once runs, draining
// destructor, helping waiters, FIFO order, and what a submit allocates).
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <latch>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
#include <tutti/executor.hpp>

#include "support/counting_new.hpp"  // counts allocations (this test binary only)

using tutti_test::thread_allocations;

namespace {
// A pool of one worker held busy until destruction: queued tasks run only when the test thread
// calls try_run_one, so queue depth and every allocation are deterministic.
struct held_pool {
  std::latch started{1};
  std::latch released{1};
  tutti::thread_pool pool{1};

  held_pool() {
    pool.submit([this]() noexcept {
      started.count_down();
      released.wait();
    });
    started.wait();  // the worker holds the blocker: try_run_one cannot pick it up
  }
  ~held_pool() { released.count_down(); }  // then `pool` drains and joins, then the latches go
  held_pool(const held_pool&) = delete;
  held_pool& operator=(const held_pool&) = delete;

  // Runs every queued task on this thread; returns how many ran.
  int drain() {
    int n = 0;
    while (pool.try_run_one()) ++n;
    return n;
  }
};

// Submits `task` (by copy) and returns the allocations this thread made inside the submit.
template <class Task>
long allocations_of_submit(tutti::thread_pool& pool, const Task& task) {
  const long before = thread_allocations;
  pool.submit(task);
  return thread_allocations - before;
}

// Callables of a chosen size, alignment and move noexcept-ness that count their live copies.
int live_tasks = 0;  // only touched on the test thread (tasks run there, via try_run_one)
template <std::size_t Size, std::size_t Align, bool NothrowMove>
struct alignas(Align) sized_task {
  long* ran;
  std::array<std::byte, Size - sizeof(long*)> pad{};

  explicit sized_task(long* r) noexcept : ran(r) { ++live_tasks; }
  sized_task(const sized_task& o) noexcept : ran(o.ran), pad(o.pad) { ++live_tasks; }
  sized_task(sized_task&& o) noexcept(NothrowMove) : ran(o.ran), pad(o.pad) { ++live_tasks; }
  sized_task& operator=(const sized_task&) = delete;
  ~sized_task() { --live_tasks; }
  void operator()() noexcept { ++*ran; }
};

struct returns_int {
  int operator()() const noexcept { return 1; }
};
struct custom_executor {
  template <class F>
  void submit(F&& f) {
    std::forward<F>(f)();
  }
  static constexpr bool runs_inline = false;
};

template <class E, class F>
concept submittable_to = requires(E& e, F f) { e.submit(std::move(f)); };
}  // namespace

TEST_CASE("inline_executor and thread_pool are executors and an int is not",
          "[control][executor]") {
  STATIC_REQUIRE(tutti::executor<tutti::inline_executor>);
  STATIC_REQUIRE(tutti::executor<const tutti::inline_executor>);
  STATIC_REQUIRE(tutti::executor<tutti::thread_pool>);
  STATIC_REQUIRE(tutti::executor<custom_executor>);
  STATIC_REQUIRE_FALSE(tutti::executor<int>);
  STATIC_REQUIRE_FALSE(tutti::executor<const tutti::thread_pool>);

  STATIC_REQUIRE(tutti::runs_inline_v<tutti::inline_executor>);
  STATIC_REQUIRE(tutti::runs_inline_v<const tutti::inline_executor&>);
  STATIC_REQUIRE_FALSE(tutti::runs_inline_v<tutti::thread_pool>);
  STATIC_REQUIRE_FALSE(tutti::runs_inline_v<custom_executor>);
  STATIC_REQUIRE_FALSE(tutti::runs_inline_v<int>);

  // Tasks return void; anything else is not submittable.
  STATIC_REQUIRE_FALSE(submittable_to<tutti::thread_pool, returns_int>);
  STATIC_REQUIRE_FALSE(submittable_to<tutti::inline_executor, returns_int>);
  STATIC_REQUIRE_FALSE(submittable_to<tutti::thread_pool, int>);

  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tutti::thread_pool>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<tutti::thread_pool>);
}

TEST_CASE("the inline executor runs each callable at once on the calling thread, in order",
          "[control][executor]") {
  const tutti::inline_executor ex;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  order.reserve(3);
  threads.reserve(3);
  for (int i = 0; i < 3; ++i) {
    const long before = thread_allocations;
    ex.submit([&order, &threads, i]() noexcept {
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
    });
    CHECK(thread_allocations - before == 0);
    CHECK(order.size() == static_cast<std::size_t>(i) + 1);  // already ran
  }
  CHECK(order == std::vector<int>{0, 1, 2});
  for (const auto& id : threads) CHECK(id == std::this_thread::get_id());

  STATIC_REQUIRE(noexcept(ex.submit(tutti::detail::executor_probe{})));
  const auto throws = [] { throw 7; };
  STATIC_REQUIRE_FALSE(noexcept(ex.submit(throws)));
  CHECK_THROWS_AS(ex.submit(throws), int);
}

TEST_CASE("a thread pool runs 10,000 tasks submitted from 4 threads exactly once, on its workers",
          "[control][executor]") {
  constexpr int tasks = 10'000;
  constexpr int submitters = 4;
  std::vector<std::atomic<int>> runs(tasks);
  std::atomic<int> ran_off_worker{0};
  std::atomic<int> submitted_on_worker{0};
  std::latch all_ran(tasks);
  {
    tutti::thread_pool pool(3);
    CHECK(pool.size() == 3);
    CHECK_FALSE(pool.on_worker_thread());

    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
      threads.emplace_back([&, t] {
        if (pool.on_worker_thread()) submitted_on_worker.fetch_add(1);
        for (int i = t; i < tasks; i += submitters) {
          pool.submit([&runs, &ran_off_worker, &all_ran, &pool, i]() noexcept {
            runs[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
            if (!pool.on_worker_thread()) ran_off_worker.fetch_add(1);
            all_ran.count_down();
          });
        }
      });
    }
    for (auto& t : threads) t.join();
    all_ran.wait();
  }
  int wrong = 0;
  for (const auto& r : runs) wrong += r.load() == 1 ? 0 : 1;
  CHECK(wrong == 0);
  CHECK(ran_off_worker.load() == 0);
  CHECK(submitted_on_worker.load() == 0);
}

TEST_CASE("a thread pool's destructor runs every task already submitted, and what they submit",
          "[control][executor]") {
  std::latch gate(1);
  std::atomic<int> ran{0};
  std::jthread opener;
  {
    tutti::thread_pool pool(1);
    pool.submit([&]() noexcept {
      gate.wait();
      for (int i = 0; i < 100; ++i) {
        pool.submit([&ran]() noexcept { ran.fetch_add(1, std::memory_order_relaxed); });
      }
    });
    for (int i = 0; i < 1000; ++i) {
      pool.submit([&ran]() noexcept { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    // The only worker is held by the gate until after this thread has entered the destructor,
    // or about then: the 1,000 tasks are still queued when the pool is told to stop.
    opener = std::jthread([&gate] { gate.count_down(); });
  }
  CHECK(ran.load() == 1100);
}

TEST_CASE("try_run_one runs a queued task on the calling thread, and returns false on an empty "
          "queue", "[control][executor]") {
  held_pool held;  // its single worker is blocked on a latch
  CHECK_FALSE(held.pool.try_run_one());

  std::thread::id ran_on;
  bool on_worker = true;
  held.pool.submit([&]() noexcept {
    ran_on = std::this_thread::get_id();
    on_worker = held.pool.on_worker_thread();
  });
  CHECK(held.pool.try_run_one());
  CHECK(ran_on == std::this_thread::get_id());
  CHECK_FALSE(on_worker);
  CHECK_FALSE(held.pool.try_run_one());
}

TEST_CASE("tasks waiting for their sub-tasks with try_run_one do not deadlock a pool of 2 threads",
          "[control][executor]") {
  std::atomic<int> leaves{0};
  std::latch outers_done(8);
  {
    tutti::thread_pool pool(2);
    for (int o = 0; o < 8; ++o) {
      pool.submit([&]() noexcept {
        std::atomic<int> mine{0};
        for (int s = 0; s < 4; ++s) {
          pool.submit([&leaves, &mine]() noexcept {
            leaves.fetch_add(1, std::memory_order_relaxed);
            mine.fetch_add(1, std::memory_order_release);  // last touch of `mine`
          });
        }
        // Help instead of blocking: both workers may be in here at once, waiting.
        while (mine.load(std::memory_order_acquire) < 4) {
          if (!pool.try_run_one()) std::this_thread::yield();
        }
        outers_done.count_down();
      });
    }
    outers_done.wait();
  }
  CHECK(leaves.load() == 32);
}

TEST_CASE("a thread pool runs tasks in submission order across the queue's growth",
          "[control][executor]") {
  held_pool held;
  std::vector<int> order;
  order.reserve(100);
  const auto submit = [&](int i) {
    held.pool.submit([&order, i]() noexcept { order.push_back(i); });
  };
  for (int i = 0; i < 10; ++i) submit(i);
  for (int i = 0; i < 6; ++i) CHECK(held.pool.try_run_one());
  // The ring's head is now mid-buffer: growing must keep the queued tasks in order.
  for (int i = 10; i < 70; ++i) submit(i);
  CHECK(held.drain() == 64);
  std::vector<int> expected;
  for (int i = 0; i < 70; ++i) expected.push_back(i);
  CHECK(order == expected);
}

TEST_CASE("submitting a 16-byte callable allocates nothing once the queue has grown",
          "[control][executor][alloc]") {
  held_pool held;
  long ran = 0;
  const auto task = [ran = &ran, add = 1L]() noexcept { *ran += add; };
  STATIC_REQUIRE(sizeof(task) == 16);

  for (int i = 0; i < 64; ++i) (void)allocations_of_submit(held.pool, task);  // warm-up
  CHECK(held.drain() == 64);

  long allocations = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 50; ++i) allocations += allocations_of_submit(held.pool, task);
    CHECK(held.drain() == 50);
  }
  CHECK(allocations == 0);
  CHECK(ran == 64 + 1000);
}

TEST_CASE("submitting a 256-byte callable allocates exactly once per submit",
          "[control][executor][alloc]") {
  held_pool held;
  long ran = 0;
  struct payload {
    long* ran;
    std::array<std::byte, 248> bytes;
  };
  const auto task = [p = payload{&ran, {}}]() noexcept { *p.ran += 1; };
  STATIC_REQUIRE(sizeof(task) == 256);

  for (int i = 0; i < 64; ++i) (void)allocations_of_submit(held.pool, task);  // warm-up
  CHECK(held.drain() == 64);

  long allocations = 0;
  int not_one = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 50; ++i) {
      const long n = allocations_of_submit(held.pool, task);
      allocations += n;
      not_one += n == 1 ? 0 : 1;
    }
    CHECK(held.drain() == 50);
  }
  CHECK(allocations == 1000);
  CHECK(not_one == 0);
  CHECK(ran == 64 + 1000);
}

TEST_CASE("a 48-byte callable is stored in place, and bigger, over-aligned or throwing-move "
          "ones are boxed", "[control][executor][alloc]") {
  held_pool held;  // its queue already holds 16 slots: pushing up to 15 tasks never grows it
  long ran = 0;
  const auto check = [&](const auto& task, long expected_allocations) {
    ran = 0;
    const int live_before = live_tasks;
    long allocations = 0;
    for (int i = 0; i < 4; ++i) allocations += allocations_of_submit(held.pool, task);
    for (int i = 0; i < 4; ++i) {  // by move
      auto copy = task;
      const long before = thread_allocations;
      held.pool.submit(std::move(copy));
      allocations += thread_allocations - before;
    }
    CHECK(held.drain() == 8);
    CHECK(allocations == 8 * expected_allocations);
    CHECK(ran == 8);
    CHECK(live_tasks == live_before);  // every stored copy destroyed exactly once
  };
  SECTION("48 bytes: in place") { check(sized_task<48, alignof(long*), true>{&ran}, 0); }
  SECTION("56 bytes: boxed") { check(sized_task<56, alignof(long*), true>{&ran}, 1); }
  SECTION("over-aligned: boxed") { check(sized_task<64, 64, true>{&ran}, 1); }
  SECTION("move may throw: boxed") { check(sized_task<16, alignof(long*), false>{&ran}, 1); }
  CHECK(live_tasks == 0);
}

TEST_CASE("a callable whose copy throws leaves the queue unchanged", "[control][executor]") {
  struct throwing_copy {
    std::array<std::byte, 8> bytes{};  // stored in place; a second one is boxed
    throwing_copy() = default;
    throwing_copy(const throwing_copy&) { throw std::runtime_error("copy"); }
    throwing_copy(throwing_copy&&) noexcept = default;
    throwing_copy& operator=(const throwing_copy&) = delete;
    ~throwing_copy() = default;
    void operator()() noexcept {}
  };
  struct big_throwing_copy : throwing_copy {
    std::array<std::byte, 64> more{};
  };
  held_pool held;
  const throwing_copy small;
  const big_throwing_copy big;
  CHECK_THROWS_AS(held.pool.submit(small), std::runtime_error);
  CHECK_THROWS_AS(held.pool.submit(big), std::runtime_error);
  CHECK_FALSE(held.pool.try_run_one());
}

TEST_CASE("a thread pool of 0 threads throws std::invalid_argument", "[control][executor]") {
  CHECK_THROWS_MATCHES(tutti::thread_pool(0), std::invalid_argument,
                       Catch::Matchers::Message("tutti: thread_pool needs at least one thread"));
}
