// error-regex: tutti: last_good<T> keeps one value for every input
// Misuse: a last_good cache made without saying whether it is keyed or one value for all.
#include <chrono>
#include <tutti/tutti.hpp>

tutti::result<int> price(int product) { return 100 * product; }

int main() {
  using namespace std::chrono_literals;
#ifdef TUTTI_COMPILE_FAIL
  tutti::last_good<int> cache;
  const auto wf = tutti::workflow<"w">(tutti::step<"price">(price) |
                                       tutti::fallback_to_last_good(cache, 30s));
#else
  auto cache = tutti::last_good<int>::shared();
  tutti::keyed_last_good<int, int> prices{64};
  const auto wf = tutti::workflow<"w">(
      tutti::step<"price">(price) | tutti::fallback_to_last_good(cache, 30s),
      tutti::step<"keyed">(price) |
          tutti::fallback_to_last_good(prices, [](int product) { return product; }, 30s));
#endif
  return wf.run(1) ? 0 : 1;
}
