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
#include "json_constraint.h"
#include "model.h"
#include "sampler.h"

namespace magnet {

struct GenRequest {
  std::vector<int> prompt;  // token ids, BOS included
  int max_tokens = 16;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool json = false;  // JSON mode: only tokens that keep the text a prefix of one JSON object; ends when it closes
  std::shared_ptr<const JsonSchema> json_schema;  // with json: the object must also match this schema
  // Called on the engine thread: text pieces (raw bytes; stop sequences never emitted), then done exactly once.
  // A request that failed (its KV cache refused or not allocated, any exception while it ran) ends with
  // finish_reason "error" and `error` saying what happened; `error` is empty otherwise.
  std::function<void(const std::string& text, int tokens_so_far)> on_text;
  // With sampling.logprobs >= 0: each generated token (not the one that ends the generation), before its text.
  std::function<void(const TokenLogprobs&)> on_token;
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
  // An embedding of `tokens` from a fresh cache: the final RMSNorm'd hidden state, averaged over every position and
  // scaled to unit length (mean pooling); dim floats. Thread-safe.
  std::vector<float> embedding(const std::vector<int>& tokens);
  int active() const { return active_count_.load(); }
  // The text of each token id and the ids that end a generation (EOS, end of turn), from the model's tokenizer.
  // Until set: ids 0..255 are bytes, others have no text, and only the model's EOS ends a generation (the
  // byte-level contract). Refused once a request has been submitted (the engine thread reads them unlocked).
  void set_vocab(std::vector<std::string> pieces, std::vector<int> end_ids);
  const Model& model() const { return *model_; }
  const char* kernel() const { return k_.name; }
  int threads() const { return pool_.size(); }

 private:
  struct Seq;
  void loop();
  void step_new(Seq& s);
  int pick(Seq& s);  // bias, penalties, JSON mode, sampling and log-probabilities of the next token
  const std::string& piece(int token) const;
  bool is_end(int token) const;
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
  std::vector<std::string> pieces_;
  std::vector<uint8_t> ends_;  // per token id: 1 when it ends a generation
  std::atomic<bool> submitted_{false};
  std::thread thread_;
};

}  // namespace magnet
