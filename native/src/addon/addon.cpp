// N-API binding: loads a model off the event loop, streams generated text through a thread-safe function per
// request, and reports the kernel path. Weights stay in native memory (mmap + repacked buffers). The erasure
// codec's functions come from erasure_binding.cpp.
#include <napi.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "../kernels/dispatch.h"
#include "../runtime/engine.h"
#include "erasure_binding.h"

using namespace magnet;

namespace {

Napi::Object kernel_info(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", available_kernels());
  const CpuFeatures f = detect_cpu();
  Napi::Object feat = Napi::Object::New(env);
  feat.Set("avx2", f.avx2 && f.os_avx);
  feat.Set("fma", f.fma);
  feat.Set("f16c", f.f16c);
  feat.Set("avx512f", f.avx512f && f.os_avx512);
  feat.Set("avx512bw", f.avx512bw && f.os_avx512);
  feat.Set("avx512vl", f.avx512vl && f.os_avx512);
  feat.Set("avx512vnni", f.avx512vnni && f.os_avx512);
  feat.Set("neon", f.neon);
  o.Set("features", feat);
  try {
    o.Set("kernel", kernels().name);
  } catch (const std::exception& e) {
    o.Set("kernel", env.Null());
    o.Set("error", e.what());
  }
  return o;
}

Napi::Value KernelInfo(const Napi::CallbackInfo& info) { return kernel_info(info.Env()); }

// Options arrive as JS doubles. Each is range-checked before its cast (a NaN or out-of-range double cast to an
// integer is undefined behaviour); a bad value is a RangeError naming the option.
struct Opts {
  Napi::Env env;
  Napi::Object o;
  double num(const char* k, double def) const {
    return o.Has(k) && o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().DoubleValue() : def;
  }
  [[noreturn]] void bad(const char* k, const std::string& want) const {
    throw Napi::RangeError::New(env, std::string("option '") + k + "' must be " + want);
  }
  // A whole number in [lo, hi].
  int whole(const char* k, double def, int lo, int hi) const {
    const double v = num(k, def);
    if (!(v >= lo && v <= hi) || v != std::floor(v))
      bad(k, "a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return (int)v;
  }
  // A number in [lo, hi] (NaN refused).
  double real(const char* k, double def, double lo, double hi) const {
    const double v = num(k, def);
    if (!(v >= lo && v <= hi)) {
      char b[64];
      std::snprintf(b, sizeof b, "a number in [%g, %g]", lo, hi);
      bad(k, b);
    }
    return v;
  }
};

// The tokens argument: As<Int32Array>() does not check the element type, and an Int8Array read as int32 would
// run past its buffer.
bool is_int32_array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
}

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "NativeModel",
                                   {InstanceMethod("info", &NativeModel::Info), InstanceMethod("submit", &NativeModel::Submit),
                                    InstanceMethod("cancel", &NativeModel::Cancel), InstanceMethod("logits", &NativeModel::Logits),
                                    InstanceMethod("active", &NativeModel::Active), InstanceMethod("close", &NativeModel::Close),
                                    InstanceMethod("setVocab", &NativeModel::SetVocab),
                                    InstanceMethod("embedding", &NativeModel::Embedding)});
    ctor = Napi::Persistent(f);
    exports.Set("NativeModel", f);
  }
  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "NativeModel is created by loadModel(path, options)");
    engine_ = *info[0].As<Napi::External<std::shared_ptr<Engine>>>().Data();
  }

 private:
  Engine& engine(Napi::Env env) {
    if (!engine_) throw Napi::Error::New(env, "model is closed");
    return *engine_;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Engine& e = engine(info.Env());
    const Model& m = e.model();
    const ModelConfig& c = m.config();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("path", m.path());
    o.Set("arch", c.arch_name);
    o.Set("contextLength", c.n_ctx);
    o.Set("embeddingLength", c.dim);
    o.Set("blockCount", c.n_layer);
    o.Set("feedForwardLength", c.ffn);
    o.Set("headCount", c.n_head);
    o.Set("headCountKv", c.n_kv);
    o.Set("vocabSize", c.vocab);
    o.Set("bosTokenId", c.bos);
    o.Set("eosTokenId", c.eos);
    o.Set("ternaryFormat", m.source_format());
    o.Set("tiedEmbeddings", m.tied());
    o.Set("headInt8", m.head_i8() != nullptr);
    o.Set("ternaryBytes", (double)m.ternary_bytes());
    o.Set("headBytes", (double)m.head_bytes());
    o.Set("bytesPerToken", (double)m.bytes_per_token());
    o.Set("round", m.meta("magnet.round"));
    o.Set("checkpointSha256", m.meta("magnet.checkpoint_sha256"));
    o.Set("kernel", e.kernel());
    o.Set("threads", e.threads());
    return o;
  }

  // submit(tokens: Int32Array, opts, onEvent(kind, a, b, c)) -> id. Events: ('text', Buffer, tokens),
  // ('done', finishReason, promptTokens, completionTokens, error); error is "" unless finishReason is 'error'.
  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Engine& e = engine(env);
    if (info.Length() < 3 || !is_int32_array(info[0]) || !info[1].IsObject() || !info[2].IsFunction())
      throw Napi::TypeError::New(env, "submit(tokens: Int32Array, options: object, onEvent: function)");
    Napi::Int32Array toks = info[0].As<Napi::Int32Array>();
    Napi::Object o = info[1].As<Napi::Object>();
    GenRequest r;
    r.prompt.assign(toks.Data(), toks.Data() + toks.ElementLength());
    const Opts op{env, o};
    // maxTokens saturates ("as many as fit": the caller may pass Number.MAX_SAFE_INTEGER); the engine refuses < 1.
    const double mt = op.num("maxTokens", 16);
    if (std::isnan(mt)) op.bad("maxTokens", "a number");
    r.max_tokens = mt >= INT_MAX ? INT_MAX : mt <= INT_MIN ? INT_MIN : (int)mt;
    r.sampling.temperature = (float)op.real("temperature", 1.0, 0.0, 1e6);
    r.sampling.top_k = op.whole("topK", 0, 0, INT_MAX);
    r.sampling.top_p = (float)op.real("topP", 1.0, 0.0, 1.0);
    // A seed is any whole number in [-2^63, 2^64); negative seeds wrap (two's complement), as callers expect.
    const double seed = op.num("seed", 0);
    if (!(seed >= -9223372036854775808.0 && seed < 18446744073709551616.0) || seed != std::floor(seed))
      op.bad("seed", "a whole number in [-2^63, 2^64)");
    r.sampling.seed = seed < 0 ? (uint64_t)(int64_t)seed : (uint64_t)seed;
    if (o.Has("stop") && o.Get("stop").IsArray()) {
      Napi::Array a = o.Get("stop").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) r.stop.push_back(a.Get(i).ToString().Utf8Value());
    }
    r.sampling.presence_penalty = (float)op.real("presencePenalty", 0.0, -2.0, 2.0);
    r.sampling.frequency_penalty = (float)op.real("frequencyPenalty", 0.0, -2.0, 2.0);
    r.sampling.logprobs = op.whole("logprobs", -1, -1, 20);
    r.json = o.Has("json") && o.Get("json").ToBoolean().Value();
    if (o.Has("jsonSchema") && o.Get("jsonSchema").IsString()) {
      try {
        r.json_schema = JsonSchema::parse(o.Get("jsonSchema").As<Napi::String>().Utf8Value());
      } catch (const std::exception& ex) {
        throw Napi::TypeError::New(env, std::string("jsonSchema: ") + ex.what());
      }
      r.json = true;
    }
    // logitBias: {ids: Int32Array, values: Float32Array} of equal length (token ids are checked by the engine).
    if (o.Has("logitBias") && !o.Get("logitBias").IsUndefined()) {
      Napi::Value lb = o.Get("logitBias");
      const bool ok = lb.IsObject() && is_int32_array(lb.As<Napi::Object>().Get("ids")) &&
                      lb.As<Napi::Object>().Get("values").IsTypedArray() &&
                      lb.As<Napi::Object>().Get("values").As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
      if (!ok) op.bad("logitBias", "{ids: Int32Array, values: Float32Array}");
      auto ids = lb.As<Napi::Object>().Get("ids").As<Napi::Int32Array>();
      auto vals = lb.As<Napi::Object>().Get("values").As<Napi::Float32Array>();
      if (ids.ElementLength() != vals.ElementLength()) op.bad("logitBias", "ids and values of equal length");
      for (size_t i = 0; i < ids.ElementLength(); i++) {
        if (!(vals[i] >= -100.0f && vals[i] <= 100.0f)) op.bad("logitBias", "biases in [-100, 100]");
        r.sampling.logit_bias.emplace_back(ids[i], vals[i]);
      }
    }
    enum Kind { TEXT, DONE, TOKEN };
    struct Event {
      Kind kind;
      std::string text;
      int a, b;
      std::string error;
      TokenLogprobs lp;
    };
    auto tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "magnet-generate", 0, 1);
    auto deliver = [](Napi::Env env, Napi::Function cb, Event* ev) {
      if (env != nullptr && cb != nullptr) {
        if (ev->kind == DONE)
          cb.Call({Napi::String::New(env, "done"), Napi::String::New(env, ev->text), Napi::Number::New(env, ev->a),
                   Napi::Number::New(env, ev->b), Napi::String::New(env, ev->error)});
        else if (ev->kind == TEXT)
          cb.Call({Napi::String::New(env, "text"), Napi::Buffer<char>::Copy(env, ev->text.data(), ev->text.size()),
                   Napi::Number::New(env, ev->a)});
        else {  // ('token', id, logprob, topIds: Int32Array, topLogprobs: Float32Array)
          const size_t k = ev->lp.top.size();
          auto ids = Napi::Int32Array::New(env, k);
          auto lps = Napi::Float32Array::New(env, k);
          for (size_t i = 0; i < k; i++) ids[i] = ev->lp.top[i].first, lps[i] = ev->lp.top[i].second;
          cb.Call({Napi::String::New(env, "token"), Napi::Number::New(env, ev->lp.token), Napi::Number::New(env, ev->lp.logprob),
                   ids, lps});
        }
      }
      delete ev;
    };
    r.on_text = [tsfn, deliver](const std::string& t, int n) mutable {
      tsfn.NonBlockingCall(new Event{TEXT, t, n, 0, {}, {}}, deliver);
    };
    r.on_token = [tsfn, deliver](const TokenLogprobs& lp) mutable {
      tsfn.NonBlockingCall(new Event{TOKEN, {}, 0, 0, {}, lp}, deliver);
    };
    r.on_done = [tsfn, deliver](const std::string& f, int p, int c, const std::string& err) mutable {
      tsfn.NonBlockingCall(new Event{DONE, f, p, c, err, {}}, deliver);
      tsfn.Release();
    };
    try {
      return Napi::Number::New(env, (double)e.submit(std::move(r)));
    } catch (const std::exception& ex) {
      tsfn.Release();
      throw Napi::Error::New(env, ex.what());
    }
  }

  // setVocab(texts: Buffer, offsets: Uint32Array (vocab + 1 entries), endIds: Int32Array): token id i stands for
  // texts[offsets[i], offsets[i+1]); generation ends on any of endIds. Must come before the first submit.
  Napi::Value SetVocab(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Engine& e = engine(env);
    const bool u32 = info.Length() >= 2 && info[1].IsTypedArray() &&
                     info[1].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
    if (info.Length() != 3 || !info[0].IsBuffer() || !u32 || !is_int32_array(info[2]))
      throw Napi::TypeError::New(env, "setVocab(texts: Buffer, offsets: Uint32Array, endIds: Int32Array)");
    auto texts = info[0].As<Napi::Buffer<char>>();
    auto offs = info[1].As<Napi::Uint32Array>();
    auto ends = info[2].As<Napi::Int32Array>();
    if (offs.ElementLength() == 0) throw Napi::RangeError::New(env, "offsets is empty");
    std::vector<std::string> pieces(offs.ElementLength() - 1);
    for (size_t i = 0; i + 1 < offs.ElementLength(); i++) {
      const uint32_t a = offs[i], b = offs[i + 1];
      if (a > b || b > texts.Length()) throw Napi::RangeError::New(env, "offsets " + std::to_string(i) + " out of order or past the texts");
      pieces[i].assign(texts.Data() + a, b - a);
    }
    try {
      e.set_vocab(std::move(pieces), std::vector<int>(ends.Data(), ends.Data() + ends.ElementLength()));
    } catch (const std::exception& ex) {
      throw Napi::Error::New(env, ex.what());
    }
    return env.Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    engine(info.Env()).cancel((uint64_t)info[0].As<Napi::Number>().Int64Value());
    return info.Env().Undefined();
  }

  Napi::Value Active(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), engine_ ? engine_->active() : 0);
  }

  // logits(tokens: Int32Array) -> Promise<Float32Array> (positions x vocab), computed off the event loop.
  Napi::Value Logits(const Napi::CallbackInfo& info);
  Napi::Value Embedding(const Napi::CallbackInfo& info);

  Napi::Value Close(const Napi::CallbackInfo& info) {
    engine_.reset();  // joins the engine thread; requests still queued end with finish reason "cancelled"
    return info.Env().Undefined();
  }

  std::shared_ptr<Engine> engine_;
};

