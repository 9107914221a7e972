// error-regex: tutti: a journaled run stores its input, and this input type cannot be stored
// Misuse: a durable run whose input has no serializer.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>

#include <string>

struct order {
  std::string customer;
#ifndef TUTTI_COMPILE_FAIL
  template <class A>
  friend void serialize(A& ar, order& o) {
    ar(o.customer);
  }
#endif
};

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"size">([](const order& o) { return o.customer.size(); }));
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  return durable.run(order{"ada"}) ? 0 : 1;
}
