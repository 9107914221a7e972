// tutti — which Asio the async layer uses, and what it needs of it.
//
// The async layer is written against Asio's standalone spelling (namespace `asio`), version
// 1.22 or later: per-operation cancellation slots and `asio::experimental::parallel_group` are
// in it, not in Boost 1.74's Asio 1.18. A host on Boost.Asio 1.81 or later (the same Asio, in
// namespace `boost::asio`) defines TUTTI_CONFIG_BOOST_ASIO=1 before including tutti's async
// headers, so that tutti's operations run on the executors the host already has. See
// docs/async.md.
#ifndef TUTTI_ASYNC_ASIO_HPP
#define TUTTI_ASYNC_ASIO_HPP

#include <utility>  // first: g++ 12's <coroutine> use in Asio needs std::exchange declared

#include "../config.hpp"

#if defined(TUTTI_CONFIG_BOOST_ASIO) && TUTTI_CONFIG_BOOST_ASIO
#  include <boost/asio/version.hpp>
#  if BOOST_ASIO_VERSION < 102200
#    error "tutti: TUTTI_CONFIG_BOOST_ASIO needs Boost.Asio 1.22 or later (Boost 1.81+): this Boost is older. Install standalone Asio (Debian: libasio-dev) and leave TUTTI_CONFIG_BOOST_ASIO undefined."
#  endif
#  if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT) && __has_include(<coroutine>)
#    define BOOST_ASIO_HAS_CO_AWAIT 1  // clang with libstdc++: see below
#  endif
#  include <boost/asio/associated_cancellation_slot.hpp>
#  include <boost/asio/associated_executor.hpp>
#  include <boost/asio/bind_cancellation_slot.hpp>
#  include <boost/asio/bind_executor.hpp>
#  include <boost/asio/error.hpp>
#  include <boost/asio/async_result.hpp>
#  include <boost/asio/executor_work_guard.hpp>
#  include <boost/asio/io_context.hpp>
#  include <boost/asio/post.hpp>
#  include <boost/asio/steady_timer.hpp>
#  include <boost/asio/strand.hpp>
#  include <boost/asio/any_io_executor.hpp>
#  include <boost/asio/awaitable.hpp>
#  include <boost/asio/co_spawn.hpp>
#  include <boost/asio/dispatch.hpp>
#  include <boost/asio/deferred.hpp>
#  include <boost/asio/experimental/parallel_group.hpp>
#  include <boost/asio/redirect_error.hpp>
#  include <boost/asio/this_coro.hpp>
#  include <boost/asio/use_awaitable.hpp>
#  define TUTTI_ASIO ::boost::asio
#  define TUTTI_ASIO_DEFERRED ::boost::asio::deferred
#else
#  include <asio/version.hpp>
#  if ASIO_VERSION < 102200
#    error "tutti: the async layer needs standalone Asio 1.22 or later (Debian 12: libasio-dev)."
#  endif
// Asio 1.22 looks for clang's coroutines in libc++'s <experimental/coroutine> only; with
// libstdc++, clang has C++20's <coroutine>, which Asio uses once told the compiler has co_await.
// Effective only when no Asio header came before this one (tutti::async's CMake target defines
// it on the command line for clang).
#  if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT) && __has_include(<coroutine>)
#    define ASIO_HAS_CO_AWAIT 1
#  endif
#  include <asio/associated_cancellation_slot.hpp>
#  include <asio/associated_executor.hpp>
#  include <asio/bind_cancellation_slot.hpp>
#  include <asio/bind_executor.hpp>
#  include <asio/error.hpp>
#  include <asio/async_result.hpp>
#  include <asio/executor_work_guard.hpp>
#  include <asio/io_context.hpp>
#  include <asio/post.hpp>
#  include <asio/steady_timer.hpp>
#  include <asio/strand.hpp>
#  include <asio/any_io_executor.hpp>
#  include <asio/awaitable.hpp>
#  include <asio/co_spawn.hpp>
#  include <asio/dispatch.hpp>
#  include <asio/experimental/parallel_group.hpp>
#  include <asio/redirect_error.hpp>
#  include <asio/this_coro.hpp>
#  include <asio/use_awaitable.hpp>
#  define TUTTI_ASIO ::asio
// `deferred` left asio::experimental in Asio 1.24.
#  if ASIO_VERSION < 102400
#    include <asio/experimental/deferred.hpp>
#    define TUTTI_ASIO_DEFERRED ::asio::experimental::deferred
#  else
#    include <asio/deferred.hpp>
#    define TUTTI_ASIO_DEFERRED ::asio::deferred
#  endif
#endif

// Around tutti's coroutines, two false alarms of g++ 12 are silenced: it gives a coroutine's
// frame the linkage of the function template, and warns when a workflow of lambdas in an
// anonymous namespace puts them in it (the frame is never named outside the translation unit);
// and, optimising, it pairs Asio's frame `operator delete` with the global `operator new` it
// inlined through.
#if defined(__GNUC__) && !defined(__clang__)
#  define TUTTI_DETAIL_COROUTINES_BEGIN                              \
    _Pragma("GCC diagnostic push")                                   \
    _Pragma("GCC diagnostic ignored \"-Wsubobject-linkage\"")        \
    _Pragma("GCC diagnostic ignored \"-Wmismatched-new-delete\"")
#  define TUTTI_DETAIL_COROUTINES_END _Pragma("GCC diagnostic pop")
#else
#  define TUTTI_DETAIL_COROUTINES_BEGIN
#  define TUTTI_DETAIL_COROUTINES_END
#endif

#endif  // TUTTI_ASYNC_ASIO_HPP
