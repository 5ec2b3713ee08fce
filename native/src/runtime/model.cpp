#include "model.h"

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "checked.h"
#include "float_formats.h"
#include "ternary_format.h"

namespace magnet {

namespace {

std::runtime_error err(const std::string& path, const std::string& msg) {
  return std::runtime_error("model " + path + ": " + msg);
}

std::string shape_str(const std::vector<uint64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); i++) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// Shapes are compared as uint64: a cast of a file dimension to int first could wrap 2^32 + 256 onto 256.
bool shape_is(const GgufTensor& t, std::initializer_list<uint64_t> want) {
  return t.ne.size() == want.size() && std::equal(want.begin(), want.end(), t.ne.begin());
}

// Index of the first NaN or infinity among the n values of an F32/F16 tensor, or -1. Checks the exponent bits
// directly, so a scan of the embeddings costs about one read of them.
long first_non_finite(const void* data, bool f16, size_t n) {
  if (f16) {
    const uint16_t* h = (const uint16_t*)data;
    for (size_t i = 0; i < n; i++)
      if ((h[i] & 0x7c00) == 0x7c00) return (long)i;
  } else {
    const uint32_t* w = (const uint32_t*)data;
    for (size_t i = 0; i < n; i++)
      if ((w[i] & 0x7f800000u) == 0x7f800000u) return (long)i;
  }
  return -1;
}

constexpr int MAX_CONTEXT = 1 << 20;  // tokens; the KV cache of a request is sized from it

}  // namespace

std::string Model::meta(const std::string& key) const {
  const GgufValue* v = file_->find_kv(key);
  if (!v) return "";
  if (v->type == GV_STRING) return v->str;
  if (v->type == GV_ARRAY) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v->num);
  return buf;
}

Model::Model(const std::string& path, const LoadOptions& opts) : Model(std::make_unique<GgufFile>(path), opts) {}

