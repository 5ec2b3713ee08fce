import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { round2 } from './hardware.js';

export interface SsdResult {
  readMBps: number;
  writeMBps: number;
  blocks: number;
  blockSize: number;
  queueDepth: number;
  /** Timed passes over one scratch file; the rates are the median pass's (absent in profiles saved before: 1). */
  runs?: number;
  /** "direct" (O_DIRECT, page cache bypassed) or "dsync" (O_DSYNC writes; reads may be served from cache). */
  method: 'direct' | 'dsync';
}

const BLOCK = 4096;

/**
 * 4 KiB random writes then reads of `blocks` blocks in a scratch file in `dir`, `queueDepth` requests in flight,
 * with O_DIRECT where the filesystem allows it so the page cache does not lie (else O_DSYNC writes). `runs` passes
 * (fresh random offsets each) over the same file: the median read and write rates count, so one pass slowed by other
 * I/O does not decide the tier. The scratch file is removed afterwards.
 */
export async function runSsdTest(dir: string, blocks = 1000, queueDepth = 4, runs = 1): Promise<SsdResult> {
  const file = join(dir, `.ssd-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  const region = Math.max(blocks * 4, 1024); // spread over a 4x larger file to defeat read-ahead
  try {
    prefill(file, region);
    const aligned = directBuffers(file, queueDepth);
    const direct = aligned !== undefined;
    const buffers = aligned ?? Array.from({ length: queueDepth }, () => Buffer.alloc(BLOCK));
    for (const b of buffers) b.set(randomBytes(BLOCK));
    const fh = await open(file, constants.O_RDWR | constants.O_DSYNC | (direct ? constants.O_DIRECT : 0));
    try {
      const bytes = blocks * BLOCK;
      const mbps = (ns: number) => bytes / 1e6 / (ns / 1e9);
      const reads: number[] = [];
      const writes: number[] = [];
      for (let i = 0; i < runs; i++) {
        const offsets = Array.from({ length: blocks }, () => randomInt(region) * BLOCK);
        writes.push(mbps(await timed(fh, buffers, offsets, 'write')));
        reads.push(mbps(await timed(fh, buffers, offsets.reverse(), 'read')));
      }
      return {
        readMBps: round2(median(reads)),
        writeMBps: round2(median(writes)),
        blocks,
        blockSize: BLOCK,
        queueDepth,
        runs,
        method: direct ? 'direct' : 'dsync',
      };
    } finally {
      await fh.close();
    }
  } finally {
    rmSync(file, { force: true });
  }
}

/** The middle value (the lower middle of an even count). */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

/** Runs the I/O with one worker per buffer pulling offsets from a shared cursor; returns elapsed ns. */
async function timed(fh: FileHandle, buffers: Buffer[], offsets: number[], op: 'read' | 'write'): Promise<number> {
  let next = 0;
  const t = process.hrtime.bigint();
  await Promise.all(
    buffers.map(async (buf) => {
      while (next < offsets.length) {
        const off = offsets[next++] as number;
        if (op === 'write') await fh.write(buf, 0, BLOCK, off);
        else await fh.read(buf, 0, BLOCK, off);
      }
    }),
  );
  return Number(process.hrtime.bigint() - t);
}

function prefill(file: string, region: number): void {
  const fd = openSync(file, 'w');
  try {
    const chunk = randomBytes(BLOCK * 256);
    for (let written = 0; written < region * BLOCK; written += chunk.length) writeSync(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * O_DIRECT needs buffers aligned to the logical block size, and JS cannot ask for an aligned allocation:
 * for each buffer we find the offset inside a 2-block allocation at which a direct read succeeds.
 * Undefined: this filesystem has no O_DIRECT (tmpfs, some overlays), or no aligned view was found.
 */
function directBuffers(file: string, count: number): Buffer[] | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_DIRECT);
  } catch {
    return undefined;
  }
  try {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const view = alignedView(fd);
      if (!view) return undefined;
      out.push(view);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

function alignedView(fd: number): Buffer | undefined {
  const big = Buffer.alloc(BLOCK * 2);
  for (let off = 0; off <= BLOCK; off += 8) {
    const view = big.subarray(off, off + BLOCK);
    try {
      readSync(fd, view, 0, BLOCK, 0);
      return view;
    } catch {
      // EINVAL: misaligned, try the next offset
    }
  }
  return undefined;
}
