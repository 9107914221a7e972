// Compensations of independent steps in parallel (`wf.compensate_in_parallel(exec)`): all are
// started at once and waited for; each completed step is undone exactly once; failures,
// stop_on_failure, events and journaled resumes stay as in the default order.
#include <catch2/catch.hpp>

#include <tutti/journal/durable.hpp>
#include <tutti/journal/memory.hpp>
#include <tutti/testing/event_log.hpp>
#include <tutti/testing/replace.hpp>
#include <tutti/tutti.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using tutti::step;
using status = tutti::step_status;

/// `parties` callers meet: each arrives and waits for the others, at most 10 s of real time.
/// False when the others never came (the callers ran one after another, not at once).
class rendezvous {
 public:
  explicit rendezvous(int parties) : left_(parties) {}
  bool arrive_and_wait() {
    std::unique_lock lock{m_};
    if (--left_ == 0) cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds{10}, [this] { return left_ <= 0; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int left_;
};

/// What the services saw: calls of each compensation, in order, and how many ran at once.
struct ledger {
  std::mutex m;
  std::map<std::string, int> undos;
  std::vector<std::string> order;
  std::set<std::thread::id> threads;
  int in_flight = 0;
  int most_at_once = 0;

  void begin(const std::string& s) {
    const std::lock_guard lock{m};
    ++undos[s];
    order.push_back(s);
    threads.insert(std::this_thread::get_id());
    most_at_once = std::max(most_at_once, ++in_flight);
  }
  void end() {
    const std::lock_guard lock{m};
    --in_flight;
  }
  int undos_of(const std::string& s) {
    const std::lock_guard lock{m};
    return undos[s];
  }
};

/// A compensation that records its call; it waits at `meet` when given (for the others).
auto undo(ledger& l, std::string name, rendezvous* meet = nullptr) {
  return [&l, name, meet](const int&) -> tutti::result<void> {
    l.begin(name);
    const bool met = meet == nullptr || meet->arrive_and_wait();
    l.end();
    if (!met) return tutti::errc::timeout;
    return tutti::outcome::success();
  };
}
auto value(int v) {
  return [v] { return v; };
}
auto failing() {
  return []() -> tutti::result<int> { return tutti::errc::step_failed; };
}

/// a, b and c, each undone by `undo`, then d, which fails.
auto three_then_failure(ledger& l) {
  return tutti::workflow<"w">(step<"a">(value(1)).compensate_with(undo(l, "a")),
                              step<"b">(value(2)).compensate_with(undo(l, "b")),
                              step<"c">(value(3)).compensate_with(undo(l, "c")),
                              step<"d">(failing()));
}

/// Throws from the observer when step `step`'s compensation starts (an observer must not
/// throw: this stands for any hook that does).
struct throwing_observer {
  std::string step;
  void on_event(const tutti::event& e) {
    if (e.kind == tutti::event_kind::compensation_started && e.step == step)
      throw std::runtime_error("observer broke");
  }
};
}  // namespace

TEST_CASE("independent compensations run at the same time when the workflow asks for it",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{2};
  ledger l;
  rendezvous meet{2};  // each undo waits for the other: one after another, neither would end
  const auto wf = tutti::workflow<"trip">(
                      step<"flight">(value(1)).compensate_with(undo(l, "flight", &meet)),
                      step<"hotel">(value(2)).compensate_with(undo(l, "hotel", &meet)),
                      step<"car">(failing()).compensate_with(undo(l, "car")))
                      .compensate_in_parallel(pool);
  tutti::testing::event_log log;
  const auto run = wf.run(tutti::unit{}, {}, log);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  const auto report = run.report();
  CHECK(report[0].status == status::compensated);
  CHECK(report[1].status == status::compensated);
  CHECK(report[2].status == status::failed);
  CHECK(report[0].compensation_attempts == 1);
  CHECK(report[1].compensation_attempts == 1);
  CHECK(l.undos_of("flight") == 1);
  CHECK(l.undos_of("hotel") == 1);
  CHECK(l.undos_of("car") == 0);
  CHECK(l.most_at_once == 2);
  CHECK(l.threads.size() == 2);
  // Every compensation's events, once each; the run's end after all of them.
  for (const char* s : {"flight", "hotel"}) {
    INFO(s);
    CHECK(log.count(tutti::event_kind::compensation_started, s) == 1);
    CHECK(log.count(tutti::event_kind::compensation_succeeded, s) == 1);
  }
  CHECK(log.count(tutti::event_kind::compensation_failed) == 0);
  REQUIRE_FALSE(log.entries().empty());
  CHECK(log.entries().back().kind == tutti::event_kind::run_finished);
}

TEST_CASE("without compensate_in_parallel compensations stay one at a time, last first",
          "[core][saga][parallel_compensation]") {
  ledger l;
  const auto wf = three_then_failure(l);
  const auto plain = wf.run();
  CHECK(plain.outcome() == tutti::run_outcome::compensated);
  CHECK(l.order == std::vector<std::string>{"c", "b", "a"});
  CHECK(l.most_at_once == 1);
  CHECK(l.threads == std::set<std::thread::id>{std::this_thread::get_id()});

  // On the inline executor the parallel form submits last first, each run at once: the same
  // order, on the calling thread.
  ledger inline_l;
  tutti::inline_executor here;
  const auto same = three_then_failure(inline_l).compensate_in_parallel(here);
  const auto r = same.run();
  CHECK(r.outcome() == tutti::run_outcome::compensated);
  CHECK(inline_l.order == std::vector<std::string>{"c", "b", "a"});
  CHECK(inline_l.most_at_once == 1);
}

TEST_CASE("in parallel, every completed step that needs undoing is undone exactly once",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{4};
  for (int round = 0; round < 50; ++round) {
    INFO("round " << round);
    ledger l;
    const auto wf =
        tutti::workflow<"w">(step<"a">(value(1)).compensate_with(undo(l, "a")),
                             step<"b">(value(2)).compensate_with(undo(l, "b")),
                             step<"read">(value(3)),  // nothing to undo
                             step<"c">(value(4)).compensate_with(undo(l, "c")),
                             step<"cached">(failing()).compensate_with(undo(l, "cached")) |
                                 tutti::fallback(5),  // served by a fallback: nothing to undo
                             step<"d">(value(6)).compensate_with(undo(l, "d")),
                             step<"e">(value(7)).compensate_with(undo(l, "e")),
                             step<"f">(failing()).compensate_with(undo(l, "f")),
                             step<"g">(value(9)).compensate_with(undo(l, "g")))
            .compensate_in_parallel(pool);
    const auto run = wf.run();
    CHECK(run.outcome() == tutti::run_outcome::compensated);
    CHECK(run.failed_step() == "f");
    const auto report = run.report();
    for (const char* s : {"a", "b", "c", "d", "e"}) {
      INFO(s);
      CHECK(l.undos_of(s) == 1);
      CHECK(report.step(s).status == status::compensated);
      CHECK(report.step(s).compensation_attempts == 1);
    }
    for (const char* s : {"cached", "f", "g"}) {
      INFO(s);
      CHECK(l.undos_of(s) == 0);
    }
    CHECK(report.step("read").status == status::succeeded);
    CHECK(report.step("cached").status == status::succeeded);
    CHECK(report.step("f").status == status::failed);
    CHECK(report.step("g").status == status::not_started);
    CHECK(l.order.size() == 5);
  }
}

TEST_CASE("failed compensations in parallel are reported and do not stop their neighbours",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{3};
  const auto policy = GENERATE(tutti::compensation_policy::continue_on_failure,
                               tutti::compensation_policy::stop_on_failure);
  INFO("stop_on_failure: " << (policy == tutti::compensation_policy::stop_on_failure));
  ledger l;
  const auto wf =
      tutti::workflow<"checkout">(
          step<"reserve">(value(1)).compensate_with(undo(l, "reserve")),
          step<"charge">(value(2)).compensate_with([&l](const int&) -> tutti::result<void> {
            l.begin("charge");
            l.end();
            return tutti::errc::rate_limited;
          }),
          step<"points">(value(3)).compensate_with([&l](const int&) -> tutti::result<void> {
            l.begin("points");
            l.end();
            throw std::runtime_error("points service down");
          }),
          step<"coupon">(value(4)).compensate_with(undo(l, "coupon")),
          step<"ship">(failing()))
          .compensate_in_parallel(pool);
  tutti::testing::event_log log;
  const auto run = wf.run(tutti::unit{}, {.on_compensation_failure = policy}, log);
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  const auto report = run.report();
  // All four were started together: a failure among them stops none of the others.
  for (const char* s : {"reserve", "charge", "points", "coupon"}) {
    INFO(s);
    CHECK(l.undos_of(s) == 1);
    CHECK(report.step(s).compensation_attempts == 1);
    CHECK(log.count(tutti::event_kind::compensation_started, s) == 1);
  }
  CHECK(report.step("reserve").status == status::compensated);
  CHECK(report.step("coupon").status == status::compensated);
  CHECK(report.step("charge").status == status::compensation_failed);
  CHECK(report.step("charge").compensation_error == tutti::errc::rate_limited);
  CHECK(report.step("points").status == status::compensation_failed);
  CHECK(report.step("points").compensation_error == tutti::errc::exception);
  CHECK(report.step("points").compensation_message == "points service down");
  CHECK(report.step("ship").status == status::failed);
  CHECK(log.count(tutti::event_kind::compensation_succeeded) == 2);
  const auto failed = log.of(tutti::event_kind::compensation_failed);
  REQUIRE(failed.size() == 2);
  for (const auto& e : failed) {
    INFO(e.step);
    if (e.step == "points") {
      CHECK(e.error == tutti::errc::exception);
      CHECK(e.message == "points service down");
    } else {
      CHECK(e.step == "charge");
      CHECK(e.error == tutti::errc::rate_limited);
    }
  }
}

TEST_CASE("stop_on_failure stops the undoing before a parallel level, not the level itself",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{3};
  const auto policy = GENERATE(tutti::compensation_policy::continue_on_failure,
                               tutti::compensation_policy::stop_on_failure);
  const bool stop = policy == tutti::compensation_policy::stop_on_failure;
  INFO("stop_on_failure: " << stop);
  ledger l;
  const auto holds = tutti::workflow<"holds">(
                         step<"seat">(value(1)).compensate_with(undo(l, "seat")),
                         step<"meal">(value(2)).compensate_with([&l](const int&) -> tutti::result<void> {
                           l.begin("meal");
                           l.end();
                           return tutti::errc::rate_limited;
                         }),
                         step<"bag">(value(3)).compensate_with(undo(l, "bag")))
                         .compensate_in_parallel(pool);
  const auto wf = tutti::workflow<"booking">(
      step<"account">(value(0)).compensate_with(undo(l, "account")), holds,
      step<"pay">(failing()));
  const auto run = wf.run(tutti::unit{}, {.on_compensation_failure = policy});
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  // The nested level's compensations were all attempted, whatever the policy.
  CHECK(l.undos_of("seat") == 1);
  CHECK(l.undos_of("meal") == 1);
  CHECK(l.undos_of("bag") == 1);
  const auto report = run.report();
  CHECK(report.step("holds").status == status::compensation_failed);
  CHECK(report.step("holds").compensation_error == tutti::errc::compensation_failed);
  // What comes before it depends on the policy.
  CHECK(l.undos_of("account") == (stop ? 0 : 1));
  CHECK(report.step("account").status == (stop ? status::succeeded : status::compensated));
}

TEST_CASE("a parallel-compensated nested workflow that fails undoes its own steps at once",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{2};
  ledger l;
  rendezvous meet{2};
  const auto payment = tutti::workflow<"payment">(
                           step<"authorize">(value(1)).compensate_with(undo(l, "authorize", &meet)),
                           step<"fx">(value(2)).compensate_with(undo(l, "fx", &meet)),
                           step<"capture">(failing()).compensate_with(undo(l, "capture")))
                           .compensate_in_parallel(pool);
  const auto wf = tutti::workflow<"order">(
      step<"reserve">(value(0)).compensate_with(undo(l, "reserve")), payment);
  tutti::testing::event_log log;
  const auto run = wf.run(tutti::unit{}, {}, log);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "payment");
  CHECK(run.message() == "capture: step failed");
  CHECK(run.report().step("reserve").status == status::compensated);
  CHECK(l.undos_of("authorize") == 1);
  CHECK(l.undos_of("fx") == 1);
  CHECK(l.undos_of("capture") == 0);
  CHECK(l.undos_of("reserve") == 1);
  // The enclosing level stays in order: its own step after the nested level's two.
  REQUIRE(l.order.size() == 3);
  CHECK(l.order.back() == "reserve");
  CHECK(log.count(tutti::event_kind::compensation_succeeded, "payment/authorize") == 1);
  CHECK(log.count(tutti::event_kind::compensation_succeeded, "payment/fx") == 1);
}

