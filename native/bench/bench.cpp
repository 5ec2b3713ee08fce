// Kernel and model benchmarks, all measured in one run so ratios compare like with like:
//   magnet_bench bandwidth            streaming-read GB/s at 1 and 2 threads
//   magnet_bench gemv                 ternary GEMV effective GB/s per kernel path
//   magnet_bench model FILE [--head-int8] [--tokens N]   decode / prefill tok/s at 1 and 2 threads, bytes/token,
//                                     roofline ratio, RSS vs model + KV
//   magnet_bench erasure [--k K --m M]   Reed-Solomon encode and rebuild (M data shards lost) GB/s of data per path,
//                                     one core, as ratios to memcpy of the same data bytes, in cache and in DRAM
// Prints one JSON object per line.
#include <immintrin.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../src/erasure/reed_solomon.h"
#include "../src/kernels/dispatch.h"
#include "../src/runtime/forward.h"
#include "../src/runtime/sampler.h"

using namespace magnet;
using Clock = std::chrono::steady_clock;

static double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

static double rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

// Streaming read with AVX2 loads (no stores): the bandwidth a GEMV could reach.
static double read_gbs(const uint8_t* buf, size_t n, int threads, int reps) {
  ThreadPool pool(threads);
  double best = 0;
  std::vector<long long> sink(threads);
  for (int r = 0; r < reps; r++) {
    auto t0 = Clock::now();
    pool.run([&](int ith, int nth) {
      int b, e;
      split_range((int)(n / 4096), ith, nth, 1, &b, &e);
      __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
      for (size_t i = (size_t)b * 4096; i < (size_t)e * 4096; i += 128) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i*)(buf + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i*)(buf + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i*)(buf + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i*)(buf + i + 96)));
      }
      __m256i x = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
      sink[ith] = _mm256_extract_epi64(x, 0);
    });
    best = std::max(best, n / secs(t0, Clock::now()) / 1e9);
  }
  return best;
}

static void bench_bandwidth() {
  const size_t n = (size_t)1 << 30;
  uint8_t* buf = (uint8_t*)std::aligned_alloc(64, n);
  std::memset(buf, 1, n);
  for (int t : {1, 2}) std::printf("{\"bench\":\"bandwidth\",\"threads\":%d,\"read_gbs\":%.2f}\n", t, read_gbs(buf, n, t, 5));
  std::free(buf);
}

static void bench_gemv() {
  const int K = 2560, rows = 6912 * 16;  // 442 MB of packed weights: far beyond the caches
  const size_t rb = K / 4, n = rb * rows;
  uint8_t* w = (uint8_t*)std::aligned_alloc(64, n);
  std::mt19937 rng(1);
  for (size_t i = 0; i < n; i++) w[i] = (uint8_t)(rng() & 0x55);
  std::vector<float> x(K);
  for (auto& v : x) v = (float)(rng() % 200) / 100.0f - 1.0f;
  for (const char* name : {"scalar", "avx2", "avx512vnni"}) {
    const KernelTable* k = kernel_by_name(name);
    if (!k) continue;
    std::vector<int8_t> xq(K);
    int32_t sum;
    k->quantize_i8(x.data(), K, xq.data(), &sum);
    std::vector<int32_t> out(rows);
    for (int t : {1, 2}) {
      ThreadPool pool(t);
      double best = 0;
      for (int r = 0; r < (std::string(name) == "scalar" ? 1 : 4); r++) {
        auto t0 = Clock::now();
        pool.run([&](int ith, int nth) {
          int b, e;
          split_range(rows, ith, nth, 16, &b, &e);
          k->ternary_gemm(w + (size_t)b * rb, rb, e - b, K, xq.data(), &sum, 1, out.data() + b, rows);
        });
        best = std::max(best, n / secs(t0, Clock::now()) / 1e9);
      }
      std::printf("{\"bench\":\"gemv\",\"kernel\":\"%s\",\"format\":\"ternary2\",\"threads\":%d,\"rows\":%d,\"K\":%d,\"gbs\":%.2f,\"gweights_s\":%.2f}\n",
                  name, t, rows, K, best, best * 4);
    }
  }
  // References on the same bytes with the chosen path's kernels: an int8 (W8A8) GEMV and an f16-weight GEMV, the
  // dense formats a ternary model replaces. Weights per second is the figure to compare with the ternary GEMV.
  const KernelTable& k = kernels();
  std::vector<int8_t> xq(K);
  int32_t sum;
  k.quantize_i8(x.data(), K, xq.data(), &sum);
  const int rows8 = (int)(n / K), rows16 = (int)(n / (2 * K));
  std::vector<float> outf(rows8);
  for (int t : {1, 2}) {
    ThreadPool pool(t);
    double b8 = 0, b16 = 0;
    for (int r = 0; r < 4; r++) {
      auto t0 = Clock::now();
      pool.run([&](int ith, int nth) {
        int b, e;
        split_range(rows8, ith, nth, 16, &b, &e);
        for (int i = b; i < e; i++) outf[i] = (float)k.dot_i8((const int8_t*)w + (size_t)i * K, xq.data(), K);
      });
      b8 = std::max(b8, (double)rows8 * K / secs(t0, Clock::now()) / 1e9);
      t0 = Clock::now();
      pool.run([&](int ith, int nth) {
        int b, e;
        split_range(rows16, ith, nth, 16, &b, &e);
        for (int i = b; i < e; i++) outf[i] = k.dot_f16((const uint16_t*)w + (size_t)i * K, x.data(), K);
      });
      b16 = std::max(b16, (double)rows16 * K * 2 / secs(t0, Clock::now()) / 1e9);
    }
    std::printf("{\"bench\":\"gemv\",\"kernel\":\"%s\",\"format\":\"int8\",\"threads\":%d,\"rows\":%d,\"K\":%d,\"gbs\":%.2f,\"gweights_s\":%.2f}\n",
                k.name, t, rows8, K, b8, b8);
    std::printf("{\"bench\":\"gemv\",\"kernel\":\"%s\",\"format\":\"f16\",\"threads\":%d,\"rows\":%d,\"K\":%d,\"gbs\":%.2f,\"gweights_s\":%.2f}\n",
                k.name, t, rows16, K, b16, b16 / 2);
  }
  std::free(w);
}

