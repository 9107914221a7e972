// Fallback: a value, an alternate service, the last good result; reported as such.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

TEST_CASE("a fallback value is served when the step fails, and the report says so",
          "[policy][fallback]") {
  bool down = true;
  auto wf = tutti::workflow<"w">(tutti::step<"price">([&]() -> tutti::result<int> {
                                   if (down) return tutti::errc::bulkhead_full;
                                   return 100;
                                 }) |
                                 tutti::fallback(42));
  auto served = wf.run();
  REQUIRE(served);
  CHECK(served.value() == 42);
  const auto line = served.report()[0];
  CHECK(line.status == tutti::step_status::succeeded);
  CHECK(line.fallback_served);
  CHECK(line.error == tutti::errc::bulkhead_full);  // what the fallback covered
  CHECK(fmt::format("{}", served.report()).find("fallback") != std::string::npos);

  down = false;
  auto normal = wf.run();
  CHECK(normal.value() == 100);
  CHECK_FALSE(normal.report()[0].fallback_served);
}

TEST_CASE("an alternate service is called with the step's parameters", "[policy][fallback]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"quote">([](const int&) -> tutti::result<std::string> {
        return tutti::errc::timeout;
      }) |
      tutti::fallback_to([](const int& amount, const tutti::call_context& c) {
        return std::string{c.step} + ":" + std::to_string(amount);
      }));
  auto run = wf.run(5);
  REQUIRE(run);
  CHECK(run.value() == "quote:5");
}

TEST_CASE("when the alternate fails too, the step fails with the original error",
          "[policy][fallback]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::timeout; }) |
      tutti::fallback_to([]() -> tutti::result<int> { return tutti::errc::rate_limited; }));
  auto run = wf.run();
  CHECK(run.error() == tutti::errc::timeout);
  CHECK(run.message().find("fallback") != std::string_view::npos);
}

TEST_CASE("the last good result is served within its staleness bound", "[policy][fallback]") {
  tutti::testing::manual_clock clock;
  auto cache = tutti::last_good<int>::shared();
  int value = 1;
  bool down = false;
  auto wf = tutti::workflow<"w">(tutti::step<"rates">([&]() -> tutti::result<int> {
                                   if (down) return tutti::errc::timeout;
                                   return value;
                                 }) |
                                 tutti::fallback_to_last_good(cache, 30s));
  CHECK(cache.empty());
  REQUIRE(wf.run({}, clock).value() == 1);  // stored at t=0
  value = 2;
  REQUIRE(wf.run({}, clock).value() == 2);  // refreshed
  down = true;
  clock.advance(30s);
  auto fresh = wf.run({}, clock);
  REQUIRE(fresh);
  CHECK(fresh.value() == 2);
  CHECK(fresh.report()[0].fallback_served);
  clock.advance(1s);
  auto stale = wf.run({}, clock);
  CHECK_FALSE(stale);
  CHECK(stale.error() == tutti::errc::timeout);
}

TEST_CASE("a fallback serves only the errors its predicate accepts", "[policy][fallback]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::circuit_open; }) |
      tutti::fallback(0).on([](const std::error_code& ec) { return ec == tutti::errc::timeout; }));
  CHECK(wf.run().error() == tutti::errc::circuit_open);
  auto cancelled = tutti::workflow<"w">(
      tutti::step<"s">([]() -> tutti::result<int> { return tutti::errc::cancelled; }) |
      tutti::fallback(0));
  CHECK(cancelled.run().error() == tutti::errc::cancelled);  // never served on cancellation
}

TEST_CASE("retry inside, fallback outside: the fallback serves after the retries",
          "[policy][fallback][composition]") {
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<int> {
                                   ++calls;
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::retry{tutti::max_attempts{3}} | tutti::fallback(9));
  auto run = wf.run();
  CHECK(run.value() == 9);
  CHECK(calls == 3);
  CHECK(run.report()[0].attempts == 3);
}

TEST_CASE("a fallback inside a retry compiles only when allowed explicitly",
          "[policy][fallback][composition]") {
  int calls = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"s">([&]() -> tutti::result<int> {
                                   ++calls;
                                   return tutti::errc::timeout;
                                 }) |
                                 tutti::allow_inside_retry(tutti::fallback(1)) |
                                 tutti::retry{tutti::max_attempts{3}});
  CHECK(wf.run().value() == 1);
  CHECK(calls == 1);  // the retry never saw a failure: exactly why it needs an explicit opt-in
}

TEST_CASE("a value served by a fallback is not compensated", "[policy][fallback][saga]") {
  int undone = 0;
  auto wf = tutti::workflow<"w">(
      tutti::step<"quote">([]() -> tutti::result<int> { return tutti::errc::timeout; })
              .compensate_with([&undone](int) { ++undone; }) |
          tutti::fallback(5),
      tutti::step<"book">([]() -> tutti::result<void> { return tutti::errc::cancelled; }));
  auto run = wf.run();
  CHECK(undone == 0);  // the quote service did nothing: there is nothing to undo
  CHECK(run.report()[0].status == tutti::step_status::succeeded);
  CHECK(run.report()[0].fallback_served);
}

