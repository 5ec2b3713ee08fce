// Replays the GGUF fuzz corpus through the fuzzer's own path (fuzz/load_image.h) with the normal compiler:
// every generated seed must load or be refused exactly as seeds.h says, and every file in fuzz/regressions/
// (inputs that once crashed), fuzz/found/ (the fuzzer's small inputs, committed) and fuzz/corpus/ (the local
// fuzzer's corpus, when a run has left one) must load or end in an error. Built twice by CMake: plain, and with
// ASan + UBSan where gcc has them.
//   test_gguf_corpus [DIR...]   (default: regressions, found and corpus under MAGNET_FUZZ_DIR)
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "../fuzz/load_image.h"
#include "../fuzz/seeds.h"
#include "check.h"

using namespace magnet;

static std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

static bool read_file(const std::string& path, std::vector<uint8_t>& out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  out.clear();
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return true;
}

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  int seeds = 0, loaded = 0;
  for (const auto& s : seeds::all()) {
    std::string err;
    try {
      err = load_image(s.bytes.data(), s.bytes.size());
    } catch (const std::exception& e) {
      CHECK(false, "seed %s: escaped the loader: %s", s.name.c_str(), e.what());
      continue;
    }
    seeds++;
    loaded += err.empty();
    std::printf("  seed %-24s %s\n", s.name.c_str(), err.empty() ? "loads" : err.c_str());
    if (s.loads) CHECK(err.empty(), "seed %s must load: %s", s.name.c_str(), err.c_str());
    else CHECK(!err.empty(), "seed %s must be refused, but it loads", s.name.c_str());
  }
  std::printf("  %d generated seeds: %d load, %d refused\n", seeds, loaded, seeds - loaded);

  std::vector<std::string> dirs;
  for (int i = 1; i < argc; i++) dirs.push_back(argv[i]);
  if (dirs.empty())
    for (const char* d : {"regressions", "found", "corpus"}) dirs.push_back(std::string(MAGNET_FUZZ_DIR) + "/" + d);
  for (const std::string& dir : dirs) {
    int n = 0, ok = 0;
    std::vector<uint8_t> bytes;
    for (const std::string& path : files_in(dir)) {
      if (!read_file(path, bytes)) continue;  // a subdirectory or unreadable entry
      try {
        ok += load_image(bytes.data(), bytes.size()).empty();
      } catch (const std::exception& e) {
        CHECK(false, "%s: escaped the loader: %s", path.c_str(), e.what());
      }
      n++;
    }
    std::printf("  %s: %d files replayed, %d load, no crash\n", dir.c_str(), n, ok);
  }
  std::printf(magnet_failures() ? "test_gguf_corpus: %d failures\n" : "test_gguf_corpus: ok\n", magnet_failures());
  return magnet_failures() ? 1 : 0;
}
