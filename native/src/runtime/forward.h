// The decoder forward pass over a batch of (sequence, token, position) items: a prompt prefill is a batch of
// one sequence's consecutive tokens; a decode step of several requests is a batch of their last tokens.
#pragma once
#include <cstdint>
#include <vector>

#include "../kernels/common.h"
#include "model.h"
#include "thread_pool.h"

namespace magnet {

class KvCache {
 public:
  enum class KvType { F16, F32, I8 };
  KvCache(const ModelConfig& cfg, int n_ctx, KvType type);
  static KvType type_for(const LoadOptions& o) { return o.kv_int8 ? KvType::I8 : o.kv_f32 ? KvType::F32 : KvType::F16; }
  // Bytes a cache of n_ctx positions takes, overflow-checked (the shape comes from an untrusted file).
  static uint64_t bytes_for(const ModelConfig& cfg, int n_ctx, KvType type);
  int capacity() const { return n_ctx_; }
  size_t bytes() const;
  // Stores / reads one position's k or v for a layer (kvd = n_kv * head_dim floats).
  void put(int layer, int pos, const float* k, const float* v);
  void get_k(int layer, int pos, int kv_head, float* out) const;
  void get_v(int layer, int pos, int kv_head, float* out) const;
  // The f16 rows in place (nullptr for an int8 cache), so attention can use the SIMD f16 kernels.
  const uint16_t* k16(int layer, int pos, int h) const { return type_ != KvType::F16 ? nullptr : &k16_[at(layer, pos) + (size_t)h * hd_]; }
  const uint16_t* v16(int layer, int pos, int h) const { return type_ != KvType::F16 ? nullptr : &v16_[at(layer, pos) + (size_t)h * hd_]; }

 private:
  size_t at(int layer, int pos) const { return ((size_t)layer * n_ctx_ + pos) * kvd_; }
  int n_ctx_, kvd_, hd_, n_kv_;
  KvType type_;
  std::vector<uint16_t> k16_, v16_;
  std::vector<int8_t> k8_, v8_;
  std::vector<float> ks_, vs_;  // int8: scale per (layer, pos, kv head)
  std::vector<float> k32_, v32_;
};

struct BatchItem {
  KvCache* cache;
  int token, pos;
  float* logits;  // vocab floats, or nullptr when this item's logits are not needed
};

// Reusable buffers for batches up to `max_batch` items.
struct Scratch {
  Scratch(const ModelConfig& cfg, int max_batch, int n_threads);
  int max_batch;
  std::vector<float> x, xn, qkv, att, gu, hid, s, inv_freq;
  std::vector<int8_t> xq;
  std::vector<int32_t> xsum, acc;
  std::vector<std::vector<float>> per_thread;  // attention scores / head scratch
};

void forward(const Model& m, const KernelTable& k, ThreadPool& pool, Scratch& sc, const BatchItem* items, int n);

}  // namespace magnet
