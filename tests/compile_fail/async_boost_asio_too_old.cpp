// error-regex: tutti: TUTTI_CONFIG_BOOST_ASIO needs Boost.Asio 1.22 or later
// Misuse: asking for Boost.Asio where Boost is older than 1.81 (Debian 12: 1.74, Asio 1.18).
// The twin uses standalone Asio. On a system with Boost 1.81+ the misuse compiles: the test
// then fails, and says this system can share Boost.Asio's executors with tutti.
#ifdef TUTTI_COMPILE_FAIL
#  define TUTTI_CONFIG_BOOST_ASIO 1
#endif
#include <tutti/async/sleep.hpp>

int main() { return 0; }
