// error-regex: tutti: a journaled value .a run's input or a step's output. holds a pointer
// Misuse: a durable run whose input struct has a `const char*` member: trivially copyable, but
// the pointer read back after a restart points at nothing.
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/tutti.hpp>

#include <cstring>
#include <string>

struct order {
  int quantity = 0;
  const char* customer = "";
#ifndef TUTTI_COMPILE_FAIL
  // The fix: a serializer that stores the characters (read back into a name the program keeps).
  template <class A>
  friend void serialize(A& ar, order& o) {
    std::string name = o.customer;
    ar(o.quantity, name);
    o.customer = name == "ada" ? "ada" : "";
  }
#endif
};

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"size">([](const order& o) {
    return std::strlen(o.customer) + static_cast<std::size_t>(o.quantity);
  }));
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  return durable.run(order{1, "ada"}) ? 0 : 1;
}
