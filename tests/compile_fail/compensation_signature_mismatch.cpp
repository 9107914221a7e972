// error-regex: ("charge_card"|'c', 'h', 'a', 'r', 'g', 'e', '_', 'c', 'a', 'r', 'd').+tutti: the compensation must take what its step produced
// error-within-lines: 10
// Misuse: the compensation takes a string, the step produces an int. Reported by compensate_with,
// naming the step ("charge_card").
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> charge_card(int amount) { return amount; }
tutti::result<void> refund(const int&) { return tutti::outcome::success(); }

int main() {
#ifdef TUTTI_COMPILE_FAIL
  auto s = tutti::step<"charge_card">(charge_card).compensate_with([](const std::string&) {});
  (void)s;
#else
  auto s = tutti::step<"charge_card">(charge_card).compensate_with(refund);
  (void)s;
#endif
  return 0;
}
