// What the takeover tests (takeover_cases.hpp) and their engine processes (takeover_child.cpp)
// share: the journal (an SQLite file, or a schema on the PostgreSQL server of TUTTI_PG_CONNINFO
// when built with TUTTI_TAKEOVER_POSTGRES) and its options, the order saga, and the services'
// ledgers in files.
//
// The ledgers: each service effect is a file `<dir>/ledger/<effect>/<key>` created with O_EXCL,
// so a service honours the idempotency key (a second call with the key changes nothing); every
// call is also a line "<pid> <effect> <key> <epoch>" appended to `<dir>/calls.log` (O_APPEND:
// lines of all processes in one total order), so a test sees who called what, in which order.
#ifndef TUTTI_TESTS_TAKEOVER_SHARED_HPP
#define TUTTI_TESTS_TAKEOVER_SHARED_HPP

#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/sqlite.hpp>
#ifdef TUTTI_TAKEOVER_POSTGRES
#include <tutti/journal/postgres.hpp>
#endif

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

namespace takeover {

namespace fs = std::filesystem;

/// A request: its number (its order within its partition) and its partition.
struct order {
  std::uint32_t n = 0;
  std::string partition;
  template <class A>
  friend void serialize(A& ar, order& o) {
    ar(o.n, o.partition);
  }
};

/// Per-record commits: what a process wrote is in the file when `append` returns, so a SIGKILL
/// loses nothing written. Not fsynced (`power_safe` off): the tests kill processes, not the
/// machine, and a commit without fsync is what lets 10,000 runs fit in CI.
inline tutti::result<tutti::sqlite_journal> open_journal(const std::string& path,
                                                         std::string* why = nullptr) {
  tutti::sqlite_options o;
  o.commit = tutti::sqlite_commit::per_record;
  o.power_safe = false;
  o.busy_timeout = std::chrono::milliseconds(30000);
  return tutti::sqlite_journal::open(path, o, why);
}

/// "postgres:<schema>": that schema on the server of TUTTI_PG_CONNINFO.
inline constexpr std::string_view postgres_prefix = "postgres:";

/**
 * Opens the journal `spec` names (a path: SQLite; "postgres:<schema>": PostgreSQL) and returns
 * `f(journal)`; -1 (with `*why`) if it cannot be opened. PostgreSQL: per-commit durability as
 * the server is set up (the tests' server runs with fsync off), a short reconnect back-off.
 */
template <class F>
int with_journal(const std::string& spec, F&& f, std::string* why = nullptr) {
  if (spec.rfind(postgres_prefix, 0) == 0) {
#ifdef TUTTI_TAKEOVER_POSTGRES
    tutti::postgres_options o;
    o.schema = spec.substr(postgres_prefix.size());
    o.reconnect_min = std::chrono::milliseconds(50);
    o.reconnect_max = std::chrono::milliseconds(500);
    const char* conninfo = std::getenv("TUTTI_PG_CONNINFO");
    auto j = tutti::postgres_journal::open(conninfo != nullptr ? conninfo : "", o, why);
    if (!j) return -1;
    return f(j.value());
#else
    if (why != nullptr) *why = "built without PostgreSQL (TUTTI_TAKEOVER_POSTGRES)";
    return -1;
#endif
  }
  auto j = open_journal(spec, why);
  if (!j) return -1;
  return f(j.value());
}

/// The services: each call logged, each effect applied once per key.
struct services {
  fs::path dir;
  int slow_charge_ms = 0;  // a charge that takes this long (a zombie test holds it there)
  int work_us = 0;         // every call takes about this long (widens the windows for chaos)

  void log(const char* effect, const tutti::call_context& ctx) const {
    // One descriptor per process (O_APPEND: each line lands whole, after all others).
    static const int fd = ::open((dir / "calls.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    const std::string line = fmt::format("{} {} {} {}\n", ::getpid(), effect, ctx.key(), ctx.epoch);
    (void)!::write(fd, line.data(), line.size());
  }
  /// Applies `effect` for the call's key (once: O_EXCL), after logging the call.
  void apply(const char* effect, const tutti::call_context& ctx) const {
    log(effect, ctx);
    if (work_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(work_us));
    const fs::path d = dir / "ledger" / effect;
    const fs::path file = d / fmt::format("{}", ctx.key().run);
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 && errno == ENOENT) {  // the ledger's first effect of this kind
      std::error_code ec;
      fs::create_directories(d, ec);
      fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    }
    if (fd >= 0) ::close(fd);
  }
};

/// reserve~ (release), charge~ (refund), check (fails for every 5th order: the saga undoes
/// reserve and charge), capture (the pivot), then `more` steps.
template <class... More>
auto order_saga(const services& s, More&&... more) {
  return tutti::workflow<"order">(
      tutti::step<"reserve">([&s](const order& o, const tutti::call_context& ctx) {
        s.apply("reserve", ctx);
        return o.n;
      }).compensate_with([&s](const std::uint32_t&, const tutti::call_context& ctx) {
        s.apply("release", ctx);
      }),
      tutti::step<"charge">([&s](tutti::from<"reserve", std::uint32_t> n,
                                 const tutti::call_context& ctx) {
        s.apply("charge", ctx);
        if (s.slow_charge_ms > 0) {
          // The zombie test waits for this file, then stops the process here.
          const int fd = ::open((s.dir / fmt::format("in-charge.{}", ::getpid())).c_str(),
                                O_WRONLY | O_CREAT, 0644);
          if (fd >= 0) ::close(fd);
          std::this_thread::sleep_for(std::chrono::milliseconds(s.slow_charge_ms));
        }
        return *n * 100;
      }).compensate_with([&s](const std::uint32_t&, const tutti::call_context& ctx) {
        s.apply("refund", ctx);
      }),
      tutti::step<"check">([](const order& o) -> tutti::result<int> {
        if (o.n % 5 == 4) return tutti::errc::step_failed;
        return 1;
      }),
      tutti::pivot<"capture">([&s](tutti::from<"charge", std::uint32_t> c,
                                   const tutti::call_context& ctx) {
        s.apply("capture", ctx);
        return *c;
      }),
      std::forward<More>(more)...);
}

/// Version 1 of the order saga.
inline auto make_saga(const services& s) { return order_saga(s); }

/// Version 2: the same steps, then a notification after the capture.
inline auto make_saga_v2(const services& s) {
  return tutti::versioned<2>(order_saga(
      s, tutti::step<"notify">([&s](tutti::from<"capture", std::uint32_t> c,
                                    const tutti::call_context& ctx) {
           s.apply("notify", ctx);
           return *c;
         }) | tutti::retry_forever{}));
}

}  // namespace takeover

#endif  // TUTTI_TESTS_TAKEOVER_SHARED_HPP
