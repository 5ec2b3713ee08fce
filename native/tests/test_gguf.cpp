// Loader failure cases: each broken file is refused with an error naming the tensor or key.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "../src/runtime/model.h"
#include "../tools/random_model.h"
#include "check.h"

using namespace magnet;

static std::string load_error(const std::string& path) {
  try {
    Model m(path, LoadOptions{});
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  char tmpl[] = "/tmp/magnet-test-gguf-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  struct Case {
    const char* fault;
    const char* arch;
    const char* must_mention;
  };
  const Case cases[] = {
      {"", "llama", ""},
      {"truncate", "llama", "truncated"},
      {"bad_type", "llama", "blk.0.attn_v.weight"},
      {"bad_shape", "llama", "blk.1.attn_k.weight"},
      {"non_ternary", "llama", "blk.0.ffn_up.weight"},
      {"mixed_scales", "llama", "blk.0.attn_q.weight"},
      {"missing", "llama", "blk.0.ffn_down.weight"},
      {"", "bitnet-b1.58", "general.architecture"},
  };
  for (const Case& c : cases) {
    RandomModelSpec s;
    s.layers = 2;
    s.fault = c.fault;
    s.arch = c.arch;
    const std::string path = dir + "/m.gguf";
    write_random_model(s, path);
    const std::string err = load_error(path);
    std::printf("  fault '%s' arch %s -> %s\n", c.fault, c.arch, err.empty() ? "loads" : err.c_str());
    if (!*c.must_mention) CHECK(err.empty(), "a good file loads: %s", err.c_str());
    else CHECK(err.find(c.must_mention) != std::string::npos, "error names '%s': %s", c.must_mention, err.c_str());
    CHECK(access((path + ".tmp").c_str(), F_OK) != 0, "no temp file left behind");
  }
  {  // not a GGUF at all, and a missing file
    const std::string path = dir + "/junk.gguf";
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("this is not a model file, just some text long enough", f);
    std::fclose(f);
    CHECK(load_error(path).find("bad magic") != std::string::npos, "bad magic: %s", load_error(path).c_str());
    CHECK(load_error(dir + "/nope.gguf").find("cannot open") != std::string::npos, "missing file");
  }
  std::string cmd = "rm -rf " + dir;
  if (std::system(cmd.c_str()) != 0) std::printf("could not remove %s\n", dir.c_str());
  std::printf(magnet_failures() ? "test_gguf: %d failures\n" : "test_gguf: ok\n", magnet_failures());
  return magnet_failures() ? 1 : 0;
}
