// error-regex: tutti: this step is a coroutine \(its callable returns an awaitable\), and the workflow is run synchronously
// Misuse: a workflow with a coroutine step run with run(): only co_await wf.async_run() can await it.
#include <tutti/async.hpp>
#include <tutti/tutti.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

int main() {
  auto wf = tutti::workflow<"w">(tutti::step<"fetch">([]() -> tutti::awaitable<int> { co_return 1; }));
  asio::io_context io;
#ifdef TUTTI_COMPILE_FAIL
  (void)wf.run();
#else
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> { (void)co_await wf.async_run(); }, asio::detached);
#endif
  io.run();
  return 0;
}
