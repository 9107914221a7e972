// tutti — the async layer: workflows run as coroutines on an Asio executor.
// `auto run = co_await wf.async_run(input, opts, clock, observer);` See docs/async.md.
// Needs Asio 1.22+ (standalone, Debian 12: libasio-dev; or Boost.Asio 1.81+ with
// TUTTI_CONFIG_BOOST_ASIO=1): the tutti::async CMake target.
#ifndef TUTTI_ASYNC_HPP
#define TUTTI_ASYNC_HPP

#include "async/asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include "async/branch.hpp"
#include "async/durable.hpp"
#include "async/parallel.hpp"
#include "async/run.hpp"
#include "async/runner.hpp"
#include "async/sleep.hpp"

#endif  // TUTTI_ASYNC_HPP
