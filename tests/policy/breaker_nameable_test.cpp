// A breaker type that can be named: tutti::breaker (circuit_breaker<any_clock>) lets an ordinary
// function take a breaker that production builds on the steady clock and tests on a manual clock.
#include <catch2/catch.hpp>

#include <chrono>
#include <tutti/clock.hpp>
#include <tutti/policy/circuit_breaker.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>
#include <type_traits>
#include <utility>  // std::declval

using namespace std::chrono_literals;
using state = tutti::breaker_state;

namespace {

// What the charge step calls: a service that is up or down, and counts its calls.
struct payment_service {
  bool up = true;
  int calls = 0;
};

// An ordinary function, not a template: the same code builds the workflow in production and in
// tests, whatever clock the breaker reads.
auto make_checkout(tutti::breaker& payments, payment_service& service) {
  return tutti::workflow<"checkout">(tutti::step<"charge">([&service]() -> tutti::result<int> {
                                       ++service.calls;
                                       if (!service.up) return tutti::errc::timeout;
                                       return 42;
                                     }) |
                                     tutti::guard(payments));
}

constexpr tutti::breaker_config two_strikes{
    .mode = tutti::breaker_mode::consecutive_failures, .consecutive_failures = 2, .break_for = 5s};

// A stateless clock of the user's: breakers on it are as small as on the steady clock.
struct user_empty_clock {
  [[nodiscard]] tutti::duration now() const noexcept { return tutti::duration{7}; }
  void sleep_for(tutti::duration /*d*/) const noexcept {}
};

// A clock with state, not tutti's, to show any_clock forwards to the object it was made from.
struct counting_clock {
  tutti::duration t{};
  int reads = 0;
  int sleeps = 0;
  tutti::duration now() noexcept {
    ++reads;
    return t;
  }
  void sleep_for(tutti::duration d) noexcept {
    ++sleeps;
    t += d;
  }
};

}  // namespace

TEST_CASE(
    "any_clock is a trivially copyable clock and tutti::breaker is circuit_breaker<any_clock>",
    "[policy][circuit_breaker][clock]") {
  STATIC_REQUIRE(tutti::clock<tutti::any_clock>);
  STATIC_REQUIRE(tutti::clock<const tutti::any_clock>);
  STATIC_REQUIRE(std::is_trivially_copyable_v<tutti::any_clock>);
  STATIC_REQUIRE(std::is_nothrow_default_constructible_v<tutti::any_clock>);
  STATIC_REQUIRE(noexcept(std::declval<const tutti::any_clock&>().now()));
  STATIC_REQUIRE(std::is_same_v<tutti::breaker, tutti::circuit_breaker<tutti::any_clock>>);
  STATIC_REQUIRE(std::is_same_v<tutti::breaker::clock_type, tutti::any_clock>);
  // Made from a clock object (implicitly: it is a handle to it), never from a temporary or from
  // something that is not a clock.
  STATIC_REQUIRE(std::is_nothrow_constructible_v<tutti::any_clock, tutti::testing::manual_clock&>);
  STATIC_REQUIRE(std::is_convertible_v<tutti::testing::manual_clock&, tutti::any_clock>);
  STATIC_REQUIRE(std::is_constructible_v<tutti::any_clock, const tutti::steady_clock&>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<tutti::any_clock, tutti::testing::manual_clock>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<tutti::any_clock, tutti::steady_clock&&>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<tutti::any_clock, int&>);
  // A handle copies from a handle, lvalue or rvalue, without making a handle to a handle.
  STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<tutti::any_clock>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<tutti::any_clock>);
}

