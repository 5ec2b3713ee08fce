import { MagnetError } from '../../util/errors.js';
import { nativeShardCodec } from './native-codec.js';
import type { ShardCodec } from './shard-codec.js';
import { wasmShardCodec } from './wasm-codec.js';

let chosen: { codec: ShardCodec; fallback?: string } | undefined;

/**
 * The codec for this process: the addon's SIMD codec, off the event loop, when it is built and its self-test passed;
 * otherwise the wasm codec (same bytes, about 50x slower), with `fallback` saying why. MAGNET_RS_CODEC=native|wasm
 * forces one; a forced native codec that cannot load is an error, not a quiet fallback.
 */
export function shardCodecChoice(env: NodeJS.ProcessEnv = process.env): { codec: ShardCodec; fallback?: string } {
  if (chosen) return chosen;
  const want = env.MAGNET_RS_CODEC ?? '';
  if (want !== '' && want !== 'native' && want !== 'wasm') {
    throw new MagnetError('ERR_RS_CODEC', `MAGNET_RS_CODEC must be native or wasm (or unset for the best available), not "${want}"`);
  }
  if (want === 'wasm') return (chosen = { codec: wasmShardCodec() });
  try {
    chosen = { codec: nativeShardCodec() };
  } catch (err) {
    if (want === 'native') throw err;
    chosen = { codec: wasmShardCodec(), fallback: (err as Error).message };
  }
  return chosen;
}

export function defaultShardCodec(): ShardCodec {
  return shardCodecChoice().codec;
}
