// Journaled values as JSON (<tutti/journal/json.hpp>): the codec, durable runs whose input and
// step outputs are written as JSON and resumed from it, and types that move from bytes to JSON.
#include <tutti/tutti.hpp>
#include <tutti/journal/durable.hpp>
#include <tutti/journal/json.hpp>
#include <tutti/journal/memory.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shop {
// nlohmann-json's own customization.
struct order {
  std::string id;
  std::int64_t cents = 0;
  std::vector<std::string> items;
  std::map<std::string, int> tags;  // no binary serializer: JSON only
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order, id, cents, items, tags)

// tutti's own serialize(Archive&): the same function writes bytes or a JSON array.
struct receipt {
  std::string hold;
  std::int64_t charged = 0;
  std::optional<std::string> note;
  template <class A>
  friend void serialize(A& ar, receipt& r) {
    ar(r.hold, r.charged, r.note);
  }
};

// Its conversions throw when `poisoned`: a conversion that throws is an error, never a crash.
struct fragile {
  bool poisoned = false;
  int n = 0;
};
inline void to_json(nlohmann::json& j, const fragile& f) {
  if (f.poisoned) throw std::runtime_error("cannot write a poisoned value");
  j = f.n;
}
inline void from_json(const nlohmann::json& j, fragile& f) {
  if (j.get<int>() < 0) throw std::invalid_argument("negative");
  f.n = j.get<int>();
}

// Journaled as bytes (no json_payload): stays binary next to JSON values.
struct parcel {
  std::int32_t weight = 0;
  std::int32_t boxes = 0;
};
}  // namespace shop

template <>
inline constexpr bool tutti::json_payload<shop::order> = true;
template <>
inline constexpr bool tutti::json_payload<shop::receipt> = true;
template <>
inline constexpr bool tutti::json_payload<shop::fragile> = true;

