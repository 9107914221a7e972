// tutti — how run inputs and step outputs become journal bytes and come back.
#ifndef TUTTI_JOURNAL_SERIALIZE_HPP
#define TUTTI_JOURNAL_SERIALIZE_HPP

#include <concepts>     // std::same_as
#include <cstddef>      // std::byte
#include <cstdint>      // lengths
#include <cstring>      // std::memcpy
#include <optional>     // optional values
#include <span>         // input bytes
#include <string>       // strings
#include <string_view>  // JSON text
#include <type_traits>  // trivially copyable
#include <vector>       // output bytes, vectors

#include "../config.hpp"
#include "../detail/holds_pointer.hpp"  // raw bytes only for values without an address inside
#include "../result.hpp"

TUTTI_BEGIN_NAMESPACE

/// Appends bytes: what a serializer writes to.
class byte_writer {
 public:
  explicit byte_writer(std::vector<std::byte>& out) noexcept : out_(&out) {}
  void write_bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_->insert(out_->end(), b, b + n);
  }
  template <class... T>
  void operator()(const T&... values);  // writes each value with its serializer

 private:
  std::vector<std::byte>* out_;
};

/// Reads bytes back; a read past the end sets `failed()` and reads zeros.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::byte> in) noexcept : in_(in) {}
  void read_bytes(void* p, std::size_t n) noexcept {
    if (failed_ || n > in_.size() - pos_) {
      failed_ = true;
      std::memset(p, 0, n);
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  template <class... T>
  void operator()(T&... values);  // reads each value with its serializer
  /// Marks the input as unusable (a serializer found an impossible value).
  void fail() noexcept { failed_ = true; }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

/**
 * The customization point: specialise `tutti::serializer<T>` with
 * `static void write(byte_writer&, const T&)` and `static void read(byte_reader&, T&)`, or give
 * the type a `serialize` function found by argument-dependent lookup that names its fields once
 * for both directions:
 *
 *   template <class Archive> void serialize(Archive& ar, receipt& r) { ar(r.id, r.amount); }
 *
 * Built in: trivially copyable types (bytes as they are in memory: the journal is read back by
 * the same program on the same platform) without an address inside (no pointer, std::string_view,
 * std::span, nor an aggregate member holding one: detail/holds_pointer.hpp), `std::string`,
 * `std::vector<T>`, `std::optional<T>`.
 */
template <class T, class = void>
struct serializer;

namespace detail {
template <class T>
concept adl_serializable = requires(byte_writer& w, byte_reader& r, T& v) {
  serialize(w, v);
  serialize(r, v);
};
template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_vector_v = false;
template <class T, class A>
inline constexpr bool is_vector_v<std::vector<T, A>> = true;
// Bytes as they are in memory; not when an address is inside or may be (a pointer, a
// std::string_view, a struct holding one: it would not mean anything after a restart, see
// detail/holds_pointer.hpp), not optionals (their own serializer checks the flag byte).
template <class T>
concept bytes_serializable = std::is_trivially_copyable_v<T> && !is_optional_v<T> &&
                             bytes_kind_of<T>() == bytes_kind::plain;
}  // namespace detail

/// Whether a value of type T can be written to a journal and read back.
template <class T>
concept serializable = requires(byte_writer& w, byte_reader& r, const T& c, T& v) {
  serializer<T>::write(w, c);
  serializer<T>::read(r, v);
};

template <class T>
struct serializer<T, std::enable_if_t<detail::bytes_serializable<T> && !detail::adl_serializable<T>>> {
  static void write(byte_writer& w, const T& v) { w.write_bytes(&v, sizeof(T)); }
  static void read(byte_reader& r, T& v) { r.read_bytes(&v, sizeof(T)); }
};

template <class T>
struct serializer<T, std::enable_if_t<detail::adl_serializable<T>>> {
  static void write(byte_writer& w, const T& v) { serialize(w, const_cast<T&>(v)); }
  static void read(byte_reader& r, T& v) { serialize(r, v); }
};

template <>
struct serializer<std::string> {
  static void write(byte_writer& w, const std::string& s) {
    const std::uint64_t n = s.size();
    w.write_bytes(&n, sizeof n);
    w.write_bytes(s.data(), s.size());
  }
  static void read(byte_reader& r, std::string& s) {
    std::uint64_t n = 0;
    r.read_bytes(&n, sizeof n);
    if (r.failed() || n > r.remaining()) return r.fail();
    s.resize(static_cast<std::size_t>(n));
    r.read_bytes(s.data(), s.size());
  }
};

template <class T>
  requires serializable<T>
struct serializer<std::vector<T>> {
  static void write(byte_writer& w, const std::vector<T>& v) {
    const std::uint64_t n = v.size();
    w.write_bytes(&n, sizeof n);
    for (const T& x : v) serializer<T>::write(w, x);
  }
  static void read(byte_reader& r, std::vector<T>& v) {
    std::uint64_t n = 0;
    r.read_bytes(&n, sizeof n);
    if (r.failed() || n > r.remaining()) return r.fail();  // each element takes a byte or more
    v.clear();
    v.resize(static_cast<std::size_t>(n));
    for (T& x : v) serializer<T>::read(r, x);
  }
};

template <class T>
  requires serializable<T>
struct serializer<std::optional<T>> {
  static void write(byte_writer& w, const std::optional<T>& v) {
    const unsigned char has = v.has_value() ? 1 : 0;
    w.write_bytes(&has, 1);
    if (v) serializer<T>::write(w, *v);
  }
  static void read(byte_reader& r, std::optional<T>& v) {
    unsigned char has = 0;
    r.read_bytes(&has, 1);
    if (has > 1) return r.fail();
    if (has == 0) {
      v.reset();
      return;
    }
    T x{};
    serializer<T>::read(r, x);
    v = std::move(x);
  }
};

namespace detail {
// Why T, or the element of a std::vector or std::optional T, is refused as raw bytes: `pointer`
// or `hidden`; `plain` when T is serializable or when raw bytes were never an option for it.
template <class T>
consteval bytes_kind refused_bytes() {
  if constexpr (serializable<T>) return bytes_kind::plain;
  else if constexpr (is_vector_v<T> || is_optional_v<T>)
    return refused_bytes<typename T::value_type>();
  else if constexpr (std::is_trivially_copyable_v<T>) return bytes_kind_of<T>();
  else return bytes_kind::plain;
}

// Called where a journaled run stores a T: the two reasons a trivially copyable type is refused,
// each with its own message. The caller reports the remaining case (no serializer at all) only
// when refused_bytes<T>() is `plain`.
template <class T>
constexpr void require_meaningful_bytes() noexcept {
  constexpr bytes_kind why = refused_bytes<T>();
  static_assert(why != bytes_kind::pointer,
                "tutti: a journaled value (a run's input or a step's output) holds a pointer "
                "(std::string_view, std::span, T*, std::error_code, a struct with such a member, "
                "...): its bytes mean nothing after a restart. Store the data (std::string, "
                "std::vector) or give the type a `template <class A> void serialize(A& ar, T& v) "
                "{ ar(v.field1, ...); }` (found by argument-dependent lookup), or specialise "
                "tutti::serializer<T>.");
  static_assert(why != bytes_kind::hidden,
                "tutti: a journaled value (a run's input or a step's output) is trivially copyable "
                "but its members cannot all be checked for pointers (a union, a reference or const "
                "member, more than 256 elements counting array elements, or a member the check "
                "cannot convert to), so it is not stored as raw bytes. Give the type a `template "
                "<class A> void serialize(A& ar, T& v) { ar(v.field1, ...); }` (found by "
                "argument-dependent lookup), or specialise tutti::serializer<T>.");
}
}  // namespace detail

template <class... T>
void byte_writer::operator()(const T&... values) {
  (serializer<T>::write(*this, values), ...);
}
template <class... T>
void byte_reader::operator()(T&... values) {
  (serializer<T>::read(*this, values), ...);
}

/// The bytes of `value`.
template <serializable T>
[[nodiscard]] std::vector<std::byte> to_bytes(const T& value) {
  std::vector<std::byte> out;
  byte_writer w{out};
  serializer<T>::write(w, value);
  return out;
}

/// `T` read back from `bytes`; an error when they are too short, too long or invalid.
template <serializable T>
[[nodiscard]] result<T> from_bytes(std::span<const std::byte> bytes) {
  static_assert(std::is_default_constructible_v<T>,
                "tutti: a journaled type must be default-constructible (it is read into a "
                "default-constructed value).");
  T value{};
  byte_reader r{bytes};
  serializer<T>::read(r, value);
  if (r.failed() || r.remaining() != 0) return std::errc::illegal_byte_sequence;
  return value;
}

// ---- payload encodings --------------------------------------------------------------------------

/**
 * How a journaled value (a run's input, a step's output) is written. Stored with the value (in
 * its record's `outcome` field: see `record_kind`), so a reader — a resume, `tutti-journal show`
 * — knows how to read it back whatever the type says today. Numbers are stored: never renumber.
 */
enum class payload_encoding : std::uint8_t {
  binary = 0,  ///< `tutti::serializer<T>`: compact, readable only by a program that has T
  json = 1,    ///< JSON text (UTF-8) through nlohmann-json: `<tutti/journal/json.hpp>`
};

[[nodiscard]] constexpr std::string_view to_string(payload_encoding e) noexcept {
  switch (e) {
    case payload_encoding::binary: return "binary";
    case payload_encoding::json: return "json";
  }
  return "unknown";
}

/**
 * Whether T is journaled as JSON (`payload_encoding::json`) instead of bytes: false unless the
 * program says so, once, next to the type, with `<tutti/journal/json.hpp>` included:
 *
 *   template <> inline constexpr bool tutti::json_payload<order> = true;
 *
 * T then needs nlohmann-json's own customization (`to_json`/`from_json`, found by argument-
 * dependent lookup, or `NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE`), or tutti's `serialize(Archive&)`
 * (its fields become a JSON array). A choice for the type, not for a workflow: every journaled
 * value of type T is written so. Values written before the choice changed are still read in
 * the encoding they were written with (a resume of a run started by the previous release).
 */
template <class T>
inline constexpr bool json_payload = false;

/// The JSON side of a type journaled as JSON: defined by `<tutti/journal/json.hpp>`.
template <class T>
struct json_codec;

/// Whether a value of type T can be journaled: as JSON (`json_payload<T>`) or as bytes.
template <class T>
concept journalable = json_payload<T> || serializable<T>;

namespace detail {
/// Where a journaled run stores a T: a type journaled as JSON is checked by its codec; bytes
/// must mean something after a restart (`require_meaningful_bytes`).
template <class T>
constexpr void require_journalable() noexcept {
  if constexpr (!json_payload<T>) require_meaningful_bytes<T>();
}
}  // namespace detail

namespace detail {
template <class T>
concept has_json_codec = json_payload<T> && requires(const T& c, T& v, std::string& out, std::string_view in) {
  { json_codec<T>::write(out, c) } -> std::same_as<bool>;
  { json_codec<T>::read(in, v) } -> std::same_as<bool>;
};

#define TUTTI_JSON_CODEC_MISSING                                                                  \
  "tutti: tutti::json_payload<T> is true, so T is journaled as JSON, but no JSON codec is known: " \
  "include <tutti/journal/json.hpp> (needs nlohmann-json, Debian nlohmann-json3-dev) wherever "  \
  "the workflow is run or resumed, and give T nlohmann-json's to_json/from_json or tutti's "     \
  "serialize(Archive&)."

/// Writes `value` to `out` (cleared first) in T's encoding; returns that encoding, or
/// `std::errc::invalid_argument` when T's JSON conversion threw (nothing is written then).
template <class T>
result<payload_encoding> encode_payload(const T& value, std::vector<std::byte>& out) {
  out.clear();
  if constexpr (json_payload<T>) {
    static_assert(has_json_codec<T>, TUTTI_JSON_CODEC_MISSING);
    std::string text;
    if (!json_codec<T>::write(text, value)) return std::errc::invalid_argument;
    const auto* b = reinterpret_cast<const std::byte*>(text.data());
    out.assign(b, b + text.size());
    return payload_encoding::json;
  } else {
    byte_writer w{out};
    serializer<T>::write(w, value);
    return payload_encoding::binary;
  }
}

/// T read back from `bytes` written in encoding `e`: `std::errc::illegal_byte_sequence` when
/// they cannot be read as T (a JSON conversion that throws included), `std::errc::not_supported`
/// when T has no reader for `e` (JSON written for a type that is no longer journaled as JSON,
/// bytes for one that has no binary serializer).
template <class T>
result<T> decode_payload(std::span<const std::byte> bytes, payload_encoding e) {
  static_assert(std::is_default_constructible_v<T>,
                "tutti: a journaled type must be default-constructible (it is read into a "
                "default-constructed value).");
  if constexpr (json_payload<T>) static_assert(has_json_codec<T>, TUTTI_JSON_CODEC_MISSING);
  if (e == payload_encoding::json) {
    if constexpr (has_json_codec<T>) {
      T value{};
      const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      if (!json_codec<T>::read(text, value)) return std::errc::illegal_byte_sequence;
      return value;
    } else {
      return std::errc::not_supported;
    }
  }
  if (e != payload_encoding::binary) return std::errc::not_supported;
  if constexpr (serializable<T>) return from_bytes<T>(bytes);
  else return std::errc::not_supported;
}
}  // namespace detail

#undef TUTTI_JSON_CODEC_MISSING

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_SERIALIZE_HPP
