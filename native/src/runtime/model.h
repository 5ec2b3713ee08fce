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

// llama: SiLU-gated FFN. bitnet (BitNet b1.58, `bitnet` / `bitnet-b1.58` in GGUF): ReLU²-gated FFN and an extra
// RMSNorm before the attention output and before the FFN down projection (attn_sub_norm, ffn_sub_norm).
enum class Arch { Llama, Bitnet };

struct ModelConfig {
  int n_ctx = 0, dim = 0, n_layer = 0, ffn = 0, n_head = 0, n_kv = 0, head_dim = 0, vocab = 0;
  float rope_base = 10000.0f, eps = 1e-5f;
  int bos = 256, eos = 257;
  Arch arch = Arch::Llama;
  std::string arch_name = "llama";
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

// A float vector/matrix used in place from the file: F32 or F16 (read directly), or BF16, Q8_0, Q4_0, Q6_K
// (decoded a row at a time; a head in those formats is repacked to int8 rows at load).
struct FloatTensor {
  const void* data = nullptr;
  uint32_t type = 0;  // GGUF type
  bool f16 = false;   // type == F16 (the fast paths)
  int rows = 0, cols = 0;
  size_t row_bytes = 0;
  float at(size_t i) const { return f16 ? fp16_to_fp32(((const uint16_t*)data)[i]) : ((const float*)data)[i]; }
  bool direct() const { return type == 0 || type == 1; }  // F32 or F16: at() and the dot kernels read it as stored
  void row(int r, float* out) const;                        // any format
};

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  std::vector<float> attn_sub_norm, ffn_sub_norm;  // bitnet only (dim, ffn)
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
  // The embedding of `token` (dim floats): from the int8 head's own rows when the head is tied and int8 (so the
  // file's embedding pages are never touched), else decoded from the file.
  void embedding_row(int token, float* out) const;
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
  void build_int8_head();
  int load_i2_s(const GgufTensor& t, int K, TernaryMatrix& m, int r0, int8_t* w);  // returns the rows loaded
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