Model::Model(std::unique_ptr<GgufFile> file, const LoadOptions& opts) : file_(std::move(file)), opts_(opts) {
  const GgufFile& f = *file_;
  const std::string& path = f.path();
  const std::string arch = f.get_str("general.architecture");
  if (arch != "llama" && arch != "bitnet" && arch != "bitnet-b1.58")
    throw err(path, "key 'general.architecture' is \"" + arch + "\"; this runtime runs \"llama\" (the magnet export), \"bitnet\" and \"bitnet-b1.58\"");
  cfg_.arch = arch == "llama" ? Arch::Llama : Arch::Bitnet;
  cfg_.arch_name = arch;
  const std::string pre = arch + ".";  // every hyperparameter key is prefixed with the architecture's name
  const int per_layer = cfg_.arch == Arch::Bitnet ? 11 : 9;
  // Every number below is range-checked before its cast: an out-of-range double converted to int is undefined.
  auto key_what = [&](const std::string& key) { return "model " + path + ": key '" + key + "'"; };
  auto need_int = [&](const std::string& key, int lo, int hi) {
    return (int)whole_in_range(f.get_num(key), lo, hi, key_what(key));
  };
  auto opt_int = [&](const std::string& key, double def, int lo, int hi) {
    return (int)whole_in_range(f.get_num_or(key, def), lo, hi, key_what(key));
  };
  auto opt_float = [&](const std::string& key, double def, double lo, double hi) {
    return (float)finite_in_range(f.get_num_or(key, def), lo, hi, key_what(key));
  };
  cfg_.dim = need_int(pre + "embedding_length", 1, 1 << 30);
  cfg_.n_layer = need_int(pre + "block_count", 1, 1 << 30);
  // Each layer has 9 tensors (11 for bitnet): a count beyond what the file holds would only size a huge layer table.
  if ((size_t)cfg_.n_layer > f.tensors().size() / per_layer)
    throw err(path, "key '" + pre + "block_count' is " + std::to_string(cfg_.n_layer) + " but the file holds only " +
                        std::to_string(f.tensors().size()) + " tensors (" + std::to_string(per_layer) + " per layer)");
  cfg_.ffn = need_int(pre + "feed_forward_length", 1, 1 << 30);
  cfg_.n_head = need_int(pre + "attention.head_count", 1, 1 << 30);
  cfg_.n_kv = opt_int(pre + "attention.head_count_kv", cfg_.n_head, 1, 1 << 30);
  cfg_.n_ctx = need_int(pre + "context_length", 1, MAX_CONTEXT);
  cfg_.rope_base = opt_float(pre + "rope.freq_base", 10000.0, 1.0, 1e12);
  cfg_.eps = opt_float(pre + "attention.layer_norm_rms_epsilon", 1e-5, 0.0, 1.0);
  cfg_.bos = opt_int("tokenizer.ggml.bos_token_id", 256, 0, INT_MAX);
  cfg_.eos = opt_int("tokenizer.ggml.eos_token_id", 257, 0, INT_MAX);
  if (cfg_.dim % cfg_.n_head) throw err(path, pre + "embedding_length is not a multiple of " + pre + "attention.head_count");
  if (cfg_.n_head % cfg_.n_kv) throw err(path, pre + "attention.head_count is not a multiple of head_count_kv");
  cfg_.head_dim = cfg_.dim / cfg_.n_head;
  if (cfg_.head_dim % 2) throw err(path, "head dimension " + std::to_string(cfg_.head_dim) + " is odd (RoPE needs pairs)");
  if (cfg_.dim % QK || cfg_.ffn % QK)
    throw err(path, "embedding_length and feed_forward_length must be multiples of 256 (BitLinear input blocks)");
  if (opts.n_ctx > 0) cfg_.n_ctx = std::min(cfg_.n_ctx, opts.n_ctx);

  const GgufTensor* te = f.find("token_embd.weight");
  if (!te) throw err(path, "missing tensor 'token_embd.weight'");
  if (te->ne.size() != 2) throw err(path, "tensor 'token_embd.weight' must be 2-D, is " + shape_str(te->ne));
  if (te->ne[1] > INT_MAX) throw err(path, "tensor 'token_embd.weight' has too many rows " + shape_str(te->ne));
  cfg_.vocab = (int)te->ne[1];
  if (f.find_kv(pre + "vocab_size") && opt_int(pre + "vocab_size", 0, 0, INT_MAX) != cfg_.vocab)
    throw err(path, "key '" + pre + "vocab_size' (" + meta(pre + "vocab_size") + ") disagrees with tensor 'token_embd.weight' " +
                        shape_str(te->ne));
  if (cfg_.eos < 0 || cfg_.eos >= cfg_.vocab || cfg_.bos < 0 || cfg_.bos >= cfg_.vocab)
    throw err(path, "BOS/EOS token ids outside the vocabulary");
  embd_ = load_float("token_embd.weight", cfg_.dim, cfg_.vocab, true);
  head_ = load_float("output.weight", cfg_.dim, cfg_.vocab, false);
  tied_ = head_.data == nullptr;
  if (tied_) head_ = embd_;
  // The finite check read every embedding row; decoding touches only the rows of the tokens it sees, so give the
  // pages back (a tied head is read in full every token anyway).
  else file_->drop_pages((const uint8_t*)embd_.data, (size_t)cfg_.vocab * embd_.row_bytes);
  out_norm_ = load_norm("output_norm.weight", cfg_.dim);

  const int kvd = cfg_.n_kv * cfg_.head_dim;
  layers_.resize(cfg_.n_layer);
  for (int i = 0; i < cfg_.n_layer; i++) {
    const std::string p = "blk." + std::to_string(i) + ".";
    auto tern = [&](const std::string& n, int in, int out) {
      const GgufTensor* t = f.find(p + n + ".weight");
      if (!t) throw err(path, "missing tensor '" + p + n + ".weight'");
      if (!shape_is(*t, {(uint64_t)in, (uint64_t)out}))
        throw err(path, "tensor '" + t->name + "' has shape " + shape_str(t->ne) + ", expected [" + std::to_string(in) +
                            ", " + std::to_string(out) + "]");
      return t;
    };
    Layer& L = layers_[i];
    L.attn_norm = load_norm(p + "attn_norm.weight", cfg_.dim);
    L.ffn_norm = load_norm(p + "ffn_norm.weight", cfg_.dim);
    if (cfg_.arch == Arch::Bitnet) {
      L.attn_sub_norm = load_norm(p + "attn_sub_norm.weight", cfg_.dim);
      L.ffn_sub_norm = load_norm(p + "ffn_sub_norm.weight", cfg_.ffn);
    }
    load_ternary(L.qkv, {tern("attn_q", cfg_.dim, cfg_.dim), tern("attn_k", cfg_.dim, kvd), tern("attn_v", cfg_.dim, kvd)}, cfg_.dim);
    load_ternary(L.wo, {tern("attn_output", cfg_.dim, cfg_.dim)}, cfg_.dim);
    load_ternary(L.gate_up, {tern("ffn_gate", cfg_.dim, cfg_.ffn), tern("ffn_up", cfg_.dim, cfg_.ffn)}, cfg_.dim);
    load_ternary(L.down, {tern("ffn_down", cfg_.ffn, cfg_.dim)}, cfg_.ffn);
  }

  // A head stored in a block format (Q6_K, Q8_0, Q4_0) or BF16 is repacked once to int8 rows, which the head
  // kernels read directly; F32 and F16 heads are used as stored unless int8 was asked for.
  if (opts.head_int8 || !head_.direct()) build_int8_head();
}

