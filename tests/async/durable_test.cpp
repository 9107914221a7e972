// Durable (journaled) async runs: the records of a run whose steps and branches are coroutines,
// resume after a cut at every record (the process died there) calling no finished step again,
// async_resume_all, and refusals. On the in-memory journal and virtual time; the SIGKILL test of
// async runs on SQLite is in tests/durability/crash_test.cpp.
#include <tutti/async.hpp>  // first: Asio before <coroutine>
#include <tutti/testing/async.hpp>

#include <catch2/catch.hpp>

#include "support/journal_copy.hpp"

#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

using namespace std::chrono_literals;
using tutti::testing::manual_clock;

namespace {

/// What the steps did, across every incarnation of a run (as a service's own ledger would).
struct world {
  std::map<std::string, int> calls;  // step -> calls
  std::map<std::string, int> undos;  // step -> compensation calls
  std::vector<std::string> keys;     // idempotency keys seen, in order
  bool fail_charge = false;
};

struct order {
  int id = 0;
  std::string customer;
  template <class A>
  friend void serialize(A& ar, order& o) {
    ar(o.id, o.customer);
  }
};

/// A coroutine that waits 1 ms of the clock and records its call.
tutti::awaitable<void> work(manual_clock& clock, world& w, std::string step,
                            const tutti::call_context& ctx) {
  ++w.calls[step];
  std::string key;
  ctx.key().append_to(key);
  w.keys.push_back(std::move(key));
  co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
}

auto make_saga(manual_clock& clock, world& w, tutti::asio_executor& branches) {
  return tutti::workflow<"checkout">(
      tutti::step<"reserve">([&](const order& o, const tutti::call_context& ctx) -> tutti::awaitable<std::string> {
        co_await work(clock, w, "reserve", ctx);
        co_return "hold-" + std::to_string(o.id);
      }).compensate_with([&](const std::string&) -> tutti::awaitable<void> {
        ++w.undos["reserve"];
        co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
      }),
      tutti::parallel<"quotes">(
          branches,
          tutti::step<"fx">([&](const tutti::call_context& ctx) -> tutti::awaitable<int> {
            co_await work(clock, w, "fx", ctx);
            co_return 2;
          }),
          tutti::step<"fee">([&](const tutti::call_context& ctx) -> tutti::awaitable<int> {
            co_await work(clock, w, "fee", ctx);
            co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
            co_return 3;
          }).compensate_with([&](const int&) { ++w.undos["fee"]; })),
      tutti::step<"charge">([&](tutti::from<"reserve", std::string> hold,
                                tutti::from<"quotes", std::tuple<int, int>> q,
                                const tutti::call_context& ctx) -> tutti::awaitable<tutti::result<int>> {
        co_await work(clock, w, "charge", ctx);
        if (w.fail_charge) co_return tutti::errc::step_failed;
        co_return static_cast<int>(hold->size()) * std::get<0>(*q) + std::get<1>(*q);
      }).compensate_with([&](const int&) { ++w.undos["charge"]; }),
      tutti::pivot<"ship">([&](tutti::from<"charge", int> amount) {
        ++w.calls["ship"];
        return *amount * 10;
      }));
}

const order an_order{42, "ada"};

}  // namespace

TEST_CASE("a durable async run journals its coroutine steps and branches before moving on",
          "[async][durable]") {
  asio::io_context io;
  manual_clock clock;
  world w;
  tutti::asio_executor branches{io.get_executor()};
  const auto wf = make_saga(clock, w, branches);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  const order input = an_order;  // named: see docs/async.md on g++ 12 and temporaries
  const tutti::run_options opts;
  const auto r = tutti::testing::run_to_completion(io, clock, durable.async_run(input, opts, clock));
  REQUIRE(r);
  REQUIRE(r->has_value());
  CHECK(r->value() == (7 * 2 + 3) * 10);  // "hold-42" has 7 characters
  const auto stored = j.load(r->id()).value();
  CHECK(stored.summary.workflow == "checkout");
  CHECK(stored.summary.status == tutti::run_status::succeeded);
  // Each step's start and end, a branch's within its group's.
  std::map<std::string, int> finished;
  for (const auto& rec : stored.records)
    if (rec.kind == tutti::record_kind::step_finished) ++finished[rec.step];
  CHECK(finished == std::map<std::string, int>{{"reserve", 1}, {"quotes/fx", 1}, {"quotes/fee", 1},
                                               {"quotes", 1}, {"charge", 1}, {"ship", 1}});
  CHECK(stored.records.back().kind == tutti::record_kind::run_finished);
  CHECK(tutti::from_bytes<std::string>(stored.records[4].payload).value() == "hold-42");
}

