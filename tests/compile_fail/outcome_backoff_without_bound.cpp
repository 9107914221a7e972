// error-regex: an outcome_backoff needs its upper bound first
// Misuse: a backoff that sees the outcome, without the longest wait it may return.
#include <tutti/tutti.hpp>

#include <chrono>
#include <cstdint>
#include <optional>

using namespace std::chrono_literals;

int main() {
  const auto hint = [](std::uint32_t, const tutti::result<int>&) -> std::optional<tutti::duration> {
    return 1s;
  };
#ifdef TUTTI_COMPILE_FAIL
  const tutti::outcome_backoff backoff{hint};
#else
  const tutti::outcome_backoff backoff{30s, hint};
#endif
  (void)backoff;
  return 0;
}
