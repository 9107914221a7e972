// Parallel groups on tutti::thread_pool: real concurrency, cancellation, hedging on a manual
// clock. Each case repeats its run many times to shake out races; the file must be clean under
// ThreadSanitizer. No sleeps: branches wait on their stop token, an atomic or the manual clock.
#include <tutti/tutti.hpp>
#include <tutti/testing/event_log.hpp>
#include <tutti/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

namespace {
using tutti::from;
using tutti::result;
using tutti::step;
using tutti::event_kind;
using std::chrono::milliseconds;

constexpr int runs = 200;

std::error_code io_error() { return std::make_error_code(std::errc::io_error); }

/// Blocks until `token` is stopped. The long guard only turns a library bug (no stop request)
/// into a failed check instead of a hung test; a passing run never waits for it.
bool wait_for_stop(const std::stop_token& token) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock{m};
  (void)cv.wait_for(lock, token, std::chrono::seconds{30}, [] { return false; });
  return token.stop_requested();
}

/// Sets `flag` and wakes whoever waits on it.
void signal(std::atomic<bool>& flag) {
  flag.store(true, std::memory_order_release);
  flag.notify_all();
}

TEST_CASE("pool: every branch runs and the outputs are in branch order",
          "[control][parallel][pool]") {
  tutti::thread_pool pool{4};
  auto wf = tutti::workflow<"w">(
      step<"base">([](int x) { return x * 10; }),
      tutti::parallel<"g">(pool, step<"a">([](from<"base", int> b) { return *b + 1; }),
                           step<"b">([](int x, from<"base", int> b) { return std::to_string(*b + x); }),
                           step<"c">([](int x) { return x * 2.0; }),
                           step<"d">([](from<"base", int> b) { return std::vector<int>{*b, *b}; })),
      step<"sum">([](from<"g", std::tuple<int, std::string, double, std::vector<int>>> g) {
        return std::get<0>(*g) + std::stoi(std::get<1>(*g)) + static_cast<int>(std::get<2>(*g)) +
               std::get<3>(*g)[0] + std::get<3>(*g)[1];
      }));
  for (int i = 0; i < runs; ++i) {
    auto r = wf.run(i);
    REQUIRE(r.has_value());
    // (10i + 1) + (10i + i) + 2i + 10i + 10i
    CHECK(r.value() == 43 * i + 1);
    const auto& g = r.get<"g">();
    CHECK(std::get<1>(g) == std::to_string(11 * i));
  }
}

TEST_CASE("pool: a failing branch stops a blocked sibling, completed ones are undone once",
          "[control][parallel][pool][cancel]") {
  tutti::thread_pool pool{4};
  std::atomic<int> done_ran{0}, done_undone{0}, first_undone{0}, slow_saw_stop{0};
  std::atomic<bool> slow_started{false};
  auto wf = tutti::workflow<"w">(
      step<"first">([] { return 1; }).compensate_with([&](int) { ++first_undone; }),
      tutti::parallel<"g">(
          pool,
          step<"done">([&] {
            ++done_ran;
            return 1;
          }).compensate_with([&](int) { ++done_undone; }),
          step<"slow">([&](std::stop_token token) -> result<int> {
            signal(slow_started);
            if (!wait_for_stop(token)) return 0;  // never asked to stop: a success fails the test
            ++slow_saw_stop;
            return tutti::errc::cancelled;
          }),
          step<"bad">([&]() -> result<int> {
            slow_started.wait(false, std::memory_order_acquire);  // fail while "slow" blocks
            return io_error();
          })));
  tutti::testing::event_log log;
  for (int i = 0; i < runs; ++i) {
    slow_started.store(false);
    done_ran = 0, done_undone = 0, first_undone = 0, slow_saw_stop = 0;
    log.clear();
    auto r = wf.run(tutti::unit{}, {}, log);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error() == std::errc::io_error);
    REQUIRE(r.message() == "bad: " + io_error().message());
    REQUIRE(slow_saw_stop == 1);
    const auto slow_failed = log.of(event_kind::step_failed, "g/slow");
    REQUIRE(slow_failed.size() == 1);
    REQUIRE(slow_failed[0].error == tutti::errc::cancelled);
    // "done" may have been cancelled before it started; if it ran, it is undone exactly once.
    REQUIRE(done_ran <= 1);
    REQUIRE(done_undone == done_ran.load());
    REQUIRE(log.count(event_kind::compensation_succeeded, "g/done") ==
            static_cast<std::size_t>(done_ran.load()));
    REQUIRE(first_undone == 1);
    REQUIRE(r.outcome() == tutti::run_outcome::compensated);
  }
}