TEST_CASE("a durable async run cut after any record resumes to the same end, calling no "
          "finished step again", "[async][durable]") {
  for (const bool fail : {false, true}) {
    asio::io_context io;
    manual_clock clock;
    world w;
    w.fail_charge = fail;
    tutti::asio_executor branches{io.get_executor()};
    const auto wf = make_saga(clock, w, branches);
    tutti::memory_journal reference;
    const tutti::durable_workflow full_durable{wf, reference};
    const order input = an_order;
    const tutti::run_options full_opts;
    const auto full =
        tutti::testing::run_to_completion(io, clock, full_durable.async_run(input, full_opts, clock));
    REQUIRE(full);
    const std::size_t n = reference.load(full->id()).value().records.size();
    const auto final_status = reference.status(full->id()).value();
    CHECK(final_status == (fail ? tutti::run_status::compensated : tutti::run_status::succeeded));

    for (std::size_t cut = 1; cut < n; ++cut) {
      INFO("charge fails: " << fail << ", journal cut after record " << cut << " of " << n);
      tutti::memory_journal j;
      const tutti::durable_workflow durable{wf, j};
      w = world{};
      w.fail_charge = fail;
      tutti::run_options opts;
      opts.id = tutti::run_id{7, cut};
      const auto first = tutti::testing::run_to_completion(io, clock, durable.async_run(input, opts, clock));
      REQUIRE(first);
      j.truncate(first->id(), cut);  // the process died after writing `cut` records
      const auto plan = tutti::plan_of(j.load(first->id()).value());

      const world before = w;
      w.calls.clear();
      w.undos.clear();
      const tutti::run_options resume_opts;
      const auto resumed = tutti::testing::run_to_completion(
          io, clock, durable.async_resume<order>(first->id(), resume_opts, clock));
      REQUIRE(resumed);
      CHECK_FALSE(resumed.error);
      CHECK(resumed->outcome() == first->outcome());
      CHECK(j.status(first->id()).value() == final_status);
      // A step whose end was recorded is not called again; the others are, once at most.
      for (const char* step : {"reserve", "quotes/fx", "quotes/fee", "charge"}) {
        const auto it = plan.steps.find(step);
        const bool done = it != plan.steps.end() && (it->second.succeeded || it->second.failed);
        const std::string name = std::string{step}.substr(std::string{step}.rfind('/') + 1);
        INFO("step " << step);
        if (done) CHECK(w.calls[name] == 0);
        else CHECK(w.calls[name] <= 1);
      }
      // The first incarnation ran to its end before the cut: a step called again now gets the
      // idempotency key it got then.
      for (const auto& key : w.keys)
        CHECK(std::find(before.keys.begin(), before.keys.end(), key) != before.keys.end());
      if (!fail) CHECK(resumed->value() == 170);
    }
  }
}

TEST_CASE("async_resume_all resumes every stranded run, one after another", "[async][durable]") {
  asio::io_context io;
  manual_clock clock;
  world w;
  tutti::asio_executor branches{io.get_executor()};
  const auto wf = make_saga(clock, w, branches);
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  const order input = an_order;
  std::vector<tutti::run_id> ids;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    tutti::run_options opts;
    opts.id = tutti::run_id{5, i};
    const auto r = tutti::testing::run_to_completion(io, clock, durable.async_run(input, opts, clock));
    REQUIRE(r);
    j.truncate(r->id(), 3 + i);  // stranded at different records
    ids.push_back(r->id());
  }
  std::vector<tutti::run_id> resumed;
  auto each = [&](const tutti::run_id& id, const auto& out) {
    CHECK(out);
    if (out) CHECK(out->value() == 170);
    resumed.push_back(id);
  };
  const tutti::run_options opts;
  const auto n = tutti::testing::run_to_completion(io, clock, durable.async_resume_all<order>(each, opts, clock));
  REQUIRE(n);
  CHECK(n.value() == 3);
  std::sort(resumed.begin(), resumed.end());
  CHECK(resumed == ids);
  for (const auto& id : ids) CHECK(j.status(id).value() == tutti::run_status::succeeded);
}

TEST_CASE("an async resume of a paused or finished run is refused, saying why", "[async][durable]") {
  asio::io_context io;
  manual_clock clock;
  tutti::memory_journal j;
  const auto wf = tutti::workflow<"w">(tutti::step<"only">([&]() -> tutti::awaitable<int> {
    co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
    co_return 1;
  }));
  const tutti::durable_workflow durable{wf, j};
  const tutti::unit input{};
  const tutti::run_options opts;
  const auto r = tutti::testing::run_to_completion(io, clock, durable.async_run(input, opts, clock));
  REQUIRE(r);
  REQUIRE(r->has_value());
  const auto again = tutti::testing::run_to_completion(io, clock, durable.async_resume<tutti::unit>(r->id(), opts, clock));
  CHECK_FALSE(again);
  CHECK(again.error == tutti::journal_errc::not_resumable);
  CHECK(again.message.find("succeeded") != std::string::npos);
}