namespace {

std::string text_of(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

struct ledger {
  std::map<std::string, int> calls;
  std::int64_t last_cents = 0;
};

auto make_checkout(ledger& l) {
  return tutti::workflow<"checkout">(
      tutti::step<"reserve">([&l](const shop::order& o) {
        ++l.calls["reserve"];
        l.last_cents = o.cents;
        return shop::receipt{"hold-" + o.id, o.cents, std::nullopt};
      }),
      tutti::step<"pack">([&l](tutti::from<"reserve", shop::receipt> r) {
        ++l.calls["pack"];
        return shop::parcel{static_cast<std::int32_t>(r.get().charged / 100), 2};
      }),
      tutti::step<"ship">([&l](tutti::from<"reserve", shop::receipt> r,
                               tutti::from<"pack", shop::parcel> p) {
        ++l.calls["ship"];
        return r.get().hold + "/" + std::to_string(p.get().weight);
      }));
}

const shop::order an_order{"A-1", 4200, {"book", "pen"}, {{"gift", 1}}};

}  // namespace

TEST_CASE("the JSON codec writes nlohmann-json types as objects, serialize(Archive&) types as "
          "arrays, and reads them back",
          "[journal][json]") {
  std::vector<std::byte> out;
  REQUIRE(tutti::detail::encode_payload(an_order, out).value() == tutti::payload_encoding::json);
  const auto doc = nlohmann::json::parse(text_of(out));
  CHECK(doc.at("id") == "A-1");
  CHECK(doc.at("cents") == 4200);
  CHECK(doc.at("items") == nlohmann::json({"book", "pen"}));
  CHECK(doc.at("tags").at("gift") == 1);
  const auto back = tutti::detail::decode_payload<shop::order>(out, tutti::payload_encoding::json);
  REQUIRE(back);
  CHECK(back.value().items.size() == 2);
  CHECK(back.value().tags.at("gift") == 1);

  REQUIRE(tutti::detail::encode_payload(shop::receipt{"h\"1\n", -5, "fragile"}, out).value() ==
          tutti::payload_encoding::json);
  CHECK(nlohmann::json::parse(text_of(out)) == nlohmann::json({"h\"1\n", -5, "fragile"}));
  const auto r = tutti::detail::decode_payload<shop::receipt>(out, tutti::payload_encoding::json);
  REQUIRE(r);
  CHECK(r.value().hold == "h\"1\n");
  CHECK(r.value().note == "fragile");

  // What does not fit is refused, never half read.
  const auto refuse = [](std::string_view text) {
    const auto b = std::as_bytes(std::span(text.data(), text.size()));
    return tutti::detail::decode_payload<shop::receipt>(b, tutti::payload_encoding::json);
  };
  CHECK(refuse("[\"h\",5]").error() == std::errc::illegal_byte_sequence);        // a field short
  CHECK(refuse("[\"h\",5,null,7]").error() == std::errc::illegal_byte_sequence); // one too many
  CHECK(refuse("[\"h\",\"5\",null]").error() == std::errc::illegal_byte_sequence);  // mistyped
  CHECK(refuse("{\"hold\":1").error() == std::errc::illegal_byte_sequence);     // not JSON
  CHECK(refuse("").error() == std::errc::illegal_byte_sequence);
  // A type with no reader for the stored encoding says so.
  CHECK(tutti::detail::decode_payload<shop::order>(out, tutti::payload_encoding::binary).error() ==
        std::errc::not_supported);
  CHECK(tutti::detail::decode_payload<shop::parcel>(out, tutti::payload_encoding::json).error() ==
        std::errc::not_supported);
  CHECK(tutti::detail::decode_payload<shop::parcel>(out, static_cast<tutti::payload_encoding>(9))
            .error() == std::errc::not_supported);
  // Text that is not UTF-8 is written as valid JSON all the same (U+FFFD in its place).
  REQUIRE(tutti::detail::encode_payload(shop::receipt{"\xff", 0, std::nullopt}, out).value() ==
          tutti::payload_encoding::json);
  CHECK(nlohmann::json::parse(text_of(out))[0] == "\xef\xbf\xbd");
  CHECK(tutti::payload_json(out, tutti::payload_encoding::json)[1] == 0);
  CHECK(tutti::payload_json(out, tutti::payload_encoding::binary).is_null());
}

TEST_CASE("a durable run writes its input and JSON outputs as JSON, the others as bytes, and a "
          "resume reads each back",
          "[journal][json]") {
  ledger l;
  const auto wf = make_checkout(l);
  tutti::memory_journal reference;
  const auto full = tutti::durable_workflow{wf, reference}.run(an_order);
  REQUIRE(full);
  REQUIRE(full->has_value());
  const auto stored = reference.load(full->id()).value();
  CHECK(stored.input_encoding == tutti::payload_encoding::json);
  CHECK(nlohmann::json::parse(text_of(stored.input)).at("id") == "A-1");
  std::map<std::string, const tutti::stored_record*> outputs;
  for (const auto& r : stored.records)
    if (r.kind == tutti::record_kind::step_finished) outputs[r.step] = &r;
  REQUIRE(outputs.size() == 3);
  CHECK(outputs.at("reserve")->outcome == static_cast<std::uint8_t>(tutti::payload_encoding::json));
  CHECK(nlohmann::json::parse(text_of(outputs.at("reserve")->payload)) ==
        nlohmann::json({"hold-A-1", 4200, nullptr}));
  CHECK(outputs.at("pack")->outcome == static_cast<std::uint8_t>(tutti::payload_encoding::binary));
  CHECK(outputs.at("ship")->outcome == static_cast<std::uint8_t>(tutti::payload_encoding::binary));
  CHECK(tutti::from_bytes<std::string>(outputs.at("ship")->payload).value() == "hold-A-1/42");

  // Cut after every record: the resume reads the JSON input and outputs, and calls no step
  // that finished again.
  const std::size_t n = stored.records.size();
  for (std::size_t cut = 1; cut < n; ++cut) {
    INFO("journal cut after record " << cut << " of " << n);
    tutti::memory_journal j;
    tutti::durable_workflow durable{wf, j};
    const auto first = durable.run(an_order, {.id = tutti::run_id{9, cut}});
    REQUIRE(first);
    j.truncate(first->id(), cut);
    const auto plan = tutti::plan_of(j.load(first->id()).value());
    l = ledger{};
    const auto resumed = durable.resume<shop::order>(first->id());
    REQUIRE(resumed);
    REQUIRE(resumed->has_value());
    CHECK(resumed->value() == "hold-A-1/42");
    for (const char* step : {"reserve", "pack", "ship"}) {
      const auto it = plan.steps.find(step);
      const bool done = it != plan.steps.end() && it->second.succeeded;
      CHECK(l.calls[step] == (done ? 0 : 1));
    }
    if (!plan.steps.contains("reserve") || !plan.steps.at("reserve").succeeded)
      CHECK(l.last_cents == 4200);  // the input was read back from its JSON
  }
}

TEST_CASE("a JSON output that no longer reads as its type fails the run at its step, calling "
          "nothing on a guess",
          "[journal][json]") {
  ledger l;
  const auto wf = make_checkout(l);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const auto first = durable.run(an_order, {.id = tutti::run_id{3, 1}});
  REQUIRE(first);
  // Keep the run's start only, then write a `reserve` output whose JSON lacks a field.
  j.truncate(first->id(), 1);
  const std::string broken = R"(["hold-A-1"])";
  tutti::record_view r;
  r.kind = tutti::record_kind::step_finished;
  r.step = "reserve";
  r.attempt = 1;
  r.ok = true;
  r.outcome = static_cast<std::uint8_t>(tutti::payload_encoding::json);
  r.payload = std::as_bytes(std::span(broken.data(), broken.size()));
  r.epoch = j.load(first->id()).value().summary.epoch;
  REQUIRE(j.append(first->id(), r));
  l = ledger{};
  const auto resumed = durable.resume<shop::order>(first->id());
  REQUIRE(resumed);
  CHECK_FALSE(resumed->has_value());
  CHECK(resumed->error() == tutti::journal_errc::serialization);
  CHECK(l.calls["reserve"] == 0);  // not called again on a guess
  CHECK(l.calls["pack"] == 0);
  const auto after = j.load(first->id()).value().summary;
  CHECK(after.status == tutti::run_status::failed);
  CHECK(after.failed_step == "reserve");
  CHECK(after.error_category == "tutti.journal");
}

TEST_CASE("a type that moves from bytes to JSON still reads the bytes runs wrote before",
          "[journal][json]") {
  // A run started by the previous release, when `receipt` was journaled as bytes (by the same
  // serialize function): its `reserve` output is bytes, with encoding 0 as every record before.
  ledger l;
  const auto wf = make_checkout(l);
  tutti::memory_journal j;
  tutti::durable_workflow durable{wf, j};
  const tutti::run_id id{5, 1};
  std::vector<std::byte> input;
  REQUIRE(tutti::detail::encode_payload(an_order, input).value() == tutti::payload_encoding::json);
  tutti::workflow_version wv = durable.identity<shop::order>();
  wv.input_encoding = tutti::payload_encoding::json;
  REQUIRE(j.start(id, "checkout", wv, input));
  const auto old_bytes = tutti::to_bytes(shop::receipt{"hold-old", 1700, std::nullopt});
  tutti::record_view r;
  r.kind = tutti::record_kind::step_finished;
  r.step = "reserve";
  r.attempt = 1;
  r.ok = true;
  r.payload = old_bytes;  // outcome 0: binary, as the previous release wrote it
  REQUIRE(j.append(id, r));
  const auto resumed = durable.resume<shop::order>(id);
  REQUIRE(resumed);
  REQUIRE(resumed->has_value());
  CHECK(resumed->value() == "hold-old/17");  // the stored receipt, read from its bytes
  CHECK(l.calls["reserve"] == 0);
  CHECK(l.calls["pack"] == 1);
}

TEST_CASE("a JSON conversion that throws is an error: the value is not journaled, nothing crashes",
          "[journal][json]") {
  std::vector<std::byte> out;
  const auto bad = tutti::detail::encode_payload(shop::fragile{true, 1}, out);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == std::errc::invalid_argument);
  CHECK(out.empty());
  const std::string negative = "-3";
  const auto back = tutti::detail::decode_payload<shop::fragile>(
      std::as_bytes(std::span(negative.data(), negative.size())), tutti::payload_encoding::json);
  CHECK(back.error() == std::errc::illegal_byte_sequence);