TEST_CASE("any_clock reads the steady clock by default and forwards to the clock it was made from",
          "[policy][circuit_breaker][clock]") {
  const tutti::any_clock steady;
  const tutti::duration before = tutti::steady_clock{}.now();
  const tutti::duration read = steady.now();
  CHECK(read >= before);
  CHECK(read <= tutti::steady_clock{}.now());
  steady.sleep_for(tutti::duration::zero());  // the steady clock's sleep, which returns at once

  tutti::testing::manual_clock manual{3s};
  const tutti::any_clock handle{manual};
  CHECK(handle.now() == 3s);
  manual.advance(2s);
  CHECK(handle.now() == 5s);  // a handle, not a copy of the time
  handle.sleep_for(1s);       // moves the manual clock
  CHECK(manual.now() == 6s);
  CHECK(manual.slept() == 1s);
  const tutti::any_clock copy = handle;
  copy.sleep_for(1s);
  CHECK(manual.now() == 7s);

  counting_clock counting;
  tutti::any_clock any = counting;  // implicit: a handle to `counting`
  CHECK(any.now() == tutti::duration::zero());
  any.sleep_for(4ms);
  CHECK(any.now() == 4ms);
  CHECK(counting.reads == 2);
  CHECK(counting.sleeps == 1);
  any = manual;  // assignable: now a handle to another clock
  CHECK(any.now() == 7s);
  CHECK(counting.reads == 2);
}

TEST_CASE(
    "a non-template function taking tutti::breaker& opens, rejects and closes it on a manual clock",
    "[policy][circuit_breaker]") {
  // `&make_checkout` names one function: it would not compile for a template.
  STATIC_REQUIRE(std::is_function_v<std::remove_pointer_t<decltype(&make_checkout)>>);
  tutti::testing::manual_clock clock;
  tutti::breaker payments{two_strikes, clock};
  payment_service service{.up = false};
  const auto checkout = make_checkout(payments, service);

  CHECK(checkout.run(tutti::unit{}, {}, clock).error() == tutti::errc::timeout);
  CHECK(payments.state() == state::closed);
  CHECK(checkout.run(tutti::unit{}, {}, clock).error() == tutti::errc::timeout);
  CHECK(payments.state() == state::open);  // two failures in a row

  CHECK(checkout.run(tutti::unit{}, {}, clock).error() == tutti::errc::circuit_open);
  CHECK(service.calls == 2);  // refused without calling the service
  CHECK(payments.retry_after() == 5s);

  clock.advance(4999ms);  // the break is not over yet: still refused
  CHECK(checkout.run(tutti::unit{}, {}, clock).error() == tutti::errc::circuit_open);
  CHECK(service.calls == 2);
  CHECK(payments.retry_after() == 1ms);

  clock.advance(1ms);  // past break_for: the next call is a probe
  service.up = true;
  const auto probe = checkout.run(tutti::unit{}, {}, clock);
  REQUIRE(probe);
  CHECK(probe.value() == 42);
  CHECK(service.calls == 3);
  CHECK(payments.state() == state::closed);
  const auto m = payments.metrics();
  CHECK(m.failures == 2);
  CHECK(m.rejected == 2);
  CHECK(m.transitions == 3);  // closed -> open -> half_open -> closed
}

TEST_CASE(
    "a tutti::breaker built from its settings alone reads the steady clock, in the same "
    "function",
    "[policy][circuit_breaker]") {
  tutti::breaker payments{two_strikes};  // production: no clock named
  payment_service service;
  const auto checkout = make_checkout(payments, service);
  const auto ok = checkout.run(tutti::unit{});
  REQUIRE(ok);
  CHECK(ok.value() == 42);

  service.up = false;
  CHECK(checkout.run(tutti::unit{}).error() == tutti::errc::timeout);
  CHECK(checkout.run(tutti::unit{}).error() == tutti::errc::timeout);
  REQUIRE(payments.state() == state::open);
  CHECK(checkout.run(tutti::unit{}).error() == tutti::errc::circuit_open);
  CHECK(service.calls == 3);
  const tutti::duration left = payments.retry_after();  // a break of 5 s, just begun
  CHECK(left > tutti::duration::zero());
  CHECK(left <= 5s + 1ms);  // the end of a break is kept to the millisecond, rounded up
  // The breaker reads the steady clock: between two reads of it.
  const tutti::duration before = tutti::steady_clock{}.now();
  const tutti::duration now = payments.clock().now();
  CHECK(now >= before);
  CHECK(now <= tutti::steady_clock{}.now());
}

