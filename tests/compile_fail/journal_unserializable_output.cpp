// error-regex: tutti: a journaled run stores every step's output, and this output type cannot be stored
// Misuse: a durable run of a step whose output has no serializer (a pointer inside a class).
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>

#include <string>

struct receipt {
  std::string id;
#ifndef TUTTI_COMPILE_FAIL
  // The fix: name the fields once for the journal.
  template <class A>
  friend void serialize(A& ar, receipt& r) {
    ar(r.id);
  }
#endif
};

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"charge">([](int x) { return receipt{std::to_string(x)}; }));
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  const auto r = durable.run(1);
  // A run without a journal never needs a serializer.
  return wf.run(1).has_value() && r ? 0 : 1;
}
