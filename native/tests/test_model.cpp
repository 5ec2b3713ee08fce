// The runtime against an independent plain implementation of the contract, plus formats, batching,
// generation, stop sequences and the quantized head / KV options.
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../src/kernels/dispatch.h"
#include "../tools/random_model.h"
#include "check.h"
#include "reference_forward.h"
#include "../src/runtime/engine.h"

using namespace magnet;

static std::string tmpdir() {
  static std::string d;
  if (d.empty()) {
    char t[] = "/tmp/magnet-test-model-XXXXXX";
    d = mkdtemp(t);
  }
  return d;
}

static float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::fmax(m, std::fabs(x));
  return m;
}

struct Result {
  std::string text, finish, error;
  int prompt = 0, completion = 0;
};

// Runs requests on one engine concurrently and waits for all of them.
static std::vector<Result> generate(Engine& e, std::vector<GenRequest> reqs) {
  std::mutex m;
  std::condition_variable cv;
  int left = (int)reqs.size();
  std::vector<Result> out(reqs.size());
  for (size_t i = 0; i < reqs.size(); i++) {
    reqs[i].on_text = [&, i](const std::string& t, int) { out[i].text += t; };
    reqs[i].on_done = [&, i](const std::string& f, int p, int c, const std::string& err) {
      std::lock_guard<std::mutex> lk(m);
      out[i].finish = f, out[i].prompt = p, out[i].completion = c, out[i].error = err;
      if (--left == 0) cv.notify_all();
    };
    e.submit(std::move(reqs[i]));
  }
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [&] { return left == 0; });
  return out;
}

// One request, cancelled when it has not ended within `seconds` (a guard that is broken fails, never hangs).
static Result run_one(Engine& e, GenRequest r, int seconds) {
  std::mutex m;
  std::condition_variable cv;
  Result out;
  bool ended = false;
  if (!r.on_text) r.on_text = [&](const std::string& t, int) { out.text += t; };
  r.on_done = [&](const std::string& f, int p, int c, const std::string& err) {
    std::lock_guard<std::mutex> lk(m);
    out.finish = f, out.prompt = p, out.completion = c, out.error = err, ended = true;
    cv.notify_all();
  };
  const uint64_t id = e.submit(std::move(r));
  std::unique_lock<std::mutex> lk(m);
  if (!cv.wait_for(lk, std::chrono::seconds(seconds), [&] { return ended; })) e.cancel(id);
  cv.wait(lk, [&] { return ended; });
  return out;
}

