// The GGUF fuzz seed corpus, built deterministically in code (no binary files in git): two small valid ternary
// models and broken variants of them, at least one per guard of the reader and loader (truncations, huge counts
// and lengths, unknown types, overflowing shapes and offsets, out-of-range metadata, non-finite float tensors).
// make_seeds writes them into the fuzzer's corpus directory; test_gguf_corpus loads every one of them.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../src/runtime/gguf.h"
#include "../src/runtime/gguf_writer.h"
#include "../src/runtime/ternary_format.h"

namespace magnet {
namespace seeds {

struct Seed {
  std::string name;
  std::vector<uint8_t> bytes;
  bool loads;  // whether the model loader accepts it
};

// The smallest shape the loader accepts: dim and ffn are one 256-weight block wide; 128 heads of 2 with one KV
// head keep attn_k/attn_v at 2 rows. About 85 KB (TQ2_0) / 70 KB (TQ1_0) with a vocabulary of 8.
struct Tiny {
  std::string type = "tq2_0";
  bool tied = false, f32_embd = false;
  int heads = 128, kv = 1, layers = 1, vocab = 8;
  // Metadata faults: a key listed here is written by this function instead (writing nothing drops it).
  std::map<std::string, std::function<void(GgufWriter&)>> replace_kv;
  std::function<void(GgufWriter&)> extra_kv;  // appended after the standard keys
  // Tensor faults: shape / type written in the tensor info (the data size stays that of the true shape).
  std::map<std::string, std::vector<uint64_t>> ne;
  std::map<std::string, uint32_t> gtype;
  std::string poison;     // a float tensor whose element 3 becomes `poison_value`
  float poison_value = NAN;
};

inline std::vector<uint8_t> tiny_model(const Tiny& T) {
  const int dim = 256, ffn = 256, hd = dim / T.heads, kvd = T.kv * hd;
  GgufWriter w;
  auto kv = [&](const std::string& k, std::function<void()> write) {
    auto it = T.replace_kv.find(k);
    if (it != T.replace_kv.end()) it->second(w);
    else write();
  };
  kv("general.architecture", [&] { w.add_str("general.architecture", "llama"); });
  kv("general.alignment", [&] { w.add_u32("general.alignment", 32); });
  kv("llama.context_length", [&] { w.add_u32("llama.context_length", 64); });
  kv("llama.embedding_length", [&] { w.add_u32("llama.embedding_length", dim); });
  kv("llama.block_count", [&] { w.add_u32("llama.block_count", T.layers); });
  kv("llama.feed_forward_length", [&] { w.add_u32("llama.feed_forward_length", ffn); });
  kv("llama.attention.head_count", [&] { w.add_u32("llama.attention.head_count", T.heads); });
  kv("llama.attention.head_count_kv", [&] { w.add_u32("llama.attention.head_count_kv", T.kv); });
  kv("llama.rope.freq_base", [&] { w.add_f32("llama.rope.freq_base", 10000.0f); });
  kv("llama.attention.layer_norm_rms_epsilon", [&] { w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f); });
  kv("llama.vocab_size", [&] { w.add_u32("llama.vocab_size", T.vocab); });
  kv("magnet.round", [&] { w.add_u32("magnet.round", 7); });
  std::vector<std::string> toks;
  for (int i = 0; i < T.vocab; i++) toks.push_back("<t" + std::to_string(i) + ">");
  kv("tokenizer.ggml.tokens", [&] { w.add_arr_str("tokenizer.ggml.tokens", toks); });
  kv("tokenizer.ggml.scores", [&] { w.add_arr_f32("tokenizer.ggml.scores", std::vector<float>(T.vocab, 0.0f)); });
  kv("tokenizer.ggml.token_type", [&] { w.add_arr_i32("tokenizer.ggml.token_type", std::vector<int32_t>(T.vocab, 1)); });
  kv("tokenizer.ggml.bos_token_id", [&] { w.add_u32("tokenizer.ggml.bos_token_id", 1); });
  kv("tokenizer.ggml.eos_token_id", [&] { w.add_u32("tokenizer.ggml.eos_token_id", 2); });
  if (T.extra_kv) T.extra_kv(w);

