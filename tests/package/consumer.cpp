// What a consumer of the installed or vendored package builds: a small saga, run once.
// Proves the target carries the include path, C++20, Boost.Outcome and fmt.
#include <tutti/tutti.hpp>
#include <tutti/version.hpp>

int main() {
  int released = 0;
  auto wf = tutti::workflow<"consumer">(
      tutti::step<"reserve">([] { return 7; }).compensate_with([&released](int token) {
        released = token;
      }),
      tutti::step<"charge">([]() -> tutti::result<int> { return tutti::errc::timeout; }));
  auto run = wf.run();
  fmt::print("tutti {}\n{}", TUTTI_VERSION, run.report());
  const bool as_expected = !run && released == 7 &&
                           run.outcome() == tutti::run_outcome::compensated;
  return as_expected ? 0 : 1;
}
