// error-regex: tutti: tutti::json_payload<T> is true, so T is journaled as JSON, but no JSON codec is known: include <tutti/journal/json.hpp>
// Misuse: a type marked as journaled as JSON in a program that never includes the JSON codec.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#ifndef TUTTI_COMPILE_FAIL
#  include <tutti/journal/json.hpp>
#endif

#include <string>

struct order {
  std::string customer;
  template <class A>
  friend void serialize(A& ar, order& o) {
    ar(o.customer);
  }
};
template <>
inline constexpr bool tutti::json_payload<order> = true;

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"size">([](const order& o) { return o.customer.size(); }));
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  return durable.run(order{"ada"}) ? 0 : 1;
}
