// The golden vectors shared with the trainer and the daemon (test/golden/trainer, written by make_golden.py): the
// TQ2_0 bytes of the gguf package's own quantizer are what pack_tq2_0 writes, and unpack_tq2_0 reads them back.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../src/runtime/ternary_format.h"
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

int main() {
  tq2_0_golden();
  std::printf(magnet_failures() ? "test_golden: %d failures\n" : "test_golden: ok\n", magnet_failures());
  return magnet_failures() ? 1 : 0;
}
