// tutti — executors: where the branches of a parallel group run.
#ifndef TUTTI_EXECUTOR_HPP
#define TUTTI_EXECUTOR_HPP

#include <concepts>            // std::same_as, std::constructible_from
#include <condition_variable>  // thread_pool: workers wait for tasks
#include <cstddef>             // std::size_t, std::byte, std::max_align_t
#include <memory>              // std::unique_ptr: a boxed task until it is queued
#include <mutex>               // thread_pool: the queue's lock
#include <new>                 // placement new, std::launder
#include <stdexcept>           // std::invalid_argument
#include <thread>              // std::thread
#include <type_traits>         // std::decay_t, std::is_nothrow_move_constructible_v
#include <utility>             // std::forward, std::move, std::exchange
#include <vector>              // the queue's slots, the workers

#include "config.hpp"

TUTTI_BEGIN_NAMESPACE

class thread_pool;

namespace detail {
/// The callable `executor` probes `submit` with: what tutti itself submits looks like this.
struct executor_probe {
  void operator()() const noexcept {}
};

// `f()` on an F of this value category returns void.
template <class F>
concept void_callable = requires(F&& f) {
  { static_cast<F&&>(f)() } -> std::same_as<void>;
};

// What thread_pool::submit accepts: stored as std::decay_t<F>, called as an lvalue.
template <class F>
concept storable_task =
    std::constructible_from<std::decay_t<F>, F> && void_callable<std::decay_t<F>&>;
}  // namespace detail

/**
 * An executor runs callables: `e.submit(f)` with `f` invocable as `f()` (noexcept, returns void,
 * nothrow move-constructible); it may run `f` at once on the calling thread or later on another.
 * tutti ships `tutti::inline_executor` (runs at once, for deterministic tests) and
 * `tutti::thread_pool`; any type with such a `submit` works.
 */
template <class E>
concept executor = requires(E& e) { e.submit(detail::executor_probe{}); };

/**
 * An executor that runs each callable at once on the calling thread, in submission order.
 * Deterministic and allocation-free: the executor of tests and of single-threaded builds.
 * Stateless; thread-safe.
 */
struct inline_executor {
  /// Runs `f` now, on this thread; what `f` throws propagates.
  template <class F>
    requires detail::void_callable<F>
  void submit(F&& f) const noexcept(noexcept(std::forward<F>(f)())) {
    std::forward<F>(f)();
  }
  /// Groups on this executor run their branches one after another, without atomics.
  static constexpr bool runs_inline = true;
};

namespace detail {
template <class E>
consteval bool executor_runs_inline() noexcept {
  if constexpr (requires {
                  { E::runs_inline } -> std::convertible_to<bool>;
                }) {
    return static_cast<bool>(E::runs_inline);
  } else {
    return false;
  }
}
}  // namespace detail

/// True when E runs callables inline (`E::runs_inline == true`); groups then run branches one
/// after another without atomics.
template <class E>
inline constexpr bool runs_inline_v = detail::executor_runs_inline<std::remove_cvref_t<E>>();

namespace detail {
// A queue slot holds a callable of up to this many bytes in place.
inline constexpr std::size_t task_inline_size = 48;

// Stored in a slot (else boxed on the heap): small, not over-aligned, and relocatable without
// throwing, so that growing the queue under its lock cannot fail half-way.
template <class D>
inline constexpr bool task_fits_inline = sizeof(D) <= task_inline_size &&
                                         alignof(D) <= alignof(std::max_align_t) &&
                                         std::is_nothrow_move_constructible_v<D>;

// The type-erased operations of one stored callable. No std::function: two plain pointers.
struct task_vtable {
  void (*run)(void* storage) noexcept;             // invoke, then destroy
  void (*move)(void* from, void* to) noexcept;     // move-construct at `to`, destroy `from`
};

template <class D>
struct inline_task_ops {
  static D& get(void* p) noexcept { return *std::launder(static_cast<D*>(p)); }
  // noexcept: a task that throws anyway ends the program (std::terminate).
  static void run(void* p) noexcept {
    D& f = get(p);
    f();
    f.~D();
  }
  static void move(void* from, void* to) noexcept {
    D& f = get(from);
    ::new (to) D(std::move(f));
    f.~D();
  }
};

template <class D>
struct boxed_task_ops {
  static D*& get(void* p) noexcept { return *std::launder(static_cast<D**>(p)); }
  static void run(void* p) noexcept {
    D* f = get(p);
    (*f)();
    delete f;
  }
  static void move(void* from, void* to) noexcept { ::new (to) D*(get(from)); }
};

template <class D>
inline constexpr task_vtable inline_task_vtable{&inline_task_ops<D>::run,
                                                &inline_task_ops<D>::move};
template <class D>
inline constexpr task_vtable boxed_task_vtable{&boxed_task_ops<D>::run,
                                               &boxed_task_ops<D>::move};

// Raw storage for one task plus the operations that know its type.
struct task_slot {
  alignas(std::max_align_t) std::byte storage[task_inline_size];
  const task_vtable* vtable;

  void run() noexcept { vtable->run(storage); }
  void move_to(task_slot& to) noexcept {
    vtable->move(storage, to.storage);
    to.vtable = std::exchange(vtable, nullptr);
  }
};

// FIFO ring buffer of task slots in a vector whose size is a power of two; doubled when full,
// never shrunk, so pushes stop allocating once it reaches its high-water mark. Not
// synchronized: thread_pool guards it with its mutex. Every task pushed must be popped.
class task_queue {
 public:
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }

