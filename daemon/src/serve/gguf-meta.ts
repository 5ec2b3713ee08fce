import { open } from 'node:fs/promises';
import { MagnetError } from '../util/errors.js';

/**
 * The metadata (key/value) section of a GGUF file, read without its tensors: the tokenizer lives there. The native
 * loader reads the same file for the weights; this reader only needs the header, so it reads the file's head in
 * growing windows until the key/value section is complete (a 128k-token vocabulary with its merges is a few MB).
 */
export type GgufMetaValue = string | number | bigint | boolean | GgufMetaValue[];

const MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_KV = 100_000;
const MAX_ARRAY = 1 << 24;
const MAX_STRING = 1 << 24;

/** Thrown by the cursor when the window ends before the section: the caller reads a larger window. */
class ShortRead extends Error {}

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly complete: boolean,
    private readonly where: string,
  ) {}
  private need(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.complete) throw new MagnetError('ERR_MODEL_LOAD', `${this.where}: the file ends inside its metadata`);
    throw new ShortRead();
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  count(what: string, max: number): number {
    const n = this.u64();
    if (n > BigInt(max)) throw new MagnetError('ERR_MODEL_LOAD', `${this.where}: ${what} of ${n} is over the limit of ${max}`);
    return Number(n);
  }
  str(): string {
    const n = this.count('a string length', MAX_STRING);
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  scalar(type: number, key: string): GgufMetaValue {
    const b = this.buf;
    const size = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][type];
    if (type === 8) return this.str();
    if (size === undefined || size === 0)
      throw new MagnetError('ERR_MODEL_LOAD', `${this.where}: key '${key}' has unknown value type ${type}`);
    this.need(size);
    const p = this.pos;
    this.pos += size;
    switch (type) {
      case 0:
        return b.readUInt8(p);
      case 1:
        return b.readInt8(p);
      case 2:
        return b.readUInt16LE(p);
      case 3:
        return b.readInt16LE(p);
      case 4:
        return b.readUInt32LE(p);
      case 5:
        return b.readInt32LE(p);
      case 6:
        return b.readFloatLE(p);
      case 7:
        return b.readUInt8(p) !== 0;
      case 10:
        return b.readBigUInt64LE(p);
      case 11:
        return b.readBigInt64LE(p);
      default:
        return b.readDoubleLE(p);
    }
  }
  value(type: number, key: string): GgufMetaValue {
    if (type !== 9) return this.scalar(type, key);
    const et = this.u32();
    if (et === 9) throw new MagnetError('ERR_MODEL_LOAD', `${this.where}: key '${key}' is an array of arrays`);
    const n = this.count(`the array '${key}'`, MAX_ARRAY);
    const out: GgufMetaValue[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.scalar(et, key);
    return out;
  }
}

function parse(buf: Buffer, complete: boolean, where: string): Map<string, GgufMetaValue> {
  const c = new Cursor(buf, complete, where);
  if (c.u32() !== MAGIC) throw new MagnetError('ERR_MODEL_LOAD', `${where}: not a GGUF file (bad magic)`);
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new MagnetError('ERR_MODEL_LOAD', `${where}: GGUF version ${version} is not supported`);
  c.u64(); // tensor count: the native loader reads the tensors
  const nkv = c.count('a key count', MAX_KV);
  const out = new Map<string, GgufMetaValue>();
  for (let i = 0; i < nkv; i++) {
    const key = c.str();
    out.set(key, c.value(c.u32(), key));
  }
  return out;
}

/** Reads the metadata of the GGUF at `path`; ERR_MODEL_LOAD names what is wrong. */
export async function readGgufMetadata(path: string): Promise<Map<string, GgufMetaValue>> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    for (let window = 1 << 20; ; window *= 4) {
      const n = Math.min(window, size);
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, 0);
      try {
        return parse(buf.subarray(0, bytesRead), bytesRead >= size, path);
      } catch (err) {
        if (!(err instanceof ShortRead)) throw err;
      }
    }
  } finally {
    await fh.close();
  }
}
