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

TUTTI_BEGIN_NAMESPACE
namespace detail {
/// For `static_assert(detail::always_false<T>, "...")` in branches that can never work.
template <class...>
inline constexpr bool always_false = false;
}  // namespace detail
TUTTI_END_NAMESPACE

#endif  // TUTTI_CONFIG_HPP
