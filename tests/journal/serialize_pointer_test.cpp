// The journal stores trivially copyable values as their bytes, except values with an address
// inside (detail/holds_pointer.hpp): those need a serializer.
#include <tutti/detail/holds_pointer.hpp>
#include <tutti/journal/serialize.hpp>

#include <catch2/catch.hpp>

#include "payment_gateway.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace {
using tutti::detail::bytes_kind;
using tutti::detail::bytes_kind_of;
using tutti::detail::holds_pointer;

enum class colour : std::uint8_t { red, green };
struct two_ints {
  int a;
  int b;
};
struct nested_ints {
  two_ints inner;
  double d;
};
struct derived_ints : two_ints {
  int c;
};
struct empty {};
struct derived_from_empty : empty {
  int x;
};
struct bit_fields {
  int a : 3;
  unsigned b : 5;
  bool c : 1;
};
struct with_arrays {
  int a[3];
  char name[64];
  std::array<char, 1000> big;
};
struct with_optional {
  std::optional<int> o;
  int x;
};
struct with_tuple {
  std::pair<int, double> p;
  std::tuple<int, colour> t;
};
class with_constructor {  // not an aggregate: its members cannot be seen, it is taken as written
 public:
  explicit with_constructor(int v = 0) : v_(v) {}
  [[nodiscard]] int value() const { return v_; }

 private:
  int v_;
};

struct with_c_string {
  int id;
  const char* name;
};
struct pointer_third {  // a pointer after two ints, one struct down
  int a;
  int b;
  const char* p;
};
struct holds_pointer_third {
  pointer_third x;
};
struct with_span {
  int id;
  std::span<const int> s;
};
struct nested_span {
  int a;
  with_span w;
};
struct derived_from_pointer : with_c_string {
  int x;
};
struct with_function_pointer {
  void (*f)();
};
struct with_member_pointer {
  int two_ints::*m;
};
struct with_optional_pointer {
  std::optional<const char*> o;
  int x;
};
struct with_pointer_array {
  int n;
  const char* a[2];
};
struct with_pointer_pair {
  std::pair<int, const char*> p;
};
struct with_error_code {
  std::error_code e;
};

struct too_many {  // more elements than the check looks at (arrays count each element)
  char b[300];
};
struct holds_too_many {
  int x;
  too_many t;
};
struct with_const_member {
  const int x;
};
struct with_reference {
  const int& r;
};
union either {
  int a;
  const char* p;
};

struct with_c_string_and_serializer {
  const char* name;
  template <class A>
  friend void serialize(A& ar, with_c_string_and_serializer& v) {
    std::string s = v.name;
    ar(s);
    v.name = "";
  }
};
}  // namespace

TEST_CASE("values without an address inside do not hold a pointer", "[journal][serialize]") {
  STATIC_REQUIRE_FALSE(holds_pointer<int>);
  STATIC_REQUIRE_FALSE(holds_pointer<double>);
  STATIC_REQUIRE_FALSE(holds_pointer<colour>);
  STATIC_REQUIRE_FALSE(holds_pointer<std::nullptr_t>);
  STATIC_REQUIRE_FALSE(holds_pointer<std::array<int, 3>>);
  STATIC_REQUIRE_FALSE(holds_pointer<int[4]>);
  STATIC_REQUIRE_FALSE(holds_pointer<std::pair<int, double>>);
  STATIC_REQUIRE_FALSE(holds_pointer<std::optional<int>>);
  STATIC_REQUIRE(bytes_kind_of<two_ints>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<nested_ints>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<derived_ints>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<empty>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<derived_from_empty>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<bit_fields>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<with_arrays>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<with_optional>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<with_tuple>() == bytes_kind::plain);
  STATIC_REQUIRE(bytes_kind_of<with_constructor>() == bytes_kind::plain);
}

TEST_CASE("pointers, views and structs holding them hold a pointer", "[journal][serialize]") {
  STATIC_REQUIRE(holds_pointer<int*>);
  STATIC_REQUIRE(holds_pointer<const char*>);
  STATIC_REQUIRE(holds_pointer<void (*)()>);
  STATIC_REQUIRE(holds_pointer<int two_ints::*>);
  STATIC_REQUIRE(holds_pointer<int&>);
  STATIC_REQUIRE(holds_pointer<std::string_view>);
  STATIC_REQUIRE(holds_pointer<std::wstring_view>);
  STATIC_REQUIRE(holds_pointer<std::span<int>>);
  STATIC_REQUIRE(holds_pointer<std::span<const int, 3>>);
  STATIC_REQUIRE(holds_pointer<std::error_code>);
  STATIC_REQUIRE(holds_pointer<std::array<const char*, 2>>);
  STATIC_REQUIRE(holds_pointer<std::string_view[2]>);
  STATIC_REQUIRE(holds_pointer<std::optional<std::string_view>>);
  STATIC_REQUIRE(holds_pointer<std::pair<int, int*>>);
  STATIC_REQUIRE(holds_pointer<std::tuple<int, std::span<int>>>);
  STATIC_REQUIRE(holds_pointer<with_c_string>);
  STATIC_REQUIRE(holds_pointer<holds_pointer_third>);
  STATIC_REQUIRE(holds_pointer<with_span>);
  STATIC_REQUIRE(holds_pointer<nested_span>);
  STATIC_REQUIRE(holds_pointer<derived_from_pointer>);
  STATIC_REQUIRE(holds_pointer<with_function_pointer>);
  STATIC_REQUIRE(holds_pointer<with_member_pointer>);
  STATIC_REQUIRE(holds_pointer<with_optional_pointer>);
  STATIC_REQUIRE(holds_pointer<with_pointer_array>);
  STATIC_REQUIRE(holds_pointer<with_pointer_pair>);
  STATIC_REQUIRE(holds_pointer<with_error_code>);
}

