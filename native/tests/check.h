// Minimal test harness: CHECK records a failure with its location; main returns non-zero when any failed.
#pragma once
#include <cstdio>

inline int& magnet_failures() {
  static int n = 0;
  return n;
}
#define CHECK(cond, ...)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      magnet_failures()++;                                                        \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
      std::fprintf(stderr, "" __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                                 \
    }                                                                             \
  } while (0)