TEST_CASE("a parallel-compensated workflow in a branch on the same one-thread pool ends",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{1};  // the thread that waits for the compensations helps run them
  ledger l;
  const auto inner = three_then_failure(l).compensate_in_parallel(pool);
  const auto wf = tutti::workflow<"outer">(tutti::parallel<"g">(pool, inner, step<"x">(value(5))));
  const auto run = wf.run();
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.failed_step() == "g");
  CHECK(l.undos_of("a") == 1);
  CHECK(l.undos_of("b") == 1);
  CHECK(l.undos_of("c") == 1);
}

TEST_CASE("an exception escaping a compensation run in parallel is captured as its failure",
          "[core][saga][parallel_compensation]") {
  tutti::thread_pool pool{2};
  ledger l;
  const auto wf = three_then_failure(l).compensate_in_parallel(pool);
  throwing_observer obs{"b"};
  const auto run = wf.run(tutti::unit{}, {}, obs);
  CHECK(run.outcome() == tutti::run_outcome::compensation_failed);
  const auto report = run.report();
  CHECK(report[0].status == status::compensated);
  CHECK(report[1].status == status::compensation_failed);
  CHECK(report[1].compensation_error == tutti::errc::exception);
  CHECK(report[1].compensation_message == "observer broke");
  CHECK(report[2].status == status::compensated);
  CHECK(l.undos_of("a") == 1);
  CHECK(l.undos_of("b") == 0);  // the hook threw before the compensation was called
  CHECK(l.undos_of("c") == 1);
}

