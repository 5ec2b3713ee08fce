import type { PeerId } from '@libp2p/interface';
import type { Libp2p } from 'libp2p';

/**
 * "/magnet/hello/1.0.0": a peer answers with its HelloResponse bytes (info, TLS certificate, wallet binding of the
 * certificate), u32be length-prefixed. It runs over the Noise-authenticated libp2p connection, so the answer
 * comes from the key named by the peer id; the binding is checked on top of that.
 */
export const HELLO_PROTOCOL = '/magnet/hello/1.0.0';

export async function serveHello(node: Libp2p, helloBytes: () => Buffer): Promise<void> {
  await node.handle(
    HELLO_PROTOCOL,
    async (stream) => {
      const body = helloBytes();
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length, 0);
      stream.send(Buffer.concat([len, body]));
      await stream
        .close({ signal: AbortSignal.timeout(5000) })
        .catch(() => stream.abort(new Error('hello reader did not finish within 5 s')));
    },
    { maxInboundStreams: 4 },
  );
}

/**
 * Fetches a peer's hello. The answer is complete once its length prefix is satisfied: we do not wait for the
 * remote's close, because a close that arrives before our listener is attached is not replayed (libp2p 3
 * replays buffered data to a late 'message' listener, but not 'remoteCloseWrite'), which used to hang here.
 */
export async function fetchHello(node: Libp2p, peer: PeerId, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const signal = AbortSignal.timeout(timeoutMs);
  const stream = await node.dialProtocol(peer, HELLO_PROTOCOL, { signal });
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let finished = false;
      const done = (err: Error | undefined, value?: Buffer): void => {
        if (finished) return;
        finished = true;
        stream.removeEventListener('message', onMessage);
        stream.removeEventListener('close', onClose);
        stream.removeEventListener('remoteCloseWrite', onEnd);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as Buffer);
      };
      const check = (ended: boolean): void => {
        if (finished) return;
        const all = Buffer.concat(parts);
        if (all.length >= 4) {
          const want = all.readUInt32BE(0);
          if (want > maxBytes) return done(new Error(`hello answer announces ${want} bytes, more than the ${maxBytes} allowed`));
          if (all.length >= want + 4) return done(undefined, all.subarray(4, 4 + want));
        }
        if (ended) done(new Error(`hello answer is truncated (${all.length} bytes)`));
      };
      const onMessage = (e: { data: Uint8Array | { subarray(): Uint8Array } }): void => {
        const b = e.data instanceof Uint8Array ? Buffer.from(e.data) : Buffer.from(e.data.subarray());
        size += b.length;
        if (size > maxBytes + 4) return done(new Error(`hello answer larger than ${maxBytes} bytes`));
        parts.push(b);
        check(false);
      };
      const onEnd = (): void => check(true);
      const onClose = (): void => check(true);
      const onAbort = (): void => done(new Error(`no hello answer within ${timeoutMs} ms`));
      signal.addEventListener('abort', onAbort);
      stream.addEventListener('remoteCloseWrite', onEnd);
      stream.addEventListener('close', onClose);
      stream.addEventListener('message', onMessage as never); // attaching replays data that arrived already
      // Already ended: check after the replay (a microtask) has delivered the buffered data.
      if (stream.remoteWriteStatus === 'closed') setImmediate(() => check(true));
    });
  } finally {
    await stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => stream.abort(new Error('hello stream close timed out')));
  }
}