Napi::FunctionReference NativeModel::ctor;

class LogitsWorker : public Napi::AsyncWorker {
 public:
  LogitsWorker(Napi::Env env, std::shared_ptr<Engine> e, std::vector<int> toks, bool embedding = false)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), engine_(std::move(e)), toks_(std::move(toks)),
        embedding_(embedding) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      out_ = embedding_ ? engine_->embedding(toks_) : engine_->logits(toks_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Float32Array a = Napi::Float32Array::New(Env(), out_.size());
    std::copy(out_.begin(), out_.end(), a.Data());
    deferred_.Resolve(a);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Engine> engine_;
  std::vector<int> toks_;
  bool embedding_;
  std::vector<float> out_;
};

Napi::Value NativeModel::Logits(const Napi::CallbackInfo& info) {
  Engine& e = engine(info.Env());
  (void)e;
  if (info.Length() < 1 || !is_int32_array(info[0])) throw Napi::TypeError::New(info.Env(), "logits(tokens: Int32Array)");
  Napi::Int32Array t = info[0].As<Napi::Int32Array>();
  auto* w = new LogitsWorker(info.Env(), engine_, std::vector<int>(t.Data(), t.Data() + t.ElementLength()));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// embedding(tokens: Int32Array) -> Promise<Float32Array> (dim floats: mean-pooled, unit length), off the event loop.
Napi::Value NativeModel::Embedding(const Napi::CallbackInfo& info) {
  engine(info.Env());
  if (info.Length() < 1 || !is_int32_array(info[0])) throw Napi::TypeError::New(info.Env(), "embedding(tokens: Int32Array)");
  Napi::Int32Array t = info[0].As<Napi::Int32Array>();
  auto* w = new LogitsWorker(info.Env(), engine_, std::vector<int>(t.Data(), t.Data() + t.ElementLength()), true);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// loadModel(path, {threads, maxBatch, headInt8, kvInt8, kvF32, contextLength, kvCacheBytes}) -> Promise<NativeModel>
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, LoadOptions lo, EngineOptions eo)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), lo_(lo), eo_(eo) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      kernels();  // the self-test runs first: a failing kernel never serves
      engine_ = std::make_shared<Engine>(std::make_shared<const Model>(path_, lo_), eo_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    auto ext = Napi::External<std::shared_ptr<Engine>>::New(Env(), &engine_);
    deferred_.Resolve(NativeModel::ctor.New({ext}));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  LoadOptions lo_;
  EngineOptions eo_;
  std::shared_ptr<Engine> engine_;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadModel(path: string, options?: object)");
  LoadOptions lo;
  EngineOptions eo;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    const Opts op{env, o};
    auto flag = [&](const char* k) { return o.Has(k) && o.Get(k).ToBoolean().Value(); };
    eo.n_threads = op.whole("threads", 0, 0, 4096);
    eo.max_batch = std::max(1, op.whole("maxBatch", 8, 0, 4096));
    lo.n_ctx = op.whole("contextLength", 0, 0, INT_MAX);
    // The KV cache budget of all running requests (0: a quarter of physical memory); up to 2^53, exact in a double.
    const double kb = op.real("kvCacheBytes", 0, 0, 9007199254740992.0);
    if (kb != std::floor(kb)) op.bad("kvCacheBytes", "a whole number of bytes");
    eo.kv_budget = (uint64_t)kb;
    lo.head_int8 = flag("headInt8");
    lo.kv_int8 = flag("kvInt8");
    lo.kv_f32 = flag("kvF32");
  }
  auto* w = new LoadWorker(env, info[0].As<Napi::String>().Utf8Value(), lo, eo);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  NativeModel::Init(env, exports);
  exports.Set("kernelInfo", Napi::Function::New(env, KernelInfo));
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  InitErasure(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(magnet_native, Init)
