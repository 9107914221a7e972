// The manual clock: time moves only when told, sleeps return at once; wake-ups are called when
// it reaches them.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>
#include <tutti/testing/manual_clock.hpp>

using namespace std::chrono_literals;

TEST_CASE("a manual clock starts where told and moves only when advanced or slept",
          "[testing][clock]") {
  tutti::testing::manual_clock clock{5s};
  CHECK(clock.now() == 5s);
  CHECK(clock.now() == 5s);
  clock.advance(250ms);
  CHECK(clock.now() == 5250ms);
  clock.sleep_for(10min);
  CHECK(clock.now() == 5250ms + 10min);
  CHECK(clock.slept() == 10min);
  CHECK(clock.sleeps() == 1);
  clock.sleep_for(0s);
  clock.sleep_for(-1s);
  CHECK(clock.sleeps() == 1);  // non-positive sleeps do not move time
  CHECK(clock.now() == 5250ms + 10min);
}

TEST_CASE("concurrent sleeps on a manual clock add up exactly", "[testing][clock]") {
  tutti::testing::manual_clock clock;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&clock] {
      for (int i = 0; i < 1000; ++i) clock.sleep_for(1ms);
    });
  for (auto& t : threads) t.join();
  CHECK(clock.now() == 4s);
  CHECK(clock.sleeps() == 4000);
}

// ---- wake-ups: what asynchronous waits on virtual time are built on ----------------------------

TEST_CASE("a manual clock calls its wake-ups when it reaches them, earliest first",
          "[testing][clock][async]") {
  tutti::testing::manual_clock clock{10s};
  std::vector<std::string> calls;
  const auto at = [&](const char* name) {
    return [&calls, &clock, name] { calls.push_back(std::string{name} + "@" + std::to_string(clock.now() / 1s)); };
  };
  clock.wake_at(13s, at("c"));
  clock.wake_at(12s, at("b1"));
  clock.wake_at(12s, at("b2"));  // same time: in the order they were asked for
  const std::uint64_t never = clock.wake_at(20s, at("never"));
  clock.wake_at(5s, at("past"));  // already reached: called at once, on this thread
  CHECK(calls == std::vector<std::string>{"past@10"});
  CHECK(clock.pending_wakes() == 4);
  REQUIRE(clock.next_wake().has_value());
  CHECK(*clock.next_wake() == 12s);

  clock.advance(1s);  // 11 s: nothing due
  CHECK(calls.size() == 1);
  clock.sleep_for(2s);  // 13 s: b1, b2, c (the clock reads 13 s for all of them)
  CHECK(calls == std::vector<std::string>{"past@10", "b1@13", "b2@13", "c@13"});
  CHECK(clock.cancel_wake(never));
  CHECK_FALSE(clock.cancel_wake(never));  // gone
  CHECK_FALSE(clock.next_wake().has_value());
  CHECK_FALSE(clock.advance_to_next_wake());  // nothing pending: the clock stays
  CHECK(clock.now() == 13s);
  clock.advance(1h);
  CHECK(calls.size() == 4);
}

TEST_CASE("advance_to_next_wake moves the clock to the earliest wake-up exactly",
          "[testing][clock][async]") {
  tutti::testing::manual_clock clock;
  std::vector<std::chrono::nanoseconds> seen;
  // A wake-up that asks for another: the chain moves time step by step.
  std::function<void()> again = [&] {
    seen.push_back(clock.now());
    if (seen.size() < 3) clock.wake_at(clock.now() + 250ms, again);
  };
  clock.wake_at(1s, again);
  int moves = 0;
  while (clock.advance_to_next_wake()) ++moves;
  CHECK(moves == 3);
  CHECK(seen == std::vector<std::chrono::nanoseconds>{1s, 1250ms, 1500ms});
  CHECK(clock.now() == 1500ms);
  CHECK(clock.pending_wakes() == 0);
}

TEST_CASE("wake-ups asked for and cancelled from several threads are each called at most once",
          "[testing][clock][async]") {
  tutti::testing::manual_clock clock;
  std::atomic<int> called{0};
  std::atomic<int> cancelled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        const auto ticket = clock.wake_at(std::chrono::milliseconds{1 + (i * 7 + t) % 50},
                                          [&called] { called.fetch_add(1); });
        if (i % 5 == 0 && clock.cancel_wake(ticket)) cancelled.fetch_add(1);
        if (i % 10 == 0) clock.advance(1ms);
      }
    });
  for (auto& th : threads) th.join();
  clock.advance(1s);
  CHECK(clock.pending_wakes() == 0);
  CHECK(called.load() + cancelled.load() == 1000);
  CHECK(cancelled.load() > 0);
}