TEST_CASE("pool: the host's stop token reaches the branches through the group's own token",
          "[control][parallel][pool][cancel]") {
  tutti::thread_pool pool{3};
  std::atomic<bool> started{false};
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      pool, step<"a">([] { return 1; }),
      step<"wait">([&](std::stop_token token) -> result<int> {
        signal(started);
        if (!wait_for_stop(token)) return 0;
        return tutti::errc::cancelled;
      })));
  for (int i = 0; i < runs / 4; ++i) {
    started.store(false);
    std::stop_source host;
    std::error_code seen;
    std::jthread runner{[&] {
      auto r = wf.run(tutti::unit{}, {.stop = host.get_token()});
      seen = r.error();
    }};
    started.wait(false, std::memory_order_acquire);
    host.request_stop();
    runner.join();
    REQUIRE(seen == tutti::errc::cancelled);
  }
}

TEST_CASE("pool: quorum keeps the first K successes, a late success is compensated",
          "[control][parallel][pool][quorum]") {
  tutti::thread_pool pool{4};
  std::array<std::atomic<int>, 3> ran{}, undone{};
  auto fast = [&](auto index) {
    return [&, index] {
      ++ran[index];
      return static_cast<int>(index) + 1;
    };
  };
  SECTION("two quick branches win, the blocked third is stopped and undone if it succeeds") {
    auto wf = tutti::workflow<"w">(tutti::quorum<"q", 2>(
        pool, step<"a">(fast(0)).compensate_with([&](int) { ++undone[0]; }),
        step<"b">(fast(1)).compensate_with([&](int) { ++undone[1]; }),
        step<"c">([&](std::stop_token token) {
          ++ran[2];
          (void)wait_for_stop(token);
          return 3;  // succeeds late, after being asked to stop
        }).compensate_with([&](int) { ++undone[2]; })));
    for (int i = 0; i < runs; ++i) {
      for (auto& x : ran) x = 0;
      for (auto& x : undone) x = 0;
      auto r = wf.run();
      REQUIRE(r.has_value());
      const std::array<std::optional<int>, 3>& v = r.value();
      REQUIRE(v[0] == 1);
      REQUIRE(v[1] == 2);
      REQUIRE_FALSE(v[2].has_value());
      REQUIRE(undone[0] == 0);
      REQUIRE(undone[1] == 0);
      REQUIRE(undone[2] == ran[2].load());  // the late success, if c ran at all
    }
  }
  SECTION("all quick: exactly K engaged, every extra success undone exactly once") {
    auto wf = tutti::workflow<"w">(tutti::quorum<"q", 2>(
        pool, step<"a">(fast(0)).compensate_with([&](int) { ++undone[0]; }),
        step<"b">(fast(1)).compensate_with([&](int) { ++undone[1]; }),
        step<"c">(fast(2)).compensate_with([&](int) { ++undone[2]; })));
    for (int i = 0; i < runs; ++i) {
      for (auto& x : ran) x = 0;
      for (auto& x : undone) x = 0;
      auto r = wf.run();
      REQUIRE(r.has_value());
      const std::array<std::optional<int>, 3>& v = r.value();
      int engaged = 0;
      for (std::size_t k = 0; k < 3; ++k) {
        if (v[k]) {
          ++engaged;
          REQUIRE(*v[k] == static_cast<int>(k) + 1);
          REQUIRE(undone[k] == 0);
        } else {
          REQUIRE(undone[k] == ran[k].load());
        }
      }
      REQUIRE(engaged == 2);
    }
  }
  SECTION("a later step's failure undoes the K winners, each once") {
    auto wf = tutti::workflow<"w">(
        tutti::quorum<"q", 2>(pool, step<"a">(fast(0)).compensate_with([&](int) { ++undone[0]; }),
                              step<"b">(fast(1)).compensate_with([&](int) { ++undone[1]; }),
                              step<"c">(fast(2)).compensate_with([&](int) { ++undone[2]; })),
        step<"after">([]() -> result<int> { return io_error(); }));
    for (int i = 0; i < runs; ++i) {
      for (auto& x : ran) x = 0;
      for (auto& x : undone) x = 0;
      auto r = wf.run();
      REQUIRE(r.outcome() == tutti::run_outcome::compensated);
      for (std::size_t k = 0; k < 3; ++k) REQUIRE(undone[k] == ran[k].load());
    }
  }
}

