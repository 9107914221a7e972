// Test support: replacements of the global allocation functions that count every allocation,
// on all threads (`tutti_test::allocations`) and on the calling thread
// (`tutti_test::thread_allocations`). Include it in exactly one translation unit of a test
// program: replacement allocation functions are defined once per program.
#ifndef TUTTI_TESTS_SUPPORT_COUNTING_NEW_HPP
#define TUTTI_TESTS_SUPPORT_COUNTING_NEW_HPP

#include <atomic>   // the all-threads counter
#include <cstddef>  // std::size_t
#include <cstdlib>  // std::malloc, std::aligned_alloc, std::free
#include <new>      // std::bad_alloc, std::nothrow_t, std::align_val_t

namespace tutti_test {
/// Allocations made on any thread since the program started.
inline std::atomic<long> allocations{0};
/// Allocations made on the calling thread since it started.
inline constinit thread_local long thread_allocations = 0;
inline void count_allocation() noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  ++thread_allocations;
}
}  // namespace tutti_test

void* operator new(std::size_t n) {
  tutti_test::count_allocation();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc{};
}
void* operator new[](std::size_t n) { return operator new(n); }
// Every other form too, so that nothing allocated by one family is freed by another (the
// sanitizers check that pairing).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  tutti_test::count_allocation();
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t a) {
  tutti_test::count_allocation();
  const auto align = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc{};
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

#endif  // TUTTI_TESTS_SUPPORT_COUNTING_NEW_HPP
