// error-regex: inject_fault.rate, error.: error must be a std::error_code or an error code enum
// Misuse: std::errc is an error condition enum, not an error code enum.
#include <system_error>
#include <tutti/testing/chaos.hpp>

int main() {
#ifdef TUTTI_COMPILE_FAIL
  const tutti::testing::inject_fault chaos{0.5, std::errc::timed_out};
#else
  const tutti::testing::inject_fault chaos{0.5, std::make_error_code(std::errc::timed_out)};
#endif
  return chaos.rate() == 0.5 ? 0 : 1;
}
