// error-regex: tutti: mock<Sig>: Sig must be a function type
// Misuse: a mock declared with its value type instead of the step's signature.
#include <tutti/testing/mock.hpp>

struct receipt {
  int id;
};

int main() {
#ifdef TUTTI_COMPILE_FAIL
  tutti::testing::mock<receipt> m;
#else
  tutti::testing::mock<tutti::result<receipt>()> m;
#endif
  (void)m;
  return 0;
}
