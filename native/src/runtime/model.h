// The ternary llama model: loaded from GGUF (mmap), validated, ternary weights repacked once into the kernel
// layout; embeddings and the head are used in place from the map (never copied into the JS heap).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../kernels/common.h"
#include "gguf.h"

namespace magnet {

struct ModelConfig {
  int n_ctx = 0, dim = 0, n_layer = 0, ffn = 0, n_head = 0, n_kv = 0, head_dim = 0, vocab = 0;
  float rope_base = 10000.0f, eps = 1e-5f;
  int bos = 256, eos = 257;
};

struct LoadOptions {
  bool head_int8 = false;  // quantize the LM head to int8 rows (per-row scale): half the head bytes of F16
  bool kv_int8 = false;    // KV cache in int8 with a per-(position, head) scale instead of f16
  bool kv_f32 = false;     // KV cache in f32: bit-for-bit the trainer's arithmetic (parity tests), 2x the bytes
  int n_ctx = 0;           // 0: the model's context length
};

// A ternary matrix in the kernel layout: rows x K, K/4 bytes per row, with one float scale per row
// (fused matrices like q|k|v concatenate rows of tensors with different scales).
struct TernaryMatrix {
  int rows = 0, K = 0;
  size_t row_bytes = 0;
  uint8_t* data = nullptr;  // 64-byte aligned, owned by the model
  std::vector<float> row_scale;
};

// A float vector/matrix stored in the file as F32 or F16, used in place.
struct FloatTensor {
  const void* data = nullptr;
  bool f16 = false;
  int rows = 0, cols = 0;
  float at(size_t i) const { return f16 ? fp16_to_fp32(((const uint16_t*)data)[i]) : ((const float*)data)[i]; }
};

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  TernaryMatrix qkv;   // rows: dim (q) + n_kv*head_dim (k) + n_kv*head_dim (v)
  TernaryMatrix wo;    // dim x dim
  TernaryMatrix gate_up;  // rows: ffn (gate) + ffn (up)
  TernaryMatrix down;  // dim x ffn
};

class Model {
 public:
  // Throws GgufError (bad file) or std::runtime_error with a message naming the tensor or key.
  Model(const std::string& path, const LoadOptions& opts);
  // From an already parsed file (a memory image in the fuzz target and the corpus replay).
  Model(std::unique_ptr<GgufFile> file, const LoadOptions& opts);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const LoadOptions& options() const { return opts_; }
  const std::string& path() const { return file_->path(); }
  const std::vector<Layer>& layers() const { return layers_; }
  const FloatTensor& embeddings() const { return embd_; }
  const FloatTensor& head() const { return head_; }
  const std::vector<float>& output_norm() const { return out_norm_; }
  const int8_t* head_i8() const { return head_i8_.empty() ? nullptr : head_i8_.data(); }
  const std::vector<float>& head_i8_scale() const { return head_i8_scale_; }
  bool tied() const { return tied_; }
  const std::string& source_format() const { return ternary_type_; }
  std::string meta(const std::string& key) const;  // a string/number metadata value, "" when absent

  // Bytes read per decoded token at position 0 (ternary weights + head + norms), and the repacked bytes.
  size_t bytes_per_token() const;
  size_t ternary_bytes() const { return ternary_bytes_; }
  size_t head_bytes() const;

 private:
  void load_ternary(TernaryMatrix& m, const std::vector<const GgufTensor*>& parts, int K);
  std::vector<float> load_norm(const std::string& name, int n);
  FloatTensor load_float(const std::string& name, int cols, int rows, bool required);

  std::unique_ptr<GgufFile> file_;
  ModelConfig cfg_;
  LoadOptions opts_;
  std::vector<Layer> layers_;
  FloatTensor embd_, head_;
  bool tied_ = false;
  std::vector<float> out_norm_;
  std::vector<int8_t> head_i8_;
  std::vector<float> head_i8_scale_;
  // Repacked weight buffers (posix_memalign). Owned by a member, not freed in ~Model: when the constructor
  // throws halfway, ~Model does not run but members are destroyed, so a refused file leaks nothing.
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<void, Free>> allocations_;
  size_t ternary_bytes_ = 0;
  std::string ternary_type_;
};

}  // namespace magnet