namespace {
struct order {
  int product;
  int quantity;
};
}  // namespace

TEST_CASE("a keyed last good result is served only to inputs with the same key",
          "[policy][fallback][last_good]") {
  tutti::testing::manual_clock clock;
  tutti::keyed_last_good<int, int> prices{100};
  bool down = false;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"price">([&](const order& o) -> tutti::result<int> {
        if (down) return tutti::errc::timeout;
        return 100 * o.product;
      }) |
      tutti::fallback_to_last_good(prices, [](const order& o) { return o.product; }, 1min));
  REQUIRE(wf.run(order{1, 3}, {}, clock).value() == 100);
  CHECK(prices.size() == 1);
  down = true;
  // Product 1 again (another quantity, same key): its own last price.
  const auto again = wf.run(order{1, 5}, {}, clock);
  REQUIRE(again);
  CHECK(again.value() == 100);
  CHECK(again.report()[0].fallback_served);
  // Product 2 was never priced: nothing to serve, not product 1's price.
  const auto other = wf.run(order{2, 1}, {}, clock);
  CHECK_FALSE(other);
  CHECK(other.error() == tutti::errc::timeout);
  down = false;
  REQUIRE(wf.run(order{2, 1}, {}, clock).value() == 200);
  down = true;
  CHECK(wf.run(order{2, 7}, {}, clock).value() == 200);
  CHECK(wf.run(order{1, 7}, {}, clock).value() == 100);
}

TEST_CASE("each keyed entry has its own staleness bound", "[policy][fallback][last_good]") {
  tutti::testing::manual_clock clock;
  tutti::keyed_last_good<int, int> prices{10};
  bool down = false;
  const auto wf = tutti::workflow<"w">(
      tutti::step<"price">([&](int product) -> tutti::result<int> {
        if (down) return tutti::errc::timeout;
        return 10 * product;
      }) |
      tutti::fallback_to_last_good(prices, [](int product) { return product; }, 30s));
  REQUIRE(wf.run(1, {}, clock));  // key 1 stored at t = 0
  clock.advance(20s);
  REQUIRE(wf.run(2, {}, clock));  // key 2 stored at t = 20 s
  down = true;
  clock.advance(10s);             // t = 30 s: key 1 is exactly 30 s old, still served
  CHECK(wf.run(1, {}, clock).value() == 10);
  clock.advance(1ns);             // 30 s + 1 ns: key 1 is stale, key 2 (10 s old) is not
  CHECK_FALSE(wf.run(1, {}, clock));
  CHECK(wf.run(2, {}, clock).value() == 20);
  clock.advance(20s);
  CHECK_FALSE(wf.run(2, {}, clock));
}

TEST_CASE("a full keyed cache evicts the entry stored longest ago",
          "[policy][fallback][last_good]") {
  tutti::keyed_last_good<int, int> cache{2};
  CHECK(cache.max_entries() == 2);
  cache.store(1, 10, 0s);
  cache.store(2, 20, 1s);
  CHECK(cache.get(1, 2s, 1min) == 10);  // a read does not refresh key 1
  cache.store(3, 30, 2s);               // full: key 1, stored first, goes
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.get(1, 2s, 1min).has_value());
  CHECK(cache.get(2, 2s, 1min) == 20);
  cache.store(2, 21, 3s);               // refreshing key 2 makes key 3 the oldest
  cache.store(4, 40, 4s);
  CHECK_FALSE(cache.get(3, 4s, 1min).has_value());
  CHECK(cache.get(2, 4s, 1min) == 21);
  CHECK(cache.get(4, 4s, 1min) == 40);
  CHECK_THROWS_AS((tutti::keyed_last_good<int, int>{0}), std::invalid_argument);
}

TEST_CASE("a keyed cache serves concurrent runs each their own key's value",
          "[policy][fallback][last_good][concurrency]") {
  tutti::testing::manual_clock clock;
  tutti::keyed_last_good<int, int> prices{4};
  std::atomic<int> calls{0};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"price">([&](int product) -> tutti::result<int> {
        if (calls.fetch_add(1) % 3 == 0) return tutti::errc::timeout;  // a third fail
        return 1000 + product;
      }) |
      tutti::fallback_to_last_good(prices, [](int product) { return product; }, 1h));
  std::atomic<int> wrong{0};
  std::atomic<int> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int product = (i + t) % 6;  // 6 keys in 4 entries: evictions under load
        const auto run = wf.run(product, {}, clock);
        if (!run) continue;
        if (run.value() != 1000 + product) wrong.fetch_add(1);
        if (run.report()[0].fallback_served) served.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
  CHECK(served.load() > 0);
  CHECK(prices.size() <= 4);
}
