#pragma once
#include <napi.h>

namespace magnet {
// rsInfo(), rsEncode(k, m, data[], parity[]) and rsReconstruct(k, m, shards[], present[]): the Reed-Solomon codec,
// run on the libuv pool (never on the event loop) over the caller's buffers.
void InitErasure(Napi::Env env, Napi::Object exports);
}  // namespace magnet
