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
  // 2. TQ1_0 and TQ2_0 holding the same trits give the same logits, bit for bit.
  {
    Engine a(std::make_shared<Model>(dir + "/tq2.gguf", LoadOptions{}), EngineOptions{2, 4, 128});
    Engine b(std::make_shared<Model>(dir + "/tq1.gguf", LoadOptions{}), EngineOptions{2, 4, 128});
    CHECK(a.logits(toks) == b.logits(toks), "TQ1_0 and TQ2_0 logits identical");
    CHECK(b.model().source_format() == "TQ1_0", "format reported");
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