static void bench_model(const std::string& path, bool head_int8, int ntok) {
  const double rss0 = rss_mb();
  LoadOptions lo;
  lo.head_int8 = head_int8;
  auto t0 = Clock::now();
  Model m(path, lo);
  const double load_s = secs(t0, Clock::now());
  const ModelConfig& c = m.config();
  const KernelTable& k = kernels();
  const int prompt = 128;
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    Scratch sc(c, prompt, threads);
    KvCache cache(c, prompt + ntok + 1, KvCache::KvType::F16);
    std::vector<float> logits(c.vocab);
    // Prefill: 128 tokens in one batch (logits only for the last).
    std::vector<BatchItem> items;
    for (int i = 0; i < prompt; i++) items.push_back({&cache, i == 0 ? 256 : 65 + (i * 7) % 26, i, i == prompt - 1 ? logits.data() : nullptr});
    forward(m, k, pool, sc, items.data(), 8);  // warm-up
    t0 = Clock::now();
    forward(m, k, pool, sc, items.data(), prompt);
    const double prefill_s = secs(t0, Clock::now());
    // Decode ntok tokens greedily after the prompt.
    SamplingParams greedy;
    greedy.temperature = 0.0f;
    Sampler s(greedy);
    int tok = s.sample(logits.data(), c.vocab);
    BatchItem it{&cache, tok, prompt, logits.data()};
    forward(m, k, pool, sc, &it, 1);  // warm-up step at position `prompt`
    t0 = Clock::now();
    for (int i = 0; i < ntok; i++) {
      it.token = s.sample(logits.data(), c.vocab);
      it.pos = prompt + 1 + i;
      forward(m, k, pool, sc, &it, 1);
    }
    const double decode_s = secs(t0, Clock::now());
    const double kv_bytes_avg = (double)c.n_layer * 2 * c.n_kv * c.head_dim * 2 * (prompt + ntok / 2.0);
    const double bpt = (double)m.bytes_per_token() + kv_bytes_avg;
    std::printf(
        "{\"bench\":\"model\",\"model\":\"%s\",\"kernel\":\"%s\",\"threads\":%d,\"head\":\"%s\",\"dim\":%d,\"layers\":%d,"
        "\"vocab\":%d,\"load_s\":%.2f,\"prefill_tokens\":%d,\"prefill_tok_s\":%.2f,\"decode_tokens\":%d,\"decode_tok_s\":%.2f,"
        "\"bytes_per_token\":%.0f,\"decode_gbs\":%.2f,\"rss_mb\":%.1f,\"model_mb\":%.1f,\"kv_mb\":%.1f}\n",
        path.c_str(), k.name, threads, m.head_i8() ? "int8" : (m.head().f16 ? "f16" : "f32"), c.dim, c.n_layer, c.vocab, load_s,
        prompt, prompt / prefill_s, ntok, ntok / decode_s, bpt, bpt * ntok / decode_s / 1e9, rss_mb() - rss0,
        (m.ternary_bytes() + m.head_bytes() + (m.tied() || m.head_i8() ? 0 : (double)c.vocab * m.embeddings().row_bytes)) / 1e6,
        cache.bytes() / 1e6);
    std::fflush(stdout);
  }
}

