#include "forward.h"

#include <algorithm>
#include <cmath>

#include "checked.h"

namespace magnet {

KvCache::KvCache(const ModelConfig& cfg, int n_ctx, KvType type)
    : n_ctx_(n_ctx), kvd_(cfg.n_kv * cfg.head_dim), hd_(cfg.head_dim), n_kv_(cfg.n_kv), type_(type) {
  const size_t n = (size_t)cfg.n_layer * n_ctx * kvd_;
  if (type == KvType::F32) {
    k32_.resize(n), v32_.resize(n);
  } else if (type == KvType::I8) {
    k8_.resize(n), v8_.resize(n);
    ks_.resize((size_t)cfg.n_layer * n_ctx * n_kv_), vs_.resize(ks_.size());
  } else {
    k16_.resize(n), v16_.resize(n);
  }
}

uint64_t KvCache::bytes_for(const ModelConfig& c, int n_ctx, KvType type) {
  const std::string what = "KV cache for context " + std::to_string(n_ctx);
  const uint64_t positions = checked_mul((uint64_t)c.n_layer, (uint64_t)n_ctx, what);
  const uint64_t elem = type == KvType::F32 ? 4 : type == KvType::I8 ? 1 : 2;
  uint64_t per_pos = checked_mul(checked_mul((uint64_t)c.n_kv, (uint64_t)c.head_dim, what), 2 * elem, what);  // k and v
  if (type == KvType::I8) per_pos = checked_add(per_pos, checked_mul((uint64_t)c.n_kv, 2 * 4, what), what);  // scales
  return checked_mul(positions, per_pos, what);
}

size_t KvCache::bytes() const { return k16_.size() * 4 + k8_.size() * 2 + ks_.size() * 8 + k32_.size() * 8; }

void KvCache::put(int layer, int pos, const float* k, const float* v) {
  const size_t o = at(layer, pos);
  if (type_ == KvType::F16) {
    for (int i = 0; i < kvd_; i++) k16_[o + i] = fp32_to_fp16(k[i]), v16_[o + i] = fp32_to_fp16(v[i]);
    return;
  }
  if (type_ == KvType::F32) {
    std::copy(k, k + kvd_, &k32_[o]), std::copy(v, v + kvd_, &v32_[o]);
    return;
  }
  for (int h = 0; h < n_kv_; h++) {  // absmax int8 per head vector
    for (int which = 0; which < 2; which++) {
      const float* src = (which ? v : k) + h * hd_;
      float amax = 0;
      for (int i = 0; i < hd_; i++) amax = std::fmax(amax, std::fabs(src[i]));
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      int8_t* dst = (which ? v8_.data() : k8_.data()) + o + h * hd_;
      for (int i = 0; i < hd_; i++) dst[i] = (int8_t)std::nearbyint(src[i] * inv);
      (which ? vs_ : ks_)[((size_t)layer * n_ctx_ + pos) * n_kv_ + h] = amax / 127.0f;
    }
  }
}

void KvCache::get_k(int layer, int pos, int h, float* out) const {
  const size_t o = at(layer, pos) + (size_t)h * hd_;
  if (type_ == KvType::F16) {
    for (int i = 0; i < hd_; i++) out[i] = fp16_to_fp32(k16_[o + i]);
    return;
  }
  if (type_ == KvType::F32) {
    std::copy(&k32_[o], &k32_[o] + hd_, out);
    return;
  }
  const float s = ks_[((size_t)layer * n_ctx_ + pos) * n_kv_ + h];
  for (int i = 0; i < hd_; i++) out[i] = k8_[o + i] * s;
}

void KvCache::get_v(int layer, int pos, int h, float* out) const {
  const size_t o = at(layer, pos) + (size_t)h * hd_;
  if (type_ == KvType::F16) {
    for (int i = 0; i < hd_; i++) out[i] = fp16_to_fp32(v16_[o + i]);
    return;
  }
  if (type_ == KvType::F32) {
    std::copy(&v32_[o], &v32_[o] + hd_, out);
    return;
  }
  const float s = vs_[((size_t)layer * n_ctx_ + pos) * n_kv_ + h];
  for (int i = 0; i < hd_; i++) out[i] = v8_[o + i] * s;
}

Scratch::Scratch(const ModelConfig& c, int mb, int n_threads) : max_batch(mb) {
  const int kvd = c.n_kv * c.head_dim, mk = std::max(c.dim, c.ffn);
  x.resize((size_t)mb * c.dim), xn.resize(x.size()), att.resize(x.size());
  qkv.resize((size_t)mb * (c.dim + 2 * kvd));
  gu.resize((size_t)mb * 2 * c.ffn), hid.resize((size_t)mb * c.ffn);
  s.resize(mb), xsum.resize(mb);
  xq.resize((size_t)mb * mk);
  acc.resize((size_t)mb * std::max(c.dim + 2 * kvd, 2 * c.ffn));
  inv_freq.resize(c.head_dim / 2);
  for (int i = 0; i < c.head_dim / 2; i++) inv_freq[i] = 1.0f / std::pow(c.rope_base, (2.0f * i) / c.head_dim);
  per_thread.assign(n_threads, std::vector<float>(c.n_ctx + 2 * c.head_dim));
}

namespace {

// Runs f on the pool only when the work is big enough to repay a wake-up and a barrier (a few microseconds,
// far more when the cores are shared); small models and short rows stay on the calling thread.
template <class F>
void par(ThreadPool& pool, size_t work, F&& f) {
  if (work < ((size_t)1 << 18) || pool.size() == 1) f(0, 1);
  else pool.run(f);
}

void rmsnorm(const float* x, const float* w, int n, float eps, float* out) {
  double ss = 0;
  for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
  const float r = 1.0f / std::sqrt((float)(ss / n) + eps);
  for (int i = 0; i < n; i++) out[i] = x[i] * r * w[i];
}

// Quantizes n rows of length K (row stride K) for the next BitLinear, in parallel over rows.
void quantize_rows(const KernelTable& k, ThreadPool& pool, Scratch& sc, const float* in, int n, int K) {
  par(pool, (size_t)n * K * 4, [&](int ith, int nth) {
    int b, e;
    split_range(n, ith, nth, 1, &b, &e);
    for (int t = b; t < e; t++) sc.s[t] = k.quantize_i8(in + (size_t)t * K, K, sc.xq.data() + (size_t)t * K, &sc.xsum[t]);
  });
}

constexpr int TOKEN_BLOCK = 32;  // 32 x K activation bytes: 216 KB at K = 6912, within a core's L2

// out[t][r] (+)= (int32 dot) * row_scale[r] / s[t]: the one float epilogue of the contract.
void bitlinear(const KernelTable& k, ThreadPool& pool, Scratch& sc, const TernaryMatrix& W, int n, float* out, bool add) {
  par(pool, (size_t)W.rows * W.K / 4 * n, [&](int ith, int nth) {
    int r0, r1;
    split_range(W.rows, ith, nth, 16, &r0, &r1);
    if (r1 <= r0) return;
    int32_t* acc = sc.acc.data();
    // Token blocks: a block's activations (TOKEN_BLOCK x K bytes) stay in cache while this thread's rows stream
    // past once per block. Without it a prefill re-reads every token's activations for each group of rows, n times
    // the weight bytes.
    for (int t0 = 0; t0 < n; t0 += TOKEN_BLOCK)
      k.ternary_gemm(W.data + (size_t)r0 * W.row_bytes, W.row_bytes, r1 - r0, W.K, sc.xq.data() + (size_t)t0 * W.K,
                     sc.xsum.data() + t0, std::min(TOKEN_BLOCK, n - t0), acc + (size_t)t0 * W.rows + r0, W.rows);
    for (int t = 0; t < n; t++) {
      float* o = out + (size_t)t * W.rows;
      const int32_t* a = acc + (size_t)t * W.rows;
      for (int r = r0; r < r1; r++) {
        const float y = (float)a[r] * W.row_scale[r] / sc.s[t];
        o[r] = add ? o[r] + y : y;
      }
    }
  });
}

void rope(float* v, int n_heads, int hd, int pos, const float* inv_freq) {
  for (int i = 0; i < hd / 2; i++) {
    const float a = (float)pos * inv_freq[i], c = std::cos(a), s = std::sin(a);
    for (int h = 0; h < n_heads; h++) {
      float* p = v + h * hd + 2 * i;
      const float x0 = p[0], x1 = p[1];
      p[0] = x0 * c - x1 * s;
      p[1] = x0 * s + x1 * c;
    }
  }
}

}  // namespace

void forward(const Model& m, const KernelTable& k, ThreadPool& pool, Scratch& sc, const BatchItem* items, int n) {
  const ModelConfig& c = m.config();
  const int D = c.dim, hd = c.head_dim, kvd = c.n_kv * hd, QKV = D + 2 * kvd, F = c.ffn;
  const float scale = 1.0f / std::sqrt((float)hd);
  const bool bitnet = c.arch == Arch::Bitnet;
  for (int t = 0; t < n; t++) m.embedding_row(items[t].token, &sc.x[(size_t)t * D]);

  for (int l = 0; l < c.n_layer; l++) {
    const Layer& L = m.layers()[l];
    for (int t = 0; t < n; t++) rmsnorm(&sc.x[(size_t)t * D], L.attn_norm.data(), D, c.eps, &sc.xn[(size_t)t * D]);
    quantize_rows(k, pool, sc, sc.xn.data(), n, D);  // q, k and v share one quantized input
    bitlinear(k, pool, sc, L.qkv, n, sc.qkv.data(), false);
    for (int t = 0; t < n; t++) {
      float* q = &sc.qkv[(size_t)t * QKV];
      rope(q, c.n_head, hd, items[t].pos, sc.inv_freq.data());
      rope(q + D, c.n_kv, hd, items[t].pos, sc.inv_freq.data());
      items[t].cache->put(l, items[t].pos, q + D, q + D + kvd);
    }
    size_t att_work = 0;
    for (int t = 0; t < n; t++) att_work += (size_t)(items[t].pos + 1) * kvd * 4;
    par(pool, att_work, [&](int ith, int nth) {  // attention, parallel over (item, head)
      int b, e;
      split_range(n * c.n_head, ith, nth, 1, &b, &e);
      float* scores = sc.per_thread[ith].data();
      float* tmp = scores + c.n_ctx;
      for (int job = b; job < e; job++) {
        const int t = job / c.n_head, h = job % c.n_head, kvh = h / (c.n_head / c.n_kv), pos = items[t].pos;
        const float* q = &sc.qkv[(size_t)t * QKV + h * hd];
        float mx = -INFINITY;
        for (int p = 0; p <= pos; p++) {
          float d = 0;
          if (const uint16_t* kr = items[t].cache->k16(l, p, kvh)) {
            d = k.dot_f16(kr, q, hd);
          } else {
            items[t].cache->get_k(l, p, kvh, tmp);
            for (int i = 0; i < hd; i++) d += q[i] * tmp[i];
          }
          scores[p] = d * scale;
          mx = std::max(mx, scores[p]);
        }
        float sum = 0;
        for (int p = 0; p <= pos; p++) sum += (scores[p] = std::exp(scores[p] - mx));
        float* out = &sc.att[(size_t)t * D + h * hd];
        std::fill(out, out + hd, 0.0f);
        for (int p = 0; p <= pos; p++) {
          const float w = scores[p] / sum;
          if (const uint16_t* vr = items[t].cache->v16(l, p, kvh)) {
            k.axpy_f16(w, vr, out, hd);
          } else {
            items[t].cache->get_v(l, p, kvh, tmp);
            for (int i = 0; i < hd; i++) out[i] += w * tmp[i];
          }
        }
      }
    });
    if (bitnet)  // BitNet b1.58: RMSNorm on the attention output before its projection
      for (int t = 0; t < n; t++) rmsnorm(&sc.att[(size_t)t * D], L.attn_sub_norm.data(), D, c.eps, &sc.att[(size_t)t * D]);
    quantize_rows(k, pool, sc, sc.att.data(), n, D);
    bitlinear(k, pool, sc, L.wo, n, sc.x.data(), true);

    for (int t = 0; t < n; t++) rmsnorm(&sc.x[(size_t)t * D], L.ffn_norm.data(), D, c.eps, &sc.xn[(size_t)t * D]);
    quantize_rows(k, pool, sc, sc.xn.data(), n, D);  // gate and up share one quantized input
    bitlinear(k, pool, sc, L.gate_up, n, sc.gu.data(), false);
    for (int t = 0; t < n; t++) {
      const float* g = &sc.gu[(size_t)t * 2 * F];
      float* h = &sc.hid[(size_t)t * F];
      if (bitnet) {  // ReLU² gate, then RMSNorm before the down projection
        for (int j = 0; j < F; j++) {
          const float r = g[j] > 0.0f ? g[j] : 0.0f;
          h[j] = r * r * g[F + j];
        }
        rmsnorm(h, L.ffn_sub_norm.data(), F, c.eps, h);
      } else {
        for (int j = 0; j < F; j++) h[j] = g[j] / (1.0f + std::exp(-g[j])) * g[F + j];
      }
    }
    quantize_rows(k, pool, sc, sc.hid.data(), n, F);
    bitlinear(k, pool, sc, L.down, n, sc.x.data(), true);
  }

  // Final norm and head for the items that want logits.
  std::vector<int> want;
  for (int t = 0; t < n; t++)
    if (items[t].logits) want.push_back(t);
  if (want.empty()) return;
  for (size_t j = 0; j < want.size(); j++)
    rmsnorm(&sc.x[(size_t)want[j] * D], m.output_norm().data(), D, c.eps, &sc.xn[j * D]);
  const int8_t* hq = m.head_i8();
  if (hq)
    for (size_t j = 0; j < want.size(); j++) sc.s[j] = k.quantize_i8(&sc.xn[j * D], D, &sc.xq[j * D], &sc.xsum[j]);
  const FloatTensor& H = m.head();
  par(pool, (size_t)c.vocab * D * want.size(), [&](int ith, int nth) {
    int r0, r1;
    split_range(c.vocab, ith, nth, 16, &r0, &r1);
    // Row-major over the head: each row is read from memory once for every item of the batch (it stays in L1 while
    // the items use it), so batched decoding reads the head once per step, not once per request.
    for (int r = r0; r < r1; r++) {
      for (size_t j = 0; j < want.size(); j++) {
        float* out = items[want[j]].logits;
        const float* xv = &sc.xn[j * D];
        if (hq) {
          out[r] = (float)k.dot_i8(hq + (size_t)r * D, &sc.xq[j * D], D) * m.head_i8_scale()[r] / sc.s[j];
        } else if (H.f16) {
          out[r] = k.dot_f16((const uint16_t*)H.data + (size_t)r * D, xv, D);
        } else {
          const float* w = (const float*)H.data + (size_t)r * D;
          float a = 0;
          for (int i = 0; i < D; i++) a += w[i] * xv[i];
          out[r] = a;
        }
      }
    }
  });
}

}  // namespace magnet
