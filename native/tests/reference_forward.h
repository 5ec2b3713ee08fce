// An independent, deliberately plain implementation of the contract's forward pass (test only): reads the GGUF
// directly, no kernel table, no repacking, no KV cache. The runtime must agree with it.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "../src/runtime/float_formats.h"
#include "../src/runtime/gguf.h"
#include "../src/runtime/ternary_format.h"

namespace magnet {

struct RefTernary {
  int in = 0, out = 0;
  std::vector<int8_t> w;  // out x in
  float scale = 0;
};

inline RefTernary ref_load_ternary(const GgufFile& f, const std::string& name) {
  const GgufTensor* t = f.find(name);
  RefTernary r;
  r.in = (int)t->ne[0], r.out = (int)t->ne[1];
  r.w.resize((size_t)r.in * r.out);
  if (t->type == GGML_I2_S) {  // 128 weights in 32 bytes: weight j at byte j % 32, bits 6 - 2 * (j / 32)
    for (size_t i = 0; i < r.w.size(); i++) {
      const size_t blk = i / 128, j = i % 128;
      r.w[i] = (int8_t)(((t->data[blk * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3) - 1);
    }
    std::memcpy(&r.scale, t->data + r.w.size() / 4, 4);
    return r;
  }
  const size_t nb = r.w.size() / 256;
  for (size_t b = 0; b < nb; b++) {
    if (t->type == GGML_TQ2_0) {
      block_tq2_0 blk;
      std::memcpy(&blk, t->data + b * sizeof blk, sizeof blk);
      unpack_tq2_0(blk, &r.w[b * 256]);
      r.scale = fp16_to_fp32(blk.d);
    } else {
      block_tq1_0 blk;
      std::memcpy(&blk, t->data + b * sizeof blk, sizeof blk);
      unpack_tq1_0(blk, &r.w[b * 256]);
      r.scale = fp16_to_fp32(blk.d);
    }
  }
  return r;
}

inline std::vector<float> ref_float(const GgufFile& f, const std::string& name) {
  const GgufTensor* t = f.find(name);
  std::vector<float> v(t->nelements());
  const int cols = (int)t->ne[0];
  const size_t row = float_row_bytes(t->type, cols);
  for (size_t r = 0; r < v.size() / cols; r++) decode_float_row(t->type, t->data + r * row, cols, &v[r * cols]);
  return v;
}

// y = (sum xq*w) * scale / s with per-token absmax int8 x: the contract's BitLinear.
inline std::vector<float> ref_bitlinear(const RefTernary& W, const std::vector<float>& x) {
  float amax = 0;
  for (float v : x) amax = std::fmax(amax, std::fabs(v));
  const float s = 127.0f / std::fmax(amax, 1e-5f);
  std::vector<int> xq(x.size());
  for (size_t i = 0; i < x.size(); i++) xq[i] = (int)std::fmin(127.f, std::fmax(-128.f, std::nearbyint(x[i] * s)));
  std::vector<float> y(W.out);
  for (int o = 0; o < W.out; o++) {
    long acc = 0;
    for (int i = 0; i < W.in; i++) acc += (long)xq[i] * W.w[(size_t)o * W.in + i];
    y[o] = (float)acc * W.scale / s;
  }
  return y;
}

inline std::vector<float> ref_rmsnorm(const std::vector<float>& x, const std::vector<float>& w, float eps) {
  double ss = 0;
  for (float v : x) ss += (double)v * v;
  const double r = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i++) y[i] = (float)(x[i] * r * w[i]);
  return y;
}

// Logits (vocab floats) for every position of `tokens`.
// kv_f16: round k and v through f16 like the runtime's default cache (isolates that one rounding).
inline std::vector<std::vector<float>> ref_forward(const GgufFile& f, const std::vector<int>& tokens, bool kv_f16 = false) {
  const std::string arch = f.get_str("general.architecture"), a = arch + ".";
  const bool bitnet = arch != "llama";  // ReLU² FFN and the two sub-norms
  const int D = (int)f.get_num(a + "embedding_length"), L = (int)f.get_num(a + "block_count");
  const int H = (int)f.get_num(a + "attention.head_count"), KV = (int)f.get_num(a + "attention.head_count_kv");
  const float eps = (float)f.get_num(a + "attention.layer_norm_rms_epsilon"), base = (float)f.get_num(a + "rope.freq_base");
  const int hd = D / H, T = (int)tokens.size();
  const std::vector<float> emb = ref_float(f, "token_embd.weight");
  const int V = (int)(emb.size() / D);
  std::vector<std::vector<float>> x(T, std::vector<float>(D));
  for (int t = 0; t < T; t++)
    for (int i = 0; i < D; i++) x[t][i] = emb[(size_t)tokens[t] * D + i];
  auto rope = [&](std::vector<float>& v, int nh, int pos) {
    for (int h = 0; h < nh; h++)
      for (int i = 0; i < hd / 2; i++) {
        const double a = pos * std::pow((double)base, -2.0 * i / hd);
        const float c = (float)std::cos(a), s = (float)std::sin(a);
        float& x0 = v[h * hd + 2 * i];
        float& x1 = v[h * hd + 2 * i + 1];
        const float a0 = x0, a1 = x1;
        x0 = a0 * c - a1 * s;
        x1 = a0 * s + a1 * c;
      }
  };
  for (int l = 0; l < L; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const auto an = ref_float(f, p + "attn_norm.weight"), fn = ref_float(f, p + "ffn_norm.weight");
    const auto Wq = ref_load_ternary(f, p + "attn_q.weight"), Wk = ref_load_ternary(f, p + "attn_k.weight");
    const auto Wv = ref_load_ternary(f, p + "attn_v.weight"), Wo = ref_load_ternary(f, p + "attn_output.weight");
    const auto Wg = ref_load_ternary(f, p + "ffn_gate.weight"), Wu = ref_load_ternary(f, p + "ffn_up.weight");
    const auto Wd = ref_load_ternary(f, p + "ffn_down.weight");
    std::vector<std::vector<float>> q(T), k(T), v(T);
    for (int t = 0; t < T; t++) {
      const auto n = ref_rmsnorm(x[t], an, eps);
      q[t] = ref_bitlinear(Wq, n), k[t] = ref_bitlinear(Wk, n), v[t] = ref_bitlinear(Wv, n);
      rope(q[t], H, t), rope(k[t], KV, t);
      if (kv_f16)
        for (size_t i = 0; i < k[t].size(); i++) k[t][i] = fp16_to_fp32(fp32_to_fp16(k[t][i])), v[t][i] = fp16_to_fp32(fp32_to_fp16(v[t][i]));
    }
    for (int t = 0; t < T; t++) {
      std::vector<float> att(D, 0.0f);
      for (int h = 0; h < H; h++) {
        const int kh = h / (H / KV);
        std::vector<double> sc(t + 1);
        double mx = -1e300, sum = 0;
        for (int p2 = 0; p2 <= t; p2++) {
          double d = 0;
          for (int i = 0; i < hd; i++) d += (double)q[t][h * hd + i] * k[p2][kh * hd + i];
          sc[p2] = d / std::sqrt((double)hd);
          mx = std::max(mx, sc[p2]);
        }
        for (auto& s : sc) sum += (s = std::exp(s - mx));
        for (int p2 = 0; p2 <= t; p2++)
          for (int i = 0; i < hd; i++) att[h * hd + i] += (float)(sc[p2] / sum * v[p2][kh * hd + i]);
      }
      if (bitnet) att = ref_rmsnorm(att, ref_float(f, p + "attn_sub_norm.weight"), eps);
      const auto o = ref_bitlinear(Wo, att);
      for (int i = 0; i < D; i++) x[t][i] += o[i];
      const auto n = ref_rmsnorm(x[t], fn, eps);
      const auto g = ref_bitlinear(Wg, n), u = ref_bitlinear(Wu, n);
      std::vector<float> h(g.size());
      for (size_t j = 0; j < g.size(); j++)
        h[j] = bitnet ? std::fmax(g[j], 0.0f) * std::fmax(g[j], 0.0f) * u[j] : g[j] / (1.0f + std::exp(-g[j])) * u[j];
      if (bitnet) h = ref_rmsnorm(h, ref_float(f, p + "ffn_sub_norm.weight"), eps);
      const auto dn = ref_bitlinear(Wd, h);
      for (int i = 0; i < D; i++) x[t][i] += dn[i];
    }
  }
  const auto on = ref_float(f, "output_norm.weight");
  const auto head = f.find("output.weight") ? ref_float(f, "output.weight") : emb;
  std::vector<std::vector<float>> logits(T, std::vector<float>(V));
  for (int t = 0; t < T; t++) {
    const auto n = ref_rmsnorm(x[t], on, eps);
    for (int r = 0; r < V; r++) {
      double a = 0;
      for (int i = 0; i < D; i++) a += (double)head[(size_t)r * D + i] * n[i];
      logits[t][r] = (float)a;
    }
  }
  return logits;
}

}  // namespace magnet
