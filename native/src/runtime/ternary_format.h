// Ternary block formats of llama.cpp (TQ2_0, TQ1_0) <-> ternary values {-1,0,1}, per ggml-quants.c's
// quantize_row_tq*_ref / dequantize_row_tq*: our generator writes them, our loader reads them.
#pragma once
#include <cstdint>

#include "../kernels/common.h"

namespace magnet {

// w: 256 values in {-1,0,1}; d: fp16 scale bits.
void pack_tq2_0(const int8_t* w, uint16_t d, block_tq2_0* out);
void pack_tq1_0(const int8_t* w, uint16_t d, block_tq1_0* out);
// Returns false when a 2-bit code is 3 (not a ternary value).
bool unpack_tq2_0(const block_tq2_0& b, int8_t* w);
// Every byte decodes to trits; returns false when a qh byte's unused fifth trit is not 0 (not from pack_tq1_0).
bool unpack_tq1_0(const block_tq1_0& b, int8_t* w);
// 256 values {-1,0,1} -> our kernel layout (64 bytes; byte 32h+m, bit pair l = code of weight 128h+32l+m).
void pack_kernel_block(const int8_t* w, uint8_t* out);

}  // namespace magnet
