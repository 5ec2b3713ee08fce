// Writes the GGUF fuzz seed corpus (seeds.h) into a directory: make_seeds DIR. The files are rebuilt on every
// run, so the corpus never depends on what was committed.
#include <cstdio>
#include <string>

#include "seeds.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  size_t total = 0, n = 0;
  for (const auto& s : magnet::seeds::all()) {
    const std::string path = std::string(argv[1]) + "/seed-" + s.name + ".gguf";
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(s.bytes.data(), 1, s.bytes.size(), f) != s.bytes.size() || std::fclose(f) != 0) {
      std::fprintf(stderr, "make_seeds: cannot write %s\n", path.c_str());
      return 1;
    }
    total += s.bytes.size(), n++;
  }
  std::printf("make_seeds: %zu seeds, %zu bytes, in %s\n", n, total, argv[1]);
  return 0;
}
