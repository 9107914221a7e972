// Allocation counts of parallel groups: none on the inline executor; on the thread pool, one
// per run (the group's std::stop_source state) once the pool's queue has grown.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <optional>
#include <system_error>
#include <tuple>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

#include "support/counting_new.hpp"  // counts allocations (this test binary only)

using tutti_test::allocations;

namespace {
using tutti::from;
using tutti::result;
using tutti::step;

/// Allocations made (on any thread) by `runs` calls of `f`, after `f` ran once to warm up
/// (the calling thread's run-id source, the pool queue's high-water mark).
template <class F>
long allocations_of(int runs, F&& f) {
  f();
  const long before = allocations.load();
  for (int i = 0; i < runs; ++i) f();
  return allocations.load() - before;
}

TEST_CASE("the counting allocator sees allocations on other threads", "[control][parallel][alloc]") {
  tutti::thread_pool pool{1};
  std::atomic<int> done{0};
  auto task = [&]() noexcept {
    delete new int(3);
    done.fetch_add(1);
    done.notify_all();
  };
  pool.submit(task);  // the first submit grows the pool's queue: 1 more allocation
  done.wait(0);
  const long before = allocations.load();
  pool.submit(task);
  done.wait(1);
  CHECK(allocations.load() - before == 1);
}

TEST_CASE("inline executor: a run with a group of 4 stateless int branches allocates nothing",
          "[control][parallel][alloc]") {
  static const auto wf = tutti::workflow<"w">(
      step<"base">([](int x) { return x; }),
      tutti::parallel<"g">(step<"a">([](from<"base", int> b) { return *b + 1; }),
                           step<"b">([](from<"base", int> b) { return *b + 2; }),
                           step<"c">([](int x) { return x + 3; }).compensate_with([](int) {}),
                           step<"d">([](int x) { return x + 4; }) | tutti::retry{tutti::max_attempts{2}}),
      step<"sum">([](from<"g", std::tuple<int, int, int, int>> g) {
        return std::get<0>(*g) + std::get<1>(*g) + std::get<2>(*g) + std::get<3>(*g);
      }));
  int value = 0;
  CHECK(allocations_of(10, [&] {
          auto r = wf.run(5);
          value = r.has_value() ? r.value() : -1;
        }) == 0);
  CHECK(value == 30);
}

TEST_CASE("inline executor: quorum and first_of allocate nothing",
          "[control][parallel][alloc]") {
  static tutti::inline_executor ex;
  static const auto wf = tutti::workflow<"w">(
      tutti::quorum<"q", 2>(ex, step<"a">([]() -> result<int> { return tutti::errc::timeout; }),
                            step<"b">([] { return 2; }), step<"c">([] { return 3; }),
                            step<"d">([] { return 4; })),
      tutti::first_of<"f">(ex, step<"x">([]() -> result<int> { return tutti::errc::timeout; }),
                           step<"y">([] { return 20; })),
      step<"sum">([](from<"q", std::array<std::optional<int>, 4>> q, from<"f", int> f) {
        int s = *f;
        for (const auto& v : *q) s += v.value_or(0);
        return s;
      }));
  int value = 0;
  CHECK(allocations_of(10, [&] {
          auto r = wf.run();
          value = r.has_value() ? r.value() : -1;
        }) == 0);
  CHECK(value == 25);
}

TEST_CASE("inline executor: a failing group allocates once per run, for its message",
          "[control][parallel][alloc]") {
  // The group's message "b: timed out" (12 characters) is built in a std::string that fits its
  // small-string buffer; storing it makes the run's message_store allocate its array of texts
  // (once per run, on the first message). Nothing else allocates: error codes, compensation.
  static const auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      step<"a">([] { return 1; }).compensate_with([](int) {}),
      step<"b">([]() -> result<int> { return tutti::errc::timeout; })));
  bool compensated = true;
  const long n = allocations_of(10, [&] {
    auto r = wf.run();
    compensated = compensated && r.outcome() == tutti::run_outcome::compensated;
  });
  CHECK(compensated);
  CHECK(n == 10);
}

TEST_CASE("thread pool: one allocation per run of a group (its stop state), after warm-up",
          "[control][parallel][alloc][pool]") {
  tutti::thread_pool pool{4};
  const auto wf = tutti::workflow<"w">(
      step<"base">([](int x) { return x; }),
      tutti::parallel<"g">(pool, step<"a">([](from<"base", int> b) { return *b + 1; }),
                           step<"b">([](from<"base", int> b) { return *b + 2; }),
                           step<"c">([](int x) { return x + 3; }),
                           step<"d">([](int x) { return x + 4; })),
      step<"sum">([](from<"g", std::tuple<int, int, int, int>> g) {
        return std::get<0>(*g) + std::get<1>(*g) + std::get<2>(*g) + std::get<3>(*g);
      }));
  constexpr int runs = 100;
  int value = 0;
  const long n = allocations_of(runs, [&] {
    auto r = wf.run(5);
    value = r.has_value() ? r.value() : -1;
  });
  CHECK(value == 30);
  // The std::stop_source of the group: its shared stop state is heap-allocated. The branch
  // tasks capture only the runner's address and sit in the queue's inline slots.
  CHECK(n == runs);
}

TEST_CASE("thread pool: quorum, first_of and a hedge answered at once cost one allocation each",
          "[control][parallel][alloc][pool]") {
  tutti::thread_pool pool{2};
  tutti::testing::manual_clock clock;
  const auto wf = tutti::workflow<"w">(
      tutti::quorum<"q", 1>(pool, step<"a">([] { return 1; }), step<"b">([] { return 1; })),
      tutti::first_of<"f">(pool, step<"x">([] { return 2; }), step<"y">([] { return 2; })),
      tutti::hedge<"h">(pool, std::chrono::milliseconds{5}, step<"p">([] { return 3; }),
                        step<"s">([] { return 3; })));
  constexpr int runs = 100;
  int value = 0;
  const long n = allocations_of(runs, [&] {
    auto r = wf.run(tutti::unit{}, {}, clock);
    value = r.has_value() ? r.value() : -1;
  });
  CHECK(value == 3);
  CHECK(n == 3 * runs);
}
}  // namespace
