// error-regex: tutti: mock::returns\(v\): v must convert to the mock's value type
// Misuse: the scripted value is not the mock's value type.
#include <string>
#include <tutti/testing/mock.hpp>

struct receipt {
  int id;
};

int main() {
  tutti::testing::mock<tutti::result<receipt>()> m;
#ifdef TUTTI_COMPILE_FAIL
  m.returns(std::string{"receipt"});
#else
  m.returns(receipt{1});
#endif
  return 0;
}