TEST_CASE("aggregates whose members cannot all be seen are hidden", "[journal][serialize]") {
  STATIC_REQUIRE(bytes_kind_of<too_many>() == bytes_kind::hidden);
  STATIC_REQUIRE(bytes_kind_of<holds_too_many>() == bytes_kind::hidden);
  STATIC_REQUIRE(bytes_kind_of<with_const_member>() == bytes_kind::hidden);
  STATIC_REQUIRE(bytes_kind_of<with_reference>() == bytes_kind::hidden);
  STATIC_REQUIRE(bytes_kind_of<either>() == bytes_kind::hidden);
}

TEST_CASE("raw bytes are refused for values holding a pointer unless they have a serializer",
          "[journal][serialize]") {
  STATIC_REQUIRE(tutti::serializable<int>);
  STATIC_REQUIRE(tutti::serializable<two_ints>);
  STATIC_REQUIRE(tutti::serializable<nested_ints>);
  STATIC_REQUIRE(tutti::serializable<with_arrays>);
  STATIC_REQUIRE(tutti::serializable<std::optional<two_ints>>);
  STATIC_REQUIRE(tutti::serializable<std::vector<derived_ints>>);
  STATIC_REQUIRE_FALSE(tutti::serializable<int*>);
  STATIC_REQUIRE_FALSE(tutti::serializable<std::string_view>);
  STATIC_REQUIRE_FALSE(tutti::serializable<std::span<const int>>);
  STATIC_REQUIRE_FALSE(tutti::serializable<with_c_string>);
  STATIC_REQUIRE_FALSE(tutti::serializable<nested_span>);
  STATIC_REQUIRE_FALSE(tutti::serializable<std::vector<std::string_view>>);
  STATIC_REQUIRE_FALSE(tutti::serializable<std::optional<with_span>>);
  STATIC_REQUIRE_FALSE(tutti::serializable<too_many>);
  STATIC_REQUIRE(tutti::serializable<with_c_string_and_serializer>);

  using tutti::detail::refused_bytes;
  STATIC_REQUIRE(refused_bytes<std::string_view>() == bytes_kind::pointer);
  STATIC_REQUIRE(refused_bytes<std::vector<with_c_string>>() == bytes_kind::pointer);
  STATIC_REQUIRE(refused_bytes<too_many>() == bytes_kind::hidden);
  STATIC_REQUIRE(refused_bytes<with_c_string_and_serializer>() == bytes_kind::plain);
  STATIC_REQUIRE(refused_bytes<two_ints>() == bytes_kind::plain);
}

TEST_CASE("a value without a pointer still comes back from its bytes", "[journal][serialize]") {
  const nested_ints in{{1, 2}, 3.5};
  const auto out = tutti::from_bytes<nested_ints>(tutti::to_bytes(in));
  REQUIRE(out.has_value());
  CHECK(out.value().inner.a == 1);
  CHECK(out.value().inner.b == 2);
  CHECK(out.value().d == 3.5);
}

TEST_CASE("the payment gateway's types still serialize", "[journal][serialize][examples]") {
  STATIC_REQUIRE(tutti::serializable<pay::money>);
  STATIC_REQUIRE(tutti::serializable<pay::payment_request>);
  STATIC_REQUIRE(tutti::serializable<pay::authorization>);
  STATIC_REQUIRE(tutti::serializable<pay::risk_assessment>);
  STATIC_REQUIRE(tutti::serializable<pay::fx_quote>);
  STATIC_REQUIRE(tutti::serializable<pay::transfer_receipt>);

  const pay::fx_quote q{"q1", {"EUR", 1000}, {"USD", 1080}, 1'080'000};
  const auto back = tutti::from_bytes<pay::fx_quote>(tutti::to_bytes(q));
  REQUIRE(back.has_value());
  CHECK(back.value().id == "q1");
  CHECK(back.value().buy.currency == "USD");
  CHECK(back.value().buy.cents == 1080);
  CHECK(back.value().rate_ppm == 1'080'000);
}
