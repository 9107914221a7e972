// tutti — the runner's async runs (host_async): each claimed run a coroutine on an Asio executor.
#ifndef TUTTI_ASYNC_RUNNER_HPP
#define TUTTI_ASYNC_RUNNER_HPP

#include "asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <functional>  // the runner's completion callback
#include <memory>      // the hosted durable workflow
#include <utility>     // std::move

#include "../config.hpp"
#include "../runner.hpp"
#include "durable.hpp"
#include "parallel.hpp"
#include "run.hpp"

TUTTI_DETAIL_COROUTINES_BEGIN

TUTTI_BEGIN_NAMESPACE

namespace detail {

/**
 * runner::host_async: what starts one claimed run. The run is posted to the runner's Asio
 * executor (never started inside the caller, so a chain of runs does not nest), awaited there
 * with `async_resume_claimed`, and its end handed to the runner's bookkeeping on the executor.
 */
template <class J, class E>
struct async_runner_access<runner<J, E>> {
  static constexpr bool available = true;
  using runner_type = runner<J, E>;
  using run_end = typename runner_type::run_end;

  template <class In, class D, class C, class O>
  static auto starter(std::shared_ptr<D> durable, E& executor, C& clock, O& obs) {
    static_assert(requires { TUTTI_ASIO::any_io_executor(executor.get_executor()); },
                  "tutti: host_async() runs each run as a coroutine on the runner's executor: "
                  "make the runner with a tutti::asio_executor (tutti::asio_executor "
                  "exec{io.get_executor()}; tutti::runner r{journal, exec};).");
    return [durable = std::move(durable), ex = TUTTI_ASIO::any_io_executor(executor.get_executor()),
            clock_ptr = &clock, obs_ptr = &obs](const run_claim& c, const claim_control& control,
                                                std::function<void(run_end)> done) {
      TUTTI_ASIO::post(ex, [durable, ex, clock_ptr, obs_ptr, c, control, done = std::move(done)]() mutable {
        auto ended = done;  // kept to report a run that could not start
        try {
          TUTTI_ASIO::co_spawn(
              ex, run<In>(durable, std::move(c), control, clock_ptr, obs_ptr, std::move(done)),
              [](const std::exception_ptr&) {});  // run() handles its own exceptions
        } catch (...) {  // its frame could not be allocated: the run ends here
          ended(runner_type::thrown());
        }
      });
    };
  }

 private:
  template <class In, class D, class C, class O>
  static awaitable<void> run(std::shared_ptr<D> durable, run_claim c, claim_control control,
                             C* clock, O* obs, std::function<void(run_end)> done) {
    run_end end;
    try {
      const run_options opts;
      auto out = co_await durable->template async_resume_claimed<In>(c, opts, *clock, *obs, control);
      end = runner_type::end_of(out);
    } catch (...) {  // a journal's allocation failure, say
      end = runner_type::thrown();
    }
    done(std::move(end));
  }
};

}  // namespace detail

TUTTI_END_NAMESPACE

TUTTI_DETAIL_COROUTINES_END

#endif  // TUTTI_ASYNC_RUNNER_HPP
