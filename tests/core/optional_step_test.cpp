// optional_branch marks a branch of a parallel group; in a sequence it is refused at compile time
// (tests/compile_fail/optional_branch_*.cpp). A step the run survives is a group of one optional
// branch.
#include <catch2/catch.hpp>

#include <optional>
#include <tuple>
#include <tutti/tutti.hpp>

namespace {
template <class N>
constexpr bool held = tutti::detail::holds_optional_branch<N>();
}  // namespace

TEST_CASE("optional_branch is seen through policies and conditions", "[core][optional]") {
  constexpr auto s = tutti::step<"s">([](int x) { return x; });
  using plain = decltype(s);
  using marked = decltype(tutti::optional_branch(s));
  using wrapped = decltype(tutti::optional_branch(s) | tutti::retry{tutti::max_attempts{2}});
  using conditional = decltype(tutti::when([](int x) { return x > 0; }, tutti::optional_branch(s)));
  STATIC_REQUIRE_FALSE(held<plain>);
  STATIC_REQUIRE(held<marked>);
  STATIC_REQUIRE(held<wrapped>);
  STATIC_REQUIRE(held<conditional>);
}

TEST_CASE("a group of one optional branch is a step the run survives", "[core][optional]") {
  bool down = true;
  const auto wf = tutti::workflow<"w">(
      tutti::parallel<"maybe">(tutti::optional_branch(
          tutti::step<"notify">([&down](int x) -> tutti::result<int> {
            if (down) return tutti::errc::timeout;
            return x;
          }))),
      tutti::step<"after">([](int x) { return x + 1; }));
  const auto failed_notify = wf.run(1);
  REQUIRE(failed_notify);
  CHECK(failed_notify.value() == 2);
  CHECK_FALSE(std::get<0>(failed_notify.get<"maybe">()).has_value());
  down = false;
  const auto ok = wf.run(1);
  REQUIRE(ok);
  CHECK(std::get<0>(ok.get<"maybe">()) == std::optional<int>{1});
}
