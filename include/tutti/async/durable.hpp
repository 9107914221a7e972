// tutti — durable (journaled) runs in async runs: start, resume, resume every stranded run.
#ifndef TUTTI_ASYNC_DURABLE_HPP
#define TUTTI_ASYNC_DURABLE_HPP

#include "asio.hpp"  // first: Asio, and what it needs before <coroutine>

#include <cstddef>  // resume_all's count
#include <utility>  // std::move

#include "../clock.hpp"
#include "../config.hpp"
#include "../journal/durable.hpp"
#include "run.hpp"

TUTTI_DETAIL_COROUTINES_BEGIN

TUTTI_BEGIN_NAMESPACE

namespace detail {

/**
 * durable_workflow's async members: the same start, claim, load and replay as the sync ones
 * (the journal hooks are the sync run's observer), the workflow awaited with async_run(). The
 * journal's reads and writes are synchronous calls on the run's thread: a SQLite journal's
 * write is a few microseconds (per-record commits: an fsync), see docs/async.md.
 */
template <class W, class J>
struct async_durable_access<durable_workflow<W, J>> {
  static constexpr bool available = true;
  using durable_type = durable_workflow<W, J>;

  /// What the workflow's async run gives (run_result).
  template <class In, class C, class O>
  using run_type = typename decltype(std::declval<const W&>().async_run(
      std::declval<In>(), std::declval<const run_options&>(), std::declval<C&>(),
      std::declval<O&>()))::value_type;
  template <class In, class C, class O>
  using outcome_type = durable_outcome<run_type<In, C, journal_hooks<J, O, C>>>;

  // ---- async_run ----

  template <class In>
  static auto run(const durable_type& d, In input, const run_options& opts) {
    return run_with(d, std::move(input), opts, default_clock(), null_observer_instance());
  }
  template <class In, tutti::clock C>
  static auto run(const durable_type& d, In input, const run_options& opts, C& clock) {
    return run_with(d, std::move(input), opts, clock, null_observer_instance());
  }
  template <class In, tutti::clock C, observer O>
  static auto run(const durable_type& d, In input, const run_options& opts, C& clock, O& obs) {
    return run_with(d, std::move(input), opts, clock, obs);
  }

  // ---- async_resume ----

  template <class In>
  static auto resume(const durable_type& d, const run_id& id, const run_options& opts) {
    return resume_with<In>(d, id, opts, default_clock(), null_observer_instance());
  }
  template <class In, tutti::clock C>
  static auto resume(const durable_type& d, const run_id& id, const run_options& opts, C& clock) {
    return resume_with<In>(d, id, opts, clock, null_observer_instance());
  }
  template <class In, tutti::clock C, observer O>
  static auto resume(const durable_type& d, const run_id& id, const run_options& opts, C& clock,
                     O& obs) {
    return resume_with<In>(d, id, opts, clock, obs);
  }

  template <class In, class C, class O>
  static awaitable<outcome_type<In, C, O>> resume_claimed(const durable_type& d, run_claim claim,
                                                          run_options opts, C& clock, O& obs,
                                                          claim_control control) {
    outcome_type<In, C, O> out;
    auto prepared = d.template load_claim<In>(claim, control, out);
    if (!prepared) co_return out;
    opts.id = claim.id;
    journal_hooks<J, O, C> hooks{*d.journal_, obs,         clock,
                                 claim.id,    &prepared->plan, claim.epoch,
                                 d.lease_of(claim)};
    hooks.hand_back_when(control.hand_back);
    hooks.heartbeats(control.renewed_ns);
    out.run.emplace(co_await d.workflow_->async_run(prepared->input, opts, clock, hooks));
    d.finish(out, hooks);
    co_return out;
  }

  // ---- async_resume_all: one run after another, as resume_all ----

  template <class In, class Each>
  static auto resume_all(const durable_type& d, Each each, const run_options& opts) {
    return resume_all_with<In>(d, std::move(each), opts, default_clock(), null_observer_instance());
  }
  template <class In, class Each, tutti::clock C>
  static auto resume_all(const durable_type& d, Each each, const run_options& opts, C& clock) {
    return resume_all_with<In>(d, std::move(each), opts, clock, null_observer_instance());
  }
  template <class In, class Each, tutti::clock C, observer O>
  static auto resume_all(const durable_type& d, Each each, const run_options& opts, C& clock, O& obs) {
    return resume_all_with<In>(d, std::move(each), opts, clock, obs);
  }

 private:
  /// The observer of runs given none: stateless, shared.
  static null_observer& null_observer_instance() noexcept {
    static null_observer none;
    return none;
  }

  template <class In, class C, class O>
  static awaitable<outcome_type<In, C, O>> run_with(const durable_type& d, In input,
                                                    run_options opts, C& clock, O& obs) {
    durable_type::template require_storable<In>();
    outcome_type<In, C, O> out;
    const auto epoch = d.begin_run(input, opts, out);
    if (!epoch) co_return out;
    journal_hooks<J, O, C> hooks{*d.journal_, obs, clock, opts.id, nullptr, *epoch,
                                 d.options_.lease};
    out.run.emplace(co_await d.workflow_->async_run(input, opts, clock, hooks));
    d.finish(out, hooks);
    co_return out;
  }

  template <class In, class C, class O>
  static awaitable<outcome_type<In, C, O>> resume_with(const durable_type& d, run_id id,
                                                       run_options opts, C& clock, O& obs) {
    auto claimed = d.journal_->claim(id, d.lease());
    if (!claimed) {
      outcome_type<In, C, O> out;
      out.error = claimed.error();
      out.message = d.refusal(id, claimed.error());
      co_return out;
    }
    const run_claim claim = std::move(claimed).value();
    const claim_control control{};  // named: no temporary inside a co_await (g++ 12)
    co_return co_await resume_claimed<In>(d, claim, std::move(opts), clock, obs, control);
  }

  template <class In, class Each, class C, class O>
  static awaitable<result<std::size_t>> resume_all_with(const durable_type& d, Each each,
                                                        run_options opts, C& clock, O& obs) {
    auto runs = d.resumable();
    if (!runs) co_return runs.error();
    std::size_t n = 0;
    for (const run_summary& s : runs.value()) {
      auto claimed = d.claim_resumable(s.id);
      if (!claimed) co_return claimed.error();
      if (!claimed.value()) continue;
      const run_claim claim = *claimed.value();
      const claim_control control = durable_type::start_up_control();
      auto r = co_await resume_claimed<In>(d, claim, opts, clock, obs, control);
      if (r) ++n;
      each(s.id, r);
    }
    co_return n;
  }
};

}  // namespace detail

TUTTI_END_NAMESPACE

TUTTI_DETAIL_COROUTINES_END

#endif  // TUTTI_ASYNC_DURABLE_HPP
