// error-regex: tutti: the branches of a quorum .*must produce the same output type
// Misuse: quorum branches of different output types (the output is any K of them).
#include <string>
#include <tutti/tutti.hpp>

tutti::result<int> read_int(int x) { return x; }
tutti::result<std::string> read_text(int x) { return std::to_string(x); }

int main() {
  tutti::inline_executor ex;
#ifdef TUTTI_COMPILE_FAIL
  auto wf = tutti::workflow<"w">(tutti::quorum<"read", 1>(ex, tutti::step<"a">(read_int),
                                                          tutti::step<"b">(read_text)));
  (void)wf.run(1);
#else
  auto wf = tutti::workflow<"w">(tutti::quorum<"read", 1>(ex, tutti::step<"a">(read_int),
                                                          tutti::step<"b">(read_int)));
  (void)wf.run(1);
#endif
  return 0;
}
