// tutti — what a step can ask for: the run id, its idempotency key, earlier steps' outputs.
#ifndef TUTTI_CONTEXT_HPP
#define TUTTI_CONTEXT_HPP

#include <array>        // hex text of a run id
#include <atomic>       // the fork count
#include <chrono>       // seeding the run-id generator
#include <cstddef>      // std::size_t
#include <cstdint>      // 64-bit halves of a run id
#include <optional>     // run_id::parse
#include <string_view>  // step paths

#if defined(__unix__) || defined(__APPLE__)
#  include <pthread.h>  // pthread_atfork: a forked child draws ids of its own
#  include <unistd.h>   // getpid: mixed into the seed
#  define TUTTI_DETAIL_ATFORK 1
#endif
// The per-thread base's entropy: getrandom(2) where the C library has it (a small C header),
// else std::random_device (<random> is one of the costliest standard headers to parse).
#if defined(__linux__) && __has_include(<sys/random.h>)
#  include <sys/random.h>  // getrandom
#  define TUTTI_DETAIL_GETRANDOM 1
#else
#  include <random>  // std::random_device
#endif

#include "config.hpp"
#include "fixed_string.hpp"

TUTTI_BEGIN_NAMESPACE

/**
 * Identifies one run of a workflow: 128 bits, shown as 32 hex digits. Generated per run unless
 * the caller supplies one. Generation is allocation-free and lock-free: a per-thread random
 * 64-bit base (drawn once from the system's entropy, the time, the process and the thread) and a per-thread
 * counter that starts at a random value; unique within a process and, with overwhelming
 * probability, across processes.
 */
struct run_id {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  [[nodiscard]] constexpr bool empty() const noexcept { return hi == 0 && lo == 0; }
  friend constexpr bool operator==(const run_id&, const run_id&) noexcept = default;
  friend constexpr auto operator<=>(const run_id&, const run_id&) noexcept = default;

  /**
   * The 32 hex digits of a run id, held by value (no terminating zero). Formats with fmt
   * (`fmt::format("{}", id.hex())`, with `<tutti/format.hpp>`) and converts to
   * `std::string_view`, which is valid while this value lives:
   * `std::string text{id.hex()};` is fine, `std::string_view v = id.hex();` dangles.
   */
  struct hex_digits {
    std::array<char, 32> digits{};

    [[nodiscard]] constexpr const char* data() const noexcept { return digits.data(); }
    [[nodiscard]] static constexpr std::size_t size() noexcept { return 32; }
    [[nodiscard]] constexpr const char* begin() const noexcept { return digits.data(); }
    [[nodiscard]] constexpr const char* end() const noexcept { return digits.data() + 32; }
    [[nodiscard]] constexpr char operator[](std::size_t i) const noexcept { return digits[i]; }
    [[nodiscard]] constexpr std::string_view view() const noexcept { return {data(), size()}; }
    // NOLINTNEXTLINE(google-explicit-constructor): the digits read as text where text is expected
    constexpr operator std::string_view() const noexcept { return view(); }
    friend constexpr bool operator==(const hex_digits&, const hex_digits&) noexcept = default;
  };

  /// 32 lowercase hex digits: `fmt::format("{}", id.hex())`, `std::string{id.hex()}`.
  [[nodiscard]] constexpr hex_digits hex() const noexcept {
    constexpr char alphabet[] = "0123456789abcdef";
    hex_digits out{};
    for (int i = 0; i < 16; ++i) {
      out.digits[static_cast<std::size_t>(i)] = alphabet[(hi >> (60 - 4 * i)) & 0xF];
      out.digits[static_cast<std::size_t>(16 + i)] = alphabet[(lo >> (60 - 4 * i)) & 0xF];
    }
    return out;
  }

  /// Reads 32 hex digits (as `hex()` writes them); nullopt for anything else.
  [[nodiscard]] static constexpr std::optional<run_id> parse(std::string_view text) noexcept {
    if (text.size() != 32) return std::nullopt;
    run_id id;
    for (std::size_t i = 0; i < 32; ++i) {
      const char c = text[i];
      std::uint64_t v = 0;
      if (c >= '0' && c <= '9') v = static_cast<std::uint64_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v = static_cast<std::uint64_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v = static_cast<std::uint64_t>(c - 'A' + 10);
      else return std::nullopt;
      std::uint64_t& half = i < 16 ? id.hi : id.lo;
      half = (half << 4) | v;
    }
    return id;
  }

  /// A new id, distinct from every other id generated in this process.
  [[nodiscard]] static run_id generate() noexcept;
};

