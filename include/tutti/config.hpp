// tutti — configuration and namespace macros.
// Every TUTTI_CONFIG_ macro is listed in docs/configuration.md.
#ifndef TUTTI_CONFIG_HPP
#define TUTTI_CONFIG_HPP

#include "version.hpp"  // TUTTI_VERSION

/// Opens `namespace tutti { inline namespace v1 {`.
#define TUTTI_BEGIN_NAMESPACE \
  namespace tutti {           \
  inline namespace v1 {
/// Closes what TUTTI_BEGIN_NAMESPACE opened.
#define TUTTI_END_NAMESPACE \
  }                         \
  }

#if defined(__GNUC__) || defined(__clang__)
#  define TUTTI_ALWAYS_INLINE inline __attribute__((always_inline))
#  define TUTTI_NOINLINE __attribute__((noinline))
#  define TUTTI_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))
#  define TUTTI_LIKELY(x) __builtin_expect(!!(x), 1)
#  define TUTTI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define TUTTI_ALWAYS_INLINE inline
#  define TUTTI_NOINLINE
#  define TUTTI_ALWAYS_INLINE_LAMBDA
#  define TUTTI_LIKELY(x) (x)
#  define TUTTI_UNLIKELY(x) (x)
#endif

/// The largest step output (in bytes, `sizeof`) a workflow accepts: a run holds outputs by
/// value on the stack, several times over (the callable's result, the run's slot, the returned
/// run), so a larger one is refused at compile time. Define it before including tutti to raise
/// it (threads with large stacks) or lower it.
#ifndef TUTTI_CONFIG_MAX_OUTPUT_BYTES
#  define TUTTI_CONFIG_MAX_OUTPUT_BYTES (256u * 1024u)
#endif

TUTTI_BEGIN_NAMESPACE
namespace detail {
/// For `static_assert(detail::always_false<T>, "...")` in branches that can never work.
template <class...>
inline constexpr bool always_false = false;
}  // namespace detail
TUTTI_END_NAMESPACE

#endif  // TUTTI_CONFIG_HPP