void Model::build_int8_head() {
  // Per-row absmax int8: logit = dot_i8(row, xq) * (amax/127) / s_x.
  head_i8_.resize((size_t)cfg_.vocab * cfg_.dim);
  head_i8_scale_.resize(cfg_.vocab);
  std::vector<float> row(cfg_.dim);
  for (int r = 0; r < cfg_.vocab; r++) {
    head_.row(r, row.data());
    float amax = 0;
    for (int c = 0; c < cfg_.dim; c++) amax = std::fmax(amax, std::fabs(row[c]));
    const float s = amax > 0 ? 127.0f / amax : 0.0f;
    // A row of tiny subnormals makes 127/amax overflow to inf; divide by amax instead, so the cast below
    // always sees a value in [-127, 127] (a float out of int8 range cast to int8 is undefined).
    const bool inf_scale = !std::isfinite(s);
    for (int c = 0; c < cfg_.dim; c++) {
      const float q = std::nearbyint(inf_scale ? row[c] / amax * 127.0f : row[c] * s);
      head_i8_[(size_t)r * cfg_.dim + c] = (int8_t)std::fmin(127.0f, std::fmax(-127.0f, q));
    }
    head_i8_scale_[r] = amax / 127.0f;
  }
  // The int8 rows now serve the head, and for a tied head the embedding lookups too: the mapped copy goes.
  file_->drop_pages((const uint8_t*)head_.data, (size_t)cfg_.vocab * head_.row_bytes);
}

void FloatTensor::row(int r, float* out) const {
  decode_float_row(type, (const uint8_t*)data + (size_t)r * row_bytes, cols, out);
}

void Model::embedding_row(int token, float* out) const {
  if (tied_ && !head_i8_.empty()) {
    const int8_t* q = &head_i8_[(size_t)token * cfg_.dim];
    const float s = head_i8_scale_[token];
    for (int i = 0; i < cfg_.dim; i++) out[i] = q[i] * s;
    return;
  }
  embd_.row(token, out);
}

Model::~Model() = default;

std::vector<float> Model::load_norm(const std::string& name, int n) {
  FloatTensor t = load_float(name, n, 1, true);
  std::vector<float> v(n);
  for (int i = 0; i < n; i++) v[i] = t.at(i);
  return v;
}

FloatTensor Model::load_float(const std::string& name, int cols, int rows, bool required) {
  FloatTensor out;
  const GgufTensor* t = file_->find(name);
  if (!t) {
    if (required) throw err(file_->path(), "missing tensor '" + name + "'");
    return out;
  }
  const bool shape_ok = rows == 1 ? shape_is(*t, {(uint64_t)cols}) : shape_is(*t, {(uint64_t)cols, (uint64_t)rows});
  if (!shape_ok)
    throw err(file_->path(), "tensor '" + name + "' has shape " + shape_str(t->ne) + ", expected [" + std::to_string(cols) +
                                 (rows == 1 ? "" : ", " + std::to_string(rows)) + "]");
  // Norms are read element by element: F32 or F16 only. Embeddings and the head may use any float format.
  const bool matrix = rows > 1;
  if (matrix ? !is_float_format(t->type) : (t->type != GGML_F32 && t->type != GGML_F16))
    throw err(file_->path(), "tensor '" + name + "' has type " + ggml_type_name(t->type) + ", expected " +
                                 (matrix ? "F32, F16, BF16, Q8_0, Q4_0 or Q6_K" : "F32 or F16"));
  out.data = t->data;
  out.type = t->type;
  out.f16 = t->type == GGML_F16;
  out.rows = rows;
  out.cols = cols;
  out.row_bytes = float_row_bytes(t->type, (uint64_t)cols);
  // Float tensors are used as stored: one NaN or infinity in a norm, an embedding row or the head would turn
  // every logit it touches into NaN, so such a file is refused here, naming the tensor.
  long bad = -1;
  if (out.direct()) {
    bad = first_non_finite(out.data, out.f16, (size_t)rows * cols);
  } else {
    std::vector<float> row(cols);
    for (int r = 0; r < rows && bad < 0; r++) {
      out.row(r, row.data());
      for (int c = 0; c < cols; c++)
        if (!std::isfinite(row[c])) {
          bad = (long)r * cols + c;
          break;
        }
    }
  }
  if (bad >= 0)
    throw err(file_->path(), "tensor '" + name + "' holds a non-finite value (NaN or infinity) at element " + std::to_string(bad));
  return out;
}