TEST_CASE("a durable run cut during parallel compensation resumes undoing each step once",
          "[core][saga][parallel_compensation][journal]") {
  tutti::thread_pool pool{3};
  ledger l;
  const auto wf = tutti::workflow<"saga">(
                      step<"a">([](int x) { return x + 1; }).compensate_with(undo(l, "a")),
                      step<"b">([](int x) { return x + 2; }).compensate_with(undo(l, "b")),
                      step<"c">([](int x) { return x + 3; }).compensate_with(undo(l, "c")),
                      step<"d">([](int) -> tutti::result<int> { return tutti::errc::step_failed; }))
                      .compensate_in_parallel(pool);
  tutti::memory_journal reference;
  const auto full = tutti::durable_workflow{wf, reference}.run(7);
  REQUIRE(full);
  CHECK(full->outcome() == tutti::run_outcome::compensated);
  const std::size_t n = reference.load(full->id()).value().records.size();
  const std::vector<std::string> undone{"a", "b", "c"};

  for (std::size_t cut = 1; cut < n; ++cut) {
    INFO("journal cut after record " << cut << " of " << n);
    tutti::memory_journal j;
    tutti::durable_workflow durable{wf, j};
    const auto first = durable.run(7, {.id = tutti::run_id{11, cut}});
    REQUIRE(first);
    j.truncate(first->id(), cut);  // the process died after writing `cut` records
    const auto plan = tutti::plan_of(j.load(first->id()).value());

    std::map<std::string, int> before;
    for (const auto& s : undone) before[s] = l.undos_of(s);
    const auto resumed = durable.resume<int>(first->id());
    REQUIRE(resumed);
    CHECK(resumed->outcome() == tutti::run_outcome::compensated);
    CHECK(j.status(first->id()).value() == tutti::run_status::compensated);
    for (const auto& s : undone) {
      INFO("step " << s);
      const auto it = plan.steps.find(s);
      const bool recorded_undone = it != plan.steps.end() && it->second.compensated;
      // Undone before the crash (its end recorded): never again; else once, on resume.
      CHECK(l.undos_of(s) - before[s] == (recorded_undone ? 0 : 1));
      CHECK(resumed->report().step(s).status == status::compensated);
    }
  }
}

