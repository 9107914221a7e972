// Zero overhead, shown: stateless steps and workflows are empty types; concepts both ways.
#include <catch2/catch.hpp>

#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

namespace {
tutti::result<int> fn(int x) noexcept { return x; }
struct user_step {
  static constexpr std::string_view name = "user";
  int operator()() const { return 1; }
};
struct no_name {
  int operator()() const { return 1; }
};

[[maybe_unused]] const auto stateless = tutti::workflow<"w">(
    tutti::step<"a">([](int x) { return x; }).compensate_with([](int) {}),
    tutti::step<"b">([](tutti::from<"a", int> a) { return *a; }),
    user_step{},
    tutti::workflow<"nested">(tutti::step<"c">([] {})));
}  // namespace

TEST_CASE("a workflow of stateless callables is an empty type", "[core][sizeof]") {
  STATIC_REQUIRE(std::is_empty_v<decltype(tutti::step<"a">([] { return 1; }))>);
  STATIC_REQUIRE(std::is_empty_v<decltype(stateless)>);
  STATIC_REQUIRE(std::is_empty_v<tutti::steady_clock>);
}

TEST_CASE("a step costs what its callable and its policies' settings cost", "[core][sizeof]") {
  auto s = tutti::step<"fp">(&fn);
  STATIC_REQUIRE(sizeof(s) == sizeof(&fn));
  auto retried = tutti::step<"r">([](int x) { return x; }) | tutti::retry{tutti::max_attempts{3}};
  STATIC_REQUIRE(sizeof(retried) == sizeof(tutti::retry<>));
  auto forever = tutti::step<"f">([] {}) | tutti::retry_forever{};
  STATIC_REQUIRE(sizeof(forever) == sizeof(tutti::retry_forever<>));
}

TEST_CASE("concepts accept what they should and reject the rest", "[core][concepts]") {
  STATIC_REQUIRE(tutti::clock<tutti::steady_clock>);
  STATIC_REQUIRE(tutti::clock<tutti::testing::manual_clock>);
  STATIC_REQUIRE_FALSE(tutti::clock<int>);
  STATIC_REQUIRE_FALSE(tutti::clock<no_name>);

  STATIC_REQUIRE(tutti::node<decltype(tutti::step<"a">(fn))>);
  STATIC_REQUIRE(tutti::node<decltype(stateless)>);
  STATIC_REQUIRE_FALSE(tutti::node<user_step>);
  STATIC_REQUIRE_FALSE(tutti::node<int>);

  STATIC_REQUIRE(tutti::step_type<user_step>);
  STATIC_REQUIRE_FALSE(tutti::step_type<no_name>);
  STATIC_REQUIRE_FALSE(tutti::step_type<decltype(stateless)>);

  STATIC_REQUIRE(tutti::policy<tutti::retry<>>);
  STATIC_REQUIRE(tutti::policy<tutti::retry_forever<>>);
  STATIC_REQUIRE_FALSE(tutti::policy<user_step>);
}

TEST_CASE("saga roles are visible on the types", "[core][concepts][saga]") {
  auto plain = tutti::step<"a">(fn);
  auto undoable = tutti::step<"b">(fn).compensate_with([](int) {});
  auto pivot = tutti::pivot<"c">(fn);
  auto retried = tutti::step<"d">(fn) | tutti::retry_forever{};
  STATIC_REQUIRE_FALSE(decltype(plain)::compensable);
  STATIC_REQUIRE(decltype(undoable)::compensable);
  STATIC_REQUIRE(decltype(pivot)::pivot);
  STATIC_REQUIRE_FALSE(decltype(plain)::pivot);
  STATIC_REQUIRE(decltype(retried)::retriable);
  STATIC_REQUIRE_FALSE(decltype(plain)::retriable);
  STATIC_REQUIRE(decltype(stateless)::compensable);  // holds a compensable step
}
