// GGUF v3 reader over a read-only memory map. Every structural problem is a GgufError naming the key or tensor.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace magnet {

struct GgufError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum GgmlType : uint32_t {
  GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q8_0 = 8, GGML_Q6_K = 14, GGML_BF16 = 30,
  GGML_TQ1_0 = 34, GGML_TQ2_0 = 35,
  GGML_I2_S = 36,  // bitnet.cpp's ternary format (x86 layout); llama.cpp later gave 36 to IQ4_NL_4_4
};
enum GgufValueType : uint32_t {
  GV_U8 = 0, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING, GV_ARRAY, GV_U64, GV_I64, GV_F64
};

struct GgufValue {
  uint32_t type = 0;
  double num = 0;          // any numeric / bool scalar
  std::string str;         // GV_STRING
  uint32_t arr_type = 0;   // GV_ARRAY element type
  uint64_t arr_len = 0;
  std::vector<std::string> arr_str;
  std::vector<double> arr_num;
};

struct GgufTensor {
  std::string name;
  std::vector<uint64_t> ne;  // ne[0] is the row length (fastest dimension)
  uint32_t type = 0;
  uint64_t offset = 0;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  uint64_t n_elements = 0;  // product of ne, computed once with an overflow check when the file is parsed
  uint64_t nelements() const { return n_elements; }
};

// Bytes of `n` elements of `type` (row length `ne0`); throws GgufError for unknown types or bad row lengths.
size_t ggml_nbytes(uint32_t type, uint64_t n, uint64_t ne0, const std::string& tensor);
const char* ggml_type_name(uint32_t type);

// Limits on what a file may declare, checked before anything is sized from it.
constexpr uint64_t GGUF_MAX_TENSORS = 100000, GGUF_MAX_KV = 100000;
constexpr uint64_t GGUF_MAX_STRING = 1u << 24;   // bytes of one key, value or tensor name
constexpr uint32_t GGUF_MAX_DIMS = 4;
constexpr uint64_t GGUF_MAX_DIM = 1ull << 32;    // one dimension
constexpr uint64_t GGUF_MAX_ALIGNMENT = 1u << 24;

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  // Parses a GGUF image already in memory (the fuzz target, tests). `data` is borrowed: it must stay valid and
  // unchanged for the life of this object and be at least 4-byte aligned; `name` stands for the path in errors.
  GgufFile(const uint8_t* data, size_t size, const std::string& name);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  const uint8_t* base() const { return base_; }
  const std::map<std::string, GgufValue>& kv() const { return kv_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;
  const GgufValue* find_kv(const std::string& key) const;
  // Typed accessors: missing or mistyped keys throw, naming the key; the *_or forms fall back to a default.
  std::string get_str(const std::string& key) const;
  double get_num(const std::string& key) const;
  double get_num_or(const std::string& key, double def) const;
  // Releases the pages of [p, p+n) from this process (they stay in the page cache): used after repacking.
  // A no-op for a borrowed memory image, whose pages are the caller's.
  void drop_pages(const uint8_t* p, size_t n) const;

 private:
  void parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // base_ is our mmap (unmapped in the destructor), not a borrowed buffer
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> index_;
};

}  // namespace magnet
