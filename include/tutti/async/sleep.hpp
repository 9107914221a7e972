// tutti — an asynchronous wait on a run's clock: a real timer, or virtual time in tests.
#ifndef TUTTI_ASYNC_SLEEP_HPP
#define TUTTI_ASYNC_SLEEP_HPP

#include "asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <cstdint>       // wake-up tickets
#include <memory>        // the wait's state, shared with the clock and the cancellation slot
#include <optional>      // the work guard, released at completion
#include <system_error>  // the completion's error
#include <type_traits>   // std::decay_t
#include <utility>       // std::move

#include "../clock.hpp"
#include "../config.hpp"

TUTTI_BEGIN_NAMESPACE

/// A clock with wake-ups (`tutti::testing::manual_clock`): an asynchronous wait on it ends when
/// the clock is moved to its end (virtual time), not when real time has passed.
template <class C>
concept virtual_clock = clock<C> && requires(C& c, duration d, std::uint64_t ticket) {
  { c.wake_at(d, [] {}) } -> std::same_as<std::uint64_t>;
  { c.cancel_wake(ticket) } -> std::same_as<bool>;
};

namespace detail {

/// A pending wait on a virtual clock. The handler runs on its associated executor, never on the
/// thread that moves the clock; it is called once: with no error when the clock reaches the end,
/// or with `operation_aborted` when the wait is cancelled first.
template <class Clock, class Handler>
class virtual_sleep : public std::enable_shared_from_this<virtual_sleep<Clock, Handler>> {
 public:
  using executor_type = TUTTI_ASIO::associated_executor_t<Handler>;

  virtual_sleep(Clock& clock, Handler handler)
      : clock_(clock),
        handler_(std::move(handler)),
        executor_(TUTTI_ASIO::get_associated_executor(handler_)),
        work_(TUTTI_ASIO::make_work_guard(executor_)) {}

  void start(duration d) {
    const duration now = clock_.now();
    // Saturated: a wait past the clock's range ends "never" instead of overflowing.
    const duration end = d <= duration::zero()                          ? now
                         : now > duration::zero() && d > duration::max() - now ? duration::max()
                                                                                : now + d;
    auto slot = TUTTI_ASIO::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      // Emitted on the handler's executor, as for Asio's own operations. The completion is
      // posted: the slot's handler (this lambda) must not be cleared while it runs.
      slot.assign([self = this->shared_from_this()](TUTTI_ASIO::cancellation_type type) {
        if (type == TUTTI_ASIO::cancellation_type::none) return;
        if (!self->clock_.cancel_wake(self->ticket_)) return;  // already due: it ends normally
        TUTTI_ASIO::post(self->executor_,
                         [self] { self->finish(TUTTI_ASIO::error::operation_aborted); });
      });
    }
    // The wake-up may come at once (d <= 0), on this thread: it only posts.
    ticket_ = clock_.wake_at(end, [self = this->shared_from_this()] {
      TUTTI_ASIO::post(self->executor_, [self] { self->finish({}); });
    });
  }

 private:
  void finish(std::error_code ec) {
    if (done_) return;
    done_ = true;
    auto slot = TUTTI_ASIO::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
    work_.reset();
    std::move(handler_)(ec);
  }

  Clock& clock_;
  Handler handler_;
  executor_type executor_;
  std::optional<TUTTI_ASIO::executor_work_guard<executor_type>> work_;
  std::uint64_t ticket_ = 0;
  bool done_ = false;  // touched on the handler's executor only
};

struct start_sleep {
  template <class Handler, class Clock>
  void operator()(Handler&& handler, Clock* clock, duration d) const {
    using H = std::decay_t<Handler>;
    if constexpr (virtual_clock<Clock>) {
      std::make_shared<virtual_sleep<Clock, H>>(*clock, std::forward<Handler>(handler))->start(d);
    } else {
      // A real timer on the handler's executor, cancelled through the handler's slot.
      auto executor = TUTTI_ASIO::get_associated_executor(handler);
      auto slot = TUTTI_ASIO::get_associated_cancellation_slot(handler);
      auto timer = std::make_shared<TUTTI_ASIO::steady_timer>(executor);
      timer->expires_after(d);
      timer->async_wait(TUTTI_ASIO::bind_cancellation_slot(
          slot, TUTTI_ASIO::bind_executor(
                    executor, [timer, h = std::forward<Handler>(handler)](std::error_code ec) mutable {
                      std::move(h)(ec);
                    })));
    }
  }
};

}  // namespace detail

/**
 * Waits `d` on `clock` without holding a thread, completing `token` with `void(std::error_code)`:
 * no error when the time has passed, `operation_aborted` when the wait was cancelled through the
 * completion handler's cancellation slot (as an Asio timer's wait is) before. On
 * `tutti::steady_clock` it is an Asio `steady_timer` on the handler's executor; on a clock with
 * wake-ups (`tutti::testing::manual_clock`, see `virtual_clock`) it ends when the clock is moved
 * to its end (`advance`, `sleep_for`, `advance_to_next_wake`, or `tutti::testing::run_virtual`),
 * and the handler runs on its executor, not on the thread that moved the clock. `clock` must
 * outlive the wait. A wait of zero or less ends at once (posted, not called inline).
 * @code
 * std::error_code ec;
 * co_await tutti::async_sleep(clock, 5s, asio::redirect_error(asio::use_awaitable, ec));
 * @endcode
 */
template <class Clock, class Token>
auto async_sleep(Clock& clock, duration d, Token&& token) {
  static_assert(virtual_clock<Clock> || std::is_same_v<std::remove_cv_t<Clock>, steady_clock>,
                "tutti::async_sleep waits on tutti::steady_clock (an Asio steady_timer) or on a "
                "clock with wake-ups, such as tutti::testing::manual_clock (virtual time: "
                "wake_at(time, fn) and cancel_wake(ticket)). Other clocks cannot be waited on "
                "without a thread.");
  return TUTTI_ASIO::async_initiate<Token, void(std::error_code)>(detail::start_sleep{},
                                                                   token, &clock, d);
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_ASYNC_SLEEP_HPP