  auto shape = [&](const std::string& n, std::vector<uint64_t> def) {
    auto it = T.ne.find(n);
    return it == T.ne.end() ? def : it->second;
  };
  auto type_of = [&](const std::string& n, uint32_t def) {
    auto it = T.gtype.find(n);
    return it == T.gtype.end() ? def : it->second;
  };
  auto floats = [&](const std::string& n, int cols, int rows, bool f16, uint64_t seed) {
    const size_t count = (size_t)cols * rows;
    const bool poisoned = T.poison == n;
    const float pv = T.poison_value;
    w.add_tensor(n, shape(n, rows == 1 ? std::vector<uint64_t>{(uint64_t)cols} : std::vector<uint64_t>{(uint64_t)cols, (uint64_t)rows}),
                 type_of(n, f16 ? GGML_F16 : GGML_F32), count * (f16 ? 2 : 4), [=](uint8_t* p) {
                   std::mt19937 rng((uint32_t)seed);
                   for (size_t i = 0; i < count; i++) {
                     float v = rows == 1 ? 1.0f + (float)(rng() % 64) / 256.0f : ((float)(rng() % 2001) - 1000.0f) / 1000.0f;
                     if (poisoned && i == 3) v = pv;
                     if (f16) ((uint16_t*)p)[i] = fp32_to_fp16(v);
                     else std::memcpy(p + 4 * i, &v, 4);
                   }
                 });
  };
  const bool tq2 = T.type == "tq2_0";
  auto tern = [&](const std::string& n, int in, int out, uint64_t seed) {
    const size_t nb = (size_t)in / 256 * out, bsz = tq2 ? 66 : 54;
    w.add_tensor(n, shape(n, {(uint64_t)in, (uint64_t)out}), type_of(n, tq2 ? GGML_TQ2_0 : GGML_TQ1_0), nb * bsz, [=](uint8_t* p) {
      std::mt19937 rng((uint32_t)seed);
      const uint16_t d = fp32_to_fp16(0.05f);
      int8_t v[256];
      for (size_t b = 0; b < nb; b++) {
        for (int i = 0; i < 256; i++) v[i] = (int8_t)((int)(rng() % 3) - 1);
        if (tq2) pack_tq2_0(v, d, (block_tq2_0*)(p + b * bsz));
        else pack_tq1_0(v, d, (block_tq1_0*)(p + b * bsz));
      }
    });
  };
  floats("token_embd.weight", dim, T.vocab, !T.f32_embd, 1);
  for (int l = 0; l < T.layers; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const uint64_t s = 10 + 16 * l;
    floats(p + "attn_norm.weight", dim, 1, false, s);
    tern(p + "attn_q.weight", dim, dim, s + 1);
    tern(p + "attn_k.weight", dim, kvd, s + 2);
    tern(p + "attn_v.weight", dim, kvd, s + 3);
    tern(p + "attn_output.weight", dim, dim, s + 4);
    floats(p + "ffn_norm.weight", dim, 1, false, s + 5);
    tern(p + "ffn_gate.weight", dim, ffn, s + 6);
    tern(p + "ffn_up.weight", dim, ffn, s + 7);
    tern(p + "ffn_down.weight", ffn, dim, s + 8);
  }
  floats("output_norm.weight", dim, 1, false, 2);
  if (!T.tied) floats("output.weight", dim, T.vocab, true, 3);
  return w.bytes();
}

// Byte surgery on a built image, for faults the writer cannot express.
inline void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
inline void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
inline void put_u16(std::vector<uint8_t>& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); }
// Offset of the tensor info of `name` (the byte after its name), found by searching for length + name.
inline size_t tensor_info_at(const std::vector<uint8_t>& b, const std::string& name) {
  std::vector<uint8_t> pat(8);
  const uint64_t n = name.size();
  std::memcpy(pat.data(), &n, 8);
  pat.insert(pat.end(), name.begin(), name.end());
  size_t last = 0;  // the tensor info comes after any key that might hold the same bytes
  for (size_t i = 0; i + pat.size() <= b.size(); i++)
    if (std::memcmp(b.data() + i, pat.data(), pat.size()) == 0) last = i + pat.size();
  return last;
}
inline std::vector<uint8_t> raw(std::initializer_list<uint64_t> u64s, uint32_t first_u32) {
  std::vector<uint8_t> v(4);
  std::memcpy(v.data(), &first_u32, 4);
  for (uint64_t x : u64s) {
    const size_t at = v.size();
    v.resize(at + 8);
    std::memcpy(v.data() + at, &x, 8);
  }
  return v;
}

