// The saga rule "retriable after the pivot" on values: a retry that never calls again
// (max_attempts{1}) does not make a step retriable; a nested workflow whose steps all retry does.
#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <tutti/tutti.hpp>

namespace {
tutti::result<int> charge(int amount) { return amount; }

// What a service reads from its configuration file.
struct settings {
  std::uint32_t notify_attempts;
};

auto make_checkout(const settings& s) {
  return tutti::workflow<"checkout">(
      tutti::pivot<"confirm">(charge),
      tutti::step<"notify">(charge) | tutti::retry{tutti::max_attempts{s.notify_attempts}});
}
}  // namespace

TEST_CASE("a nested workflow whose steps all retry stands after the pivot",
          "[core][saga][pivot]") {
  constexpr auto notify = tutti::workflow<"notify">(
      tutti::step<"email">(charge) | tutti::retry_forever{},
      tutti::step<"sms">(charge) | tutti::retry{tutti::max_attempts{3}});
  STATIC_REQUIRE(decltype(notify)::retriable);
  STATIC_REQUIRE(notify.retried());
  constexpr auto wf = tutti::workflow<"w">(tutti::pivot<"confirm">(charge), notify);
  STATIC_REQUIRE(!decltype(tutti::workflow<"n">(tutti::step<"a">(charge)))::retriable);
  const auto run = wf.run(5);
  REQUIRE(run);
  CHECK(run.value() == 5);
}

TEST_CASE("max_attempts of 1 from configuration after the pivot is refused when the workflow "
          "is built",
          "[core][saga][pivot]") {
  CHECK_THROWS_AS(make_checkout(settings{1}), std::invalid_argument);
  CHECK_THROWS_WITH(make_checkout(settings{1}), Catch::Contains("max_attempts{1} never"));
  CHECK_NOTHROW(make_checkout(settings{2}));
  CHECK(make_checkout(settings{3}).run(7).value() == 7);
}

TEST_CASE("a retry of 1 attempt counts when another retry around it calls again",
          "[core][saga][pivot]") {
  using namespace std::chrono_literals;
  // Inner once, outer three times: the step is called again.
  constexpr auto wf = tutti::workflow<"w">(
      tutti::pivot<"confirm">(charge),
      tutti::step<"notify">(charge) | tutti::retry{tutti::max_attempts{1}} |
          tutti::retry{tutti::max_attempts{3}});
  STATIC_REQUIRE(tutti::max_calls(wf) == 4);
  // A nested workflow, a choice and a group after the pivot are checked inside too.
  const auto once = tutti::retry{tutti::max_attempts{1}};
  const auto twice = tutti::retry{tutti::max_attempts{2}};
  CHECK_THROWS_AS(tutti::workflow<"w">(tutti::pivot<"p">(charge),
                                       tutti::workflow<"n">(tutti::step<"a">(charge) | twice,
                                                            tutti::step<"b">(charge) | once)),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      tutti::workflow<"w">(tutti::pivot<"p">(charge),
                           tutti::if_else<"c">([](int x) { return x > 0; },
                                               tutti::step<"a">(charge) | twice,
                                               tutti::step<"b">(charge) | once)),
      std::invalid_argument);
  CHECK_THROWS_AS(tutti::workflow<"w">(tutti::pivot<"p">(charge),
                                       tutti::parallel<"g">(tutti::step<"a">(charge) | twice,
                                                            tutti::step<"b">(charge) | once)),
                  std::invalid_argument);
  CHECK_THROWS_AS(tutti::workflow<"w">(tutti::pivot<"p">(charge),
                                       tutti::when([](int x) { return x > 0; },
                                                   tutti::step<"a">(charge) | once)),
                  std::invalid_argument);
  // Before the pivot, or without one, a retry of 1 attempt is allowed.
  CHECK_NOTHROW(tutti::workflow<"w">(tutti::step<"a">(charge) | once, tutti::pivot<"p">(charge)));
  CHECK_NOTHROW(tutti::workflow<"w">(tutti::step<"a">(charge) | once));
}
