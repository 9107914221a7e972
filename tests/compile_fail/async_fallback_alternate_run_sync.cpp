// error-regex: tutti: fallback_to\(f\): f is a coroutine \(it returns an awaitable\)\. A coroutine alternate is awaited in async runs
// Misuse: a coroutine alternate of fallback_to in a workflow run with run().
#include <tutti/async.hpp>
#include <tutti/tutti.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

int main() {
  auto wf = tutti::workflow<"w">(
      tutti::step<"price">([]() -> tutti::result<int> { return tutti::errc::step_failed; }) |
      tutti::fallback_to([]() -> tutti::awaitable<int> { co_return 7; }));
  asio::io_context io;
#ifdef TUTTI_COMPILE_FAIL
  (void)wf.run();
#else
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> { (void)co_await wf.async_run(); }, asio::detached);
#endif
  io.run();
  return 0;
}
