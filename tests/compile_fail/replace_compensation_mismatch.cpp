// error-regex: tutti: the compensation must take what its step produced
// Misuse: the new compensation takes a string; its step produces an int.
#include <string>
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

tutti::result<int> reserve(int amount) { return amount; }
void release(const int&) {}

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"reserve">(reserve).compensate_with(release));
#ifdef TUTTI_COMPILE_FAIL
  tutti::testing::mock_compensation<void(const std::string&)> undo;
#else
  tutti::testing::mock_compensation<void(const int&)> undo;
#endif
  const auto test = tutti::testing::replace_compensation<"reserve">(wf, undo);
  (void)test;
  return 0;
}
