/**
 * A reference peer for the net benchmark (run as its own process): a plain TLS gRPC server with one unsigned echo
 * method, and a plain TLS socket that receives ('U': bytes to a file) or sends ('D': that file back). Same kind
 * of certificate (self-signed P-256) as a daemon. Prints one JSON line {grpc, tls, certPem} when listening.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { generateSelfSigned } from '../../daemon/src/net/tls.js';

export const ECHO_METHOD = '/bench.Plain/Echo';

const dir = mkdtempSync(join(tmpdir(), 'magnet-plain-peer-'));
const file = join(dir, 'blob');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGTERM', () => process.exit(0));

const { certPem, keyPem } = await generateSelfSigned('node-0000000000000000');
const id = (b: Buffer): Buffer => b;
const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 << 20, 'grpc.max_send_message_length': 4 << 20 });
server.addService(
  {
    Echo: {
      path: ECHO_METHOD,
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    },
  },
  { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) },
);
const grpcPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync(
    '127.0.0.1:0',
    grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }], false),
    (err, port) => (err ? reject(err) : resolve(port)),
  ),
);

const tls = createServer({ key: keyPem, cert: certPem }, (sock) => {
  sock.once('readable', () => {
    const cmd = sock.read(1) as Buffer | null;
    if (cmd?.toString() === 'U') {
      const out = createWriteStream(file);
      sock.pipe(out);
      out.on('finish', () => sock.end('ok'));
    } else if (cmd?.toString() === 'D') createReadStream(file, { highWaterMark: 1 << 20 }).pipe(sock);
    else sock.destroy();
  });
});
await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
const addr = tls.address();
process.stdout.write(
  `${JSON.stringify({ grpc: `127.0.0.1:${grpcPort}`, tls: typeof addr === 'object' && addr ? addr.port : 0, certPem })}\n`,
);
