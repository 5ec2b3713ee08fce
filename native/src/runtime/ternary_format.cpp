#include "ternary_format.h"

namespace magnet {

void pack_tq2_0(const int8_t* w, uint16_t d, block_tq2_0* out) {
  for (int j = 0; j < 64; j += 32)
    for (int m = 0; m < 32; m++) {
      uint8_t q = 0;
      for (int n = 0; n < 4; n++) q |= (uint8_t)((w[j * 4 + n * 32 + m] + 1) & 3) << (2 * n);
      out->qs[j + m] = q;
    }
  out->d = d;
}

bool unpack_tq2_0(const block_tq2_0& b, int8_t* w) {
  bool ok = true;
  for (int j = 0; j < 64; j += 32)
    for (int l = 0; l < 4; l++)
      for (int m = 0; m < 32; m++) {
        int c = (b.qs[j + m] >> (2 * l)) & 3;
        ok = ok && c != 3;
        w[j * 4 + l * 32 + m] = (int8_t)(c - 1);
      }
  return ok;
}

void pack_tq1_0(const int8_t* w, uint16_t d, block_tq1_0* out) {
  // qs[0..31]: 5 trits of weights m + 32n; qs[32..47]: 5 trits of 160 + m + 16n; qh[0..3]: 4 trits of 240 + j + 4n.
  for (int m = 0; m < 32; m++) {
    unsigned q = 0;
    for (int n = 0; n < 5; n++) q = q * 3 + (unsigned)(w[m + 32 * n] + 1);
    out->qs[m] = (uint8_t)((q * 256 + 242) / 243);
  }
  for (int m = 0; m < 16; m++) {
    unsigned q = 0;
    for (int n = 0; n < 5; n++) q = q * 3 + (unsigned)(w[160 + m + 16 * n] + 1);
    out->qs[32 + m] = (uint8_t)((q * 256 + 242) / 243);
  }
  for (int j = 0; j < 4; j++) {
    unsigned q = 0;
    for (int n = 0; n < 4; n++) q = q * 3 + (unsigned)(w[240 + j + 4 * n] + 1);
    q *= 3;  // the fifth trit slot is unused
    out->qh[j] = (uint8_t)((q * 256 + 242) / 243);
  }
  out->d = d;
}

namespace {
inline int trit(uint8_t byte, int n) {
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
  uint8_t q = (uint8_t)(byte * pow3[n]);
  return ((uint16_t)q * 3) >> 8;
}
}  // namespace

bool unpack_tq1_0(const block_tq1_0& b, int8_t* w) {
  bool ok = true;
  for (int n = 0; n < 5; n++)
    for (int m = 0; m < 32; m++) w[m + 32 * n] = (int8_t)(trit(b.qs[m], n) - 1);
  for (int n = 0; n < 5; n++)
    for (int m = 0; m < 16; m++) w[160 + m + 16 * n] = (int8_t)(trit(b.qs[32 + m], n) - 1);
  for (int n = 0; n < 4; n++)
    for (int j = 0; j < 4; j++) w[240 + j + 4 * n] = (int8_t)(trit(b.qh[j], n) - 1);
  for (int j = 0; j < 4; j++) ok = ok && trit(b.qh[j], 4) == 0;  // the unused fifth trit of qh is 0
  return ok;
}

void pack_kernel_block(const int8_t* w, uint8_t* out) {
  for (int h = 0; h < 2; h++)
    for (int m = 0; m < 32; m++) {
      uint8_t q = 0;
      for (int l = 0; l < 4; l++) q |= (uint8_t)((w[128 * h + 32 * l + m] + 1) & 3) << (2 * l);
      out[32 * h + m] = q;
    }
}

}  // namespace magnet
