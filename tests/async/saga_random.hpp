// The randomised saga test on the async engine: the same seeded fault schedules and model as the
// sync engine's (tests/core/saga_random_test.cpp), with every step and compensation a coroutine
// that waits on virtual time before it acts. The shapes of each kind (all compensable, mixed, a
// pivot) are compiled in a translation unit of their own, saga_random_kind<K>_test.cpp: 10,000
// consecutive seeds, split by kind. Reproduce one case with TUTTI_SAGA_SEED=<seed>.
#ifndef TUTTI_TESTS_ASYNC_SAGA_RANDOM_HPP
#define TUTTI_TESTS_ASYNC_SAGA_RANDOM_HPP

#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

#include "support/saga_model.hpp"

namespace async_saga {
using namespace saga_model;
using namespace std::chrono_literals;

inline tutti::testing::manual_clock clock_;  // single-threaded test

template <std::size_t I, int Kind, std::size_t L>
auto make_node() {
  return shape_node<I, Kind, L>(
      [](const schedule& s) -> tutti::awaitable<tutti::result<int>> {
        co_await tutti::async_sleep(clock_, 1ms, asio::use_awaitable);
        co_return do_step(static_cast<int>(I), s);  // may throw: captured as errc::exception
      },
      [](const int& v, const schedule& s) -> tutti::awaitable<tutti::result<void>> {
        co_await tutti::async_sleep(clock_, 1ms, asio::use_awaitable);
        co_return do_undo(static_cast<int>(I), v, s);
      });
}

template <std::size_t L, int Kind, std::size_t... I>
auto make_workflow(std::index_sequence<I...>) {
  return tutti::workflow<"random">(make_node<I, Kind, L>()...);
}

template <std::size_t L, int Kind>
struct one_case {
  static void check(std::uint64_t seed) {
    static const auto wf = make_workflow<L, Kind>(std::make_index_sequence<L>{});
    static asio::io_context io;
    const schedule s = draw(seed, L);
    g = world{};
    const tutti::duration start = clock_.now();
    const auto run = tutti::testing::run_to_completion(io, clock_, wf.async_run(s, options_for(s), clock_));
    verify<L, Kind>(seed, s, run);
    // Every call and compensation waited 1 ms of virtual time, one after another.
    REQUIRE(clock_.now() - start == std::chrono::milliseconds(g.calls.size() + g.undos.size()));
  }
};

}  // namespace async_saga

/// The seeds of one kind, checked; one TEST_CASE per kind.
template <int Kind>
void check_kind() {
  const int checked = saga_model::run_seeds_of_kind<async_saga::one_case, Kind>(10'000);
  SUCCEED("checked " << checked << " schedules of kind " << Kind);
  if (std::getenv("TUTTI_SAGA_SEED") == nullptr) CHECK(checked > 3'000);
}

#endif  // TUTTI_TESTS_ASYNC_SAGA_RANDOM_HPP
