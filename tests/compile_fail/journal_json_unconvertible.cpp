// error-regex: tutti: tutti::json_payload<T> is true, but T converts neither by nlohmann-json
// Misuse: a type journaled as JSON that has neither nlohmann-json's to_json/from_json nor a
// serialize function.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/json.hpp>
#include <tutti/journal/memory.hpp>

#include <string>

struct receipt {
  std::string id;
  long cents = 0;
#ifndef TUTTI_COMPILE_FAIL
  template <class A>
  friend void serialize(A& ar, receipt& r) {
    ar(r.id, r.cents);
  }
#endif
};
template <>
inline constexpr bool tutti::json_payload<receipt> = true;

int main() {
  const auto wf = tutti::workflow<"w">(tutti::step<"pay">([](int cents) { return receipt{"r-1", cents}; }));
  tutti::memory_journal journal;
  tutti::durable_workflow durable{wf, journal};
  return durable.run(4200) ? 0 : 1;
}