TEST_CASE("the breaker's other clocks keep working: circuit_breaker<Clock> on a Clock&",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  tutti::circuit_breaker<tutti::testing::manual_clock> typed{two_strikes, clock};
  STATIC_REQUIRE(std::is_same_v<decltype(typed.clock()), tutti::testing::manual_clock&>);
  CHECK(&typed.clock() == &clock);
  tutti::circuit_breaker deduced{two_strikes, clock};  // deduction guide: still the typed breaker
  STATIC_REQUIRE(
      std::is_same_v<decltype(deduced), tutti::circuit_breaker<tutti::testing::manual_clock>>);
  // A breaker on the handle type, from a handle: that handle is copied.
  tutti::any_clock handle{clock};
  tutti::breaker from_handle{two_strikes, handle};
  handle = tutti::any_clock{};  // the breaker kept its own copy, still on the manual clock
  clock.advance(9s);
  CHECK(from_handle.clock().now() == 9s);
}

TEST_CASE("a breaker_registry on any_clock hands out tutti::breaker reading the registry's clock",
          "[policy][circuit_breaker]") {
  tutti::testing::manual_clock clock;
  tutti::breaker_registry<int, 4, tutti::any_clock> hosts{two_strikes, clock};
  STATIC_REQUIRE(std::is_same_v<decltype(hosts)::breaker_type, tutti::breaker>);
  tutti::breaker* b = hosts.get(1);
  REQUIRE(b != nullptr);
  payment_service service{.up = false};
  const auto checkout = make_checkout(*b, service);
  (void)checkout.run(tutti::unit{}, {}, clock);
  (void)checkout.run(tutti::unit{}, {}, clock);
  REQUIRE(b->state() == state::open);
  CHECK(checkout.run(tutti::unit{}, {}, clock).error() == tutti::errc::circuit_open);
  clock.advance(5s);  // the registry's breakers read the manual clock
  service.up = true;
  CHECK(checkout.run(tutti::unit{}, {}, clock));
  CHECK(b->state() == state::closed);

  tutti::breaker_registry<int, 2, tutti::any_clock> steady_hosts;  // the steady clock
  REQUIRE(steady_hosts.get(7) != nullptr);
  const tutti::duration before = tutti::steady_clock{}.now();
  CHECK(steady_hosts.get(7)->clock().now() >= before);
}

TEST_CASE("the default circuit_breaker<> does not grow: the steady clock is stored as nothing",
          "[policy][circuit_breaker][sizeof]") {
  STATIC_REQUIRE(std::is_same_v<tutti::circuit_breaker<>::clock_type, tutti::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<tutti::circuit_breaker<>&>().clock()),
                                tutti::steady_clock&>);
  // As small as on any other empty clock: the clock takes no room...
  STATIC_REQUIRE(sizeof(tutti::circuit_breaker<>) ==
                 sizeof(tutti::circuit_breaker<user_empty_clock>));
  // ...and a known size: 24 cache lines on a 64-bit target, 16 of them the window (the count
  // window's outcomes and slow bits, or the time buckets and the full number of each).
  STATIC_REQUIRE((sizeof(void*) != 8 || sizeof(tutti::circuit_breaker<>) == 1536));
  // The handle is three pointers; the breaker on it stays within the same cache lines.
  STATIC_REQUIRE(sizeof(tutti::any_clock) == 3 * sizeof(void*));
  STATIC_REQUIRE(sizeof(tutti::breaker) == sizeof(tutti::circuit_breaker<>));
}
