#include "thread_pool.h"

#include <chrono>
#include <utility>
#if defined(__x86_64__)
#include <immintrin.h>
#define MAGNET_PAUSE() _mm_pause()
#else
#define MAGNET_PAUSE() std::this_thread::yield()
#endif

namespace magnet {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kSpin = std::chrono::microseconds(400);
}  // namespace

ThreadPool::ThreadPool(int nthreads) : n_(nthreads < 1 ? 1 : nthreads) {
  for (int i = 1; i < n_; i++) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run_raw(void (*fn)(void*, int, int), void* ctx) {
  fn_ = fn;
  ctx_ = ctx;
  pending_.store(n_ - 1);
  gen_.fetch_add(1);  // seq_cst: pairs with the sleeping_ check below (see worker)
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lk(m_);
    cv_.notify_all();
  }
  call(0);
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    MAGNET_PAUSE();
    if (++spins > 100000) std::this_thread::yield();
  }
  // Rethrown only after every worker is done with ctx (the caller's stack frame).
  if (err_) std::rethrow_exception(std::exchange(err_, nullptr));
}

void ThreadPool::call(int ith) noexcept {
  try {
    fn_(ctx_, ith, n_);
  } catch (...) {
    std::lock_guard<std::mutex> lk(err_m_);
    if (!err_) err_ = std::current_exception();
  }
}

void ThreadPool::worker(int ith) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for a short while: the next section of the same token usually follows within microseconds.
    const auto until = Clock::now() + kSpin;
    int k = 0;
    while (gen_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
      MAGNET_PAUSE();
      if ((++k & 63) == 0 && Clock::now() > until) {
        std::unique_lock<std::mutex> lk(m_);
        sleeping_.fetch_add(1);
        cv_.wait(lk, [&] { return gen_.load() != seen || stop_.load(); });
        sleeping_.fetch_sub(1);
        break;
      }
    }
    if (stop_.load()) return;
    seen = gen_.load(std::memory_order_acquire);
    call(ith);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace magnet