TEST_CASE("pool: quorum fails when too few can succeed, and undoes the winners",
          "[control][parallel][pool][quorum]") {
  tutti::thread_pool pool{4};
  std::atomic<int> a_undone{0};
  auto wf = tutti::workflow<"w">(tutti::quorum<"q", 2>(
      pool, step<"a">([] { return 1; }).compensate_with([&](int) { ++a_undone; }),
      step<"b">([]() -> result<int> { return io_error(); }),
      step<"c">([]() -> result<int> { return io_error(); })));
  for (int i = 0; i < runs; ++i) {
    a_undone = 0;
    auto r = wf.run();
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error() == std::errc::io_error);
    // a may be cancelled before it starts (0 of 3) or succeed and be undone (1 of 3).
    const std::string msg{r.message()};
    const std::string prefix = std::to_string(a_undone.load()) + " of 3 branches succeeded, 2 needed; ";
    REQUIRE(msg.rfind(prefix, 0) == 0);
    REQUIRE(a_undone <= 1);
  }
}

TEST_CASE("pool: first_of returns the quick branch, the stopped one's late success is undone",
          "[control][parallel][pool][first_of]") {
  tutti::thread_pool pool{4};
  std::atomic<int> slow_ran{0}, slow_undone{0}, quick_undone{0};
  auto wf = tutti::workflow<"w">(tutti::first_of<"price">(
      pool,
      step<"slow">([&](std::stop_token token) {
        ++slow_ran;
        (void)wait_for_stop(token);
        return 1;
      }).compensate_with([&](int) { ++slow_undone; }),
      step<"quick">([] { return 2; }).compensate_with([&](int) { ++quick_undone; })));
  for (int i = 0; i < runs; ++i) {
    slow_ran = 0, slow_undone = 0, quick_undone = 0;
    auto r = wf.run();
    REQUIRE(r.has_value());
    REQUIRE(r.value() == 2);
    REQUIRE(quick_undone == 0);
    REQUIRE(slow_undone == slow_ran.load());
  }
}

TEST_CASE("pool: hedging on the manual clock starts the hedge after the delay, it wins",
          "[control][parallel][pool][hedge]") {
  tutti::thread_pool pool{3};
  tutti::testing::manual_clock clock;
  constexpr auto delay = milliseconds{50};
  std::atomic<bool> primary_started{false};
  std::atomic<int> primary_saw_stop{0}, primary_undone{0}, hedge_ran{0}, hedge_undone{0};
  auto wf = tutti::workflow<"w">(tutti::hedge<"read">(
      pool, delay,
      step<"primary">([&](std::stop_token token) {
        signal(primary_started);
        if (wait_for_stop(token)) ++primary_saw_stop;
        return 1;  // answers late, after the hedge won
      }).compensate_with([&](int) { ++primary_undone; }),
      step<"hedge">([&] {
        ++hedge_ran;
        return 2;
      }).compensate_with([&](int) { ++hedge_undone; })));
  tutti::testing::event_log log;
  for (int i = 0; i < runs; ++i) {
    primary_started.store(false);
    primary_saw_stop = 0, primary_undone = 0, hedge_ran = 0, hedge_undone = 0;
    log.clear();
    std::optional<int> value;
    std::jthread runner{[&] {
      auto r = wf.run(tutti::unit{}, {}, clock, log);
      if (r.has_value()) value = r.value();
    }};
    primary_started.wait(false, std::memory_order_acquire);
    // Time has not moved: the hedge cannot have started yet.
    CHECK(hedge_ran == 0);
    clock.advance(delay);
    runner.join();
    REQUIRE(value == 2);
    REQUIRE(hedge_ran == 1);
    REQUIRE(hedge_undone == 0);
    REQUIRE(primary_saw_stop == 1);
    REQUIRE(primary_undone == 1);
    REQUIRE(log.count(event_kind::compensation_succeeded, "read/primary") == 1);
    REQUIRE(log.count(event_kind::step_succeeded, "read") == 1);
  }
}