// Best of `reps` timed runs of fn (the first untimed: page faults and cache warm-up stay out of the figure).
template <typename F>
static double best_secs(int reps, F fn) {
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const auto a = Clock::now();
    fn();
    best = std::min(best, secs(a, Clock::now()));
  }
  return best;
}

static void bench_erasure(int k, int m) {
  std::mt19937 rng(1);
  // 256 KiB shards stay in L2/L3 (the codec's own speed); 16 MiB shards stream from DRAM (what a checkpoint sees).
  for (size_t shard : {(size_t)256 << 10, (size_t)16 << 20}) {
    const size_t data_bytes = shard * k;
    std::vector<std::vector<uint8_t>> s(k + m, std::vector<uint8_t>(shard));
    for (int i = 0; i < k; i++)
      for (auto& b : s[i]) b = (uint8_t)rng();
    std::vector<uint8_t> copy_src(data_bytes), copy_dst(data_bytes);
    std::memcpy(copy_src.data(), s[0].data(), shard);
    const int reps = shard < ((size_t)1 << 20) ? 200 : 8;
    const double t_copy = best_secs(reps, [&] { std::memcpy(copy_dst.data(), copy_src.data(), data_bytes); });
    const double copy_gbs = data_bytes / t_copy / 1e9;
    for (const char* name : {"scalar", "avx2", "gfni-avx512", "neon"}) {
      const rs::RsKernel* kern = rs::kernel_by_name(name);
      if (!kern) continue;
      const rs::Codec codec(k, m, *kern);
      std::vector<uint8_t*> ptrs(k + m);
      for (int i = 0; i < k + m; i++) ptrs[i] = s[i].data();
      const double t_enc = best_secs(std::string(name) == "scalar" ? std::max(1, reps / 8) : reps,
                                     [&] { codec.encode(ptrs.data(), ptrs.data() + k, shard); });
      // Rebuild with the first m data shards lost (the hardest case: every output row reads parity).
      bool flags[rs::kMaxShards];
      for (int i = 0; i < k + m; i++) flags[i] = i >= std::min(m, k);
      const double t_dec = best_secs(std::string(name) == "scalar" ? std::max(1, reps / 8) : reps,
                                     [&] { codec.reconstruct(ptrs.data(), flags, shard); });
      std::printf(
          "{\"bench\":\"erasure\",\"k\":%d,\"m\":%d,\"shard_bytes\":%zu,\"path\":\"%s\",\"memcpy_gbs\":%.2f,"
          "\"encode_gbs\":%.2f,\"encode_vs_memcpy\":%.2f,\"rebuild_gbs\":%.2f,\"rebuild_vs_memcpy\":%.2f,\"lost\":%d}\n",
          k, m, shard, name, copy_gbs, data_bytes / t_enc / 1e9, t_copy / t_enc, data_bytes / t_dec / 1e9, t_copy / t_dec,
          std::min(m, k));
      std::fflush(stdout);
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: magnet_bench bandwidth | gemv | model FILE [--head-int8] [--tokens N] | erasure [--k K --m M]\n");
    return 2;
  }
  const std::string what = argv[1];
  try {
    if (what == "bandwidth") bench_bandwidth();
    else if (what == "gemv") bench_gemv();
    else if (what == "erasure") {
      int k = 4, m = 2;
      for (int i = 2; i + 1 < argc; i += 2) {
        if (std::string(argv[i]) == "--k") k = std::atoi(argv[i + 1]);
        else if (std::string(argv[i]) == "--m") m = std::atoi(argv[i + 1]);
      }
      bench_erasure(k, m);
    }
    else if (what == "model" && argc >= 3) {
      bool h8 = false;
      int ntok = 64;
      for (int i = 3; i < argc; i++) {
        if (std::string(argv[i]) == "--head-int8") h8 = true;
        else if (std::string(argv[i]) == "--tokens" && i + 1 < argc) ntok = std::atoi(argv[++i]);
      }
      bench_model(argv[2], h8, ntok);
    } else {
      std::fprintf(stderr, "magnet_bench: unknown command %s\n", what.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "magnet_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
