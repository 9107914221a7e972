// The step of the retry benchmarks (BM_retry4_*): defined in retry_steps.cpp, a separate
// translation unit, so no variant can inline it or see its schedule of failures.
#ifndef TUTTI_BENCH_RETRY_STEPS_HPP
#define TUTTI_BENCH_RETRY_STEPS_HPP

#include <tutti/result.hpp>

namespace bench {
/// Fails with errc::step_failed on three calls out of four, then returns x + 1: called four
/// times in a row from a fresh cycle, it fails three times and succeeds on the fourth call.
tutti::result<int> flaky(int x) noexcept;
/// Starts a new cycle of three failures (call before checking a variant once).
void reset_flaky() noexcept;
/// Calls of flaky so far.
long flaky_calls() noexcept;
}  // namespace bench

#endif
