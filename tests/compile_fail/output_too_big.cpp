// error-regex: tutti: this step's output is larger than TUTTI_CONFIG_MAX_OUTPUT_BYTES
// Misuse: a step returning 3 MB by value. A run holds it several times over on the stack (the
// callable's result, the run's slot, the returned run): an 8 MB thread stack overflows.
#include <tutti/tutti.hpp>

#include <array>
#include <memory>
#include <vector>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const auto wf = tutti::workflow<"w">(
      tutti::step<"image">([] { return std::array<char, 3 * 1024 * 1024>{}; }));
  return wf.run().has_value() ? 0 : 1;
#else
  // The fix: the bytes on the heap.
  const auto wf = tutti::workflow<"w">(
      tutti::step<"image">([] { return std::vector<char>(3 * 1024 * 1024); }));
  return wf.run().value().size() == 3u * 1024 * 1024 ? 0 : 1;
#endif
}
