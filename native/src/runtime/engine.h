// The generation engine of one loaded model: a thread that owns the thread pool and decodes every active
// request together as one batch (continuous batching), prefilling new prompts in chunks.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "forward.h"
#include "model.h"
#include "sampler.h"

namespace magnet {

struct GenRequest {
  std::vector<int> prompt;  // token ids, BOS included
  int max_tokens = 16;
  SamplingParams sampling;
  std::vector<std::string> stop;
  // Called on the engine thread: text pieces (raw bytes; stop sequences never emitted), then done exactly once.
  // A request that failed (its KV cache refused or not allocated, any exception while it ran) ends with
  // finish_reason "error" and `error` saying what happened; `error` is empty otherwise.
  std::function<void(const std::string& text, int tokens_so_far)> on_text;
  std::function<void(const std::string& finish_reason, int prompt_tokens, int completion_tokens, const std::string& error)>
      on_done;
};

struct EngineOptions {
  int n_threads = 0;   // 0: hardware concurrency
  int max_batch = 8;   // sequences decoded together
  int prefill_chunk = 128;
  // Bytes for the KV caches of all running requests together; 0: a quarter of physical memory. A request's
  // cache (prompt + max_tokens positions) is reserved when it starts: one that does not fit next to the
  // running ones waits, one larger than the whole budget fails with finish reason "error".
  uint64_t kv_budget = 0;
};

class Engine {
 public:
  Engine(std::shared_ptr<const Model> model, const EngineOptions& opts);
  ~Engine();  // cancels what is left and joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Throws std::invalid_argument (prompt empty/too long, token out of range). Returns the request id.
  uint64_t submit(GenRequest req);
  void cancel(uint64_t id);
  // Logits at every position of `tokens` from a fresh cache (parity tests, benchmarks); thread-safe.
  std::vector<float> logits(const std::vector<int>& tokens);
  int active() const { return active_count_.load(); }
  const Model& model() const { return *model_; }
  const char* kernel() const { return k_.name; }
  int threads() const { return pool_.size(); }

 private:
  struct Seq;
  void loop();
  void step_new(Seq& s);
  void accept(Seq& s, int token);
  void finish(Seq& s, const char* reason);
  void fail(Seq& s, const char* why) noexcept;
  template <class F>
  void guard(Seq& s, F&& f) noexcept;
  bool step();  // one scheduling round; false when the engine stops
  uint64_t kv_bytes(int n_ctx) const;

  std::shared_ptr<const Model> model_;
  EngineOptions opts_;
  const KernelTable& k_;
  ThreadPool pool_;
  Scratch scratch_;
  std::mutex compute_;  // one forward at a time on the pool
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Seq>> pending_;
  std::vector<std::unique_ptr<Seq>> running_;
  std::vector<uint64_t> cancelled_;
  std::atomic<int> active_count_{0};
  uint64_t kv_budget_;
  uint64_t kv_used_ = 0;  // reserved by running_ (under m_)
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace magnet
