/** The raw Reed-Solomon operations over k data and m parity shards of one length; ReedSolomon adds shapes and checks. */
export interface ShardCodec {
  /** What runs: 'native (gfni-avx512)', 'wasm', … */
  readonly name: string;
  /** Fills the m parity shards from the k data shards, in place. */
  encode(k: number, m: number, data: Uint8Array[], parity: Uint8Array[]): Promise<void>;
  /** Fills every shard whose flag is false (data or parity) from k present ones, in place. */
  reconstruct(k: number, m: number, shards: Uint8Array[], present: boolean[]): Promise<void>;
}
