// error-regex: ("route/post".+"courier"|'r', 'o', 'u', 't', 'e', '/', 'p', 'o', 's', 't'.+'c', 'o', 'u', 'r', 'i', 'e', 'r').+tutti: from<.+name.+, T> names no step of this workflow
// error-within-lines: 10
// Misuse: a case of a choice reads another case (only one case runs). Reported by
// tutti::workflow<...>(...) itself (no run() here), naming the case by its path ("route/post").
#include <tutti/tutti.hpp>

int weigh(int parcel) { return parcel * 2; }
int courier(int parcel) { return parcel + 10; }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(
      tutti::step<"weigh">(weigh),
      tutti::choose<"route">([](tutti::from<"weigh", int> w) { return *w > 20 ? 0 : 1; },
                             tutti::step<"courier">(courier),
                             tutti::step<"post">([](tutti::from<"courier", int> c) { return *c; })));
  (void)wf;
#else
  auto wf = tutti::workflow<"w">(
      tutti::step<"weigh">(weigh),
      tutti::choose<"route">([](tutti::from<"weigh", int> w) { return *w > 20 ? 0 : 1; },
                             tutti::step<"courier">(courier),
                             tutti::step<"post">([](tutti::from<"weigh", int> w) { return *w; })));
  (void)wf.run(1);
#endif
  return 0;
}
