// Writes a random ternary llama GGUF of a given shape (the trainer's export format): TQ2_0 or TQ1_0 BitLinear
// weights with one absmean-like scale per tensor, F16 embeddings/head, F32 norms, the byte-level tokenizer.
//   gen_model --out FILE [--preset tiny|small|2b4t] [--dim N --layers N --heads N --kv-heads N --ffn N
//             --vocab N --ctx N] [--type tq2_0|tq1_0|i2_s] [--tied] [--seed N] [--vocab-from TOKENIZER.gguf]
//             [--arch llama|bitnet|bitnet-b1.58] [--embd-type f32|f16|bf16|q8_0|q4_0|q6_k]
// --vocab-from copies the tokenizer.* keys of another GGUF (a real vocabulary) and sizes the embedding to it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "random_model.h"

using namespace magnet;

int main(int argc, char** argv) {
  std::string out;
  RandomModelSpec S;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gen_model: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--out") out = next();
    else if (a == "--preset") {
      std::string p = next();
      if (!preset_spec(p, S)) { std::fprintf(stderr, "gen_model: unknown preset %s (tiny, small, 2b4t)\n", p.c_str()); return 2; }
    } else if (a == "--dim") S.dim = std::atoi(next().c_str());
    else if (a == "--layers") S.layers = std::atoi(next().c_str());
    else if (a == "--heads") S.heads = std::atoi(next().c_str());
    else if (a == "--kv-heads") S.kv = std::atoi(next().c_str());
    else if (a == "--ffn") S.ffn = std::atoi(next().c_str());
    else if (a == "--vocab") S.vocab = std::atoi(next().c_str());
    else if (a == "--ctx") S.ctx = std::atoi(next().c_str());
    else if (a == "--type") S.type = next();
    else if (a == "--tied") S.tied = true;
    else if (a == "--seed") S.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--fault") S.fault = next();
    else if (a == "--vocab-from") S.vocab_from = next();
    else if (a == "--arch") S.arch = next();
    else if (a == "--embd-type") S.embd_type = next();
    else { std::fprintf(stderr, "gen_model: unknown argument %s\n", a.c_str()); return 2; }
  }
  if (out.empty() || S.dim % 256 || S.ffn % 256 || S.dim % S.heads || S.heads % S.kv || S.vocab < 258 ||
      (S.type != "tq2_0" && S.type != "tq1_0" && S.type != "i2_s")) {
    std::fprintf(stderr, "gen_model: need --out; dim and ffn multiples of 256; heads | dim; kv | heads; vocab >= 258; type tq2_0|tq1_0|i2_s\n");
    return 2;
  }
  try {
    write_random_model(S, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gen_model: %s\n", e.what());
    return 1;
  }
  std::printf("wrote %s (dim %d, layers %d, heads %d/%d, ffn %d, vocab %d, %s%s)\n", out.c_str(), S.dim, S.layers, S.heads,
              S.kv, S.ffn, S.vocab, S.type.c_str(), S.tied ? ", tied head" : "");
  return 0;
}
