// The path the GGUF fuzzer exercises, shared by the fuzz target (clang, libFuzzer) and the corpus replay test
// (gcc, `npm run test:native`): parse a GGUF image from memory, load it as a model and, when it loads, run one
// decode step and sample a token. A bad image must end in an exception; anything else (a crash, a sanitizer
// report, a token outside the vocabulary) is a bug.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../src/kernels/dispatch.h"
#include "../src/runtime/forward.h"
#include "../src/runtime/model.h"
#include "../src/runtime/sampler.h"
#include "../src/runtime/thread_pool.h"

namespace magnet {

// Returns "" when the image loads (and decodes), else the loader's error message.
inline std::string load_image(const uint8_t* data, size_t size) {
  // An exactly sized copy: 4-byte aligned as GgufFile wants, and ASan sees any read past the image's end.
  const std::vector<uint8_t> image(data, data + size);
  LoadOptions lo;
  lo.head_int8 = size % 2 == 1;  // both head paths, chosen by the input so a replay takes the same one
  lo.n_ctx = 4;
  std::unique_ptr<Model> m;
  try {
    m = std::make_unique<Model>(std::make_unique<GgufFile>(image.data(), image.size(), "fuzz-input"), lo);
  } catch (const std::exception& e) {
    return e.what();
  }
  (void)m->meta("magnet.round");
  (void)m->meta("tokenizer.ggml.tokens");
  // One token through every layer: the shapes the loader accepted must be the ones forward() reads.
  static ThreadPool pool(1);
  const ModelConfig& c = m->config();
  Scratch sc(c, 1, 1);
  KvCache cache(c, 1, KvCache::type_for(lo));
  std::vector<float> logits(c.vocab);
  BatchItem item{&cache, c.bos, 0, logits.data()};
  forward(*m, kernels(), pool, sc, &item, 1);
  SamplingParams sp;
  sp.top_k = 4;
  sp.top_p = 0.9f;
  sp.seed = size;
  Sampler s(sp);
  const int t = s.sample(logits.data(), c.vocab);
  if (t < 0 || t >= c.vocab) throw std::logic_error("sampled token " + std::to_string(t) + " outside the vocabulary");
  return "";
}

}  // namespace magnet
