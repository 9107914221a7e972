// Step functions shared by the chain benchmarks. They are defined in chain_steps.cpp, a separate
// translation unit, so no variant can inline or fold them: every variant pays the same calls.
#ifndef TUTTI_BENCH_CHAIN_STEPS_HPP
#define TUTTI_BENCH_CHAIN_STEPS_HPP

#include <tutti/result.hpp>

namespace bench {
// Each adds one to its input; step `fail_at` (1-based, 0 = none) fails with errc::step_failed.
tutti::result<int> s1(int x) noexcept;
tutti::result<int> s2(int x) noexcept;
tutti::result<int> s3(int x) noexcept;
tutti::result<int> s4(int x) noexcept;
tutti::result<int> s5(int x) noexcept;
tutti::result<int> s6(int x) noexcept;
tutti::result<int> s7(int x) noexcept;
tutti::result<int> s8(int x) noexcept;
// Compensations of steps 1..5: record the undo in a counter.
tutti::result<void> c1(int x) noexcept;
tutti::result<void> c2(int x) noexcept;
tutti::result<void> c3(int x) noexcept;
tutti::result<void> c4(int x) noexcept;
tutti::result<void> c5(int x) noexcept;

/// Which step fails (1..8), 0 for none. Set by each benchmark before its loop.
void set_fail_at(int step) noexcept;
/// Number of compensations run so far.
long compensations() noexcept;
}  // namespace bench

#endif