inline std::vector<Seed> all() {
  std::vector<Seed> out;
  auto add = [&](const std::string& name, std::vector<uint8_t> b, bool loads) { out.push_back({name, std::move(b), loads}); };
  auto with = [&](std::function<void(Tiny&)> f) {
    Tiny t;
    f(t);
    return tiny_model(t);
  };
  auto drop = [](GgufWriter&) {};

  // Valid models.
  const std::vector<uint8_t> good = tiny_model(Tiny{});
  add("valid-tq2", good, true);
  add("valid-tq1-tied-f32", with([](Tiny& t) { t.type = "tq1_0", t.tied = true, t.f32_embd = true, t.heads = 2; }), true);

  // Truncations: in the header, in the key/values, in the tensor infos, in the data.
  for (size_t n : {(size_t)16, (size_t)200, (size_t)1500, good.size() / 2, good.size() - 1}) {
    std::vector<uint8_t> b(good.begin(), good.begin() + std::min(n, good.size()));
    add("truncated-" + std::to_string(n), b, false);
  }
  // Header counts and lengths far beyond the file.
  {
    std::vector<uint8_t> b = good;
    put_u64(b, 8, 1ull << 62);  // tensor count
    add("huge-tensor-count", b, false);
    b = good;
    put_u64(b, 16, 99999);  // key count within the cap, but the keys are not there
    add("many-keys-missing", b, false);
    b = good;
    put_u64(b, 24, 1ull << 40);  // length of the first key
    add("huge-key-length", b, false);
    b = good;
    b[4] = 9;  // version
    add("bad-version", b, false);
    b = good;
    b[0] = 'X';
    add("bad-magic", b, false);
  }
  add("huge-array", with([](Tiny& t) { t.extra_kv = [](GgufWriter& w) { w.add_raw("x.arr", GV_ARRAY, raw({1ull << 61}, GV_U32)); }; }), false);
  add("huge-string-array", with([](Tiny& t) { t.extra_kv = [](GgufWriter& w) { w.add_raw("x.arr", GV_ARRAY, raw({1ull << 60}, GV_STRING)); }; }), false);
  add("nested-array", with([](Tiny& t) { t.extra_kv = [](GgufWriter& w) { w.add_raw("x.arr", GV_ARRAY, raw({1}, GV_ARRAY)); }; }), false);
  add("bad-value-type", with([](Tiny& t) { t.extra_kv = [](GgufWriter& w) { w.add_raw("x.bad", 99, {1, 2, 3, 4}); }; }), false);
  add("duplicate-key", with([](Tiny& t) { t.extra_kv = [](GgufWriter& w) { w.add_u32("llama.block_count", 1); }; }), false);
  // Out-of-range metadata: each would be undefined behaviour if cast unchecked.
  add("ctx-f64-huge", with([](Tiny& t) { t.replace_kv["llama.context_length"] = [](GgufWriter& w) { w.add_f64("llama.context_length", 1e300); }; }), false);
  add("ctx-f64-nan", with([](Tiny& t) { t.replace_kv["llama.context_length"] = [](GgufWriter& w) { w.add_f64("llama.context_length", NAN); }; }), false);
  add("bos-f64-negative-huge", with([](Tiny& t) { t.replace_kv["tokenizer.ggml.bos_token_id"] = [](GgufWriter& w) { w.add_f64("tokenizer.ggml.bos_token_id", -1e19); }; }), false);
  add("eos-u64-max", with([](Tiny& t) { t.replace_kv["tokenizer.ggml.eos_token_id"] = [](GgufWriter& w) { w.add_u64("tokenizer.ggml.eos_token_id", ~0ull); }; }), false);
  add("vocab-size-f64-huge", with([](Tiny& t) { t.replace_kv["llama.vocab_size"] = [](GgufWriter& w) { w.add_f64("llama.vocab_size", 4294967304.0); }; }), false);
  add("alignment-u64-huge", with([](Tiny& t) { t.replace_kv["general.alignment"] = [](GgufWriter& w) { w.add_u64("general.alignment", 1ull << 63); }; }), false);
  add("alignment-3", with([](Tiny& t) { t.replace_kv["general.alignment"] = [](GgufWriter& w) { w.add_u32("general.alignment", 3); }; }), false);
  add("rope-nan", with([](Tiny& t) { t.replace_kv["llama.rope.freq_base"] = [](GgufWriter& w) { w.add_f32("llama.rope.freq_base", NAN); }; }), false);
  add("eps-inf", with([](Tiny& t) { t.replace_kv["llama.attention.layer_norm_rms_epsilon"] = [](GgufWriter& w) { w.add_f64("llama.attention.layer_norm_rms_epsilon", INFINITY); }; }), false);
  add("block-count-huge", with([](Tiny& t) { t.replace_kv["llama.block_count"] = [](GgufWriter& w) { w.add_u32("llama.block_count", 1u << 30); }; }), false);
  add("no-context-length", with([&](Tiny& t) { t.replace_kv["llama.context_length"] = drop; }), false);
  add("arch-number", with([](Tiny& t) { t.replace_kv["general.architecture"] = [](GgufWriter& w) { w.add_u32("general.architecture", 1); }; }), false);
  // Tensor infos: overflowing shapes, unknown types, offsets and dimension counts out of range.
  add("dims-overflow-4d", with([](Tiny& t) { t.ne["output_norm.weight"] = {1ull << 32, 1ull << 32, 1ull << 32, 1ull << 32}; }), false);
  add("dims-overflow-2d-f32", with([](Tiny& t) { t.ne["blk.0.attn_norm.weight"] = {1ull << 32, 1ull << 30}; }), false);
  add("dims-wrap-to-int", with([](Tiny& t) { t.ne["output_norm.weight"] = {(1ull << 32) + 256}; }), false);
  add("dims-zero", with([](Tiny& t) { t.ne["output_norm.weight"] = {0}; }), false);
  add("embd-3d", with([](Tiny& t) { t.ne["token_embd.weight"] = {256, 8, 1}; }), false);
  add("ternary-type-q4k", with([](Tiny& t) { t.gtype["blk.0.attn_v.weight"] = 12; }), false);  // Q4_K: not ternary, not read
  add("tensor-type-huge", with([](Tiny& t) { t.gtype["blk.0.ffn_up.weight"] = 0xffffffffu; }), false);
  add("norm-as-f16", with([](Tiny& t) { t.gtype["output_norm.weight"] = GGML_F16; }), true);  // half the bytes: still a valid F16 norm
  add("norm-as-ternary", with([](Tiny& t) { t.gtype["output_norm.weight"] = GGML_TQ2_0; }), false);
  {
    std::vector<uint8_t> b = good;
    const size_t at = tensor_info_at(b, "output_norm.weight");
    put_u64(b, at + 4 + 8 + 4, 1ull << 63);  // data offset (1-D tensor: n_dims, ne[0], type, offset)
    add("offset-huge", b, false);
    b = good;
    put_u64(b, at + 4 + 8 + 4, 0xffffffffffffffe0ull);  // aligned, and data_start + offset wraps
    add("offset-wraps", b, false);
    b = good;
    put_u64(b, at + 4 + 8 + 4, 8);  // not a multiple of the alignment
    add("offset-unaligned", b, false);
    b = good;
    put_u32(b, at, 5);  // dimension count
    add("dims-count-5", b, false);
    b = good;
    put_u32(b, at, 0);
    add("dims-count-0", b, false);
  }
  // Non-finite float tensors: refused at load, naming the tensor.
  add("nan-output-norm", with([](Tiny& t) { t.poison = "output_norm.weight"; }), false);
  add("inf-attn-norm", with([](Tiny& t) { t.poison = "blk.0.attn_norm.weight", t.poison_value = INFINITY; }), false);
  add("nan-ffn-norm", with([](Tiny& t) { t.poison = "blk.0.ffn_norm.weight"; }), false);
  add("inf-embd-f16", with([](Tiny& t) { t.poison = "token_embd.weight", t.poison_value = -INFINITY; }), false);
  add("nan-embd-f32", with([](Tiny& t) { t.poison = "token_embd.weight", t.f32_embd = true; }), false);
  add("nan-head", with([](Tiny& t) { t.poison = "output.weight"; }), false);
  // A non-finite ternary scale: the fp16 d (last 2 bytes of each 66-byte TQ2_0 block) of both blocks of attn_k.
  {
    std::vector<uint8_t> b = good;
    size_t at;
    {
      GgufFile f(good.data(), good.size(), "seed");
      at = (size_t)(f.find("blk.0.attn_k.weight")->data - f.base());
    }
    for (size_t blk = 0; blk < 2; blk++) put_u16(b, at + blk * 66 + 64, 0x7c00);
    add("inf-ternary-scale", b, false);
  }
  return out;
}

}  // namespace seeds
}  // namespace magnet
