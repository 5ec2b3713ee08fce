import { setTimeout as sleep } from 'node:timers/promises';

/** A token bucket in bytes: `take(n)` waits until n bytes fit under the rate (bursts up to one second's worth). */
export class ByteRate {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly bytesPerSec: number) {
    this.tokens = bytesPerSec;
  }

  async take(n: number, signal?: AbortSignal): Promise<void> {
    this.refill();
    this.tokens -= n;
    if (this.tokens < 0) await sleep(Math.ceil((-this.tokens / this.bytesPerSec) * 1000), undefined, signal ? { signal } : undefined);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.bytesPerSec, this.tokens + ((now - this.last) / 1000) * this.bytesPerSec);
    this.last = now;
  }
}
