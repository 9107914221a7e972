// tutti testing kit — asynchronous code on virtual time: run an io_context with a manual clock.
#ifndef TUTTI_TESTING_ASYNC_HPP
#define TUTTI_TESTING_ASYNC_HPP

#include "../async/asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <cstddef>    // step counts
#include <exception>  // a coroutine's exception, rethrown
#include <optional>   // a coroutine's value
#include <stdexcept>  // a coroutine that did not finish
#include <utility>    // std::move

#include "../async/sleep.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "manual_clock.hpp"
#include "mock.hpp"

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

/**
 * Runs the coroutine `op` on `io` in virtual time (see run_virtual) and returns what it gives:
 * `auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(order, {}, clock));`.
 * An exception it throws is rethrown here; `std::logic_error` if it did not finish (it waits
 * for something that no handler or wake-up of `io` and `clock` will bring).
 */
template <class T>
T run_to_completion(TUTTI_ASIO::io_context& io, manual_clock& clock, TUTTI_ASIO::awaitable<T> op) {
  std::optional<T> value;
  std::exception_ptr failure;
  bool done = false;
  // Through a coroutine of its own: co_spawn wants a default-constructible value (a run result
  // is not).
  auto keep = [](TUTTI_ASIO::awaitable<T> inner, std::optional<T>& out) -> TUTTI_ASIO::awaitable<void> {
    out.emplace(co_await std::move(inner));
  };
  TUTTI_ASIO::co_spawn(io, keep(std::move(op), value), [&](std::exception_ptr e) {
    done = true;
    failure = e;
  });
  run_virtual(io, clock);
  if (failure) std::rethrow_exception(failure);
  if (!done) throw std::logic_error("tutti::testing::run_to_completion: the coroutine did not finish");
  return std::move(*value);
}

/// The primary template only diagnoses: an async mock wraps a mock of a function type.
template <class Sig>
class async_mock {
  static_assert(tutti::detail::always_false<Sig>,
                "tutti: async_mock wraps a tutti::testing::mock<Sig> (Sig a function type): "
                "tutti::testing::async_mock{tutti::testing::mock<tutti::result<T>(const In&)>{...}}.");
};

/**
 * A mock as a coroutine step (or compensation): `tutti::testing::async_mock{m}` answers from
 * `m`'s script and logs in `m`'s log (copies of a mock share both), but its call is a coroutine
 * that waits the scripted delay (`takes(d)`, `after(d)`) on the mock's manual clock with
 * `async_sleep`, without holding the thread: the delay is virtual time that passes while other
 * runs go on, and a timeout or a stop cancels it (the call then ends with `errc::cancelled`,
 * logged with `operation_aborted`).
 * @code
 * auto charge = tutti::testing::mock<tutti::result<receipt>(const order&)>{"charge"}
 *                   .on(clock).takes(200ms).then_return(receipt{42});
 * auto wf = tutti::workflow<"pay">(tutti::step<"charge">(tutti::testing::async_mock{charge}));
 * auto run = tutti::testing::run_to_completion(io, clock, wf.async_run(order{}, {}, clock));
 * @endcode
 */
template <class R, class... Args>
class async_mock<R(Args...)> {
 public:
  using mock_type = mock<R(Args...)>;
  using result_type = typename mock_type::result_type;

  explicit async_mock(mock_type m) : m_(std::move(m)) {}

  TUTTI_ASIO::awaitable<result_type> operator()(Args... args, const call_context& ctx) const {
    typename mock_type::pending p = m_.begin_call(args..., ctx);
    if (p.clock != nullptr && p.delay.count() > 0) {
      std::error_code ec;
      co_await async_sleep(*p.clock, p.delay, TUTTI_ASIO::redirect_error(TUTTI_ASIO::use_awaitable, ec));
      if (ec) {
        m_.abandon(p, ec);
        co_return make_error_code(errc::cancelled);
      }
    }
    co_return m_.answer(p, static_cast<Args&&>(args)...);
  }

  /// The mock it answers for (its log is this one's).
  [[nodiscard]] const mock_type& wrapped() const noexcept { return m_; }

 private:
  mock_type m_;
};
template <class Sig>
async_mock(mock<Sig>) -> async_mock<Sig>;

}  // namespace testing
TUTTI_END_NAMESPACE

#endif  // TUTTI_TESTING_ASYNC_HPP
