// Allocation counts: a run of a sequential workflow whose steps do not allocate allocates nothing.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <tutti/tutti.hpp>

#include "support/counting_new.hpp"  // counts allocations (this test binary only)

using tutti_test::allocations;

namespace {
tutti::result<int> inc(int x) noexcept { return x + 1; }
using tutti::from;
using tutti::step;

const auto chain8 = tutti::workflow<"chain8">(
    step<"s1">([](const int& x) { return inc(x); }).compensate_with([](int) {}),
    step<"s2">([](from<"s1", int> x) { return inc(*x); }).compensate_with([](int) {}),
    step<"s3">([](from<"s2", int> x) { return inc(*x); }),
    step<"s4">([](from<"s3", int> x, const tutti::call_context& c) { return inc(*x + static_cast<int>(c.attempt) - 1); }),
    step<"s5">([](from<"s4", int> x) { return inc(*x); }) | tutti::retry{tutti::max_attempts{3}},
    step<"s6">([](from<"s5", int> x) { return inc(*x); }),
    step<"s7">([](from<"s6", int> x) { return inc(*x); }),
    step<"s8">([](from<"s7", int> x) { return inc(*x); }));

long allocations_of_one_run(int input, int& value) {
  const long before = allocations.load();
  {
    auto run = chain8.run(input);
    value = run.has_value() ? run.value() : -1;
  }
  return allocations.load() - before;
}
}  // namespace

TEST_CASE("the counting allocator sees allocations", "[core][alloc]") {
  const long before = allocations.load();
  auto* p = new int(3);
  delete p;
  CHECK(allocations.load() - before == 1);
}

TEST_CASE("a run of an 8-step workflow whose steps do not allocate allocates nothing",
          "[core][alloc]") {
  int value = 0;
  (void)allocations_of_one_run(0, value);  // first run on this thread seeds its run-id source
  CHECK(allocations_of_one_run(10, value) == 0);
  CHECK(value == 18);
  CHECK(allocations_of_one_run(20, value) == 0);
  CHECK(value == 28);
}

TEST_CASE("a failing run that compensates with error codes allocates nothing",
          "[core][alloc]") {
  const auto wf = tutti::workflow<"w">(
      step<"a">([] { return 1; }).compensate_with([](int) {}),
      step<"b">([]() -> tutti::result<int> { return tutti::errc::timeout; }));
  (void)wf.run();
  const long before = allocations.load();
  {
    auto run = wf.run();
    CHECK(run.outcome() == tutti::run_outcome::compensated);
  }
  CHECK(allocations.load() - before == 0);
}

TEST_CASE("a run with a retry and a circuit breaker on every step allocates nothing",
          "[core][alloc][policy]") {
  static tutti::circuit_breaker<> breakers[2]{tutti::circuit_breaker<>{}, tutti::circuit_breaker<>{
      tutti::breaker_config{.mode = tutti::breaker_mode::consecutive_failures}}};
  const auto wf = tutti::workflow<"w">(
      step<"a">([](const int& x) { return inc(x); }) | tutti::guard(breakers[0]) |
          tutti::retry{tutti::exponential_backoff{.first = std::chrono::milliseconds{1}},
                       tutti::max_attempts{3}},
      step<"b">([](from<"a", int> x) { return inc(*x); }) | tutti::guard(breakers[1]) |
          tutti::retry{tutti::max_attempts{3}} | tutti::fallback(0));
  (void)wf.run(1);
  const long before = allocations.load();
  {
    auto run = wf.run(1);
    CHECK(run.value() == 3);
  }
  CHECK(allocations.load() - before == 0);
}
