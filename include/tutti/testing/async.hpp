// tutti testing kit — asynchronous code on virtual time: run an io_context with a manual clock.
#ifndef TUTTI_TESTING_ASYNC_HPP
#define TUTTI_TESTING_ASYNC_HPP

#include "../async/asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <cstddef>  // step counts

#include "../config.hpp"
#include "manual_clock.hpp"

TUTTI_BEGIN_NAMESPACE
namespace testing {

/**
 * Runs `io` on this thread in virtual time: the handlers that are ready, then, when none is,
 * moves `clock` to its earliest pending wake-up (`manual_clock::advance_to_next_wake`), whose
 * waits then post their handlers; until no handler is ready and no wake-up is pending. A test of
 * asynchronous waits of minutes runs in microseconds, and every wait resumes with the clock
 * reading exactly its end. Returns how many times the clock moved. Real-time work (sockets, a
 * `steady_timer`) is not waited for: it runs only if it is ready when `io` is polled.
 */
inline std::size_t run_virtual(TUTTI_ASIO::io_context& io, manual_clock& clock) {
  std::size_t moves = 0;
  for (;;) {
    io.restart();
    io.poll();
    if (!clock.advance_to_next_wake()) break;
    ++moves;
  }
  return moves;
}

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_ASYNC_HPP
