// Waiting on a condition that other threads (a runner's pump, an io_context's thread) bring
// about: polled, with a bounded timeout, never a bare sleep.
#ifndef TUTTI_TESTS_SUPPORT_EVENTUALLY_HPP
#define TUTTI_TESTS_SUPPORT_EVENTUALLY_HPP

#include <chrono>
#include <thread>

namespace support {

/// Polls `pred` every millisecond until it holds (true) or `timeout` passed (false).
template <class P>
bool eventually(P pred, std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return true;
}

}  // namespace support

#endif  // TUTTI_TESTS_SUPPORT_EVENTUALLY_HPP
