// Product page: scatter-gather with a parallel group, hedging, a fallback, an optional branch
// and a conditional step.
//
//   lookup -> gather ----------------------------------------> reserve_cart_slot -> render
//             | price            hedge: primary (retried),     only when in stock;
//             |                  then the replica after 50 ms  undo: release the slot
//             | stock            inventory, else the cached level (fallback)
//             | recommendations  optional: the page renders without them
//             | reviews
//
// * The four reads of `gather` run at once on a tutti::thread_pool; `render` reads their outputs
//   as one tuple: tutti::from<"gather", std::tuple<...>>.
// * The price is hedged: when the primary price database has not answered within 50 ms, the
//   same read goes to its replica; the first answer wins and the other read is told to stop
//   (its std::stop_token).
// * reserve_cart_slot runs only when the item is in stock (tutti::when); skipped, it shows
//   `skipped` in the report and is never compensated. When it ran and `render` fails, it is
//   compensated like any step.
// * The services are simulated in process. Which of them fail is decided by a seed, and the time
//   they take is simulated on a manual clock (the run's clock), so every run of this program
//   prints the same pages: the hedge fires because the primary "takes" 80 ms of simulated time,
//   not because a thread happened to be slow.
//
// Three requests: P-100 (the primary stalls, the replica answers; the inventory and the
// recommender are down), P-200 (sold out: no cart slot) and P-300 (its page cannot be rendered:
// the cart slot is released). Exits 0 when the three runs end as shown at the end of this file.
#include <tutti/testing/manual_clock.hpp>
#include <tutti/tutti.hpp>

#include <fmt/format.h>  // fmt::print, fmt::format

#include <atomic>       // call counters: services are called from the pool's threads
#include <chrono>       // simulated latencies, the hedging delay
#include <cstddef>      // std::size_t
#include <cstdint>      // the fault plan's hash
#include <map>          // the catalogue, the branch log
#include <mutex>        // the branch log is written from several threads
#include <optional>     // optional branch and conditional step outputs
#include <stdexcept>    // a page that cannot be rendered
#include <stop_token>   // the stalled read is told to stop
#include <string>       // names, pages
#include <string_view>  // service names
#include <thread>       // a stalled read waits for its stop token
#include <tuple>        // the group's output
#include <vector>       // recommendations

namespace shop {
using namespace std::chrono_literals;

struct page_request {
  std::string product_id;
};
struct product {
  std::string id;
  std::string name;
};
struct price {
  long cents = 0;
  std::string source;  // which database answered
};
struct stock_level {
  int units = 0;
  bool cached = false;  // served from the cache because the inventory service failed
};
struct recommendations {
  std::vector<std::string> ids;
};
struct review_summary {
  int stars_x10 = 0;  // 46: 4.6 stars
  int count = 0;
};
struct cart_slot {
  std::string id;
};

// Which service fails for which product: a hash of (seed, service, product). Deterministic, and
// different seeds give different failures.
struct fault_plan {
  std::uint64_t seed;
  [[nodiscard]] bool fails(std::string_view service, std::string_view product_id,
                           unsigned percent) const noexcept {
    std::uint64_t h = 0xcbf29ce484222325u ^ seed;  // FNV-1a, then a splitmix64 finaliser
    for (const char c : service) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3u;
    for (const char c : product_id) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3u;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9u;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebu;
    h ^= h >> 31;
    return h % 100 < percent;
  }
};

// Services are simulated in process; they take time by advancing the run's manual clock.
struct services {
  explicit services(std::uint64_t seed) : faults{seed} {}

  fault_plan faults;
  tutti::testing::manual_clock clock;
  std::map<std::string, product, std::less<>> catalogue{
      {"P-100", {"P-100", "Burr grinder"}},
      {"P-200", {"P-200", "Milk frother"}},
      {"P-300", {"P-300", ""}},  // no description yet: its page cannot be rendered
  };
  std::map<std::string, long, std::less<>> prices{{"P-100", 8900}, {"P-200", 3450}, {"P-300", 1990}};
  std::map<std::string, stock_level, std::less<>> cached_stock{
      {"P-100", {3, true}}, {"P-200", {0, true}}, {"P-300", {5, true}}};
  std::atomic<int> primary_calls{0};
  std::atomic<int> slots_reserved{0};
  std::atomic<int> slots_released{0};

