import { statfs } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import { Refusal } from '../net/refusal.js';

export interface DiskWatchOptions {
  /** Low-watermark in bytes: below this much free space, peers' uploads are refused. */
  minFreeBytes: number;
  /** Low-watermark as a share of the filesystem (0-100); the higher of the two watermarks counts. */
  minFreePercent: number;
}

export interface DiskState {
  freeBytes: number;
  totalBytes: number;
  lowWatermarkBytes: number;
  low: boolean;
  /** When the alarm was raised (ms since epoch); null while the disk is fine. */
  lowSince: number | null;
}

/** Free bytes and size of the filesystem holding `dir` (statfs from node:fs; the bytes an unprivileged writer may use). */
export async function diskSpace(dir: string): Promise<{ free: number; total: number }> {
  const s = await statfs(dir);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

/**
 * The disk low-watermark of the storage directory. `check` reads the free space and raises the alarm (gauge,
 * /status, a warning) when it is below the watermark, clears it when it is back; `refuseUnder` refuses an upload
 * that would leave less than the watermark free, before a byte of it is written.
 */
export class DiskWatch {
  private state: DiskState = { freeBytes: 0, totalBytes: 0, lowWatermarkBytes: 0, low: false, lowSince: null };

  constructor(
    private readonly dir: string,
    private readonly opts: DiskWatchOptions,
    private readonly log: Logger,
    private readonly alarm: (low: boolean, free: number) => void,
    private readonly space: (dir: string) => Promise<{ free: number; total: number }> = diskSpace,
  ) {}

  async check(now = Date.now()): Promise<DiskState> {
    const { free, total } = await this.space(this.dir);
    const watermark = Math.max(this.opts.minFreeBytes, Math.ceil((total * this.opts.minFreePercent) / 100));
    const low = free < watermark;
    if (low && !this.state.low)
      this.log.warn(
        { dir: this.dir, freeBytes: free, lowWatermarkBytes: watermark },
        `disk low: ${mib(free)} MiB free under ${this.dir}, below the low-watermark of ${mib(watermark)} MiB; refusing uploads from peers`,
      );
    if (!low && this.state.low)
      this.log.info(
        { dir: this.dir, freeBytes: free, lowWatermarkBytes: watermark },
        'disk no longer low: uploads from peers accepted again',
      );
    this.state = {
      freeBytes: free,
      totalBytes: total,
      lowWatermarkBytes: watermark,
      low,
      lowSince: low ? (this.state.lowSince ?? now) : null,
    };
    this.alarm(low, free);
    return this.state;
  }

  /** Refuses (disk_low) when `bytes` more would leave less than the watermark free; `reserved` are bytes already promised. */
  async refuseUnder(bytes: number, reserved: number, sender: string): Promise<void> {
    const s = await this.check();
    if (s.low)
      throw new Refusal(
        'disk_low',
        `this node's disk is below its low-watermark (${mib(s.freeBytes)} MiB free, ${mib(s.lowWatermarkBytes)} MiB kept free)`,
        sender,
      );
    if (s.freeBytes - reserved - bytes < s.lowWatermarkBytes)
      throw new Refusal(
        'disk_low',
        `${mib(bytes)} MiB more would leave ${mib(s.freeBytes - reserved - bytes)} MiB free, under the low-watermark of ${mib(s.lowWatermarkBytes)} MiB`,
        sender,
      );
  }

  status(): DiskState & { dir: string } {
    return { dir: this.dir, ...this.state };
  }
}

function mib(n: number): number {
  return Math.round((n / (1 << 20)) * 10) / 10;
}
