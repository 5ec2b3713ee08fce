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
      await stream.close();
    },
    { maxInboundStreams: 4 },
  );
}

export async function fetchHello(node: Libp2p, peer: PeerId, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const signal = AbortSignal.timeout(timeoutMs);
  const stream = await node.dialProtocol(peer, HELLO_PROTOCOL, { signal });
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const b = chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.from(chunk.subarray());
      size += b.length;
      if (size > maxBytes + 4) throw new Error(`hello answer larger than ${maxBytes} bytes`);
      parts.push(b);
    }
  } finally {
    await stream.close().catch(() => undefined);
  }
  const all = Buffer.concat(parts);
  if (all.length < 4 || all.readUInt32BE(0) !== all.length - 4) throw new Error(`hello answer is truncated (${all.length} bytes)`);
  return all.subarray(4);
}