TEST_CASE("an async resume undoes the group's branches an earlier incarnation finished, even once "
          "the group is decided",
          "[async][durable]") {
  // The journal of a crashed run: "a" and "b" finished, "c" never started. Resumed, "c" runs
  // first and fails (inline: the group is decided before "a" and "b" come back): both are
  // restored from the journal, not called, and undone.
  asio::io_context io;
  manual_clock clock;
  std::map<std::string, int> calls;
  std::map<std::string, int> undos;
  bool fail_c = false;
  auto& inline_exec = tutti::detail::shared_executor<tutti::inline_executor>();
  const auto coroutine_step = [&](const char* name) {
    return [&calls, &clock, name](int x) -> tutti::awaitable<int> {
      ++calls[name];
      co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
      co_return x + 1;
    };
  };
  const auto wf = tutti::workflow<"w">(tutti::parallel<"g">(
      inline_exec,
      tutti::step<"c">([&](int x) -> tutti::awaitable<tutti::result<int>> {
        ++calls["c"];
        co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
        if (fail_c) co_return tutti::errc::step_failed;
        co_return x;
      }),
      tutti::step<"a">(coroutine_step("a")).compensate_with([&](const int&) { ++undos["a"]; }),
      tutti::step<"b">(coroutine_step("b")).compensate_with([&](const int&) { ++undos["b"]; })));
  tutti::memory_journal reference;
  const tutti::run_options opts;
  const auto full = tutti::testing::run_to_completion(
      io, clock, tutti::durable_workflow{wf, reference}.async_run(7, opts, clock));
  REQUIRE(full);
  REQUIRE(full->has_value());
  const tutti::stored_run stored = reference.load(full->id()).value();
  tutti::memory_journal j;
  // The same run without "c"'s records and without the group's end (nor anything after it).
  support::copy_run(j, stored, support::before_end_of("g", "g/c"));
  calls.clear();
  fail_c = true;
  const tutti::durable_workflow durable{wf, j};
  const auto resumed = tutti::testing::run_to_completion(
      io, clock, durable.async_resume<int>(full->id(), opts, clock));
  REQUIRE(resumed);
  CHECK(resumed->outcome() == tutti::run_outcome::compensated);
  CHECK(calls["c"] == 1);
  CHECK(calls["a"] == 0);
  CHECK(calls["b"] == 0);
  CHECK(undos["a"] == 1);
  CHECK(undos["b"] == 1);
}

TEST_CASE("an async resumed hedge starts a copy an earlier incarnation finished, and undoes it",
          "[async][durable]") {
  // The journal of a crashed run: both copies finished, the group did not. Resumed, "a" comes
  // back first and wins; "b"'s hedge is then not due any more, but it ran: restored, undone.
  asio::io_context io;
  manual_clock clock;
  tutti::asio_executor branches{io.get_executor()};
  std::map<std::string, int> calls;
  std::map<std::string, int> undos;
  const auto copy = [&](const char* name) {
    return [&calls, &clock, name]() -> tutti::awaitable<int> {
      ++calls[name];
      co_await tutti::async_sleep(clock, 1ms, asio::use_awaitable);
      co_return 1;
    };
  };
  const auto wf = tutti::workflow<"w">(tutti::hedge<"g">(
      branches, std::chrono::hours(1),
      tutti::step<"a">(copy("a")).compensate_with([&](const int&) { ++undos["a"]; }),
      tutti::step<"b">(copy("b")).compensate_with([&](const int&) { ++undos["b"]; })));
  // Both copies' records, as a group running both would write them.
  const auto both = tutti::workflow<"w">(tutti::parallel<"g">(
      branches, tutti::step<"a">(copy("a")).compensate_with([](const int&) {}),
      tutti::step<"b">(copy("b")).compensate_with([](const int&) {})));
  tutti::memory_journal reference;
  const tutti::run_options opts;
  const auto full = tutti::testing::run_to_completion(
      io, clock, tutti::durable_workflow{both, reference}.async_run(0, opts, clock));
  REQUIRE(full);
  REQUIRE(full->has_value());
  tutti::stored_run stored = reference.load(full->id()).value();
  stored.summary.fingerprint =
      tutti::durable_workflow<decltype(wf), tutti::memory_journal>::fingerprint<int>();
  tutti::memory_journal j;
  support::copy_run(j, stored, support::before_end_of("g", ""));
  calls.clear();
  const tutti::durable_workflow durable{wf, j};
  const auto resumed = tutti::testing::run_to_completion(
      io, clock, durable.async_resume<int>(full->id(), opts, clock));
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(calls["a"] == 0);
  CHECK(calls["b"] == 0);
  CHECK(undos["a"] == 0);
  CHECK(undos["b"] == 1);
}
