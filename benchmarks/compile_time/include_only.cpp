// Compile-time benchmark, baseline: the cost of including tutti and nothing else.
// benchmarks/compile_time.sh compares workflow32.cpp against this file (goal: <= 1.5x).
// -DTUTTI_BENCH_CORE: the same over <tutti/core.hpp>, what a file that only runs workflows needs.
#ifdef TUTTI_BENCH_CORE
#  include <tutti/core.hpp>
#else
#  include <tutti/tutti.hpp>
#endif

int main() { return 0; }