TEST_CASE("replace keeps a workflow's parallel compensation and its executor",
          "[core][saga][parallel_compensation][testing]") {
  tutti::thread_pool pool{2};
  ledger l;
  rendezvous meet{2};  // flight's and hotel's undos end only if they run at the same time
  const auto wf = tutti::workflow<"trip">(
                      step<"flight">(value(1)).compensate_with(undo(l, "flight", &meet)),
                      step<"hotel">(value(2)).compensate_with(undo(l, "hotel", &meet)),
                      step<"car">(value(3)))
                      .compensate_in_parallel(pool);
  // The test makes the last step fail: what the production workflow does on that failure is
  // what the test must see, compensations at once included.
  const auto test = tutti::testing::replace<"car">(wf, failing());
  STATIC_REQUIRE(std::is_same_v<typename std::remove_cvref_t<decltype(test)>::executor_type,
                                tutti::thread_pool>);
  CHECK(&test.compensation_executor() == &pool);
  const auto run = test.run();
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.report().step("flight").status == status::compensated);
  CHECK(run.report().step("hotel").status == status::compensated);
  CHECK(l.most_at_once == 2);
  CHECK(l.undos_of("flight") == 1);
  CHECK(l.undos_of("hotel") == 1);

  SECTION("replace_compensation too") {
    ledger other;
    rendezvous meet2{2};
    const auto swapped = tutti::testing::replace_compensation<"flight">(
        test, undo(other, "new flight undo", &meet2));
    CHECK(&swapped.compensation_executor() == &pool);
    // The old undo of hotel meets the new undo of flight: both must run at once.
    const auto again = tutti::testing::replace_compensation<"hotel">(
        swapped, undo(other, "new hotel undo", &meet2));
    const auto r = again.run();
    CHECK(r.outcome() == tutti::run_outcome::compensated);
    CHECK(other.undos_of("new flight undo") == 1);
    CHECK(other.undos_of("new hotel undo") == 1);
    CHECK(other.most_at_once == 2);
    CHECK(l.undos_of("flight") == 1);  // the replaced undos are not called again
  }
}

TEST_CASE("replace reaches into a nested parallel-compensated workflow and keeps its undo",
          "[core][saga][parallel_compensation][testing]") {
  tutti::thread_pool pool{2};
  ledger l;
  rendezvous meet{2};
  const auto outer = tutti::workflow<"outer">(
      tutti::workflow<"trip">(step<"flight">(value(1)).compensate_with(undo(l, "flight", &meet)),
                              step<"hotel">(value(2)).compensate_with(undo(l, "hotel", &meet)))
          .compensate_in_parallel(pool),
      step<"pay">(value(3)));
  int calls = 0;
  const auto test = tutti::testing::replace<"pay">(
      tutti::testing::replace<"trip/hotel">(outer,
                                            [&calls] {
                                              ++calls;
                                              return 20;
                                            }),
      failing());
  const auto run = test.run();
  CHECK(calls == 1);
  CHECK(run.outcome() == tutti::run_outcome::compensated);
  CHECK(run.report().step("trip").status == status::compensated);
  CHECK(l.undos_of("flight") == 1);
  CHECK(l.undos_of("hotel") == 1);
  CHECK(l.most_at_once == 2);  // the nested level is still undone at once
}
