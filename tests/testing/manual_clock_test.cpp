// The manual clock: time moves only when told, sleeps return at once.
#include <catch2/catch.hpp>

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
