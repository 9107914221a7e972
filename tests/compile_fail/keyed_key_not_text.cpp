// error-regex: tutti::keyed\(wf, key\): the key function must return text
// Misuse: a business key that is neither text nor an integer (a struct) — format it to a string.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>

#include <string>

struct customer {
  std::string name;
};
struct order {
  int id = 0;
  double amount = 0;
};

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">([](const order& o) { return o.amount; }));
#ifdef TUTTI_COMPILE_FAIL
  const auto keyed = tutti::keyed(wf, [](const order&) { return customer{"ada"}; });
#else
  const auto keyed = tutti::keyed(wf, [](const order& o) { return "order-" + std::to_string(o.id); });
#endif
  tutti::memory_journal journal;
  tutti::durable_workflow durable{keyed, journal};
  return durable.run(order{7, 12.5}) ? 0 : 1;
}
