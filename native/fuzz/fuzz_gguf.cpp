// libFuzzer target for the GGUF reader and model loader (see load_image.h). Built by native/fuzz/run.sh with
// clang -fsanitize=fuzzer,address,undefined; a loader error is an expected outcome, so it is swallowed here.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "load_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    magnet::load_image(data, size);
  } catch (const std::logic_error&) {
    std::abort();  // a sampled token outside the vocabulary: report it as a crash
  }
  return 0;
}
