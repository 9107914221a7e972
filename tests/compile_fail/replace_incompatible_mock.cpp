// error-regex: tutti: replace<.+step.+>\(workflow, f\): f must produce exactly what the step produces
// Misuse: the mock's output type (int) is not the step's (receipt).
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

struct receipt {
  int id;
};
tutti::result<receipt> charge(int amount) { return receipt{amount}; }

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"charge">(charge));
#ifdef TUTTI_COMPILE_FAIL
  tutti::testing::mock<tutti::result<int>(int)> mock;
#else
  tutti::testing::mock<tutti::result<receipt>(int)> mock;
#endif
  const auto test = tutti::testing::replace<"charge">(wf, mock);
  (void)test;
  return 0;
}
