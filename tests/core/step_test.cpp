// Steps: what a step callable may take and return, and how failures are normalised.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <tutti/tutti.hpp>

namespace {
struct order {
  int id = 0;
  int amount = 0;
};

tutti::result<int> doubled(const order& o) { return o.amount * 2; }
int plain_value(const order& o) { return o.amount + 1; }

struct not_a_std_exception {};
}  // namespace

TEST_CASE("a step returning result<T> passes its value on", "[core][step]") {
  auto wf = tutti::workflow<"w">(tutti::step<"double">(doubled));
  auto run = wf.run(order{1, 21});
  REQUIRE(run.has_value());
  CHECK(run.value() == 42);
  CHECK(run.get<"double">() == 42);
}

TEST_CASE("a step returning a plain value or void is normalised", "[core][step]") {
  int side_effect = 0;
  auto wf = tutti::workflow<"w">(tutti::step<"plain">(plain_value),
                                 tutti::step<"void">([&side_effect](const order& o) {
                                   side_effect = o.id;
                                 }));
  auto run = wf.run(order{7, 9});
  REQUIRE(run);
  CHECK(run.get<"plain">() == 10);
  CHECK(side_effect == 7);
  STATIC_REQUIRE(std::is_same_v<decltype(run)::value_type, tutti::unit>);
}

TEST_CASE("a failing result<void> step stops the run with its error", "[core][step]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"check">([](const order& o) -> tutti::result<void> {
        if (o.amount <= 0) return tutti::errc::invalid_argument;
        return tutti::outcome::success();
      }),
      tutti::step<"after">([] { return 1; }));
  auto bad = wf.run(order{1, 0});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == tutti::errc::invalid_argument);
  CHECK(bad.failed_step() == "check");
  CHECK(bad.report()[1].status == tutti::step_status::not_started);
  CHECK(wf.run(order{1, 5}).has_value());
}

TEST_CASE("an exception thrown by a step becomes errc::exception with its message",
          "[core][step]") {
  auto wf = tutti::workflow<"w">(tutti::step<"throws">([](const order&) -> int {
    throw std::runtime_error("card declined by issuer");
  }));
  auto run = wf.run(order{});
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::exception);
  CHECK(run.message() == "card declined by issuer");
  CHECK(run.report()[0].message == "card declined by issuer");
}

TEST_CASE("an exception not derived from std::exception is captured too", "[core][step]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"throws">([]() -> int { throw not_a_std_exception{}; }));
  auto run = wf.run();
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::exception);
  CHECK(run.message().find("unknown exception") != std::string_view::npos);
}

TEST_CASE("a failure carrying an empty error code still reads as a failure", "[core][step]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"odd">([]() -> tutti::result<int> { return std::error_code{}; }));
  auto run = wf.run();
  REQUIRE_FALSE(run);
  CHECK(run.error() == tutti::errc::step_failed);
}

TEST_CASE("from<> gives a step the output of an earlier step by name", "[core][step]") {
  auto wf = tutti::workflow<"w">(
      tutti::step<"a">([](const order& o) { return o.amount; }),
      tutti::step<"b">([](const order&) { return std::string{"fx"}; }),
      tutti::step<"c">([](tutti::from<"a", int> a, tutti::from<"b", std::string> b,
                          const order& o) { return b.get() + std::to_string(*a + o.id); }));
  auto run = wf.run(order{3, 4});
  REQUIRE(run);
  CHECK(run.value() == "fx7");
}

TEST_CASE("call_context carries run id, step path, attempt and idempotency key",
          "[core][step]") {
  tutti::call_context seen{};
  auto wf = tutti::workflow<"w">(tutti::step<"charge">([&seen](const tutti::call_context& c) {
    seen = c;
    return 1;
  }));
  const tutti::run_id id{0x1234, 0x5678};
  auto run = wf.run(tutti::unit{}, {.id = id});
  REQUIRE(run);
  CHECK(seen.run == id);
  CHECK(run.id() == id);
  CHECK(seen.step == "charge");
  CHECK(seen.attempt == 1);
  CHECK(seen.key() == tutti::idempotency_key{id, "charge"});
}

TEST_CASE("a generic lambda step is called with the workflow input", "[core][step]") {
  auto wf = tutti::workflow<"w">(tutti::step<"g">([](const auto& o) { return o.amount * 3; }));
  auto run = wf.run(order{0, 5});
  REQUIRE(run);
  CHECK(run.value() == 15);
}

namespace {
struct reserve_stock {
  static constexpr std::string_view name = "reserve_stock";
  int* released;
  tutti::result<int> operator()(const order& o) const { return o.id * 10; }
  void compensate(const int& token) const { *released = token; }
};
struct charge_card {
  static constexpr tutti::fixed_string name{"charge_card"};
  tutti::result<int> operator()(tutti::from<"reserve_stock", int>) const {
    return tutti::errc::step_failed;
  }
};
struct confirm_order {
  static constexpr char name[] = "confirm";
  static constexpr bool pivot = true;
  int operator()() const { return 1; }
};
}  // namespace

TEST_CASE("user step types with a name, operator() and compensate() work as steps",
          "[core][step]") {
  int released = 0;
  auto wf = tutti::workflow<"w">(reserve_stock{&released}, charge_card{});
  auto run = wf.run(order{4, 1});
  REQUIRE_FALSE(run);
  CHECK(run.failed_step() == "charge_card");
  CHECK(released == 40);
  CHECK(run.report().step("reserve_stock").status == tutti::step_status::compensated);
  using with_pivot = tutti::workflow_of<"p", confirm_order>;
  STATIC_REQUIRE(std::tuple_element_t<0, with_pivot::nodes_type>::pivot);
  CHECK(with_pivot{}.run().value() == 1);
}

TEST_CASE("a step holding a function pointer or a stateful functor keeps its state",
          "[core][step]") {
  struct add {
    int n;
    int operator()(tutti::from<"fp", int> x) const { return *x + n; }
  };
  auto wf = tutti::workflow<"w">(tutti::step<"fp">(&plain_value), tutti::step<"add">(add{5}));
  auto run = wf.run(order{0, 1});
  REQUIRE(run);
  CHECK(run.get<"fp">() == 2);
  CHECK(run.value() == 7);
}