TEST_CASE("pool: a primary that answers at once starts no hedge (manual time never moves)",
          "[control][parallel][pool][hedge]") {
  tutti::thread_pool pool{2};
  tutti::testing::manual_clock clock;
  std::atomic<int> hedge_ran{0};
  auto wf = tutti::workflow<"w">(tutti::hedge<"read">(
      pool, milliseconds{50}, step<"primary">([] { return 1; }), step<"hedge">([&] {
        ++hedge_ran;
        return 2;
      })));
  for (int i = 0; i < runs; ++i) {
    auto r = wf.run(tutti::unit{}, {}, clock);
    REQUIRE(r.has_value());
    REQUIRE(r.value() == 1);
  }
  CHECK(hedge_ran == 0);
  CHECK(clock.now() == tutti::duration::zero());
}

TEST_CASE("pool: a primary that fails starts the hedge at once, without waiting the delay",
          "[control][parallel][pool][hedge]") {
  tutti::thread_pool pool{2};
  tutti::testing::manual_clock clock;
  auto wf = tutti::workflow<"w">(tutti::hedge<"read">(
      pool, milliseconds{50}, step<"primary">([]() -> result<int> { return io_error(); }),
      step<"hedge">([] { return 2; })));
  for (int i = 0; i < runs; ++i) {
    auto r = wf.run(tutti::unit{}, {}, clock);
    REQUIRE(r.has_value());
    REQUIRE(r.value() == 2);
  }
  CHECK(clock.now() == tutti::duration::zero());
}

TEST_CASE("pool: step | hedged runs copies read/1 and read/2 on the manual clock",
          "[control][parallel][pool][hedge]") {
  tutti::thread_pool pool{2};
  tutti::testing::manual_clock clock;
  constexpr auto delay = milliseconds{20};
  std::atomic<bool> first_started{false};
  std::mutex m;
  std::vector<std::string> paths;
  auto wf = tutti::workflow<"w">(
      step<"read">([&](const tutti::call_context& c, std::stop_token token) -> result<int> {
        {
          std::lock_guard lock{m};
          paths.emplace_back(c.step);
        }
        if (c.step == "read/1") {
          signal(first_started);
          if (!wait_for_stop(token)) return 100;
          return tutti::errc::cancelled;
        }
        return 2;
      }) | tutti::hedged(pool, delay));
  tutti::testing::event_log log;
  for (int i = 0; i < runs / 2; ++i) {
    first_started.store(false);
    paths.clear();
    log.clear();
    std::optional<int> value;
    std::jthread runner{[&] {
      auto r = wf.run(tutti::unit{}, {}, clock, log);
      if (r.has_value()) value = r.value();
    }};
    first_started.wait(false, std::memory_order_acquire);
    clock.advance(delay);
    runner.join();
    REQUIRE(value == 2);
    REQUIRE(paths == std::vector<std::string>{"read/1", "read/2"});
    REQUIRE(log.count(event_kind::step_started, "read/1") == 1);
    REQUIRE(log.count(event_kind::step_succeeded, "read/2") == 1);
    REQUIRE(log.of(event_kind::step_failed, "read/1").size() == 1);
  }
}

TEST_CASE("pool of 2: a group nested in a branch does not deadlock",
          "[control][parallel][pool][nested]") {
  tutti::thread_pool pool{2};
  auto wf = tutti::workflow<"w">(
      step<"base">([](int x) { return x; }),
      tutti::parallel<"outer">(
          pool,
          tutti::parallel<"inner">(pool, step<"a">([](from<"base", int> b) { return *b + 1; }),
                                   step<"b">([](from<"base", int> b) { return *b + 2; }),
                                   step<"c">([](from<"base", int> b) { return *b + 3; })),
          tutti::workflow<"sub">(tutti::parallel<"deep">(pool, step<"x">([](int x) { return x * 2; }),
                                                         step<"y">([](int x) { return x * 3; }))),
          step<"d">([](int x) { return x * 10; })));
  for (int i = 0; i < runs; ++i) {
    auto r = wf.run(i);
    REQUIRE(r.has_value());
    const auto& [inner, sub, d] = r.value();
    REQUIRE(inner == std::tuple{i + 1, i + 2, i + 3});
    REQUIRE(sub == std::tuple{2 * i, 3 * i});
    REQUIRE(d == 10 * i);
  }
}

