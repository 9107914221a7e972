// error-regex: tutti: async_run\(\) needs the async layer: #include <tutti/async.hpp>
// Misuse: async_run() without the async layer's header (or without Asio at all).
#include <tutti/tutti.hpp>

int main() {
  auto wf = tutti::workflow<"w">(tutti::step<"a">([] { return 1; }));
#ifdef TUTTI_COMPILE_FAIL
  (void)wf.async_run(tutti::unit{});
#else
  (void)wf.run();
#endif
  return 0;
}
