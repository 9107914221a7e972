// A dependency that fails 30 % of the time, behind retry + circuit breaker + fallback.
//
// The step "price" calls a pricing service that times out on 30 % of calls. Each call goes
// through a circuit breaker (it opens when 50 % of the last 10 calls failed), each failure is
// retried up to 3 times with exponential backoff, and when all else fails the last good price of
// the same product (at most a minute old) is served: the cache is keyed by product, so an order
// is never priced with another product's price. Midway the service goes down completely for a
// while: the breaker opens, calls fail fast, the fallback serves each product's cached price,
// and after the break a probe finds the service back and closes the breaker. The example checks
// every price it prints against the product's list price and exits 1 on a mismatch.
//
// Everything runs on a manual clock with a fixed seed, so the output is the same on every run.
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// The simulated pricing service: fails `failure_percent` % of calls (deterministically, from a
/// seeded generator), or every call while it is down.
struct pricing_service {
  std::uint64_t state = 0x5eed;
  int failure_percent = 30;
  bool down = false;
  int calls = 0;

  tutti::result<int> quote(int product) {
    ++calls;
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const bool fails = down || static_cast<int>((state >> 33) % 100) < failure_percent;
    if (fails) return tutti::errc::timeout;
    return list_price(product);
  }
  static int list_price(int product) { return 1000 + 10 * product; }
};

/// Order n is for one of four products.
int product_of(int order) { return 1 + order % 4; }

struct transitions {
  std::vector<std::string> lines;
};

void on_change(void* user, const tutti::breaker_event& e) {
  static_cast<transitions*>(user)->lines.push_back(
      fmt::format("t={:>5}ms  breaker {} -> {}", e.at.count() / 1'000'000, tutti::to_string(e.from),
                  tutti::to_string(e.to)));
}

}  // namespace

int main() {
  tutti::testing::manual_clock clock;
  pricing_service service;
  transitions log;
  tutti::circuit_breaker breaker{
      tutti::breaker_config{.failure_ratio = 0.5,
                            .minimum_calls = 10,
                            .window_size = 10,
                            .break_for = 2s,
                            .on_state_change = {&on_change, &log}},
      clock};
  tutti::keyed_last_good<int, int> prices{100};  // one entry per product, at most 100 products

  // The workflow's input is the order number; the step prices the order's product.
  const auto pricing = tutti::workflow<"pricing">(
      tutti::step<"price">([&](const int& order) { return service.quote(product_of(order)); }) |
      tutti::guard(breaker) |
      tutti::retry{tutti::exponential_backoff{.first = 20ms, .cap = 200ms}, tutti::max_attempts{3}} |
      tutti::fallback_to_last_good(prices, [](const int& order) { return product_of(order); },
                                   1min));

  int served_fresh = 0;
  int served_cached = 0;
  int failed = 0;
  int total_attempts = 0;
  int wrong_prices = 0;
  fmt::print("order  product  attempts  result\n");
  for (int order = 1; order <= 40; ++order) {
    if (order == 16) service.down = true;   // the service goes down...
    if (order == 26) service.down = false;  // ...and comes back
    const auto run = pricing.run(order, {.seed = 7}, clock);
    const auto line = run.report()[0];
    total_attempts += static_cast<int>(line.attempts);
    std::string what;
    if (run && run.value() != pricing_service::list_price(product_of(order))) ++wrong_prices;
    if (!run) {
      ++failed;
      what = fmt::format("failed: {}", run.error().message());
    } else if (line.fallback_served) {
      ++served_cached;
      what = fmt::format("{} (last good price; covered: {})", run.value(), line.error.message());
    } else {
      ++served_fresh;
      what = fmt::format("{}", run.value());
    }
    fmt::print("{:>5}  {:>7}  {:>8}  {}\n", order, product_of(order), line.attempts, what);
    clock.advance(250ms);  // time between orders
  }

  fmt::print("\nbreaker transitions:\n");
  for (const auto& l : log.lines) fmt::print("  {}\n", l);
  const auto m = breaker.metrics();
  fmt::print(
      "\n{} orders: {} fresh prices, {} cached, {} failed; {} attempts, {} service calls, "
      "{} calls refused by the open breaker\n",
      served_fresh + served_cached + failed, served_fresh, served_cached, failed, total_attempts,
      service.calls, m.rejected);
  if (wrong_prices != 0) {
    fmt::print("{} orders were priced with another product's price\n", wrong_prices);
    return 1;
  }
  return 0;
}

// Expected output (deterministic: manual clock, fixed seeds):
// order  product  attempts  result
//     1        2         1  1020
//     2        3         1  1030
//     3        4         1  1040
//     4        1         1  1010
//     5        2         1  1020
//     6        3         1  1030
//     7        4         1  1040
//     8        1         1  1010
//     9        2         1  1020
//    10        3         2  1030
//    11        4         1  1040
//    12        1         2  1010
//    13        2         1  1020
//    14        3         3  1030
//    15        4         1  1040
//    16        1         2  1010 (last good price; covered: circuit breaker is open)
//    17        2         0  1020 (last good price; covered: circuit breaker is open)
//    18        3         0  1030 (last good price; covered: circuit breaker is open)
//    19        4         0  1040 (last good price; covered: circuit breaker is open)
//    20        1         0  1010 (last good price; covered: circuit breaker is open)
//    21        2         0  1020 (last good price; covered: circuit breaker is open)
//    22        3         0  1030 (last good price; covered: circuit breaker is open)
//    23        4         0  1040 (last good price; covered: circuit breaker is open)
//    24        1         1  1010 (last good price; covered: circuit breaker is open)
//    25        2         0  1020 (last good price; covered: circuit breaker is open)
//    26        3         0  1030 (last good price; covered: circuit breaker is open)
//    27        4         0  1040 (last good price; covered: circuit breaker is open)
//    28        1         0  1010 (last good price; covered: circuit breaker is open)
//    29        2         0  1020 (last good price; covered: circuit breaker is open)
//    30        3         0  1030 (last good price; covered: circuit breaker is open)
//    31        4         0  1040 (last good price; covered: circuit breaker is open)
//    32        1         1  1010
//    33        2         1  1020
//    34        3         1  1030
//    35        4         2  1040
//    36        1         1  1010
//    37        2         3  1020
//    38        3         1  1030
//    39        4         1  1040
//    40        1         2  1010
//
// breaker transitions:
//   t= 3870ms  breaker closed -> open
//   t= 5910ms  breaker open -> half_open
//   t= 5910ms  breaker half_open -> open
//   t= 7930ms  breaker open -> half_open
//   t= 7930ms  breaker half_open -> closed
//
// 40 orders: 24 fresh prices, 16 cached, 0 failed; 35 attempts, 35 service calls, 16 calls refused by the open breaker
