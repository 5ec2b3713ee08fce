// The golden vectors shared with the trainer and the daemon (test/golden/trainer, written by make_golden.py): the
// TQ2_0 bytes of the gguf package's own quantizer are what pack_tq2_0 writes, and unpack_tq2_0 reads them back.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../src/runtime/float_formats.h"
#include "../src/runtime/ternary_format.h"
#include "../src/runtime/gguf.h"
#include "check.h"

using namespace magnet;

#ifndef MAGNET_GOLDEN_DIR
#error "MAGNET_GOLDEN_DIR is set by CMakeLists.txt (the repository's test/golden)"
#endif

static std::string read_text(const std::string& path) {
  std::ifstream f(path);
  CHECK(f.good(), "cannot read %s", path.c_str());
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Where the value of "key" starts in a JSON text as make_golden.py writes it (no escapes in keys or values).
static size_t value_of(const std::string& doc, const char* key) {
  const std::string k = std::string("\"") + key + "\":";
  const size_t at = doc.find(k);
  CHECK(at != std::string::npos, "the golden file has no \"%s\"", key);
  return at == std::string::npos ? doc.size() : doc.find_first_not_of(" \n", at + k.size());
}

// The integers of the (nested) JSON array that starts at `at`.
static std::vector<int> int_array(const std::string& doc, size_t at) {
  std::vector<int> out;
  int depth = 0;
  for (size_t i = at; i < doc.size(); i++) {
    const char c = doc[i];
    if (c == '[') depth++;
    else if (c == ']' && --depth == 0) break;
    else if (c == '-' || (c >= '0' && c <= '9')) {
      char* end = nullptr;
      out.push_back((int)std::strtol(doc.c_str() + i, &end, 10));
      i = (size_t)(end - doc.c_str()) - 1;
    }
  }
  return out;
}

static std::vector<uint8_t> hex_bytes(const std::string& doc, size_t at) {
  std::vector<uint8_t> out;
  const size_t end = doc.find('"', at + 1);
  for (size_t i = at + 1; i + 1 < end; i += 2) out.push_back((uint8_t)std::strtoul(doc.substr(i, 2).c_str(), nullptr, 16));
  return out;
}

static void tq2_0_golden() {
  const std::string doc = read_text(MAGNET_GOLDEN_DIR "/trainer/tq2_0.json");
  const int rows = std::atoi(doc.c_str() + value_of(doc, "rows"));
  const int cols = std::atoi(doc.c_str() + value_of(doc, "cols"));
  const float d_f16 = (float)std::strtod(doc.c_str() + value_of(doc, "d_f16"), nullptr);
  const std::vector<int> ternary = int_array(doc, value_of(doc, "ternary"));
  const std::vector<uint8_t> packed = hex_bytes(doc, value_of(doc, "packed_hex"));
  const size_t blocks = (size_t)rows * cols / QK;
  CHECK(rows > 0 && cols % QK == 0 && ternary.size() == (size_t)rows * cols, "%d x %d, %zu values", rows, cols, ternary.size());
  CHECK(packed.size() == blocks * sizeof(block_tq2_0), "%zu packed bytes for %zu blocks", packed.size(), blocks);
  if (magnet_failures()) return;
  const uint16_t d = fp32_to_fp16(d_f16);
  for (size_t b = 0; b < blocks; b++) {
    int8_t w[QK], back[QK];
    for (int i = 0; i < QK; i++) w[i] = (int8_t)ternary[b * QK + i];
    block_tq2_0 mine, theirs;
    pack_tq2_0(w, d, &mine);
    std::memcpy(&theirs, packed.data() + b * sizeof(block_tq2_0), sizeof theirs);
    CHECK(std::memcmp(&mine, &theirs, sizeof mine) == 0, "block %zu: pack_tq2_0 differs from the gguf package's bytes", b);
    CHECK(theirs.d == d, "block %zu: scale 0x%04x, want f16(%g) = 0x%04x", b, theirs.d, d_f16, d);
    CHECK(unpack_tq2_0(theirs, back) && std::memcmp(back, w, QK) == 0, "block %zu: unpack_tq2_0 does not give the values back", b);
  }
  std::printf("  tq2_0.json: %zu blocks packed and unpacked byte for byte\n", blocks);
}

// The floats of the (flat) JSON array that starts at `at`.
static std::vector<double> float_array(const std::string& doc, size_t at) {
  std::vector<double> out;
  for (size_t i = at + 1; i < doc.size() && doc[i] != ']'; i++) {
    const char c = doc[i];
    if (c == '-' || (c >= '0' && c <= '9')) {
      char* end = nullptr;
      out.push_back(std::strtod(doc.c_str() + i, &end));
      i = (size_t)(end - doc.c_str()) - 1;
    }
  }
  return out;
}

// quants/rows.json: block bytes decoded by the gguf package; decode_float_row must give the same floats, and
// encode_float_row must write bytes that decode close to what it was given (Q4_0: half of a step of max/7).
static void float_format_golden() {
  const std::string doc = read_text(MAGNET_GOLDEN_DIR "/quants/rows.json");
  int cases = 0;
  for (size_t at = doc.find("{\"type\""); at != std::string::npos; at = doc.find("{\"type\"", at + 1), cases++) {
    const std::string c = doc.substr(at, doc.find('}', at) - at + 1);
    const uint32_t type = (uint32_t)std::atoi(c.c_str() + value_of(c, "type"));
    const int cols = std::atoi(c.c_str() + value_of(c, "cols"));
    const std::vector<uint8_t> raw = hex_bytes(c, value_of(c, "hex"));
    const std::vector<double> want = float_array(c, value_of(c, "values"));
    CHECK(raw.size() == float_row_bytes(type, cols) && want.size() == (size_t)cols, "type %u: %zu bytes, %zu values", type,
          raw.size(), want.size());
    if (magnet_failures()) return;
    std::vector<float> got(cols);
    decode_float_row(type, raw.data(), cols, got.data());
    int wrong = 0;
    for (int i = 0; i < cols; i++) wrong += got[i] != (float)want[i];
    CHECK(wrong == 0, "%s: %d of %d values differ from the gguf package's", ggml_type_name(type), wrong, cols);
    std::vector<uint8_t> again(raw.size());
    encode_float_row(type, got.data(), cols, again.data());
    std::vector<float> back(cols);
    decode_float_row(type, again.data(), cols, back.data());
    float amax = 0, worst = 0;
    for (int i = 0; i < cols; i++) amax = std::fmax(amax, std::fabs(got[i])), worst = std::fmax(worst, std::fabs(back[i] - got[i]));
    CHECK(worst <= amax / 8, "%s: encode then decode is off by %g (max |value| %g)", ggml_type_name(type), worst, amax);
    std::printf("  %s: %d values decoded as the gguf package does; round trip within %.3g of %.3g\n", ggml_type_name(type), cols, worst, amax);
  }
  CHECK(cases == 4, "%d float format cases", cases);
}

int main() {
  tq2_0_golden();
  float_format_golden();
  std::printf(magnet_failures() ? "test_golden: %d failures\n" : "test_golden: ok\n", magnet_failures());
  return magnet_failures() ? 1 : 0;
}
