// Orders through the durable queue: requests are submitted while no engine is up (one of them
// twice: the dedup key keeps it one order), then two runners — as two replicas of a service
// would, each with its own connection to the shared SQLite journal — claim and run them (the
// one with free capacity first: a runner's thread claims the next run itself when a run ends),
// one at a time per customer (an exclusive partition). Each charge is made once per key.
// See docs/running.md.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/sqlite.hpp>
#include <tutti/runner.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct order {
  int id = 0;
  std::string customer;
  int cents = 0;
  template <class A>
  friend void serialize(A& ar, order& o) {
    ar(o.id, o.customer, o.cents);
  }
};

/// The card network: one charge per idempotency key, as a real one honours it.
struct card_network {
  std::mutex m;
  std::set<std::string> charged;
  int calls = 0;
  std::string charge(const tutti::call_context& ctx) {
    const std::lock_guard lock{m};
    ++calls;
    charged.insert(fmt::format("{}", ctx.key()));
    return fmt::format("CH-{}", charged.size());
  }
};

int main() {
  const fs::path dir = fs::temp_directory_path() / "tutti-order-queue";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string db = (dir / "orders.db").string();

  card_network cards;
  const auto checkout = tutti::workflow<"checkout">(
      tutti::step<"reserve">([](const order& o) { return o.id; }).compensate_with([](const int&) {}),
      tutti::pivot<"charge">([&cards](const tutti::call_context& ctx) { return cards.charge(ctx); }));

  // 1. Requests arrive while no engine runs: they wait in the journal.
  {
    auto journal = tutti::sqlite_journal::open(db);
    if (!journal) return 1;
    const tutti::durable_workflow durable{checkout, journal.value()};
    for (int i = 1; i <= 12; ++i) {
      const order o{i, i % 3 == 0 ? "ada" : (i % 3 == 1 ? "grace" : "alan"), 100 * i};
      tutti::submit_options so;
      const std::string key = fmt::format("order-{}", i);
      so.dedup_key = key;
      so.partition = o.customer;  // one order of a customer at a time, in order
      so.exclusive = true;
      if (!durable.submit(o, so)) return 2;
    }
    tutti::submit_options again;
    again.dedup_key = "order-5";  // the client retried its request: still one order
    const auto dup = durable.submit(order{5, "alan", 500}, again);
    if (!dup || dup.value().created) return 3;
    fmt::print("queued: {} orders (a resubmission was recognised)\n", journal.value().queue_depth().value());
  }

  // 2. Two replicas start; each claims what its capacity allows until the queue is empty.
  //    (Each claim is one transaction: no order is claimed by both.)
  auto journal_a = tutti::sqlite_journal::open(db);
  auto journal_b = tutti::sqlite_journal::open(db);
  if (!journal_a || !journal_b) return 4;
  tutti::thread_pool pool_a{2}, pool_b{2};
  tutti::runner a{journal_a.value(), pool_a, {.name = "pod-a", .poll = 10ms}};
  tutti::runner b{journal_b.value(), pool_b, {.name = "pod-b", .poll = 10ms}};
  a.host<order>(checkout, 2);
  b.host<order>(checkout, 2);
  a.start();
  b.start();
  // Until every order has been claimed (at most 30 s): the orders of one customer wait in the
  // queue while an earlier one of theirs runs.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (journal_a.value().queue_depth().value() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  a.stop();  // drains: runs in flight finish
  b.stop();

  // 3. What happened: every order succeeded once, each charged once.
  std::map<std::string, int> by_engine;
  int succeeded = 0;
  const auto runs = journal_a.value().list({}).value();
  for (const auto& s : runs) {
    succeeded += s.status == tutti::run_status::succeeded ? 1 : 0;
    const auto run = journal_a.value().load(s.id).value();  // kept: the loop reads its records
    for (const auto& r : run.records)
      if (r.kind == tutti::record_kind::claimed) ++by_engine[r.message.substr(0, r.message.find('#'))];
  }
  fmt::print("runs: {}, succeeded: {}, charges: {} (calls {})\n", runs.size(), succeeded,
             cards.charged.size(), cards.calls);
  for (const auto& [engine, n] : by_engine) fmt::print("  claimed by {}: {}\n", engine, n);
  std::string metrics;
  a.write_prometheus(metrics);
  fmt::print("{}", metrics.substr(0, metrics.find("# HELP tutti_runner_takeovers_total")));
  if (std::getenv("KEEP") == nullptr) fs::remove_all(dir);
  return runs.size() == 12 && succeeded == 12 && cards.charged.size() == 12 ? 0 : 5;
}
