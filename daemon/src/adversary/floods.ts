import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as grpc from '@grpc/grpc-js';
import type { Peers } from '../net/peers.js';
import { codecs, METHODS } from '../net/proto.js';
import { sha256Hex } from '../storage/cid.js';
import { labelOf } from './labels.js';

function count(counts: Record<string, number>, label: string): void {
  counts[label] = (counts[label] ?? 0) + 1;
}

/**
 * `rate` signed Heartbeat requests a second from this node's own key (a member's) to `target`, for `seconds`:
 * every request distinct and validly signed (fresh nonce), signed beforehand so the pace does not depend on the
 * signing speed. The target must refuse most of them before any work (rate_limited) while its other peers'
 * heartbeats go on. Returns the answers by label.
 */
export async function rpcFlood(
  net: Peers,
  target: string,
  rate = 1000,
  seconds = 5,
): Promise<{ sent: number; seconds: number; answers: Record<string, number> }> {
  const client = net.client(target);
  const body = codecs.HeartbeatRequest.encode({ seq: 1, tier: 'gpu_compute', roles: ['trainer', 'storage'] });
  const n = Math.round(rate * seconds);
  const signed: grpc.Metadata[] = [];
  for (let i = 0; i < n; i++) {
    signed.push(client.sign(METHODS.heartbeat, body).md);
    if (i % 200 === 199) await sleep(0); // let the node breathe while it signs
  }
  const answers: Record<string, number> = {};
  const calls: Promise<void>[] = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / rate - Date.now();
    if (wait > 1) await sleep(wait);
    calls.push(
      client.rawUnary(METHODS.heartbeat, body, signed[i] as grpc.Metadata).then(
        () => count(answers, 'accepted'),
        (err: unknown) => count(answers, labelOf(err)),
      ),
    );
  }
  const sentIn = (Date.now() - t0) / 1000;
  await Promise.all(calls);
  return { sent: n, seconds: Math.round(sentIn * 100) / 100, answers };
}

/** `n` blobs of `size` random bytes pushed to `target` with no placement, `parallel` at a time. Returns the answers. */
export async function putFlood(net: Peers, target: string, n = 100, size = 4 << 20, parallel = 4): Promise<Record<string, number>> {
  const client = net.client(target);
  const answers: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const data = randomBytes(size);
      try {
        await client.putBlob({ data, sha256: sha256Hex(data), size });
        count(answers, 'accepted');
      } catch (err) {
        count(answers, labelOf(err));
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return answers;
}
