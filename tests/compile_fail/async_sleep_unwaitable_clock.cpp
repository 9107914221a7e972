// error-regex: tutti::async_sleep waits on tutti::steady_clock .* or on a clock with wake-ups
// Misuse: an asynchronous wait on a clock that can only be waited on by blocking a thread.
#include <tutti/async/sleep.hpp>

#include <asio/detached.hpp>
#include <asio/io_context.hpp>

using namespace std::chrono_literals;

int main() {
  asio::io_context io;
#ifdef TUTTI_COMPILE_FAIL
  tutti::wall_clock clock;  // no timer, no wake-ups
#else
  tutti::steady_clock clock;
#endif
  tutti::async_sleep(clock, 1ms, asio::bind_executor(io, [](std::error_code) {}));
  io.run();
  return 0;
}
