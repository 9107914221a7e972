// error-regex: ("confirm".+"reserve_stock"|'c', 'o', 'n', 'f', 'i', 'r', 'm'.+'r', 'e', 's', 'e', 'r', 'v', 'e', '_', 's', 't', 'o', 'c', 'k').+tutti: from<.+name.+, T>: T must be exactly the output type
// error-within-lines: 10
// Misuse: a step type reads an earlier step's output with the wrong type. Reported where
// tutti::workflow_of<...> names the workflow type, naming both steps.
#include <string>
#include <string_view>
#include <tutti/tutti.hpp>

struct reserve_stock {
  static constexpr std::string_view name = "reserve_stock";
  std::string operator()(int order) const { return "R-" + std::to_string(order); }
};

struct confirm {
  static constexpr std::string_view name = "confirm";
#ifdef TUTTI_COMPILE_FAIL
  int operator()(tutti::from<"reserve_stock", int> r) const { return *r; }
#else
  int operator()(tutti::from<"reserve_stock", std::string> r) const {
    return static_cast<int>(r->size());
  }
#endif
};

using checkout = tutti::workflow_of<"checkout", reserve_stock, confirm>;

int main() {
#ifdef TUTTI_COMPILE_FAIL
  return 0;
#else
  return checkout{}.run(7).value() == 3 ? 0 : 1;
#endif
}