  // The primary price database: its first reply is lost, then it stalls (80 ms of simulated
  // time, and until told to stop); after that it answers at once.
  tutti::result<price> read_primary(const product& p, std::stop_token stop) {
    const int call = ++primary_calls;
    if (call == 1) return std::make_error_code(std::errc::connection_reset);
    if (call == 2) {
      clock.advance(80ms);
      for (int i = 0; i < 20'000 && !stop.stop_requested(); ++i)  // at most 2 s of real time
        std::this_thread::sleep_for(100us);
      return tutti::errc::cancelled;  // the hedge won: give up
    }
    clock.advance(4ms);
    return price{prices.at(p.id), "primary"};
  }
  tutti::result<price> read_replica(const product& p) {
    clock.advance(6ms);
    return price{prices.at(p.id), "replica"};
  }
  tutti::result<stock_level> read_inventory(const product& p) {
    if (faults.fails("inventory", p.id, 50)) return tutti::errc::timeout;
    return stock_level{p.id == "P-200" ? 0 : 2, false};
  }
  tutti::result<recommendations> recommend(const product& p) {
    if (faults.fails("recommender", p.id, 50)) return std::make_error_code(std::errc::host_unreachable);
    return recommendations{{p.id == "P-100" ? "P-200" : "P-100", "P-310"}};
  }
  review_summary reviews(const product& p) const {
    return p.id == "P-100" ? review_summary{46, 128} : review_summary{41, 37};
  }

  // The cart service holds a slot for the shopper, keyed by the step's idempotency key: a
  // repeated call with the same key returns the same slot.
  std::mutex cart_mutex;
  std::map<std::string, std::string, std::less<>> held_slots;  // key -> slot id
  std::vector<std::string> cart_log;
  cart_slot reserve_slot(const product& p, const tutti::call_context& ctx) {
    const std::lock_guard lock{cart_mutex};
    const std::string key = fmt::format("{}", ctx.key());
    auto [it, added] = held_slots.try_emplace(key, fmt::format("SLOT-{}", held_slots.size() + 1));
    if (added) cart_log.push_back(fmt::format("hold {} for {}", it->second, p.id));
    return cart_slot{it->second};
  }
  void release_slot(const cart_slot& s) {
    const std::lock_guard lock{cart_mutex};
    cart_log.push_back(fmt::format("release {}", s.id));
  }
};

// Branch paths as the observer sees them ("gather/price/replica"), with how each ended.
struct branch_log {
  mutable std::mutex mutex;
  std::map<std::string, std::string, std::less<>> last;
  void on_event(const tutti::event& e) {
    if (e.kind != tutti::event_kind::step_succeeded && e.kind != tutti::event_kind::step_failed &&
        e.kind != tutti::event_kind::step_skipped)
      return;
    const std::lock_guard lock{mutex};
    last.insert_or_assign(std::string{e.step}, std::string{tutti::to_string(e.kind)});
  }
};

using gathered = std::tuple<price, stock_level, std::optional<recommendations>, review_summary>;

std::string money(long cents) { return fmt::format("EUR {}.{:02}", cents / 100, cents % 100); }

std::string render_page(const product& p, const gathered& g, const std::optional<cart_slot>& slot) {
  const auto& [pr, stock, recs, reviews] = g;
  std::string page = fmt::format("  {} ({})\n  price   {}  (from the {})\n", p.name, p.id,
                                 money(pr.cents), pr.source);
  page += fmt::format("  stock   {}{}\n", stock.units > 0 ? fmt::format("{} left", stock.units) : "sold out",
                      stock.cached ? "  (cached)" : "");
  page += fmt::format("  reviews {}.{} stars ({})\n", reviews.stars_x10 / 10, reviews.stars_x10 % 10,
                      reviews.count);
  if (recs) {
    page += "  see also";
    for (const auto& id : recs->ids) page += " " + id;
    page += "\n";
  }
  page += slot ? fmt::format("  [Add to cart]  (slot {} held)\n", slot->id) : "  [Notify me]\n";
  return page;
}
}  // namespace shop

int main() {
  using namespace std::chrono_literals;
  using shop::gathered;
  using tutti::from;
  using tutti::step;

  shop::services svc{/*seed=*/12};
  tutti::thread_pool pool{4};

  const auto page = tutti::workflow<"product_page">(
      step<"lookup">([&svc](const shop::page_request& r) -> tutti::result<shop::product> {
        const auto it = svc.catalogue.find(r.product_id);
        if (it == svc.catalogue.end()) return tutti::errc::invalid_argument;
        return it->second;
      }),
      tutti::parallel<"gather">(
          pool,
          tutti::hedge<"price">(
              pool, 50ms,
              step<"primary">([&svc](from<"lookup", shop::product> p, std::stop_token stop) {
                return svc.read_primary(*p, stop);
              }) | tutti::retry{tutti::constant_backoff{10ms}, tutti::max_attempts{3}},
              step<"replica">([&svc](from<"lookup", shop::product> p) { return svc.read_replica(*p); })),
          step<"stock">([&svc](from<"lookup", shop::product> p) { return svc.read_inventory(*p); }) |
              tutti::fallback_to([&svc](from<"lookup", shop::product> p) {
                return svc.cached_stock.at(p->id);  // the last level we saw
              }),
          tutti::optional_branch(step<"recommendations">(
              [&svc](from<"lookup", shop::product> p) { return svc.recommend(*p); })),
          step<"reviews">([&svc](from<"lookup", shop::product> p) { return svc.reviews(*p); })),
      // Only when the item is in stock: hold a cart slot (undone if a later step fails).
      tutti::when([](from<"gather", gathered> g) { return std::get<1>(*g).units > 0; },
                  step<"reserve_cart_slot">(
                      [&svc](from<"lookup", shop::product> p, const tutti::call_context& ctx) {
                        return svc.reserve_slot(*p, ctx);
                      })
                      .compensate_with([&svc](const shop::cart_slot& s) { svc.release_slot(s); })),
      step<"render">([](from<"lookup", shop::product> p, from<"gather", gathered> g,
                        from<"reserve_cart_slot", std::optional<shop::cart_slot>> slot)
                         -> std::string {
        if (p->name.empty()) throw std::runtime_error{"no description for " + p->id};
        return render_page(*p, *g, *slot);
      }));

  bool ok = true;
  const auto expect = [&ok](bool condition, std::string_view what) {
    if (!condition) {
      fmt::print(stderr, "UNEXPECTED: {}\n", what);
      ok = false;
    }
  };

  std::uint64_t next_id = 1;
  for (const std::string id : {"P-100", "P-200", "P-300"}) {
    shop::branch_log log;
    // Fixed run ids keep the output (and the idempotency keys) the same on every run.
    const tutti::run_options options{.id = tutti::run_id{0x9a6e, next_id++}};
    const auto run = page.run(shop::page_request{id}, options, svc.clock, log);
    fmt::print("GET /products/{}  -> {}\n", id, tutti::to_string(run.outcome()));
    if (run.has_value()) fmt::print("{}", run.value());
    fmt::print("\n{}\n", run.report());
    fmt::print("Branches, as the observer saw them:\n");
    for (const auto& [path, how] : log.last) fmt::print("  {:<32} {}\n", path, how);
    fmt::print("\n");

    const tutti::run_report report = run.report();
    const auto status = [&report](std::string_view step) {
      for (std::size_t i = 0; i < report.size(); ++i)
        if (report[i].name == step) return report[i].status;
      return tutti::step_status::not_started;
    };
    const auto saw = [&log](std::string_view path, std::string_view how) {
      const auto it = log.last.find(path);
      return it != log.last.end() && it->second == how;
    };
    if (id == "P-100") {  // hedge won by the replica, cached stock, no recommendations
      expect(run.has_value() && run.value().find("EUR 89.00  (from the replica)") != std::string::npos,
             "P-100: the price comes from the replica");
      expect(run.has_value() && run.value().find("3 left  (cached)") != std::string::npos,
             "P-100: the stock comes from the cache");
      expect(run.has_value() && run.value().find("see also") == std::string::npos,
             "P-100: rendered without recommendations");
      expect(saw("gather/price/replica", "step_succeeded") &&
                 saw("gather/price/primary", "step_failed") &&
                 saw("gather/recommendations", "step_failed"),
             "P-100: branch events");
      expect(status("reserve_cart_slot") == tutti::step_status::succeeded, "P-100: slot held");
    } else if (id == "P-200") {  // primary answers in time, sold out: no cart slot
      expect(run.has_value() && run.value().find("EUR 34.50  (from the primary)") != std::string::npos,
             "P-200: the price comes from the primary");
      expect(run.has_value() && run.value().find("see also P-100 P-310") != std::string::npos,
             "P-200: recommendations shown");
      expect(!log.last.contains("gather/price/replica"), "P-200: no hedge");
      expect(status("reserve_cart_slot") == tutti::step_status::skipped, "P-200: slot skipped");
    } else {  // render fails: the cart slot is released
      expect(run.outcome() == tutti::run_outcome::compensated && run.failed_step() == "render",
             "P-300: render fails, compensated");
      expect(status("reserve_cart_slot") == tutti::step_status::compensated, "P-300: slot released");
    }
  }

  fmt::print("Cart service:\n");
  for (const auto& line : svc.cart_log) fmt::print("  {}\n", line);
  expect(svc.cart_log == std::vector<std::string>{"hold SLOT-1 for P-100", "hold SLOT-2 for P-300",
                                                  "release SLOT-2"},
         "cart log");
  return ok ? 0 : 1;
}

// Expected output (the same on every run: fixed run ids, a simulated clock, a fixed seed):
//
// $ tutti_example_product_page
// GET /products/P-100  -> succeeded
//   Burr grinder (P-100)
//   price   EUR 89.00  (from the replica)
//   stock   3 left  (cached)
//   reviews 4.6 stars (128)
//   [Add to cart]  (slot SLOT-1 held)
//
// workflow "product_page"  run 0000000000009a6e0000000000000001  -> succeeded
//    1. lookup             succeeded            1 attempt
//    2. gather             succeeded            1 attempt
//    3. reserve_cart_slot  succeeded            1 attempt
//    4. render             succeeded            1 attempt
//
// Branches, as the observer saw them:
//   gather                           step_succeeded
//   gather/price                     step_succeeded
//   gather/price/primary             step_failed
//   gather/price/replica             step_succeeded
//   gather/recommendations           step_failed
//   gather/reviews                   step_succeeded
//   gather/stock                     step_succeeded
//   lookup                           step_succeeded
//   render                           step_succeeded
//   reserve_cart_slot                step_succeeded
//
// GET /products/P-200  -> succeeded
//   Milk frother (P-200)
//   price   EUR 34.50  (from the primary)
//   stock   sold out
//   reviews 4.1 stars (37)
//   see also P-100 P-310
//   [Notify me]
//
// workflow "product_page"  run 0000000000009a6e0000000000000002  -> succeeded
//    1. lookup             succeeded            1 attempt
//    2. gather             succeeded            1 attempt
//    3. reserve_cart_slot  skipped
//    4. render             succeeded            1 attempt
//
// Branches, as the observer saw them:
//   gather                           step_succeeded
//   gather/price                     step_succeeded
//   gather/price/primary             step_succeeded
//   gather/recommendations           step_succeeded
//   gather/reviews                   step_succeeded
//   gather/stock                     step_succeeded
//   lookup                           step_succeeded
//   render                           step_succeeded
//   reserve_cart_slot                step_skipped
//
// GET /products/P-300  -> failed, compensated
//
// workflow "product_page"  run 0000000000009a6e0000000000000003  -> failed, compensated
//    1. lookup             succeeded            1 attempt
//    2. gather             succeeded            1 attempt
//    3. reserve_cart_slot  compensated          1 attempt
//       undone by its compensation (1 call)
//    4. render             failed               1 attempt
//       error: a user callable threw an exception [tutti:2]
//       message: no description for P-300
//
// Branches, as the observer saw them:
//   gather                           step_succeeded
//   gather/price                     step_succeeded
//   gather/price/primary             step_succeeded
//   gather/recommendations           step_succeeded
//   gather/reviews                   step_succeeded
//   gather/stock                     step_succeeded
//   lookup                           step_succeeded
//   render                           step_failed
//   reserve_cart_slot                step_succeeded
//
// Cart service:
//   hold SLOT-1 for P-100
//   hold SLOT-2 for P-300
//   release SLOT-2
