// error-regex: tutti: this step's compensation is a coroutine \(it returns an awaitable\), and the workflow is run synchronously
// Misuse: a coroutine compensation in a workflow run with run().
#include <tutti/async.hpp>
#include <tutti/tutti.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

int main() {
  auto wf = tutti::workflow<"w">(
      tutti::step<"book">([] { return 1; }).compensate_with([](const int&) -> tutti::awaitable<void> { co_return; }),
      tutti::step<"fail">([]() -> tutti::result<int> { return tutti::errc::step_failed; }));
  asio::io_context io;
#ifdef TUTTI_COMPILE_FAIL
  (void)wf.run();
#else
  asio::co_spawn(io, [&]() -> tutti::awaitable<void> { (void)co_await wf.async_run(); }, asio::detached);
#endif
  io.run();
  return 0;
}