static GenRequest req(const std::string& prompt, int max_tokens, float temp = 0.0f, uint64_t seed = 0) {
  GenRequest r;
  r.prompt.push_back(256);
  for (unsigned char c : prompt) r.prompt.push_back(c);
  r.max_tokens = max_tokens;
  r.sampling.temperature = temp;
  r.sampling.seed = seed;
  return r;
}

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  std::printf("kernel path: %s\n", kernels().name);
  const std::string dir = tmpdir();
  RandomModelSpec spec;  // tiny shape, vocab padded to exercise non-byte tokens
  spec.vocab = 300;
  spec.seed = 3;
  write_random_model(spec, dir + "/tq2.gguf");
  spec.type = "tq1_0";
  write_random_model(spec, dir + "/tq1.gguf");
  spec.type = "tq2_0";
  spec.tied = true;
  write_random_model(spec, dir + "/tied.gguf");

  const std::vector<int> toks = {256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100};
  // 1. Logits against the plain reference at every position.
  for (const char* name : {"tq2.gguf", "tied.gguf", "tq2.gguf/kv_f32"}) {
    const bool f32 = std::string(name).find("kv_f32") != std::string::npos;
    if (f32) name = "tq2.gguf";
    LoadOptions lo;
    lo.kv_f32 = f32;
    auto model = std::make_shared<Model>(dir + "/" + name, lo);
    Engine e(model, EngineOptions{2, 4, 5});  // prefill chunks of 5 cross the 13-token prompt
    const std::vector<float> got = e.logits(toks);
    GgufFile f(dir + "/" + name);
    const auto want = ref_forward(f, toks, !f32);  // the f16 cache rounds k and v once
    float worst = 0, mx = 0;
    const int V = model->config().vocab;
    for (size_t t = 0; t < toks.size(); t++)
      for (int v = 0; v < V; v++) {
        worst = std::fmax(worst, std::fabs(got[t * V + v] - want[t][v]));
        mx = std::fmax(mx, std::fabs(want[t][v]));
      }
    std::printf("  %s%s: max |logit diff| vs reference %.3g (max |logit| %.3g, ratio %.2e)\n", name, f32 ? " (f32 KV)" : "",
                worst, mx, worst / mx);
    CHECK(worst <= 1e-5f * mx, "%s logits within 1e-5 * max|logit| of the reference", name);
  }
  // 1b. A prompt longer than a token block (32): one forward of 78 tokens (the blocked GEMM, 3 token blocks) gives
  //     exactly what forwards of 5 tokens at a time give (integer dot products, the same epilogue), and stays near
  //     the reference (past a dozen tokens, an int8 rounding flip somewhere moves a logit by about 1e-2).
  {
    std::vector<int> longer = {256};
    for (int i = 0; i < 77; i++) longer.push_back(32 + (i * 37) % 90);
    auto model = std::make_shared<Model>(dir + "/tq2.gguf", LoadOptions{});
    Engine one(model, EngineOptions{2, 4, 128}), fives(model, EngineOptions{2, 4, 5});
    const std::vector<float> got = one.logits(longer);  // the scratch holds 128 items: one forward
    CHECK(got == fives.logits(longer), "78 tokens in one forward (3 token blocks) equal 5-token forwards bit for bit");
    GgufFile f(dir + "/tq2.gguf");
    const auto want = ref_forward(f, longer, true);
    float worst = 0, mx = 0;
    const int V = model->config().vocab;
    for (size_t t = 0; t < longer.size(); t++)
      for (int v = 0; v < V; v++) worst = std::fmax(worst, std::fabs(got[t * V + v] - want[t][v])), mx = std::fmax(mx, std::fabs(want[t][v]));
    std::printf("  78-token prefill: max |logit diff| vs reference %.3g (max |logit| %.3g)\n", worst, mx);
    CHECK(worst <= 0.02f * mx, "a prefill of 78 tokens within 2%% of max|logit| of the reference");
  }
  // 2. TQ1_0 and TQ2_0 holding the same trits give the same logits, bit for bit.
  {
    Engine a(std::make_shared<Model>(dir + "/tq2.gguf", LoadOptions{}), EngineOptions{2, 4, 128});
    Engine b(std::make_shared<Model>(dir + "/tq1.gguf", LoadOptions{}), EngineOptions{2, 4, 128});
    CHECK(a.logits(toks) == b.logits(toks), "TQ1_0 and TQ2_0 logits identical");
    CHECK(b.model().source_format() == "TQ1_0", "format reported");
  }
  // 2b. Every ternary dialect and float format of the issue: BitNet b1.58 (ReLU², sub-norms) against the reference;
  //     I2_S holding the same trits as TQ2_0 gives the same logits bit for bit; heads in BF16, Q8_0, Q4_0, Q6_K
  //     (repacked to int8 rows at load) stay close to the reference, which decodes them to floats.
  {
    auto logits_vs_ref = [&](const RandomModelSpec& sp, const std::string& name, float tol) {
      write_random_model(sp, dir + "/" + name);
      auto model = std::make_shared<Model>(dir + "/" + name, LoadOptions{});
      Engine e(model, EngineOptions{2, 4, 5});
      const std::vector<float> got = e.logits(toks);
      GgufFile f(dir + "/" + name);
      const auto want = ref_forward(f, toks, true);
      float worst = 0, mx = 0;
      const int V = model->config().vocab;
      for (size_t t = 0; t < toks.size(); t++)
        for (int v = 0; v < V; v++) worst = std::fmax(worst, std::fabs(got[t * V + v] - want[t][v])), mx = std::fmax(mx, std::fabs(want[t][v]));
      std::printf("  %s (%s, %s, embd %s%s): max |logit diff| vs reference %.3g (max |logit| %.3g, ratio %.2e)\n", name.c_str(),
                  sp.arch.c_str(), sp.type.c_str(), sp.embd_type.c_str(), sp.tied ? ", tied" : "", worst, mx, worst / mx);
      CHECK(worst <= tol * mx, "%s logits within %g * max|logit| of the reference", name.c_str(), tol);
      return got;
    };
    RandomModelSpec b = spec;
    b.tied = false;
    b.arch = "bitnet-b1.58";
    const auto bit_tq2 = logits_vs_ref(b, "bitnet_tq2.gguf", 1e-5f);
    b.type = "i2_s";
    const auto bit_i2s = logits_vs_ref(b, "bitnet_i2s.gguf", 1e-5f);
    CHECK(bit_tq2 == bit_i2s, "I2_S and TQ2_0 holding the same trits give identical logits");
    CHECK(Model(dir + "/bitnet_i2s.gguf", LoadOptions{}).source_format() == "I2_S", "I2_S reported");
    b.arch = "bitnet";
    logits_vs_ref(b, "bitnet_plain.gguf", 1e-5f);
    for (const char* et : {"bf16", "q8_0", "q4_0", "q6_k"}) {
      RandomModelSpec q = spec;
      q.tied = std::string(et) == "q6_k";  // the 2B4T shape: a tied Q6_K embedding and head
      q.arch = q.tied ? "bitnet-b1.58" : "llama";
      q.type = q.tied ? "i2_s" : "tq2_0";
      q.embd_type = et;
      logits_vs_ref(q, std::string("head_") + et + ".gguf", 0.02f);
    }
    {  // a tied int8 head serves the embedding lookups from its own rows: the file's embedding pages are not kept
      auto m = std::make_shared<Model>(dir + "/head_q6_k.gguf", LoadOptions{});
      CHECK(m->head_i8() != nullptr && m->tied(), "a Q6_K tied head is repacked to int8");
      std::vector<float> row(m->config().dim), want(m->config().dim);
      m->embedding_row(72, row.data());
      m->embeddings().row(72, want.data());
      float worst = 0;
      for (size_t i = 0; i < row.size(); i++) worst = std::fmax(worst, std::fabs(row[i] - want[i]));
      CHECK(worst <= 0.02f * max_abs(want), "embedding row from the int8 copy within 2%% (%g)", worst);
    }
    {  // an I2_S file cut inside the last tensor's scale tail is refused, naming the tensor
      RandomModelSpec t = spec;
      t.type = "i2_s";
      t.layers = 2;
      t.tied = true;
      const std::string path = dir + "/i2s_short_tail.gguf";
      write_random_model(t, path);
      size_t cut;
      {
        GgufFile f(path);
        const GgufTensor* last = f.find("blk.1.ffn_down.weight");
        cut = (size_t)(last->data - f.base()) + last->nbytes - 16;
      }
      CHECK(truncate(path.c_str(), (off_t)cut) == 0, "truncate");
      std::string err;
      try {
        Model m(path, LoadOptions{});
      } catch (const std::exception& e) {
        err = e.what();
      }
      std::printf("  I2_S short tail: %s\n", err.c_str());
      CHECK(err.find("blk.1.ffn_down.weight") != std::string::npos && err.find("truncated") != std::string::npos,
            "short I2_S tail refused naming the tensor: %s", err.c_str());
    }
  }
  // 3. Generation: greedy is deterministic, batching changes nothing, stop sequences and limits hold.
  {
    auto model = std::make_shared<Model>(dir + "/tq2.gguf", LoadOptions{});
    Engine e(model, EngineOptions{2, 4, 128});
    auto one = generate(e, {req("Hello", 24)});
    CHECK(one[0].completion >= 1 && one[0].prompt == 6, "usage counts (%d, %d)", one[0].prompt, one[0].completion);
    CHECK(one[0].finish == "length" || one[0].finish == "stop", "finish reason %s", one[0].finish.c_str());
    auto many = generate(e, {req("Hello", 24), req("abc", 10), req("Hello", 24), req("zz", 5, 0.8f, 42), req("zz", 5, 0.8f, 42)});
    CHECK(many[0].text == one[0].text && many[2].text == one[0].text, "batched greedy equals single greedy");
    CHECK(many[1].completion <= 10 && many[3].completion <= 5, "max_tokens respected");
    CHECK(many[3].text == many[4].text, "same seed, same sample");
    if (one[0].text.size() >= 4) {  // stop on a substring of what greedy produces: output ends right before it
      GenRequest r = req("Hello", 24);
      const std::string stop = one[0].text.substr(2, 2);
      r.stop = {stop, "never-appears"};
      auto s = generate(e, {std::move(r)});
      const size_t at = one[0].text.find(stop);
      CHECK(s[0].finish == "stop" && s[0].text == one[0].text.substr(0, at), "stop sequence cut: '%s'", s[0].text.c_str());
    }
    bool threw = false;
    try {
      e.submit(req(std::string(300, 'a'), 4));
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CHECK(threw, "prompt longer than the context is refused");
  }
  // 4. Options: int8 head and int8 KV cache stay close to the f16 path.
  {
    Engine a(std::make_shared<Model>(dir + "/tq2.gguf", LoadOptions{}), EngineOptions{2, 4, 128});
    LoadOptions o;
    o.head_int8 = true;
    o.kv_int8 = true;
    Engine b(std::make_shared<Model>(dir + "/tq2.gguf", o), EngineOptions{2, 4, 128});
    const auto la = a.logits(toks), lb = b.logits(toks);
    float worst = 0;
    for (size_t i = 0; i < la.size(); i++) worst = std::fmax(worst, std::fabs(la[i] - lb[i]));
    std::printf("  int8 head + int8 KV: max |logit diff| %.3g (max |logit| %.3g)\n", worst, max_abs(la));
    CHECK(worst <= 0.1f * max_abs(la), "int8 options within 10%% of max|logit|");
    CHECK(b.model().head_bytes() < a.model().head_bytes(), "int8 head is smaller");
  }
  // 5. A model declaring a huge context (2^20 tokens, the loader's cap): a request sized to it is refused with
  //    an error naming the cache, a throwing callback fails only its own request, and the engine keeps serving.
  {
    RandomModelSpec big = spec;
    big.tied = false;
    big.ctx = 1 << 20;
    write_random_model(big, dir + "/huge_ctx.gguf");
    auto model = std::make_shared<Model>(dir + "/huge_ctx.gguf", LoadOptions{});
    CHECK(model->config().n_ctx == 1 << 20, "context %d", model->config().n_ctx);
    EngineOptions eo{2, 4, 128};
    const uint64_t per_pos = KvCache::bytes_for(model->config(), 1, KvCache::KvType::F16);
    eo.kv_budget = 300 * per_pos;  // one 6 + 200 position cache fits, two do not
    Engine e(model, eo);
    const Result huge = run_one(e, req("Hello", INT_MAX), 20);  // max_tokens saturates: the whole context
    std::printf("  huge context: '%s'\n", huge.error.c_str());
    CHECK(huge.finish == "error" && huge.completion == 0, "huge request fails (%s)", huge.finish.c_str());
    CHECK(huge.error.find("KV cache of " + std::to_string(per_pos << 20) + " bytes for context 1048576 exceeds the budget") == 0,
          "error names the cache: %s", huge.error.c_str());
    auto r = generate(e, {req("Hello", 8)});
    CHECK(r[0].finish == "length" || r[0].finish == "stop", "the next normal request succeeds (%s)", r[0].finish.c_str());
    // Two requests that do not fit the budget together: the second waits for the first, both succeed.
    auto two = generate(e, {req("Hello", 200), req("Hello", 200)});
    CHECK(two[0].error.empty() && two[1].error.empty() && two[0].text == two[1].text, "queued on the budget, both served");
    // Any exception on the engine thread (here a throwing callback) fails that request only.
    GenRequest bad = req("Hello", 8);
    bad.on_text = [](const std::string&, int) { throw std::runtime_error("callback threw"); };
    const Result b = run_one(e, std::move(bad), 20);
    CHECK(b.finish == "error" && b.error == "callback threw", "throwing callback fails its request (%s: %s)", b.finish.c_str(),
          b.error.c_str());
    auto after = generate(e, {req("Hello", 8)});
    CHECK(after[0].finish == "length" || after[0].finish == "stop", "engine serves after the failures");
    CHECK(after[0].text == r[0].text && e.active() == 0, "same greedy text, nothing left active");
  }
  std::string cmd = "rm -rf " + dir;
  if (std::system(cmd.c_str()) != 0) std::printf("could not remove %s\n", dir.c_str());
  std::printf(magnet_failures() ? "test_model: %d failures\n" : "test_model: ok\n", magnet_failures());
  return magnet_failures() ? 1 : 0;
}
