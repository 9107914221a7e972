// Compile-time benchmark, baseline: the cost of including tutti and nothing else.
// benchmarks/compile_time.sh compares workflow32.cpp against this file (goal: <= 1.5x).
#include <tutti/tutti.hpp>

int main() { return 0; }