  // Stores a decay-copy of f in place. Strong guarantee: if growing or constructing throws,
  // the queue is unchanged.
  template <class F>
  void push_inline(F&& f) {
    using D = std::decay_t<F>;
    static_assert(task_fits_inline<D>);
    reserve_one();
    task_slot& slot = back();
    ::new (static_cast<void*>(slot.storage)) D(std::forward<F>(f));
    slot.vtable = &inline_task_vtable<D>;
    ++count_;
  }

  // Stores the pointer to a task boxed on the heap; takes ownership only if it returns.
  template <class D>
  void push_boxed(D* boxed) {
    reserve_one();
    task_slot& slot = back();
    ::new (static_cast<void*>(slot.storage)) D*(boxed);
    slot.vtable = &boxed_task_vtable<D>;
    ++count_;
  }

  // Moves the oldest task into `out`. Precondition: !empty().
  void pop_into(task_slot& out) noexcept {
    slots_[head_].move_to(out);
    head_ = (head_ + 1) & (slots_.size() - 1);
    --count_;
  }

 private:
  task_slot& back() noexcept { return slots_[(head_ + count_) & (slots_.size() - 1)]; }

  void reserve_one() {
    if (count_ < slots_.size()) return;
    std::vector<task_slot> bigger(slots_.empty() ? 16 : 2 * slots_.size());  // may throw: no change
    for (std::size_t i = 0; i < count_; ++i) {
      slots_[(head_ + i) & (slots_.size() - 1)].move_to(bigger[i]);
    }
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<task_slot> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// The pool whose worker is the current thread, if any.
inline thread_local const thread_pool* current_worker_pool = nullptr;
}  // namespace detail

/**
 * A fixed-size pool of worker threads sharing one FIFO queue.
 *
 * Allocation: a callable of at most 48 bytes, aligned no more than `std::max_align_t` and
 * nothrow move-constructible is stored in place in a slot of the queue — `submit` does not
 * allocate once the queue (a ring buffer of fixed-size slots in a `std::vector`, doubled when
 * full, never shrunk) has grown to its high-water mark. A bigger callable costs exactly one
 * heap allocation per `submit` (it is boxed).
 *
 * Tasks must not throw: one that throws anyway ends the program (`std::terminate`).
 *
 * Thread safety: `submit`, `try_run_one`, `size` and `on_worker_thread` may be called from any
 * thread, tasks included. Lifetime: the destructor runs every task already submitted (and any
 * they submit), then joins the workers; it must not run on one of this pool's workers.
 *
 * ```cpp
 * tutti::thread_pool pool{4};
 * std::latch done{2};
 * pool.submit([&]() noexcept { work_a(); done.count_down(); });
 * pool.submit([&]() noexcept { work_b(); done.count_down(); });
 * while (!done.try_wait()) {
 *   if (!pool.try_run_one()) done.wait();  // help instead of blocking a worker
 * }
 * ```
 */
class thread_pool {
 public:
  /// Starts `threads` workers. Throws `std::invalid_argument` when `threads` is 0, and what
  /// `std::thread` throws (after joining the workers already started).
  explicit thread_pool(std::size_t threads) {
    if (threads == 0) throw std::invalid_argument("tutti: thread_pool needs at least one thread");
    workers_.reserve(threads);
    try {
      for (std::size_t i = 0; i < threads; ++i) {
        workers_.emplace_back([this] { work(); });
      }
    } catch (...) {
      stop_and_join();
      throw;
    }
  }

  /// Runs every task already submitted, then joins the workers.
  ~thread_pool() { stop_and_join(); }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Queues `f` (a decay-copy of it) to run on a worker, or on a thread calling `try_run_one`.
  /// Allocates only to box a big callable or to grow the queue (see above). Thread-safe.
  template <class F>
    requires detail::storable_task<F>
  void submit(F&& f) {
    using D = std::decay_t<F>;
    if constexpr (detail::task_fits_inline<D>) {
      std::lock_guard lock(mutex_);
      queue_.push_inline(std::forward<F>(f));
    } else {
      // Boxed before taking the lock: neither the allocation nor F's constructor runs under it.
      auto boxed = std::make_unique<D>(std::forward<F>(f));
      std::lock_guard lock(mutex_);
      queue_.push_boxed(boxed.get());
      (void)boxed.release();  // the queue owns it now
    }
    ready_.notify_one();
  }

  /// If a task is queued, runs it on the calling thread and returns true; else returns false.
  /// A caller that waits for tasks helps this way instead of blocking, so tasks that wait for
  /// the tasks they submitted cannot deadlock the pool.
  bool try_run_one() noexcept {
    detail::task_slot task;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return false;
      queue_.pop_into(task);
    }
    task.run();
    return true;
  }

  /// The number of worker threads.
  [[nodiscard]] std::size_t size() const noexcept { return workers_.size(); }

  /// Whether the calling thread is one of this pool's workers.
  [[nodiscard]] bool on_worker_thread() const noexcept {
    return detail::current_worker_pool == this;
  }

 private:
  void work() noexcept {
    detail::current_worker_pool = this;
    std::unique_lock lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and drained
      detail::task_slot task;
      queue_.pop_into(task);
      lock.unlock();
      task.run();
      lock.lock();
    }
  }

  void stop_and_join() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  detail::task_queue queue_;  // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  std::vector<std::thread> workers_;
};

TUTTI_END_NAMESPACE

#endif  // TUTTI_EXECUTOR_HPP