TEST_CASE("pool: many concurrent runs of one workflow from 4 threads share one pool",
          "[control][parallel][pool]") {
  tutti::thread_pool pool{3};
  std::atomic<int> undone{0};
  auto wf = tutti::workflow<"w">(
      step<"base">([](int x) { return x; }),
      tutti::parallel<"g">(pool, step<"a">([](from<"base", int> b) { return *b + 1; }),
                           step<"b">([](from<"base", int> b) { return *b * 2; }).compensate_with([&](int) {
                             ++undone;
                           }),
                           step<"c">([](int x) -> result<int> {
                             if (x % 7 == 0) return io_error();
                             return x * 3;
                           })),
      step<"sum">([](from<"g", std::tuple<int, int, int>> g) {
        return std::get<0>(*g) + std::get<1>(*g) + std::get<2>(*g);
      }));
  std::array<std::atomic<int>, 4> wrong{}, failed{};
  {
    std::vector<std::jthread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&, t] {
        for (int i = 0; i < runs; ++i) {
          const int x = t * 1000 + i;
          auto r = wf.run(x);
          if (x % 7 == 0) {
            if (r.has_value() || r.message() != "c: " + io_error().message()) ++wrong[static_cast<std::size_t>(t)];
            ++failed[static_cast<std::size_t>(t)];
          } else if (!r.has_value() || r.value() != 6 * x + 1) {
            ++wrong[static_cast<std::size_t>(t)];
          }
        }
      });
    }
  }
  int failures = 0;
  for (std::size_t t = 0; t < 4; ++t) {
    CHECK(wrong[t] == 0);
    failures += failed[t];
  }
  // "b" is undone at most once per failed run (it may have been cancelled before it started).
  CHECK(undone <= failures);
}

TEST_CASE("pool: an event_log sees every branch's events from the workers",
          "[control][parallel][pool][events]") {
  tutti::thread_pool pool{4};
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      pool, step<"a">([] { return 1; }), step<"b">([] { return 2; }),
      step<"c">([] { return 3; }) | tutti::retry{tutti::max_attempts{2}},
      tutti::workflow<"sub">(step<"x">([] { return 4; }))));
  tutti::testing::event_log log;
  for (int i = 0; i < runs; ++i) {
    auto r = wf.run(tutti::unit{}, {}, log);
    REQUIRE(r.has_value());
  }
  for (const char* path : {"g", "g/a", "g/b", "g/c", "g/sub", "g/sub/x"}) {
    INFO(path);
    CHECK(log.count(event_kind::step_started, path) == runs);
    CHECK(log.count(event_kind::step_succeeded, path) == runs);
  }
  CHECK(log.count(event_kind::attempt_started, "g/c") == runs);
  CHECK(log.count(event_kind::run_finished) == runs);
  CHECK(log.count(event_kind::step_failed) == 0);
}

// ---- regressions found in review ------------------------------------------------------------

TEST_CASE("pool: a losing branch under retry_forever stops retrying once the group is decided",
          "[control][parallel][pool][retry]") {
  tutti::thread_pool pool{2};
  std::atomic<int> down_calls{0};
  auto wf = tutti::workflow<"w">(tutti::first_of<"g">(
      pool, step<"fast">([] { return 1; }),
      step<"down">([&]() -> result<int> {
        ++down_calls;
        return std::make_error_code(std::errc::connection_refused);
      }) | tutti::retry_forever{tutti::constant_backoff{milliseconds{0}}}));
  for (int i = 0; i < 50; ++i) {
    auto r = wf.run();  // would never return if the retry ignored the group's stop request
    REQUIRE(r.has_value());
    CHECK(r.value() == 1);
  }
}

TEST_CASE("pool: hedges nested in the branches of a group on a one-thread pool do not stall",
          "[control][parallel][pool][hedge]") {
  tutti::thread_pool pool{1};
  tutti::testing::manual_clock clock;  // time never moves: a stalled hedge would wait forever
  auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      pool,
      tutti::hedge<"x">(pool, std::chrono::hours{1}, step<"p">([] { return 1; }),
                        step<"r">([] { return 2; })),
      tutti::hedge<"y">(pool, std::chrono::hours{1}, step<"q">([] { return 3; }),
                        step<"s">([] { return 4; }))));
  for (int i = 0; i < 50; ++i) {
    auto r = wf.run(tutti::unit{}, {}, clock);
    REQUIRE(r.has_value());
    CHECK(std::get<0>(r.value()) == 1);
    CHECK(std::get<1>(r.value()) == 3);
  }
  CHECK(clock.now() == tutti::duration::zero());
}
}  // namespace
