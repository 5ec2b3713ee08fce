// Random ternary llama GGUF models of a given shape (the trainer's export format), for tests and benchmarks:
// TQ2_0 or TQ1_0 BitLinear weights with one scale per tensor, F16 embeddings/head, F32 norms, byte tokenizer.
// `fault` makes a deliberately broken file for the loader's failure tests.
#pragma once
#include <cmath>
#include <random>
#include <string>

#include "../src/runtime/float_formats.h"
#include "../src/runtime/gguf_writer.h"
#include "../src/runtime/ternary_format.h"

namespace magnet {

struct RandomModelSpec {
  int dim = 256, layers = 4, heads = 4, kv = 2, ffn = 768, vocab = 258, ctx = 256;
  std::string type = "tq2_0", arch = "llama";  // type: tq2_0, tq1_0, i2_s; arch: llama, bitnet, bitnet-b1.58
  std::string embd_type = "f16";                // token_embd and output: f32, f16, bf16, q8_0, q4_0, q6_k
  bool tied = false;
  uint64_t seed = 1;
  // A GGUF whose tokenizer.* keys replace the byte tokenizer (the vocabulary size follows its token list).
  std::string vocab_from;
  // "", "non_ternary" (a code 3 in blk.0.ffn_up), "bad_shape" (blk.1.attn_k one row short),
  // "bad_type" (blk.0.attn_v stored as type 12, Q4_K), "mixed_scales" (blk.0.attn_q second row other scale),
  // "missing" (no blk.0.ffn_down), "truncate" (file cut inside the tensor data)
  std::string fault;
};

inline bool preset_spec(const std::string& p, RandomModelSpec& s) {
  if (p == "tiny") s.dim = 256, s.layers = 4, s.heads = 4, s.kv = 2, s.ffn = 768, s.vocab = 258, s.ctx = 256;
  else if (p == "small") s.dim = 512, s.layers = 8, s.heads = 8, s.kv = 4, s.ffn = 1536, s.vocab = 258, s.ctx = 512;
  else if (p == "2b4t") s.dim = 2560, s.layers = 30, s.heads = 20, s.kv = 5, s.ffn = 6912, s.vocab = 128256, s.ctx = 4096;
  else return false;
  return true;
}

// Copies every tokenizer.* key of `from` (strings, numbers, booleans and their arrays); returns the token count.
inline int copy_tokenizer(const std::string& from, GgufWriter& w) {
  GgufFile f(from);
  int tokens = 0;
  for (const auto& [k, v] : f.kv()) {
    if (k.rfind("tokenizer.", 0) != 0) continue;
    if (k == "tokenizer.ggml.tokens") tokens = (int)v.arr_len;
    if (v.type == GV_STRING) w.add_str(k, v.str);
    else if (v.type == GV_BOOL) w.add_raw(k, GV_BOOL, {(uint8_t)(v.num != 0)});
    else if (v.type == GV_ARRAY && v.arr_type == GV_STRING) w.add_arr_str(k, v.arr_str);
    else if (v.type == GV_ARRAY && v.arr_type == GV_F32) w.add_arr_f32(k, std::vector<float>(v.arr_num.begin(), v.arr_num.end()));
    else if (v.type == GV_ARRAY) w.add_arr_i32(k, std::vector<int32_t>(v.arr_num.begin(), v.arr_num.end()));
    else w.add_u32(k, (uint32_t)v.num);
  }
  if (tokens == 0) throw std::runtime_error(from + " has no tokenizer.ggml.tokens");
  return tokens;
}

inline void write_random_model(const RandomModelSpec& S, const std::string& out) {
  GgufWriter w;
  const int vocab = S.vocab_from.empty() ? S.vocab : copy_tokenizer(S.vocab_from, w);
  const int dim = S.dim, layers = S.layers, heads = S.heads, kv = S.kv, ffn = S.ffn, ctx = S.ctx;
  const uint64_t seed = S.seed;
  const bool tied = S.tied;
  const std::string type = S.type;
  const int hd = dim / heads;
  const std::string pre = S.arch + ".";
  w.add_str("general.architecture", S.arch);
  w.add_str("general.name", "magnet-random");
  w.add_u32("general.alignment", 32);
  w.add_u32(pre + "context_length", ctx);
  w.add_u32(pre + "embedding_length", dim);
  w.add_u32(pre + "block_count", layers);
  w.add_u32(pre + "feed_forward_length", ffn);
  w.add_u32(pre + "attention.head_count", heads);
  w.add_u32(pre + "attention.head_count_kv", kv);
  w.add_u32(pre + "rope.dimension_count", hd);
  w.add_f32(pre + "rope.freq_base", 10000.0f);
  w.add_f32(pre + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_u32(pre + "vocab_size", vocab);
  w.add_u32("magnet.round", 0);
  w.add_str("magnet.checkpoint_sha256", "random-seed-" + std::to_string(seed));
  w.add_str("magnet.weight_quant", "absmean-per-tensor");
  w.add_str("magnet.act_quant", "absmax-int8-per-token");
  if (S.vocab_from.empty()) {
    std::vector<std::string> toks;
    std::vector<int32_t> ttype;
    char buf[16];
    for (int i = 0; i < 256; i++) std::snprintf(buf, sizeof buf, "<0x%02X>", i), toks.push_back(buf), ttype.push_back(6);
    toks.push_back("<s>"), toks.push_back("</s>"), ttype.push_back(3), ttype.push_back(3);
    for (int i = 258; i < vocab; i++) toks.push_back("<pad_" + std::to_string(i - 258) + ">"), ttype.push_back(5);
    w.add_str("tokenizer.ggml.model", "llama");
    w.add_arr_str("tokenizer.ggml.tokens", toks);
    w.add_arr_f32("tokenizer.ggml.scores", std::vector<float>(vocab, 0.0f));
    w.add_arr_i32("tokenizer.ggml.token_type", ttype);
    w.add_u32("tokenizer.ggml.bos_token_id", 256);
    w.add_u32("tokenizer.ggml.eos_token_id", 257);
  }

  // A random N(0, sd) matrix of `rows` rows of `cols`, encoded as S.embd_type (llama.cpp's block layouts).
  auto float_matrix = [&](const std::string& name, int cols, int rows, float sd, uint64_t s) {
    const std::string& et = S.embd_type;
    const uint32_t gt = et == "f32" ? GGML_F32 : et == "bf16" ? GGML_BF16 : et == "q8_0" ? GGML_Q8_0 : et == "q4_0" ? GGML_Q4_0
                        : et == "q6_k" ? GGML_Q6_K : GGML_F16;
    const size_t row_bytes = float_row_bytes(gt, (uint64_t)cols);
    if (row_bytes == 0) throw std::runtime_error("row length " + std::to_string(cols) + " does not fit type " + et);
    w.add_tensor(name, {(uint64_t)cols, (uint64_t)rows}, gt, row_bytes * rows, [=](uint8_t* p) {
      std::mt19937_64 rng(s);
      std::normal_distribution<float> nd(0.0f, sd);
      std::vector<float> x(cols);
      for (int r = 0; r < rows; r++) {
        for (auto& v : x) v = nd(rng);
        encode_float_row(gt, x.data(), cols, p + (size_t)r * row_bytes);
      }
    });
  };
  auto norm = [&](const std::string& name, uint64_t s, int n = 0) {
    if (n == 0) n = dim;
    w.add_tensor(name, {(uint64_t)n}, GGML_F32, (size_t)n * 4, [=](uint8_t* p) {
      std::mt19937_64 rng(s);
      std::uniform_real_distribution<float> u(0.8f, 1.2f);
      for (int i = 0; i < n; i++) ((float*)p)[i] = u(rng);
    });
  };
  const bool tq2 = type == "tq2_0", i2s = type == "i2_s";
  auto tern = [&](const std::string& name, int in, int outd, uint64_t s) {
    if (S.fault == "missing" && name == "blk.0.ffn_down.weight") return;
    if (S.fault == "bad_shape" && name == "blk.1.attn_k.weight") outd -= 1;
    const size_t nb = (size_t)in / 256 * outd, bsz = tq2 ? 66 : 54;
    const uint32_t gtype = (S.fault == "bad_type" && name == "blk.0.attn_v.weight") ? 12u
                           : i2s ? GGML_I2_S : (tq2 ? GGML_TQ2_0 : GGML_TQ1_0);
    const size_t nbytes = gtype == 12u ? (size_t)in * outd / 4 : i2s ? (size_t)in * outd / 4 + 32 : nb * bsz;
    const bool bad_code = S.fault == "non_ternary" && name == "blk.0.ffn_up.weight";
    const bool mixed = S.fault == "mixed_scales" && name == "blk.0.attn_q.weight";
    w.add_tensor(name, {(uint64_t)in, (uint64_t)outd}, gtype, nbytes, [=](uint8_t* p) {
      std::mt19937_64 rng(s);
      // Scale like an absmean-quantized N(0, 1/sqrt(in)) init, so activations stay O(1) through the layers.
      const uint16_t d = fp32_to_fp16(0.8f / std::sqrt((float)in));
      int8_t v[256];
      for (size_t b = 0; b < nb; b++) {
        for (int i = 0; i < 256; i++) {
          uint64_t r = rng() % 8;  // about 1/2 zeros, like trained ternary weights
          v[i] = r < 2 ? -1 : r < 4 ? 1 : 0;
        }
        const uint16_t db = (mixed && b == (size_t)in / 256) ? (uint16_t)(d + 1) : d;
        if (gtype == 12u) continue;
        if (i2s) {  // bitnet.cpp's layout: 2 blocks of 128, byte j % 32 at bits 6 - 2 * (j / 32), code = value + 1
          for (int i = 0; i < 256; i++) {
            const int blk = i / 128, j = i % 128;
            p[b * 64 + blk * 32 + j % 32] |= (uint8_t)((v[i] + 1) << (6 - 2 * (j / 32)));
          }
          if (bad_code && b == 3) p[b * 64 + 5] |= 0x03;
          if (b + 1 == nb) {
            const float scale = fp16_to_fp32(d);
            std::memcpy(p + nb * 64, &scale, sizeof scale);
          }
          continue;
        }
        if (tq2) pack_tq2_0(v, db, (block_tq2_0*)(p + b * bsz));
        else pack_tq1_0(v, db, (block_tq1_0*)(p + b * bsz));
        if (bad_code && b == 3) p[b * bsz + 5] |= 0x0c;  // code 3 = not a ternary value
      }
    });
  };
  float_matrix("token_embd.weight", dim, vocab, 1.0f, seed * 1000 + 1);
  for (int l = 0; l < layers; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const uint64_t s = seed * 1000 + 10 + l * 16;
    norm(p + "attn_norm.weight", s);
    tern(p + "attn_q.weight", dim, dim, s + 1);
    tern(p + "attn_k.weight", dim, kv * hd, s + 2);
    tern(p + "attn_v.weight", dim, kv * hd, s + 3);
    tern(p + "attn_output.weight", dim, dim, s + 4);
    norm(p + "ffn_norm.weight", s + 5);
    if (S.arch != "llama") {  // bitnet: the sub-norms before the attention output and the FFN down projection
      norm(p + "attn_sub_norm.weight", s + 9);
      norm(p + "ffn_sub_norm.weight", s + 10, ffn);
    }
    tern(p + "ffn_gate.weight", dim, ffn, s + 6);
    tern(p + "ffn_up.weight", dim, ffn, s + 7);
    tern(p + "ffn_down.weight", ffn, dim, s + 8);
  }
  norm("output_norm.weight", seed * 1000 + 2);
  if (!tied) float_matrix("output.weight", dim, vocab, 1.0f / std::sqrt((float)dim), seed * 1000 + 3);
  size_t total = 0;
  (void)total;
  w.write(out, S.fault == "truncate" ? (size_t)(dim * vocab) : 0);
}

}  // namespace magnet
