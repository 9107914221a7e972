// Randomised saga test: seeded random fault schedules over workflows of 1 to 12 steps, checked
// against an independent model of what must happen. Reproduce one case with
// TUTTI_SAGA_SEED=<seed> (the seed is printed with every failure).
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <utility>
#include <tutti/tutti.hpp>

#include "support/saga_model.hpp"

namespace {
using namespace saga_model;

template <std::size_t I, int Kind, std::size_t L>
auto make_node() {
  return shape_node<I, Kind, L>(
      [](const schedule& s) { return do_step(static_cast<int>(I), s); },
      [](const int& v, const schedule& s) { return do_undo(static_cast<int>(I), v, s); });
}

template <std::size_t L, int Kind, std::size_t... I>
auto make_workflow(std::index_sequence<I...>) {
  return tutti::workflow<"random">(make_node<I, Kind, L>()...);
}

template <std::size_t L, int Kind>
struct one_case {
  static void check(std::uint64_t seed) {
    static const auto wf = make_workflow<L, Kind>(std::make_index_sequence<L>{});
    const schedule s = draw(seed, L);
    g = world{};
    const auto run = wf.run(s, options_for(s));
    verify<L, Kind>(seed, s, run);
  }
};

}  // namespace

TEST_CASE("random fault schedules keep the saga invariants", "[core][saga][random]") {
  const int runs = run_seeds<one_case>(10'000);
  SUCCEED("checked " << runs << " schedules");
}

TEST_CASE("the saga model itself agrees with a hand-worked case", "[core][saga][random]") {
  // 4 steps of kind 0 (all compensable), step 2 fails; compensation of step 0 fails.
  schedule s;
  s.fail_step = 2;
  s.comp_fail = 1u;
  const auto e = model(4, 0, s);
  CHECK(e.calls == std::vector<int>{0, 1, 2});
  CHECK(e.undos == std::vector<std::pair<int, int>>{{1, 1001}, {0, 1000}});
  CHECK(e.outcome == tutti::run_outcome::compensation_failed);
  CHECK(e.status == std::vector<tutti::step_status>{tutti::step_status::compensation_failed,
                                                    tutti::step_status::compensated,
                                                    tutti::step_status::failed,
                                                    tutti::step_status::not_started});
}
