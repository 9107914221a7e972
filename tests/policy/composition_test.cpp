// Composition: descriptors of composed steps and compile-time worst cases.
#include <catch2/catch.hpp>

#include <tutti/tutti.hpp>

using namespace std::chrono_literals;

namespace {
constexpr auto charge = tutti::step<"charge">([]() -> tutti::result<int> { return 1; }) |
                        tutti::timeout{2s} |
                        tutti::retry{tutti::exponential_backoff{.first = 100ms, .cap = 1s},
                                     tutti::max_attempts{4}} |
                        tutti::deadline{30s};

// Users write budgets like these next to their workflow definitions.
static_assert(tutti::max_calls(charge) <= 4, "charge may call the card service at most 4 times");
static_assert(tutti::max_delay(charge) <= 1s, "charge waits at most a second between attempts");
}  // namespace

TEST_CASE("a descriptor lists the policies inner to outer with their settings",
          "[policy][composition]") {
  constexpr auto d = tutti::describe(charge);
  STATIC_REQUIRE(d.size() == 3);
  STATIC_REQUIRE(d.step == "charge");
  STATIC_REQUIRE(d.policies[0].name == "timeout");
  STATIC_REQUIRE(d.policies[0].limit == 2s);
  STATIC_REQUIRE(d.policies[1].name == "retry");
  STATIC_REQUIRE(d.policies[1].max_attempts == 4);
  STATIC_REQUIRE(d.policies[1].detail == "exponential");
  STATIC_REQUIRE(d.policies[2].name == "deadline");
  STATIC_REQUIRE(d.policies[2].limit == 30s);
  constexpr auto plain = tutti::describe(tutti::step<"p">([] {}));
  STATIC_REQUIRE(plain.size() == 0);
}

TEST_CASE("worst cases multiply through nested retries and add over a workflow",
          "[policy][composition]") {
  constexpr auto inner = tutti::step<"s">([] {}) |
                         tutti::retry{tutti::constant_backoff{1s}, tutti::max_attempts{3}};
  constexpr auto outer = inner | tutti::retry{tutti::constant_backoff{10s}, tutti::max_attempts{2}};
  STATIC_REQUIRE(tutti::max_calls(inner) == 3);
  STATIC_REQUIRE(tutti::max_calls(outer) == 6);
  STATIC_REQUIRE(tutti::max_delay(inner) == 2s);
  STATIC_REQUIRE(tutti::max_delay(outer) == 2 * 2s + 10s);
  constexpr auto wf = tutti::workflow<"w">(tutti::step<"a">([] {}), outer);
  STATIC_REQUIRE(tutti::max_calls(wf) == 7);
  STATIC_REQUIRE(tutti::max_delay(wf) == 14s);
  constexpr auto forever = tutti::step<"f">([] {}) | tutti::retry_forever{};
  STATIC_REQUIRE(tutti::max_calls(forever) == tutti::unbounded);
  STATIC_REQUIRE(tutti::max_delay(forever) == tutti::duration::max());
}

TEST_CASE("the worst case holds at run time", "[policy][composition]") {
  int calls = 0;
  auto step = tutti::step<"s">([&calls]() -> tutti::result<void> {
                ++calls;
                return tutti::errc::timeout;
              }) |
              tutti::retry{tutti::max_attempts{3}} | tutti::retry{tutti::max_attempts{2}};
  auto wf = tutti::workflow<"w">(step);
  (void)wf.run();
  CHECK(static_cast<std::uint64_t>(calls) == tutti::max_calls(step));
}