  // A step whose output cannot be written: the run stops there, as when its journal fails.
  int after = 0;
  const auto wf = tutti::workflow<"fragile">(
      tutti::step<"make">([](int n) { return shop::fragile{n < 0, n}; }),
      tutti::step<"after">([&after](tutti::from<"make", shop::fragile>) { return ++after; }));
  tutti::memory_journal j;
  const tutti::durable_workflow durable{wf, j};
  const auto r = durable.run(-1);
  REQUIRE(r);
  CHECK(r.error == tutti::journal_errc::serialization);
  CHECK(r.message.find("make") != std::string::npos);
  CHECK(after == 0);
  // Parked: no engine (a runner, a start-up's resume_all) calls the step again until an
  // operator retries it.
  CHECK(j.status(r->id()).value() == tutti::run_status::dead_lettered);
  std::size_t resumed = 0;
  REQUIRE(durable.resume_all<int>([&resumed](const auto&, const auto&) { ++resumed; }));
  CHECK(resumed == 0);
  // An input that cannot be written: no run starts.
  const auto wf2 = tutti::workflow<"fragile_in">(tutti::step<"n">([](const shop::fragile& f) { return f.n; }));
  const tutti::durable_workflow durable2{wf2, j};
  const auto r2 = durable2.run(shop::fragile{true, 2});
  CHECK_FALSE(r2);
  CHECK(r2.error == tutti::journal_errc::serialization);
  CHECK(durable2.submit(shop::fragile{true, 2}).error() == tutti::journal_errc::serialization);
  CHECK(j.list({}).value().size() == 1);  // the first workflow's run only
}
