// A small GGUF v3 writer (header-only) for the model generator, the loader's failure tests and the fuzz seeds.
// Writes to PATH.tmp and renames, so a failed run never leaves a half-written model; bytes() builds the same
// image in memory (small models only).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

#include "gguf.h"

namespace magnet {

class GgufWriter {
 public:
  void add_str(const std::string& k, const std::string& v) { key(k, GV_STRING); str(kv_, v); }
  void add_u32(const std::string& k, uint32_t v) { key(k, GV_U32); pod(kv_, v); }
  void add_f32(const std::string& k, float v) { key(k, GV_F32); pod(kv_, v); }
  void add_f64(const std::string& k, double v) { key(k, GV_F64); pod(kv_, v); }
  void add_u64(const std::string& k, uint64_t v) { key(k, GV_U64); pod(kv_, v); }
  // A key with any type code and raw value bytes (broken files for the fuzz seeds: unknown types, huge arrays).
  void add_raw(const std::string& k, uint32_t type, const std::vector<uint8_t>& value) {
    key(k, type);
    kv_.insert(kv_.end(), value.begin(), value.end());
  }
  void add_arr_str(const std::string& k, const std::vector<std::string>& v) {
    key(k, GV_ARRAY);
    pod(kv_, (uint32_t)GV_STRING);
    pod(kv_, (uint64_t)v.size());
    for (auto& s : v) str(kv_, s);
  }
  void add_arr_i32(const std::string& k, const std::vector<int32_t>& v) { arr(k, GV_I32, v); }
  void add_arr_f32(const std::string& k, const std::vector<float>& v) { arr(k, GV_F32, v); }

  // `fill` writes exactly `nbytes` into the buffer it is given, when the file is written.
  void add_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, size_t nbytes,
                  std::function<void(uint8_t*)> fill) {
    tensors_.push_back({name, std::move(ne), type, nbytes, std::move(fill)});
  }

  void write(const std::string& path, size_t truncate_to = 0) const {
    const std::vector<uint8_t> head = header();
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + tmp);
    bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();
    std::vector<uint8_t> buf;
    for (auto& t : tensors_) {
      buf.assign((t.nbytes + 31) / 32 * 32, 0);
      t.fill(buf.data());
      ok = ok && std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
    }
    ok = std::fclose(f) == 0 && ok;
    if (ok && truncate_to) ok = ::truncate(tmp.c_str(), (off_t)truncate_to) == 0;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw std::runtime_error("failed writing " + path);
    }
  }

  // The whole file image in memory.
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out = header();
    for (auto& t : tensors_) {
      const size_t at = out.size();
      out.resize(at + (t.nbytes + 31) / 32 * 32, 0);
      t.fill(out.data() + at);
    }
    return out;
  }

 private:
  struct T {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    size_t nbytes;
    std::function<void(uint8_t*)> fill;
  };
  // Magic, counts, key/values, tensor infos (data offsets 32-byte aligned), padded to 32 bytes.
  std::vector<uint8_t> header() const {
    std::vector<uint8_t> head;
    head.insert(head.end(), {'G', 'G', 'U', 'F'});
    pod(head, (uint32_t)3);
    pod(head, (uint64_t)tensors_.size());
    pod(head, (uint64_t)n_kv_);
    head.insert(head.end(), kv_.begin(), kv_.end());
    uint64_t off = 0;
    for (auto& t : tensors_) {
      str(head, t.name);
      pod(head, (uint32_t)t.ne.size());
      for (auto d : t.ne) pod(head, d);
      pod(head, t.type);
      pod(head, off);
      off += (t.nbytes + 31) / 32 * 32;
    }
    while (head.size() % 32) head.push_back(0);
    return head;
  }
  template <class V>
  static void pod(std::vector<uint8_t>& b, V v) {
    const uint8_t* p = (const uint8_t*)&v;
    b.insert(b.end(), p, p + sizeof(V));
  }
  static void str(std::vector<uint8_t>& b, const std::string& s) {
    pod(b, (uint64_t)s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void key(const std::string& k, uint32_t type) {
    n_kv_++;
    str(kv_, k);
    pod(kv_, type);
  }
  template <class V>
  void arr(const std::string& k, uint32_t et, const std::vector<V>& v) {
    key(k, GV_ARRAY);
    pod(kv_, et);
    pod(kv_, (uint64_t)v.size());
    for (auto x : v) pod(kv_, x);
  }
  std::vector<uint8_t> kv_;
  size_t n_kv_ = 0;
  std::vector<T> tensors_;
};

}  // namespace magnet
