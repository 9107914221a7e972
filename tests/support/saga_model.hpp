// The randomised saga test's world, shapes and model, shared by the sync engine's test
// (tests/core/saga_random_test.cpp) and the async engine's (tests/async/saga_random_test.cpp).
#ifndef TUTTI_TESTS_SUPPORT_SAGA_MODEL_HPP
#define TUTTI_TESTS_SUPPORT_SAGA_MODEL_HPP

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <type_traits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <tutti/tutti.hpp>

namespace saga_model {


struct schedule {
  int fail_step = -1;          // which step fails, -1 for none
  int fail_attempts = 1;       // how many of its attempts fail (1 or 2)
  bool fail_throws = false;    // exception instead of an error code
  std::uint32_t comp_fail = 0;   // bit i: compensation of step i fails
  std::uint32_t comp_throw = 0;  // bit i: ... by throwing
  bool stop_on_failure = false;
};

struct world {
  std::vector<int> calls;                   // step index per call, in order
  std::vector<std::pair<int, int>> undos;   // (step index, value received), in order
  std::array<int, 12> attempts{};
};
inline world g;  // single-threaded test

inline tutti::result<int> do_step(int i, const schedule& s) {
  g.calls.push_back(i);
  const int attempt = ++g.attempts[static_cast<std::size_t>(i)];
  if (s.fail_step == i && attempt <= s.fail_attempts) {
    if (s.fail_throws) throw std::runtime_error("boom " + std::to_string(i));
    return tutti::errc::timeout;
  }
  return 1000 + i;
}

inline tutti::result<void> do_undo(int i, int value, const schedule& s) {
  g.undos.emplace_back(i, value);
  if ((s.comp_fail >> i) & 1u) {
    if ((s.comp_throw >> i) & 1u) throw std::runtime_error("undo boom " + std::to_string(i));
    return tutti::errc::cancelled;
  }
  return tutti::outcome::success();
}

// ---- the shapes: for L = 1..12 steps, three kinds --------------------------------------------
// kind 0: every step compensable; kind 1: a mixed pattern; kind 2: a pivot at L/2 (L >= 2), mixed
// compensable steps before it, retriable steps (max 2 attempts) after it.

template <std::size_t I>
constexpr auto step_name() {
  tutti::fixed_string<4> n;
  n.data[0] = 's';
  n.data[1] = static_cast<char>('0' + I / 10);
  n.data[2] = static_cast<char>('0' + I % 10);
  return n;
}

constexpr bool has_pivot(int kind, std::size_t l) { return kind == 2 && l >= 2; }
constexpr std::size_t pivot_at(std::size_t l) { return l / 2; }
constexpr bool is_compensable(std::size_t i, int kind, std::size_t l) {
  if (has_pivot(kind, l) && i >= pivot_at(l)) return false;
  if (kind == 0) return true;
  return (i * 7 + l) % 3 != 0;
}
constexpr bool is_retriable(std::size_t i, int kind, std::size_t l) {
  return has_pivot(kind, l) && i > pivot_at(l);
}

/// Node I of a workflow of L steps of kind Kind, from the step's callable and its compensation's
/// (each test makes them: plain functions, or coroutines).
template <std::size_t I, int Kind, std::size_t L, class Body, class Undo>
auto shape_node(Body body, Undo undo) {
  constexpr auto name = step_name<I>();
  if constexpr (has_pivot(Kind, L) && I == pivot_at(L)) {
    return tutti::pivot<name>(body);
  } else if constexpr (is_retriable(I, Kind, L)) {
    return tutti::step<name>(body) | tutti::retry{tutti::max_attempts{2}};
  } else if constexpr (is_compensable(I, Kind, L)) {
    return tutti::step<name>(body).compensate_with(undo);
  } else {
    (void)undo;
    return tutti::step<name>(body);
  }
}

// ---- the model -------------------------------------------------------------------------------

struct expected {
  std::vector<int> calls;
  std::vector<std::pair<int, int>> undos;
  std::vector<tutti::step_status> status;
  std::vector<std::uint32_t> attempts;
  tutti::run_outcome outcome = tutti::run_outcome::succeeded;
  int failed = -1;
};

inline expected model(std::size_t l, int kind, const schedule& s) {
  expected e;
  e.status.assign(l, tutti::step_status::not_started);
  e.attempts.assign(l, 0);
  int failed = -1;
  for (std::size_t i = 0; i < l; ++i) {
    const int max_attempts = is_retriable(i, kind, l) ? 2 : 1;
    const bool fails = s.fail_step == static_cast<int>(i);
    const int calls = fails ? std::min(s.fail_attempts + 1, max_attempts) : 1;
    for (int c = 0; c < calls; ++c) e.calls.push_back(static_cast<int>(i));
    e.attempts[i] = static_cast<std::uint32_t>(calls);
    if (fails && s.fail_attempts >= max_attempts) {
      e.status[i] = tutti::step_status::failed;
      failed = static_cast<int>(i);
      break;
    }
    e.status[i] = tutti::step_status::succeeded;
  }
  e.failed = failed;
  if (failed < 0) return e;
  const bool committed = has_pivot(kind, l) && static_cast<std::size_t>(failed) > pivot_at(l);
  bool any_failed = false;
  bool any_done = false;
  if (!committed) {
    for (int j = failed - 1; j >= 0; --j) {
      if (!is_compensable(static_cast<std::size_t>(j), kind, l)) continue;
      e.undos.emplace_back(j, 1000 + j);
      if ((s.comp_fail >> j) & 1u) {
        e.status[static_cast<std::size_t>(j)] = tutti::step_status::compensation_failed;
        any_failed = true;
        if (s.stop_on_failure) break;
      } else {
        e.status[static_cast<std::size_t>(j)] = tutti::step_status::compensated;
        any_done = true;
      }
    }
  }
  e.outcome = any_failed ? tutti::run_outcome::compensation_failed
              : any_done ? tutti::run_outcome::compensated
                         : tutti::run_outcome::failed;
  return e;
}

inline schedule draw(std::uint64_t seed, std::size_t l) {
  std::mt19937_64 rng(seed);
  schedule s;
  // Failing steps are more interesting than clean runs: 1 in (l + 2) runs has no failure.
  const auto pick = std::uniform_int_distribution<int>(-1, static_cast<int>(l))(rng);
  s.fail_step = pick >= static_cast<int>(l) ? -1 : pick;
  s.fail_attempts = std::uniform_int_distribution<int>(1, 2)(rng);
  s.fail_throws = std::bernoulli_distribution(0.4)(rng);
  for (std::size_t i = 0; i < l; ++i) {
    if (std::bernoulli_distribution(0.2)(rng)) s.comp_fail |= 1u << i;
    if (std::bernoulli_distribution(0.5)(rng)) s.comp_throw |= 1u << i;
  }
  s.stop_on_failure = std::bernoulli_distribution(0.3)(rng);
  return s;
}

/// Checks a finished run of a workflow of L steps of kind Kind on schedule `s` against the model.
template <std::size_t L, int Kind, class Run>
void verify(std::uint64_t seed, const schedule& s, const Run& run) {
  const expected e = model(L, Kind, s);
  INFO("seed " << seed << " (TUTTI_SAGA_SEED=" << seed << "), steps " << L << ", kind " << Kind
               << ", fail_step " << s.fail_step << " x" << s.fail_attempts);

  std::vector<tutti::step_status> status;
  std::vector<std::uint32_t> attempts;
  const auto report = run.report();
  for (std::size_t i = 0; i < L; ++i) {
    status.push_back(report[i].status);
    attempts.push_back(report[i].attempts);
  }
  REQUIRE(g.calls == e.calls);
  REQUIRE(g.undos == e.undos);
  REQUIRE(status == e.status);
  REQUIRE(attempts == e.attempts);
  REQUIRE(run.outcome() == e.outcome);
  if (e.failed < 0) {
    REQUIRE(run.has_value());
    REQUIRE(run.value() == 1000 + static_cast<int>(L) - 1);
    return;
  }
  REQUIRE(run.failed_step() == report[static_cast<std::size_t>(e.failed)].name);
  REQUIRE(run.error() == (s.fail_throws ? tutti::errc::exception : tutti::errc::timeout));
  if (s.fail_throws) REQUIRE(run.message() == "boom " + std::to_string(e.failed));
  for (std::size_t i = 0; i < L; ++i) {
    const auto line = report[i];
    if (line.status == tutti::step_status::compensated ||
        line.status == tutti::step_status::compensation_failed)
      REQUIRE(line.compensation_attempts == 1);
    if (line.status == tutti::step_status::compensation_failed) {
      const bool threw = (s.comp_throw >> i) & 1u;
      REQUIRE(line.compensation_error == (threw ? tutti::errc::exception : tutti::errc::cancelled));
    }
  }
}


/// The run options a schedule asks for.
inline tutti::run_options options_for(const schedule& s) {
  return {.on_compensation_failure = s.stop_on_failure ? tutti::compensation_policy::stop_on_failure
                                                       : tutti::compensation_policy::continue_on_failure};
}

/// Checks the case of one seed: the shape (1 to 12 steps, kind 0 to 2) is drawn from the seed
/// too, so one number reproduces the whole case. Case<L, Kind>::check(seed) runs it.
template <template <std::size_t, int> class Case>
void check_seed(std::uint64_t seed) {
  using checker = void (*)(std::uint64_t);
  static constexpr auto row = []<int Kind, std::size_t... L>(std::integral_constant<int, Kind>,
                                                              std::index_sequence<L...>) {
    return std::array<checker, sizeof...(L)>{&Case<L + 1, Kind>::check...};
  };
  static constexpr std::array<std::array<checker, 12>, 3> table{
      row(std::integral_constant<int, 0>{}, std::make_index_sequence<12>{}),
      row(std::integral_constant<int, 1>{}, std::make_index_sequence<12>{}),
      row(std::integral_constant<int, 2>{}, std::make_index_sequence<12>{})};
  const std::size_t l = 1 + static_cast<std::size_t>(seed % 12);
  const std::size_t kind = static_cast<std::size_t>((seed / 12) % 3);
  table[kind][l - 1](seed);
}

/// Checks the seeds of one kind only (their number of steps drawn from the seed as above), so
/// that the shapes of each kind can be compiled in a translation unit of their own.
template <template <std::size_t, int> class Case, int Kind>
void check_seed_of_kind(std::uint64_t seed) {
  using checker = void (*)(std::uint64_t);
  static constexpr auto row = []<std::size_t... L>(std::index_sequence<L...>) {
    return std::array<checker, sizeof...(L)>{&Case<L + 1, Kind>::check...};
  }(std::make_index_sequence<12>{});
  row[static_cast<std::size_t>(seed % 12)](seed);
}
/// The kind a seed draws.
constexpr int kind_of(std::uint64_t seed) { return static_cast<int>((seed / 12) % 3); }

/// Checks the seeds of kind Kind among `runs` consecutive seeds (or the one TUTTI_SAGA_SEED
/// names, if it is of that kind); returns how many were checked.
template <template <std::size_t, int> class Case, int Kind>
int run_seeds_of_kind(int runs) {
  if (const char* one = std::getenv("TUTTI_SAGA_SEED")) {
    const std::uint64_t seed = std::strtoull(one, nullptr, 10);
    if (kind_of(seed) != Kind) return 0;
    check_seed_of_kind<Case, Kind>(seed);
    return 1;
  }
  constexpr std::uint64_t base = 0x5eed'7077ULL;
  int checked = 0;
  for (int i = 0; i < runs; ++i) {
    const std::uint64_t seed = base + static_cast<std::uint64_t>(i);
    if (kind_of(seed) != Kind) continue;
    check_seed_of_kind<Case, Kind>(seed);
    ++checked;
  }
  return checked;
}

/// Checks `runs` seeded schedules, or only the one TUTTI_SAGA_SEED names; returns how many.
template <template <std::size_t, int> class Case>
int run_seeds(int runs) {
  if (const char* one = std::getenv("TUTTI_SAGA_SEED")) {
    check_seed<Case>(std::strtoull(one, nullptr, 10));
    return 1;
  }
  constexpr std::uint64_t base = 0x5eed'7077ULL;
  for (int i = 0; i < runs; ++i) check_seed<Case>(base + static_cast<std::uint64_t>(i));
  return runs;
}

}  // namespace saga_model

#endif  // TUTTI_TESTS_SUPPORT_SAGA_MODEL_HPP
