// The float formats a model's embeddings and head may be stored in (F32, F16, BF16, and llama.cpp's Q8_0, Q4_0 and
// Q6_K blocks), decoded one row at a time: the scalar reference every faster path is checked against.
#pragma once
#include <cstddef>
#include <cstdint>

namespace magnet {

// Bytes of one row of `cols` values of GGUF type `type`; 0 when the type is not a float format we decode or
// `cols` is not a whole number of its blocks.
size_t float_row_bytes(uint32_t type, uint64_t cols);
// Decodes `cols` values of one row (row_bytes as above) into out.
void decode_float_row(uint32_t type, const uint8_t* row, int cols, float* out);
bool is_float_format(uint32_t type);
// The inverse, for the model generator and the tests (round to nearest, per-block absmax scales).
void encode_float_row(uint32_t type, const float* x, int cols, uint8_t* row);

}  // namespace magnet
