import { loadAddonModule } from '../../native/addon.js';
import { MagnetError } from '../../util/errors.js';
import type { ShardCodec } from './shard-codec.js';

/** The erasure slice of the addon (native/src/addon/erasure_binding.cpp). */
interface ErasureAddon {
  rsInfo(): { kernel: string | null; available: string; error?: string };
  rsEncode(k: number, m: number, data: Uint8Array[], parity: Uint8Array[]): Promise<void>;
  rsReconstruct(k: number, m: number, shards: Uint8Array[], present: boolean[]): Promise<void>;
}

/**
 * The addon's codec: GF(2^8) kernels chosen at run time (GFNI/AVX-512, AVX2, NEON, scalar; MAGNET_RS_KERNEL forces
 * one), self-tested against scalar on load, run on the libuv pool over the caller's buffers without copies.
 * Throws ERR_NATIVE_MISSING when the addon is not built and ERR_RS_CODEC when no kernel passed its self-test.
 */
export function nativeShardCodec(): ShardCodec {
  const addon = loadAddonModule() as Partial<ErasureAddon>;
  if (typeof addon.rsInfo !== 'function') {
    throw new MagnetError('ERR_RS_CODEC', 'the native addon has no erasure codec: rebuild it with `npm run build:native`');
  }
  const a = addon as ErasureAddon;
  const info = a.rsInfo();
  if (!info.kernel) throw new MagnetError('ERR_RS_CODEC', `the native erasure codec cannot run: ${info.error ?? 'no kernel'}`, { ...info });
  const wrap = async (what: string, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      throw new MagnetError('ERR_RS_CODEC', `Reed-Solomon ${what} failed: ${(err as Error).message}`);
    }
  };
  return {
    name: `native (${info.kernel})`,
    encode: (k, m, data, parity) => wrap('encode', () => a.rsEncode(k, m, data, parity)),
    reconstruct: (k, m, shards, present) => wrap('reconstruct', () => a.rsReconstruct(k, m, shards, present)),
  };
}
