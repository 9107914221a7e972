// error-regex: tutti: a journaled value .a run's input or a step's output. holds a pointer
// Misuse: a durable run of a step whose output holds a std::span two structs down: every part
// is trivially copyable, but the span restored after a restart points at nothing.
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/tutti.hpp>

#include <span>
#include <vector>

namespace {
const int prices[] = {120, 340, 560};
}

struct items {
  int count = 0;
#ifdef TUTTI_COMPILE_FAIL
  std::span<const int> prices;
#else
  // The fix: store the data itself (std::vector has a built-in serializer).
  std::vector<int> prices;
  template <class A>
  friend void serialize(A& ar, items& i) {
    ar(i.count, i.prices);
  }
#endif
};

struct basket {
  int id = 0;
  items content;
#ifndef TUTTI_COMPILE_FAIL
  template <class A>
  friend void serialize(A& ar, basket& b) {
    ar(b.id, b.content);
  }
#endif
};

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"fill">([](int id) {
    return basket{id, items{3, {prices, prices + 3}}};
  }));
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  return durable.run(7) ? 0 : 1;
}
