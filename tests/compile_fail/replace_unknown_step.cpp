// error-regex: tutti: replace<.+path.+>: no step of this workflow has that name
// Misuse: replace<> names a step the workflow does not have (a typo: "charge" for "charge_card").
#include <tutti/testing/mock.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

struct receipt {
  int id;
};
tutti::result<int> validate(int amount) { return amount; }
tutti::result<receipt> charge(tutti::from<"validate", int> amount) { return receipt{*amount}; }

int main() {
  const auto wf = tutti::workflow<"order">(tutti::step<"validate">(validate),
                                           tutti::step<"charge_card">(charge));
  tutti::testing::mock<tutti::result<receipt>()> mock;
  mock.returns(receipt{1});
#ifdef TUTTI_COMPILE_FAIL
  const auto test = tutti::testing::replace<"charge">(wf, mock);
#else
  const auto test = tutti::testing::replace<"charge_card">(wf, mock);
#endif
  (void)test.run(5);
  return 0;
}
