// A persistent pool: threads are created once per model and woken for each parallel section, so decode
// creates no threads per token. Workers spin briefly (sections come back to back within a token) and then
// sleep on a condition variable.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace magnet {

class ThreadPool {
 public:
  explicit ThreadPool(int nthreads);  // total threads, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_; }

  // Calls f(ith, nth) once on each of the nth threads and returns when all have finished. Whatever f throws
  // on a worker is caught there (it would end the process) and the first such exception rethrown here.
  template <class F>
  void run(F&& f) {
    if (n_ == 1) {
      f(0, 1);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    run_raw([](void* c, int i, int n) { (*static_cast<Fn*>(c))(i, n); }, (void*)&f);
  }

 private:
  void run_raw(void (*fn)(void*, int, int), void* ctx);
  void worker(int ith);
  void call(int ith) noexcept;

  int n_;
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::mutex err_m_;
  std::exception_ptr err_;  // the first exception of the current section
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
};

// The half-open share [begin, end) of n items for thread ith of nth, in multiples of `align`.
inline void split_range(int n, int ith, int nth, int align, int* begin, int* end) {
  const int units = (n + align - 1) / align;
  const int per = units / nth, extra = units % nth;
  const int u0 = ith * per + (ith < extra ? ith : extra);
  const int u1 = u0 + per + (ith < extra ? 1 : 0);
  *begin = u0 * align < n ? u0 * align : n;
  *end = u1 * align < n ? u1 * align : n;
}

}  // namespace magnet
