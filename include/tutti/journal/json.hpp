// tutti — journaled values as JSON, through nlohmann-json: readable by `tutti-journal show`.
// Needs nlohmann-json 3 (header-only; Debian: nlohmann-json3-dev): CMake target `tutti::json`.
#ifndef TUTTI_JOURNAL_JSON_HPP
#define TUTTI_JOURNAL_JSON_HPP

#include <cstddef>      // std::size_t
#include <span>         // payload bytes
#include <string>       // JSON text
#include <string_view>  // JSON text read back
#include <type_traits>  // std::remove_cvref_t
#include <utility>      // std::move

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "serialize.hpp"

TUTTI_BEGIN_NAMESPACE

class json_writer;
class json_reader;

namespace detail {
/// T converts to and from nlohmann::json by that library's own means (built-in types,
/// standard containers (std::optional is tutti's: null or the value), `to_json`/`from_json` found by argument-dependent lookup, an
/// `nlohmann::adl_serializer<T>` specialisation).
template <class T>
concept nlohmann_convertible =
    std::is_constructible_v<nlohmann::json, const T&> &&
    requires(const nlohmann::json& cj, T& v) { cj.get_to(v); };
/// T names its fields once with tutti's `serialize(Archive&)`, for a JSON archive too.
template <class T>
concept json_archivable = requires(json_writer& w, json_reader& r, T& v) {
  serialize(w, v);
  serialize(r, v);
};
}  // namespace detail

/**
 * The archive a `serialize(Archive& ar, T& v)` function writes to when T is journaled as JSON:
 * `ar(v.a, v.b)` appends each field to a JSON array (`["A-1",4200]`). A field converts by
 * nlohmann-json's own means when it can, else by its own `serialize`; a `std::optional` field is
 * null or its value.
 */
class json_writer {
 public:
  explicit json_writer(nlohmann::json& array) noexcept : out_(&array) {}
  template <class... T>
  void operator()(const T&... values) {
    (out_->push_back(to_json_value(values)), ...);
  }

  /// `value` as JSON (what a field becomes).
  template <class T>
  [[nodiscard]] static nlohmann::json to_json_value(const T& value) {
    if constexpr (detail::is_optional_v<T>) {  // null, or the value
      return value ? to_json_value(*value) : nlohmann::json(nullptr);
    } else if constexpr (detail::nlohmann_convertible<T>) {
      return nlohmann::json(value);
    } else {
      static_assert(detail::json_archivable<T>,
                    "tutti: a field of a type journaled as JSON converts neither by "
                    "nlohmann-json's to_json/from_json nor by tutti's `template <class A> void "
                    "serialize(A& ar, T& v) { ar(v.field1, ...); }`: give it one of them.");
      nlohmann::json j = nlohmann::json::array();
      json_writer w{j};
      serialize(w, const_cast<T&>(value));
      return j;
    }
  }

 private:
  nlohmann::json* out_;
};

/// The archive a `serialize(Archive&)` function reads from: the fields of a JSON array in order.
/// A missing or mistyped field sets `failed()`.
class json_reader {
 public:
  explicit json_reader(const nlohmann::json& array) noexcept : in_(&array) {}
  template <class... T>
  void operator()(T&... values) {
    (read_one(values), ...);
  }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  /// Whether every field of the array was read.
  [[nodiscard]] bool done() const noexcept { return in_->is_array() && pos_ == in_->size(); }

  /// Reads `j` into `value`; false when it does not fit.
  template <class T>
  [[nodiscard]] static bool from_json_value(const nlohmann::json& j, T& value) {
    if constexpr (detail::is_optional_v<T>) {
      if (j.is_null()) {
        value.reset();
        return true;
      }
      typename T::value_type v{};
      if (!from_json_value(j, v)) return false;
      value = std::move(v);
      return true;
    } else if constexpr (detail::nlohmann_convertible<T>) {
      try {
        j.get_to(value);
        return true;
      } catch (...) {  // nlohmann-json's type errors, or a user's from_json that throws
        return false;
      }
    } else {
      if (!j.is_array()) return false;
      json_reader r{j};
      serialize(r, value);
      return !r.failed() && r.done();
    }
  }

 private:
  template <class T>
  void read_one(T& value) {
    if (failed_ || !in_->is_array() || pos_ >= in_->size()) {
      failed_ = true;
      return;
    }
    if (!from_json_value((*in_)[pos_++], value)) failed_ = true;
  }
  const nlohmann::json* in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

/// The JSON codec of a type journaled as JSON (`tutti::json_payload<T>`): by nlohmann-json's
/// own customization when T has it, else by T's `serialize(Archive&)` (a JSON array).
template <class T>
struct json_codec {
  static_assert(detail::nlohmann_convertible<T> || detail::json_archivable<T>,
                "tutti: tutti::json_payload<T> is true, but T converts neither by nlohmann-json "
                "(to_json/from_json found by argument-dependent lookup, "
                "NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE, or an nlohmann::adl_serializer<T>) nor by "
                "tutti's `template <class A> void serialize(A& ar, T& v) { ar(v.field1, ...); }`.");
  /// Appends T's JSON text (compact, UTF-8) to `out`; false (nothing appended) when T's
  /// conversion threw.
  [[nodiscard]] static bool write(std::string& out, const T& value) noexcept {
    try {
      out += json_writer::to_json_value(value).dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace);
      return true;
    } catch (...) {  // a user's to_json that throws, or out of memory
      return false;
    }
  }
  /// Reads T from JSON text; false when it is not JSON or does not fit T.
  [[nodiscard]] static bool read(std::string_view text, T& value) noexcept {
    try {
      nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
      if (j.is_discarded()) return false;
      return json_reader::from_json_value(j, value);
    } catch (...) {  // a user's serialize that throws, or out of memory
      return false;
    }
  }
};

/// A journal payload (`stored_record::payload`, `stored_run::input`) as JSON: the value itself
/// when it was written as JSON, else null (bytes only the program that wrote them can read, or
/// text that is not JSON). `Json`: `nlohmann::ordered_json` keeps the fields in their order.
template <class Json = nlohmann::json>
[[nodiscard]] Json payload_json(std::span<const std::byte> bytes, payload_encoding e) {
  if (e != payload_encoding::json) return nullptr;
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  Json j = Json::parse(p, p + bytes.size(), nullptr, false);
  return j.is_discarded() ? Json(nullptr) : j;
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_JSON_HPP
