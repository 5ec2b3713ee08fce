// Loader failure cases: each broken file is refused with an error naming the tensor or key; then one case per
// hardening guard (size overflow, out-of-range metadata, array bounds, non-finite float tensors) and the
// sampler on NaN / infinite logits.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "../fuzz/seeds.h"
#include "../src/runtime/model.h"
#include "../src/runtime/sampler.h"
#include "../tools/random_model.h"
#include "../src/runtime/json_constraint.h"
#include "check.h"

using namespace magnet;

static std::string load_error(const std::string& path) {
  try {
    Model m(path, LoadOptions{});
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

static void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  FILE* f = std::fopen(path.c_str(), "wb");
  CHECK(f && std::fwrite(b.data(), 1, b.size(), f) == b.size(), "write %s", path.c_str());
  if (f) std::fclose(f);
}

// Each guard through the file (mmap) path: the error names the key or tensor and says what is wrong.
static void hardening(const std::string& dir) {
  using seeds::Tiny;
  struct Case {
    const char* what;
    std::function<void(Tiny&)> fault;
    std::vector<const char*> must_mention;
  };
  auto f64 = [](const char* key, double v) {
    return [=](Tiny& t) { t.replace_kv[key] = [=](GgufWriter& w) { w.add_f64(key, v); }; };
  };
  const Case cases[] = {
      {"valid", [](Tiny&) {}, {}},
      {"4-D shape whose element count wraps 64 bits",
       [](Tiny& t) { t.ne["output_norm.weight"] = {1ull << 32, 1ull << 32, 1ull << 32, 1ull << 32}; },
       {"output_norm.weight", "element count: size overflows"}},
      {"F32 shape whose byte size wraps 64 bits", [](Tiny& t) { t.ne["blk.0.attn_norm.weight"] = {1ull << 32, 1ull << 30}; },
       {"blk.0.attn_norm.weight", "byte size: size overflows"}},
      {"context length 1e300 (F64)", f64("llama.context_length", 1e300), {"llama.context_length", "1e+300"}},
      {"context length NaN (F64)", f64("llama.context_length", NAN), {"llama.context_length", "nan"}},
      {"BOS id -1e19 (F64)", f64("tokenizer.ggml.bos_token_id", -1e19), {"tokenizer.ggml.bos_token_id"}},
      {"EOS id 2.5 (F64)", f64("tokenizer.ggml.eos_token_id", 2.5), {"tokenizer.ggml.eos_token_id", "whole number"}},
      {"vocab size 2^32 + 8 (F64)", f64("llama.vocab_size", 4294967304.0), {"llama.vocab_size"}},
      {"alignment 2^63 (U64)",
       [](Tiny& t) { t.replace_kv["general.alignment"] = [](GgufWriter& w) { w.add_u64("general.alignment", 1ull << 63); }; },
       {"general.alignment"}},
      {"RMS epsilon +inf (F64)", f64("llama.attention.layer_norm_rms_epsilon", INFINITY), {"layer_norm_rms_epsilon", "inf"}},
      {"RoPE base NaN (F64)", f64("llama.rope.freq_base", NAN), {"llama.rope.freq_base"}},
      {"block count 2^30 with 12 tensors", f64("llama.block_count", 1 << 30), {"llama.block_count", "9 per layer"}},
      {"array length 2^61 in a small file",
       [](Tiny& t) { t.extra_kv = [](GgufWriter& w) { w.add_raw("x.arr", GV_ARRAY, seeds::raw({1ull << 61}, GV_U32)); }; },
       {"x.arr", "runs past the end"}},
      {"NaN in output_norm", [](Tiny& t) { t.poison = "output_norm.weight"; }, {"output_norm.weight", "non-finite"}},
      {"+inf in blk.0.ffn_norm", [](Tiny& t) { t.poison = "blk.0.ffn_norm.weight", t.poison_value = INFINITY; },
       {"blk.0.ffn_norm.weight", "non-finite"}},
      {"-inf in the F16 embeddings", [](Tiny& t) { t.poison = "token_embd.weight", t.poison_value = -INFINITY; },
       {"token_embd.weight", "non-finite"}},
      {"NaN in the F16 head", [](Tiny& t) { t.poison = "output.weight"; }, {"output.weight", "non-finite"}},
  };
  const std::string path = dir + "/h.gguf";
  for (const Case& c : cases) {
    Tiny t;
    c.fault(t);
    write_bytes(path, seeds::tiny_model(t));
    const std::string err = load_error(path);
    std::printf("  %s -> %s\n", c.what, err.empty() ? "loads" : err.c_str());
    if (c.must_mention.empty()) CHECK(err.empty(), "a good file loads: %s", err.c_str());
    else CHECK(!err.empty(), "%s must be refused", c.what);
    for (const char* m : c.must_mention) CHECK(err.find(m) != std::string::npos, "error names '%s': %s", m, err.c_str());
  }
  // Faults made by byte surgery (seeds.h): tensor data offsets that wrap or point past the end.
  const std::pair<const char*, const char*> surgery[] = {{"offset-wraps", "data offset: size overflows"},
                                                         {"offset-huge", "runs past the end"},
                                                         {"huge-tensor-count", "implausible tensor/kv counts"},
                                                         {"huge-key-length", "too large"}};
  const std::vector<seeds::Seed> all = seeds::all();
  for (const auto& c : surgery)
    for (const auto& sd : all)
      if (sd.name == c.first) {
        write_bytes(path, sd.bytes);
        const std::string err = load_error(path);
        std::printf("  seed %s -> %s\n", c.first, err.c_str());
        CHECK(err.find(c.second) != std::string::npos, "%s: error says '%s': %s", c.first, c.second, err.c_str());
      }
  // The same bytes through the in-memory parser give the same verdict.
  Tiny t;
  t.poison = "output_norm.weight";
  const std::vector<uint8_t> b = seeds::tiny_model(t);
  std::string err;
  try {
    Model m(std::make_unique<GgufFile>(b.data(), b.size(), "mem"), LoadOptions{});
  } catch (const std::exception& e) {
    err = e.what();
  }
  CHECK(err.find("output_norm.weight") != std::string::npos, "in-memory load refuses the NaN norm: %s", err.c_str());
}

// NaN logits would break std::sort's ordering (undefined behaviour); they must never be chosen while a finite
// logit exists, and every call must return a token inside the vocabulary.
static void sampler_nan() {
  const int n = 64;
  std::vector<float> logits(n);
  for (int i = 0; i < n; i++) logits[i] = (i % 3 == 0) ? NAN : std::sin((float)i);
  const int best_finite = [&] {
    int b = 1;
    for (int i = 1; i < n; i++)
      if (!std::isnan(logits[i]) && logits[i] > logits[b]) b = i;
    return b;
  }();
  struct P {
    float temperature, top_p;
    int top_k;
  };
  const P ps[] = {{0, 1, 0}, {1, 1, 0}, {0.7f, 0.9f, 0}, {1, 1, 5}, {2, 0.5f, 40}, {1e-30f, 1, 0}, {INFINITY, 1, 0},
                  {NAN, NAN, 0}, {-1, 1, 0}};
  int nan_picked = 0, out_of_range = 0;
  for (const P& p : ps)
    for (uint64_t seed = 0; seed < 200; seed++) {
      SamplingParams sp;
      sp.temperature = p.temperature, sp.top_p = p.top_p, sp.top_k = p.top_k, sp.seed = seed;
      Sampler s(sp);
      const int t = s.sample(logits.data(), n);
      if (t < 0 || t >= n) out_of_range++;
      else if (std::isnan(logits[t])) nan_picked++;
    }
  CHECK(out_of_range == 0, "%d tokens outside the vocabulary", out_of_range);
  CHECK(nan_picked == 0, "%d NaN logits sampled", nan_picked);
  SamplingParams greedy;
  greedy.temperature = 0;
  CHECK(Sampler(greedy).sample(logits.data(), n) == best_finite, "greedy skips NaN (logit 0 is NaN)");
  // All NaN: a valid token (the lowest id); +inf and -inf logits: the +inf one, never NaN arithmetic.
  std::vector<float> all_nan(n, NAN);
  SamplingParams hot;
  CHECK(Sampler(hot).sample(all_nan.data(), n) == 0, "all-NaN logits give token 0");
  CHECK(Sampler(greedy).sample(all_nan.data(), n) == 0, "all-NaN logits give token 0 (greedy)");
  std::vector<float> inf(n, -INFINITY);
  inf[17] = INFINITY;
  inf[3] = NAN;
  for (uint64_t seed = 0; seed < 20; seed++) {
    hot.seed = seed;
    CHECK(Sampler(hot).sample(inf.data(), n) == 17, "+inf logit wins");
  }
  std::printf("  sampler: NaN / inf logits and NaN / inf / negative temperature give valid tokens\n");
}

// JSON mode's automaton: every prefix of a valid object is accepted, and it is complete exactly at the end;
// each broken document is refused at the byte that breaks it.
static void json_constraint() {
  const char* valid[] = {
      "{}",
      "{ \"a\" : 1 }",
      "{\n  \"a\": {\n    \"b\": [1, 2]\n  }\n}",
      "{\"a\":[1,-2.5e+3,0,0.25,true,false,null,\"x\\n\\u00e9\\\"\"],\"b\":{\"c\":{}},\"d\":[]}",
      "{\"k\":\"caf\xc3\xa9\"}",
  };
  for (const char* doc : valid) {
    JsonConstraint j;
    bool ok = true;
    for (const char* p = doc; *p; p++) {
      ok = ok && j.feed((uint8_t)*p);
      if (p[1] != '\0' && std::string(p + 1).find_first_not_of(" ") != std::string::npos)
        ok = ok && !j.complete();  // not complete before its closing brace
    }
    CHECK(ok && j.complete(), "valid JSON accepted and complete: %s", doc);
  }
  const char* broken[] = {"[1]", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1,}", "{\"a\":tru}", "{\"a\":\"\n\"}", "{\"a\":1}}",
                          "{\"a\":[1,]}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":\"\\x\"}", "{a:1}", "{} x",
                          " {}", "{} ", "{\"a\":                                  1}"};  // leading or trailing blanks, a run of 34
  for (const char* doc : broken) {
    JsonConstraint j;
    bool ok = true;
    for (const char* p = doc; *p && ok; p++) ok = j.feed((uint8_t)*p);
    CHECK(!(ok && j.complete()), "broken JSON refused: %s", doc);
  }
  JsonConstraint deep;
  bool ok = deep.feed('{') && deep.feed('"') && deep.feed('a') && deep.feed('"') && deep.feed(':');
  for (int i = 1; i < JsonConstraint::MAX_DEPTH; i++) ok = ok && deep.feed('[');
  CHECK(ok && !deep.feed('['), "nesting deeper than %d refused", JsonConstraint::MAX_DEPTH);
  std::printf("  JSON mode automaton: %zu valid objects accepted, %zu broken ones refused\n", sizeof valid / sizeof *valid,
              sizeof broken / sizeof *broken);
}

static std::string hexs(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += d[c >> 4], out += d[c & 15];
  return out;
}

// JSON mode with a schema: {"name": string, "age"?: integer, "tags": [enum "a"|"b"], "ok": boolean}, in that order.
static void json_schema_constraint() {
  const std::string text = "object 4 " + hexs("name") + " 1 1 " + hexs("age") + " 2 0 " + hexs("tags") + " 3 1 " + hexs("ok") +
                           " 5 1\nstring\ninteger\narray 4\nenum 2 " + hexs("a") + " " + hexs("b") + "\nboolean\n";
  auto schema = JsonSchema::parse(text);
  auto run = [&](const char* doc) {
    JsonConstraint j(schema);
    for (const char* p = doc; *p; p++)
      if (!j.feed((uint8_t)*p)) return false;
    return j.complete();
  };
  const char* good[] = {"{\"name\":\"x\",\"age\":30,\"tags\":[\"a\",\"b\"],\"ok\":true}", "{\"name\":\"\",\"tags\":[],\"ok\":false}",
                        "{ \"name\" : \"q\\\"\" , \"tags\" : [ \"b\" ] , \"ok\" : true }"};
  for (const char* d : good) CHECK(run(d), "matches the schema: %s", d);
  const char* bad[] = {
      "{\"tags\":[],\"name\":\"x\",\"ok\":true}",              // out of order
      "{\"name\":\"x\",\"tags\":[],\"ok\":true,\"more\":1}",    // an extra property
      "{\"name\":\"x\",\"ok\":true}",                            // a required one skipped
      "{\"name\":1,\"tags\":[],\"ok\":true}",                     // wrong type
      "{\"name\":\"x\",\"age\":3.5,\"tags\":[],\"ok\":true}",  // not an integer
      "{\"name\":\"x\",\"tags\":[\"c\"],\"ok\":true}",         // not in the enum
      "{\"name\":\"x\",\"tags\":[\"ab\"],\"ok\":true}",        // an enum value's prefix grown too long
      "{\"name\":\"x\",\"tags\":[],\"ok\":null}",               // wrong literal
      "{\"name\":\"x\",\"tags\":[]}",                            // closed before a required property
  };
  for (const char* d : bad) CHECK(!run(d), "refused by the schema: %s", d);
  bool threw = false;
  try {
    JsonSchema::parse("array 0\n");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "a schema whose root is not an object is refused");
  std::printf("  JSON schema automaton: %zu matching objects accepted, %zu others refused\n", sizeof good / sizeof *good,
              sizeof bad / sizeof *bad);
}

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  json_constraint();
  json_schema_constraint();
  char tmpl[] = "/tmp/magnet-test-gguf-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  struct Case {
    const char* fault;
    const char* arch;
    const char* must_mention;
  };
  const Case cases[] = {
      {"", "llama", ""},
      {"truncate", "llama", "truncated"},
      {"bad_type", "llama", "blk.0.attn_v.weight"},
      {"bad_shape", "llama", "blk.1.attn_k.weight"},
      {"non_ternary", "llama", "blk.0.ffn_up.weight"},
      {"mixed_scales", "llama", "blk.0.attn_q.weight"},
      {"missing", "llama", "blk.0.ffn_down.weight"},
      {"", "bitnet-b1.58", ""},
      {"", "mamba", "general.architecture"},
  };
  for (const Case& c : cases) {
    RandomModelSpec s;
    s.layers = 2;
    s.fault = c.fault;
    s.arch = c.arch;
    const std::string path = dir + "/m.gguf";
    write_random_model(s, path);
    const std::string err = load_error(path);
    std::printf("  fault '%s' arch %s -> %s\n", c.fault, c.arch, err.empty() ? "loads" : err.c_str());
    if (!*c.must_mention) CHECK(err.empty(), "a good file loads: %s", err.c_str());
    else CHECK(err.find(c.must_mention) != std::string::npos, "error names '%s': %s", c.must_mention, err.c_str());
    CHECK(access((path + ".tmp").c_str(), F_OK) != 0, "no temp file left behind");
  }
  {  // not a GGUF at all, and a missing file
    const std::string path = dir + "/junk.gguf";
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("this is not a model file, just some text long enough", f);
    std::fclose(f);
    CHECK(load_error(path).find("bad magic") != std::string::npos, "bad magic: %s", load_error(path).c_str());
    CHECK(load_error(dir + "/nope.gguf").find("cannot open") != std::string::npos, "missing file");
  }
  hardening(dir);
  sampler_nan();
  std::string cmd = "rm -rf " + dir;
  if (std::system(cmd.c_str()) != 0) std::printf("could not remove %s\n", dir.c_str());
  std::printf(magnet_failures() ? "test_gguf: %d failures\n" : "test_gguf: ok\n", magnet_failures());
  return magnet_failures() ? 1 : 0;
}