namespace detail {
inline std::uint64_t mix64(std::uint64_t x) noexcept {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// The process id (0 where there is none), mixed into a seed.
inline long run_id_pid() noexcept {
#if defined(__unix__) || defined(__APPLE__)
  return static_cast<long>(::getpid());
#else
  return 0;
#endif
}

/// How many times this process is a forked child of a process that included tutti: a forked
/// child inherits its parent's generators and must not draw the same ids. Counted by an atfork
/// handler registered once at start-up, so a run compares two integers instead of asking the
/// kernel for its pid (a system call, ~150 ns on a VM) every time.
inline std::atomic<std::uint32_t> run_id_forks{0};
#if defined(TUTTI_DETAIL_ATFORK)
inline void run_id_forked() noexcept { run_id_forks.fetch_add(1, std::memory_order_relaxed); }
inline const int run_id_atfork = ::pthread_atfork(nullptr, nullptr, &run_id_forked);
#endif

struct run_id_source {
  std::uint64_t base;     // hi half of every id of this thread
  std::uint64_t counter;  // lo half: starts at a random value, +1 per run
  std::uint32_t forks;    // run_id_forks when it was seeded
  run_id_source() noexcept
      : base(seed()), counter(mix64(base)), forks(run_id_forks.load(std::memory_order_relaxed)) {}
  static std::uint64_t seed() noexcept {
    std::uint64_t s = static_cast<std::uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count());
    // An address on this thread's stack: no other live thread has it. (Not the address of the
    // thread_local source itself: g++ folds arithmetic on it into a TLS relocation that the
    // linker cannot hold.)
    const int here = 0;
    s ^= mix64(reinterpret_cast<std::uintptr_t>(&here));
    s ^= mix64(static_cast<std::uint64_t>(run_id_pid()) + 0x7475747469ULL);
    s ^= entropy();
    s = mix64(s);
    return s == 0 ? 1 : s;  // a zero `hi` never occurs, so a generated id is never empty
  }
  // 64 bits from the system's entropy source; 0 when there is none (time, process and thread
  // still make the base unique enough within a machine).
  static std::uint64_t entropy() noexcept {
    std::uint64_t e = 0;
#if defined(TUTTI_DETAIL_GETRANDOM)
    if (::getrandom(&e, sizeof e, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof e)) e = 0;
#else
    try {
      std::random_device rd;
      e = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
    }
#endif
    return e;
  }
};
}  // namespace detail

inline run_id run_id::generate() noexcept {
  thread_local detail::run_id_source source;
  if (TUTTI_UNLIKELY(source.forks != detail::run_id_forks.load(std::memory_order_relaxed)))
    source = detail::run_id_source{};
  return run_id{source.base, ++source.counter};
}

/**
 * The key a step passes to its service so that a retry or a resume of the same step in the same
 * run is recognised as a repeat: run id + step path (e.g. "payment/authorize"). Stable across
 * attempts; the attempt number is in `call_context::attempt`. Format with fmt or `append_to`.
 */
struct idempotency_key {
  run_id run;
  std::string_view step;

  friend constexpr bool operator==(const idempotency_key& a, const idempotency_key& b) noexcept {
    return a.run == b.run && a.step == b.step;
  }
  /// Appends "<32 hex digits>:<step path>" to any string-like container.
  template <class String>
  void append_to(String& out) const {
    const auto h = run.hex();
    out.append(h.data(), h.size());
    out.push_back(':');
    out.append(step.data(), step.size());
  }
};

/**
 * What a step callable may take as a parameter to learn about the call it is in:
 * `result<receipt> charge(const order&, const tutti::call_context& ctx)`.
 */
struct call_context {
  run_id run;             ///< the run this call belongs to
  std::string_view step;  ///< the step's path: its name, prefixed by enclosing workflows' names
  std::uint32_t attempt;  ///< 1 for the first call, 2 for the first retry, ...
  /// When this attempt should be over, on the run's clock (nanoseconds since its epoch):
  /// the earlier of the run's deadline and a per-attempt timeout. `duration::max()`: none.
  /// In-process calls cannot be pre-empted: pass it to your client (an RPC deadline, a socket
  /// timeout) so that the service stops in time.
  std::chrono::nanoseconds deadline = std::chrono::nanoseconds::max();
  /// A journaled run: this engine's epoch for the run (its fencing token; 0 otherwise). A step
  /// may pass it to a service that fences too: the service refuses a call carrying an epoch
  /// lower than one it has seen for the run.
  std::uint64_t epoch = 0;

  [[nodiscard]] constexpr bool has_deadline() const noexcept {
    return deadline != std::chrono::nanoseconds::max();
  }

  /// Stable across retries and resumes of this step in this run.
  [[nodiscard]] constexpr idempotency_key key() const noexcept { return {run, step}; }
};

/**
 * A step parameter that receives the output of an earlier step, by name:
 * `result<transfer> send(tutti::from<"authorize", authorization> auth)`; use `*auth` or
 * `auth->field`. The name must be an earlier step of the same workflow and its output must
 * convert to `T`; otherwise the workflow does not compile and says which rule failed.
 */
template <fixed_string Name, class T>
class from {
 public:
  static constexpr auto name = Name;
  using value_type = T;

  constexpr explicit from(const T& value) noexcept : value_(&value) {}
  [[nodiscard]] constexpr const T& operator*() const noexcept { return *value_; }
  [[nodiscard]] constexpr const T* operator->() const noexcept { return value_; }
  [[nodiscard]] constexpr const T& get() const noexcept { return *value_; }

 private:
  const T* value_;
};

namespace detail {
template <class T>
inline constexpr bool is_from_v = false;
template <fixed_string Name, class T>
inline constexpr bool is_from_v<from<Name, T>> = true;
}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_CONTEXT_HPP
