#include "gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "checked.h"
#include "float_formats.h"

namespace magnet {

const char* ggml_type_name(uint32_t type) {
  switch (type) {
    case GGML_F32: return "F32";
    case GGML_F16: return "F16";
    case GGML_TQ1_0: return "TQ1_0";
    case GGML_TQ2_0: return "TQ2_0";
    case GGML_Q4_0: return "Q4_0";
    case GGML_Q8_0: return "Q8_0";
    case GGML_Q6_K: return "Q6_K";
    case GGML_BF16: return "BF16";
    case GGML_I2_S: return "I2_S";
    default: return "unsupported";
  }
}

size_t ggml_nbytes(uint32_t type, uint64_t n, uint64_t ne0, const std::string& tensor) {
  const std::string what = "tensor '" + tensor + "' byte size";
  uint64_t bytes;
  switch (type) {
    case GGML_F32: bytes = checked_mul(n, 4, what); break;
    case GGML_F16: bytes = checked_mul(n, 2, what); break;
    case GGML_TQ1_0:
    case GGML_TQ2_0:
      if (ne0 % 256 != 0)
        throw GgufError("tensor '" + tensor + "': row length " + std::to_string(ne0) + " is not a multiple of 256 (" +
                        ggml_type_name(type) + ")");
      bytes = checked_mul(n / 256, type == GGML_TQ2_0 ? 66 : 54, what);
      break;
    case GGML_I2_S:
      // bitnet.cpp: 2 bits per weight in blocks of 128, then one float scale for the whole tensor (32 bytes
      // reserved for it), so a file cut inside that tail is truncated like any other tensor.
      if (n % 128 != 0)
        throw GgufError("tensor '" + tensor + "': " + std::to_string(n) + " values is not a multiple of 128 (I2_S)");
      bytes = checked_add(n / 4, 32, what);
      break;
    case GGML_Q4_0:
    case GGML_Q8_0:
    case GGML_Q6_K:
    case GGML_BF16: {
      const size_t row = float_row_bytes(type, ne0);
      if (row == 0)
        throw GgufError("tensor '" + tensor + "': row length " + std::to_string(ne0) + " is not a whole number of " +
                        ggml_type_name(type) + " blocks");
      bytes = checked_mul(n / ne0, row, what);
      break;
    }
    default:
      throw GgufError("tensor '" + tensor + "': unsupported tensor type " + std::to_string(type) + " (" +
                      ggml_type_name(type) + "); supported: F32, F16, BF16, Q8_0, Q4_0, Q6_K, TQ1_0, TQ2_0, I2_S");
  }
  if (bytes > SIZE_MAX) throw GgufError(what + ": size overflows");
  return (size_t)bytes;
}

namespace {

// Bytes of one array element of value type t in the file (strings: their 8-byte length at least); 0 if unknown.
uint64_t min_value_bytes(uint32_t t) {
  switch (t) {
    case GV_U8: case GV_I8: case GV_BOOL: return 1;
    case GV_U16: case GV_I16: return 2;
    case GV_U32: case GV_I32: case GV_F32: return 4;
    case GV_U64: case GV_I64: case GV_F64: case GV_STRING: return 8;
    default: return 0;
  }
}

// Bounds-checked cursor over the header. Every length read from the file is compared with the bytes left
// before anything is allocated or copied for it.
struct Reader {
  const uint8_t* p;
  size_t size, pos = 0;
  std::string path;
  size_t left() const { return size - pos; }
  void need(uint64_t n, const std::string& what) {
    if (n > left()) throw GgufError("gguf " + path + ": file truncated while reading " + what);
  }
  template <class T>
  T get(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str(const std::string& what) {
    uint64_t n = get<uint64_t>(what);
    if (n > GGUF_MAX_STRING) throw GgufError("gguf " + path + ": string length " + std::to_string(n) + " too large in " + what);
    need(n, what);
    std::string s((const char*)p + pos, (size_t)n);
    pos += (size_t)n;
    return s;
  }
  double scalar(uint32_t t, const std::string& what) {
    switch (t) {
      case GV_U8: return get<uint8_t>(what);
      case GV_I8: return get<int8_t>(what);
      case GV_U16: return get<uint16_t>(what);
      case GV_I16: return get<int16_t>(what);
      case GV_U32: return get<uint32_t>(what);
      case GV_I32: return get<int32_t>(what);
      case GV_F32: return get<float>(what);
      case GV_BOOL: return get<uint8_t>(what);
      case GV_U64: return (double)get<uint64_t>(what);  // any uint64 converts (rounded); users range-check it
      case GV_I64: return (double)get<int64_t>(what);
      case GV_F64: return get<double>(what);
      default: throw GgufError("gguf " + path + ": unknown value type " + std::to_string(t) + " in " + what);
    }
  }
};

}  // namespace

GgufFile::GgufFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw GgufError("cannot open model file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 24) {
    ::close(fd);
    throw GgufError("gguf " + path + ": file truncated (" + std::to_string((long long)st.st_size) + " bytes)");
  }
  size_ = (size_t)st.st_size;
  void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw GgufError("cannot mmap model file " + path + ": " + std::strerror(errno));
  base_ = (const uint8_t*)m;
  mapped_ = true;
  try {
    parse();
  } catch (...) {
    munmap((void*)base_, size_);
    base_ = nullptr;
    throw;
  }
}

GgufFile::GgufFile(const uint8_t* data, size_t size, const std::string& name) : path_(name), base_(data), size_(size) {
  if (size < 24) throw GgufError("gguf " + name + ": file truncated (" + std::to_string(size) + " bytes)");
  if ((uintptr_t)data % 4) throw GgufError("gguf " + name + ": memory image is not 4-byte aligned");
  parse();
}

void GgufFile::parse() {
  const std::string& path = path_;
  Reader r{base_, size_, 0, path};
  if (std::memcmp(base_, "GGUF", 4) != 0) throw GgufError("gguf " + path + ": not a GGUF file (bad magic)");
  r.pos = 4;
  uint32_t version = r.get<uint32_t>("version");
  if (version != 3 && version != 2)
    throw GgufError("gguf " + path + ": unsupported GGUF version " + std::to_string(version) + " (need 3)");
  uint64_t n_tensors = r.get<uint64_t>("tensor count"), n_kv = r.get<uint64_t>("kv count");
  if (n_tensors > GGUF_MAX_TENSORS || n_kv > GGUF_MAX_KV)
    throw GgufError("gguf " + path + ": implausible tensor/kv counts (" + std::to_string(n_tensors) + " tensors, " +
                    std::to_string(n_kv) + " keys)");
  for (uint64_t i = 0; i < n_kv; i++) {
    std::string key = r.str("key #" + std::to_string(i));
    if (kv_.count(key)) throw GgufError("gguf " + path + ": key '" + key + "' appears twice");
    GgufValue v;
    v.type = r.get<uint32_t>("type of key '" + key + "'");
    const std::string what = "value of key '" + key + "'";
    if (v.type == GV_STRING) {
      v.str = r.str(what);
    } else if (v.type == GV_ARRAY) {
      v.arr_type = r.get<uint32_t>(what);
      v.arr_len = r.get<uint64_t>(what);
      if (v.arr_type == GV_ARRAY) throw GgufError("gguf " + path + ": nested arrays not supported in " + what);
      const uint64_t elem = min_value_bytes(v.arr_type);
      if (elem == 0) throw GgufError("gguf " + path + ": unknown array element type " + std::to_string(v.arr_type) + " in " + what);
      // Every element takes at least `elem` bytes, so a longer array cannot fit in what is left of the file:
      // refuse it before reserving memory for it.
      if (v.arr_len > r.left() / elem)
        throw GgufError("gguf " + path + ": array of " + std::to_string(v.arr_len) + " elements runs past the end in " + what);
      if (v.arr_type == GV_STRING) v.arr_str.reserve((size_t)v.arr_len);
      else v.arr_num.reserve((size_t)v.arr_len);
      for (uint64_t j = 0; j < v.arr_len; j++) {
        if (v.arr_type == GV_STRING) v.arr_str.push_back(r.str(what));
        else v.arr_num.push_back(r.scalar(v.arr_type, what));
      }
    } else {
      v.num = r.scalar(v.type, what);
    }
    kv_[key] = std::move(v);
  }
  for (uint64_t i = 0; i < n_tensors; i++) {
    GgufTensor t;
    t.name = r.str("tensor info #" + std::to_string(i));
    const std::string what = "tensor info '" + t.name + "'";
    uint32_t nd = r.get<uint32_t>(what);
    if (nd == 0 || nd > GGUF_MAX_DIMS) throw GgufError("tensor '" + t.name + "': bad dimension count " + std::to_string(nd));
    for (uint32_t d = 0; d < nd; d++) t.ne.push_back(r.get<uint64_t>(what));
    t.type = r.get<uint32_t>(what);
    t.offset = r.get<uint64_t>(what);
    if (index_.count(t.name)) throw GgufError("tensor '" + t.name + "' appears twice");
    index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  const uint64_t align = (uint64_t)whole_in_range(get_num_or("general.alignment", 32), 1, GGUF_MAX_ALIGNMENT,
                                                  "gguf " + path + ": key 'general.alignment'");
  if (align & (align - 1)) throw GgufError("gguf " + path + ": key 'general.alignment' is not a power of two");
  // r.pos <= size and align <= 2^24, so this sum cannot wrap; the data section may still start past the end.
  const uint64_t data_start = (r.pos + align - 1) / align * align;
  for (auto& t : tensors_) {
    uint64_t n = 1;
    for (auto d : t.ne) {
      if (d == 0 || d > GGUF_MAX_DIM) throw GgufError("tensor '" + t.name + "': bad dimension " + std::to_string(d));
      n = checked_mul(n, d, "tensor '" + t.name + "' element count");
    }
    t.n_elements = n;
    t.nbytes = ggml_nbytes(t.type, n, t.ne[0], t.name);
    if (t.offset % align) throw GgufError("tensor '" + t.name + "': data offset not aligned");
    const uint64_t end = checked_add(checked_add(data_start, t.offset, "tensor '" + t.name + "' data offset"), t.nbytes,
                                     "tensor '" + t.name + "' data end");
    if (end > size_)
      throw GgufError("gguf " + path + ": file truncated: data of tensor '" + t.name + "' runs past the end (" +
                      std::to_string(size_) + " bytes)");
    t.data = base_ + data_start + t.offset;
    // Float tensors are read through float / uint16 pointers: an alignment below their element size (possible
    // with general.alignment 1 or 2) would make those reads misaligned.
    const uintptr_t elem = t.type == GGML_F32 ? 4 : t.type == GGML_F16 ? 2 : 1;
    if ((uintptr_t)t.data % elem) throw GgufError("tensor '" + t.name + "': data not aligned for " + ggml_type_name(t.type));
  }
}

GgufFile::~GgufFile() {
  if (base_ && mapped_) munmap((void*)base_, size_);
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const GgufValue* GgufFile::find_kv(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::string GgufFile::get_str(const std::string& key) const {
  const GgufValue* v = find_kv(key);
  if (!v) throw GgufError("gguf " + path_ + ": missing key '" + key + "'");
  if (v->type != GV_STRING) throw GgufError("gguf " + path_ + ": key '" + key + "' is not a string");
  return v->str;
}

double GgufFile::get_num(const std::string& key) const {
  const GgufValue* v = find_kv(key);
  if (!v) throw GgufError("gguf " + path_ + ": missing key '" + key + "'");
  if (v->type == GV_STRING || v->type == GV_ARRAY) throw GgufError("gguf " + path_ + ": key '" + key + "' is not a number");
  return v->num;
}

double GgufFile::get_num_or(const std::string& key, double def) const {
  return find_kv(key) ? get_num(key) : def;
}

void GgufFile::drop_pages(const uint8_t* p, size_t n) const {
  if (!mapped_) return;  // MADV_DONTNEED on a borrowed heap buffer would zero the caller's memory
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), e = ((uintptr_t)p + n) & ~(page - 1);
  if (e > a) madvise((void*)a, e - a, MADV_DONTNEED);
}

}  // namespace magnet
