// Compiled to assembly by benchmarks/same_code.sh: a run with no observer, a run with
// tutti::null_observer passed explicitly, and a run compiled against the headers from before
// observers existed (commit 75c6f85) must all be the same instructions.
#include <tutti/tutti.hpp>

tutti::result<int> first_step(int);
tutti::result<int> second_step(tutti::from<"a", int>);

inline const auto wf = tutti::workflow<"w">(
    tutti::step<"a">(first_step), tutti::step<"b">(second_step),
    tutti::step<"c">([](tutti::from<"b", int> x) { return *x + 1; }));

bool run_plain(int x) { return wf.run(x).has_value(); }

#ifndef TUTTI_SAME_CODE_BASELINE  // the headers from before observers existed have no null_observer
bool run_null_observer(int x) {
  tutti::null_observer none;
  return wf.run(x, {}, tutti::detail::default_clock(), none).has_value();
}
#endif