void Model::load_ternary(TernaryMatrix& m, const std::vector<const GgufTensor*>& parts, int K) {
  int rows = 0;
  for (auto* t : parts) rows += (int)t->ne[1];
  m.rows = rows;
  m.K = K;
  m.row_bytes = (size_t)K / 4;
  void* mem = nullptr;
  if (posix_memalign(&mem, 64, m.row_bytes * rows + 64) != 0) throw std::runtime_error("out of memory repacking weights");
  allocations_.emplace_back(mem);
  m.data = (uint8_t*)mem;
  m.row_scale.resize(rows);
  ternary_bytes_ += m.row_bytes * rows;
  int r0 = 0;
  int8_t w[QK];
  for (auto* t : parts) {
    if (t->type != GGML_TQ2_0 && t->type != GGML_TQ1_0 && t->type != GGML_I2_S)
      throw err(file_->path(), "tensor '" + t->name + "' has type " + ggml_type_name(t->type) +
                                   "; BitLinear weights must be ternary TQ2_0, TQ1_0 or I2_S");
    if (ternary_type_.empty()) ternary_type_ = ggml_type_name(t->type);
    if (t->type == GGML_I2_S) {
      r0 += load_i2_s(*t, K, m, r0, w);
      continue;
    }
    const int nb = K / QK, n = (int)t->ne[1];
    const size_t bsz = t->type == GGML_TQ2_0 ? sizeof(block_tq2_0) : sizeof(block_tq1_0);
    uint16_t d0 = 0;
    for (int r = 0; r < n; r++) {
      for (int b = 0; b < nb; b++) {
        const uint8_t* src = t->data + ((size_t)r * nb + b) * bsz;
        bool ok;
        uint16_t d;
        if (t->type == GGML_TQ2_0) {
          block_tq2_0 blk;
          std::memcpy(&blk, src, sizeof blk);
          ok = unpack_tq2_0(blk, w);
          d = blk.d;
        } else {
          block_tq1_0 blk;
          std::memcpy(&blk, src, sizeof blk);
          ok = unpack_tq1_0(blk, w);
          d = blk.d;
        }
        if (!ok)
          throw err(file_->path(), "tensor '" + t->name + "' holds a non-ternary value in row " + std::to_string(r) +
                                       ", block " + std::to_string(b));
        if (r == 0 && b == 0) d0 = d;
        if (d != d0)
          throw err(file_->path(), "tensor '" + t->name + "': block scales differ (row " + std::to_string(r) + ", block " +
                                       std::to_string(b) + "); the contract stores one absmean scale per tensor");
        pack_kernel_block(w, m.data + (size_t)(r0 + r) * m.row_bytes + (size_t)b * QK_BYTES);
      }
    }
    const float scale = fp16_to_fp32(d0);
    if (!std::isfinite(scale)) throw err(file_->path(), "tensor '" + t->name + "' has a non-finite scale");
    for (int r = 0; r < n; r++) m.row_scale[r0 + r] = scale;
    r0 += n;
    file_->drop_pages(t->data, t->nbytes);  // repacked: the mapped copy is no longer needed in memory
  }
}

// bitnet.cpp's I2_S (its x86 layout): blocks of 128 weights in 32 bytes, weight j of a block in byte j % 32 at bits
// 6 - 2 * (j / 32), coded 0, 1, 2 for -1, 0, +1; one float scale for the whole tensor after its n / 4 packed bytes.
int Model::load_i2_s(const GgufTensor& t, int K, TernaryMatrix& m, int r0, int8_t* w) {
  const int n = (int)t.ne[1];
  float scale;
  std::memcpy(&scale, t.data + (size_t)(t.nelements() / 4), sizeof scale);
  if (!std::isfinite(scale) || scale <= 0.0f)
    throw err(file_->path(), "tensor '" + t.name + "' (I2_S) has scale " + std::to_string(scale) +
                                 " after its data; expected a finite positive number");
  for (int r = 0; r < n; r++) {
    const uint8_t* row = t.data + (size_t)r * K / 4;
    for (int b = 0; b < K / QK; b++) {
      for (int j = 0; j < QK; j++) {
        const int e = b * QK + j, jj = e % 128;
        const int code = (row[(e / 128) * 32 + jj % 32] >> (6 - 2 * (jj / 32))) & 3;
        if (code == 3)
          throw err(file_->path(), "tensor '" + t.name + "' holds a non-ternary value (I2_S code 3) in row " + std::to_string(r));
        w[j] = (int8_t)(code - 1);
      }
      pack_kernel_block(w, m.data + (size_t)(r0 + r) * m.row_bytes + (size_t)b * QK_BYTES);
    }
  }
  for (int r = 0; r < n; r++) m.row_scale[r0 + r] = scale;
  file_->drop_pages(t.data, t.nbytes);
  return n;
}

size_t Model::head_bytes() const {
  if (!head_i8_.empty()) return head_i8_.size() + head_i8_scale_.size() * 4;
  return (size_t)cfg_.vocab * head_.row_bytes;
}

size_t Model::bytes_per_token() const {
  return ternary_bytes_ + head_bytes() + (size_t)cfg_.n_layer * cfg_.dim * 2 * 4;
}

}  // namespace magnet
