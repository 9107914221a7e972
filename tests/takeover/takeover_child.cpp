// An engine process for the takeover tests (takeover_cases.hpp): a runner hosting the order saga
// on a shared journal until told to stop, one resume_all, or a batch of submissions. <journal>
// is an SQLite file's path or "postgres:<schema>" (the server of TUTTI_PG_CONNINFO).
//
//   tutti_takeover_child runner <journal> <dir> <name> <lease-ms> <poll-ms> [--slow-charge MS]
//                              [--work-us US] [--versions 1,2]
//       runs until <dir>/stop exists, then drains and exits 0; hosts the saga's versions listed
//       (default: version 1)
//   tutti_takeover_child resume-all <journal> <dir> [--work-us US]
//       one resume_all (engine name "resumer-<pid>"), then exits 0
//   tutti_takeover_child submit <journal> <dir> <count> <partitions> [--from K] [--version V]
//       submits orders K..K+count-1 (K: 0) round-robin over partitions p0..pN-1 (exclusive) as
//       version V (1 or 2; default 1) of the saga, exits 0
#include "takeover_shared.hpp"

#include <tutti/runner.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

namespace {

int usage() {
  std::fputs(
      "usage: tutti_takeover_child runner <journal> <dir> <name> <lease-ms> <poll-ms> "
      "[--slow-charge MS] [--work-us US] [--versions 1,2]\n"
      "       tutti_takeover_child resume-all <journal> <dir> [--work-us US]\n"
      "       tutti_takeover_child submit <journal> <dir> <count> <partitions> [--from K] "
      "[--version V]\n",
      stderr);
  return 2;
}

int number(const char* text) { return std::atoi(text); }

template <class J>
int run(J& j, int argc, char** argv) {
  const std::string_view mode = argv[1];
  takeover::services s;
  s.dir = argv[3];
  std::string_view versions = "1";
  int version = 1;
  int from = 0;
  for (int i = 4; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--slow-charge") s.slow_charge_ms = number(argv[i + 1]);
    if (std::string_view(argv[i]) == "--work-us") s.work_us = number(argv[i + 1]);
    if (std::string_view(argv[i]) == "--versions") versions = argv[i + 1];
    if (std::string_view(argv[i]) == "--version") version = number(argv[i + 1]);
    if (std::string_view(argv[i]) == "--from") from = number(argv[i + 1]);
  }
  const auto saga = takeover::make_saga(s);
  const auto saga_v2 = takeover::make_saga_v2(s);

  if (mode == "runner") {
    if (argc < 7) return usage();
    tutti::runner_options o;
    o.name = argv[4];
    o.lease = std::chrono::milliseconds(number(argv[5]));
    o.poll = std::chrono::milliseconds(number(argv[6]));
    o.drain_timeout = std::chrono::milliseconds(0);
    tutti::thread_pool pool{3};
    tutti::runner r{j, pool, o};
    if (versions.find('1') != std::string_view::npos) r.template host<takeover::order>(saga, 3);
    if (versions.find('2') != std::string_view::npos) r.template host<takeover::order>(saga_v2, 3);
    r.on_event([](const tutti::runner_event& e) {
      // The log tells the test what happened (the zombie test waits for "fenced").
      if (e.kind == tutti::runner_event_kind::journal_error ||
          e.kind == tutti::runner_event_kind::fenced ||
          e.kind == tutti::runner_event_kind::took_over ||
          e.kind == tutti::runner_event_kind::version_unregistered) {
        fmt::print("{} {} epoch {}: {}\n", tutti::to_string(e.kind), e.run, e.epoch, e.message);
        std::fflush(stdout);
      }
    });
    r.start();
    while (!takeover::fs::exists(s.dir / "stop"))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r.stop();
    return 0;
  }
  if (mode == "resume-all") {
    const tutti::durable_workflow durable{saga, j};
    int failed = 0;
    const auto n = durable.template resume_all<takeover::order>(
        [&failed](const tutti::run_id& id, const auto& out) {
          if (out.error) {
            fmt::print(stderr, "resume of {} failed: {}\n", id, out.message);
            ++failed;
          }
        });
    if (!n) {
      fmt::print(stderr, "resume_all failed: {}\n", j.last_error_message());
      return 4;
    }
    fmt::print("resumed {}\n", n.value());
    return failed == 0 ? 0 : 5;
  }
  if (mode == "submit") {
    if (argc < 6) return usage();
    const int count = number(argv[4]);
    const int partitions = number(argv[5]);
    const tutti::durable_workflow durable{saga, j};
    const tutti::durable_workflow durable_v2{saga_v2, j};
    if (version != 1 && version != 2) return usage();
    for (int i = from; i < from + count; ++i) {
      const std::string p = fmt::format("p{}", i % partitions);
      tutti::submit_options so;
      so.partition = p;
      so.exclusive = true;
      const std::string dedup = fmt::format("order-{}", i);
      so.dedup_key = dedup;
      const takeover::order o{static_cast<std::uint32_t>(i / partitions), p};
      const auto r = version == 1 ? durable.submit(o, so) : durable_v2.submit(o, so);
      if (!r) {
        fmt::print(stderr, "submit {} failed: {}\n", i, j.last_error_message());
        return 6;
      }
    }
    return 0;
  }
  return usage();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  std::string why;
  const int rc = takeover::with_journal(argv[2], [&](auto& j) { return run(j, argc, argv); }, &why);
  if (rc == -1) {
    fmt::print(stderr, "cannot open the journal: {}\n", why);
    return 3;
  }
  return rc;
}
