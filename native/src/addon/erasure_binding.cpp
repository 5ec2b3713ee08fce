// N-API over the Reed-Solomon codec. The JS buffers are held by references until the work finishes, and the codec
// writes into them in place: nothing is copied.
#include "erasure_binding.h"

#include <memory>
#include <string>
#include <vector>

#include "../erasure/reed_solomon.h"

namespace magnet {
namespace {

class CodecWorker : public Napi::AsyncWorker {
 public:
  CodecWorker(Napi::Env env, int k, int m, std::vector<uint8_t*> shards, std::vector<bool> present, size_t len,
              bool encode, const std::vector<Napi::Value>& keep)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        k_(k),
        m_(m),
        shards_(std::move(shards)),
        present_(std::move(present)),
        len_(len),
        encode_(encode) {
    for (const auto& v : keep) refs_.push_back(Napi::Persistent(v));
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      const rs::Codec codec(k_, m_, rs::kernel());
      if (encode_) {
        codec.encode(shards_.data(), shards_.data() + k_, len_);
      } else {
        bool flags[rs::kMaxShards];
        for (int i = 0; i < k_ + m_; i++) flags[i] = present_[i];
        codec.reconstruct(shards_.data(), flags, len_);
      }
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int k_, m_;
  std::vector<uint8_t*> shards_;
  std::vector<bool> present_;
  size_t len_;
  bool encode_;
  std::vector<Napi::Reference<Napi::Value>> refs_;
};

int whole(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != (double)(int)v || v < 1 || v > rs::kMaxShards)
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a whole number from 1 to " + std::to_string(rs::kMaxShards));
  return (int)v;
}

// Collects `count` Uint8Arrays of one length from arrays a (and b, appended) for the worker.
size_t collect(Napi::Env env, const std::vector<Napi::Array>& arrays, size_t count, std::vector<uint8_t*>* ptrs,
               std::vector<Napi::Value>* keep) {
  size_t len = 0;
  for (const auto& arr : arrays)
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw Napi::TypeError::New(env, "every shard must be a Uint8Array");
      auto u = v.As<Napi::Uint8Array>();
      if (ptrs->empty()) len = u.ByteLength();
      else if (u.ByteLength() != len)
        throw Napi::RangeError::New(env, "shards differ in length: " + std::to_string(u.ByteLength()) + " bytes against " + std::to_string(len));
      ptrs->push_back(u.Data());
      keep->push_back(v);
    }
  if (ptrs->size() != count)
    throw Napi::RangeError::New(env, "expected " + std::to_string(count) + " shards, got " + std::to_string(ptrs->size()));
  return len;
}

Napi::Value RsEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[2].IsArray() || !info[3].IsArray())
    throw Napi::TypeError::New(env, "rsEncode(k, m, data: Uint8Array[], parity: Uint8Array[])");
  const int k = whole(info, 0, "k"), m = whole(info, 1, "m");
  if (k + m > rs::kMaxShards) throw Napi::RangeError::New(env, "K+M must be at most " + std::to_string(rs::kMaxShards));
  const auto data = info[2].As<Napi::Array>(), parity = info[3].As<Napi::Array>();
  if (data.Length() != (uint32_t)k || parity.Length() != (uint32_t)m)
    throw Napi::RangeError::New(env, "expected " + std::to_string(k) + " data and " + std::to_string(m) + " parity shards");
  std::vector<uint8_t*> ptrs;
  std::vector<Napi::Value> keep;
  const size_t len = collect(env, {data, parity}, (size_t)(k + m), &ptrs, &keep);
  auto* w = new CodecWorker(env, k, m, std::move(ptrs), {}, len, true, keep);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value RsReconstruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[2].IsArray() || !info[3].IsArray())
    throw Napi::TypeError::New(env, "rsReconstruct(k, m, shards: Uint8Array[], present: boolean[])");
  const int k = whole(info, 0, "k"), m = whole(info, 1, "m");
  if (k + m > rs::kMaxShards) throw Napi::RangeError::New(env, "K+M must be at most " + std::to_string(rs::kMaxShards));
  const auto shards = info[2].As<Napi::Array>(), flags = info[3].As<Napi::Array>();
  if (flags.Length() != (uint32_t)(k + m)) throw Napi::RangeError::New(env, "present must have K+M flags");
  std::vector<bool> present(k + m);
  for (int i = 0; i < k + m; i++) present[i] = flags.Get(i).ToBoolean().Value();
  std::vector<uint8_t*> ptrs;
  std::vector<Napi::Value> keep;
  const size_t len = collect(env, {shards}, (size_t)(k + m), &ptrs, &keep);
  auto* w = new CodecWorker(env, k, m, std::move(ptrs), std::move(present), len, false, keep);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value RsInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", rs::available_kernels());
  try {
    o.Set("kernel", rs::kernel().name);
  } catch (const std::exception& e) {
    o.Set("kernel", env.Null());
    o.Set("error", e.what());
  }
  return o;
}

}  // namespace

void InitErasure(Napi::Env env, Napi::Object exports) {
  exports.Set("rsInfo", Napi::Function::New(env, RsInfo));
  exports.Set("rsEncode", Napi::Function::New(env, RsEncode));
  exports.Set("rsReconstruct", Napi::Function::New(env, RsReconstruct));
}

}  // namespace magnet
