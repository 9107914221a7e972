// error-regex: tutti: mock::returns\(v\): this mock returns nothing
// Misuse: returns(v) on a mock whose signature returns nothing (a compensation).
#include <tutti/testing/mock.hpp>

int main() {
  tutti::testing::mock_compensation<void(const int&)> undo;
#ifdef TUTTI_COMPILE_FAIL
  undo.returns(1);
#else
  undo.succeeds();
#endif
  return 0;
}
