import * as grpc from '@grpc/grpc-js';
import { MagnetError } from '../util/errors.js';
import { formatHostPort, parseHostPort } from '../util/host-port.js';
import type { BlobBackend } from './blob-backend.js';
import { type ControlHost, controlImplementation, type ResearchHandlers, type RoundHandlers } from './control-service.js';
import { dataImplementation } from './data-service.js';
import type { RpcGuard } from './guard.js';
import { controlService, dataService } from './proto.js';
import type { NetOptions } from './options.js';
import type { StagingArea } from './staging.js';
import type { TlsMaterial } from './tls.js';

// grpc-js prints its own errors to stderr (a bind failure as "E No address added…"); each one also reaches us through
// a callback and is reported once, naming the flag. GRPC_VERBOSITY set in the environment still turns them on.
if (!process.env['GRPC_VERBOSITY']) grpc.setLogVerbosity(grpc.logVerbosity.NONE);

/** The control and data services behind one TLS listener; resolves once it listens. */
export async function listenGrpc(o: {
  cfg: NetOptions;
  tls: TlsMaterial;
  guard: RpcGuard;
  host: ControlHost;
  rounds: RoundHandlers;
  research?: ResearchHandlers;
  backend: BlobBackend;
  staging: StagingArea;
  /** This node's nodeId: every upload must name it as its holder. */
  self: string;
}): Promise<{ server: grpc.Server; port: number }> {
  const { cfg: c, tls } = o;
  const max = Math.max(c.maxControlBytes, c.chunkBytes) + 64 * 1024;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    'grpc.max_concurrent_streams': 256,
    // No channelz: its per-call and per-socket counters and trace events are kept for an introspection service this
    // server does not offer.
    'grpc.enable_channelz': 0,
  });
  server.addService(controlService, controlImplementation(o.guard, o.host, o.rounds, 64, o.research));
  const b = o.backend;
  server.addService(
    dataService,
    dataImplementation(
      o.guard,
      {
        stat: (s) => b.stat(s),
        read: (s, off) => b.read(s, off),
        admit: (u) => b.admit(u),
        accept: (s, f, u) => b.accept(s, f, u),
        touch: (sender, s) => b.touch?.(sender, s),
        ...(b.release ? { release: (sender: string, id: string) => b.release!(sender, id) } : {}),
        isPublic: (s) => b.isPublic?.(s) ?? false,
      },
      {
        self: o.self,
        staging: o.staging,
        chunkBytes: c.chunkBytes,
        maxBlobBytes: c.maxBlobBytes,
        maxConcurrentStreams: c.maxConcurrentStreams,
      },
    ),
  );
  const listen = parseHostPort(c.grpc, 'net.grpc');
  // Operator PKI: client certificates signed by the CA are required (the handshake refuses anything else). Pinned
  // mode stays one-way: every call is wallet-signed, which names the caller better than a self-signed certificate.
  const ca = tls.mode === 'ca' ? Buffer.from(tls.caPem as string) : null;
  const creds = grpc.ServerCredentials.createSsl(
    ca,
    [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }],
    ca !== null,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(formatHostPort(listen), creds, (err, p) =>
      err
        ? reject(
            /EADDRINUSE/.test(err.message)
              ? new MagnetError(
                  'ERR_PORT_IN_USE',
                  `gRPC port ${c.grpc} is already in use; choose another with --grpc HOST:PORT (port 0 picks a free one)`,
                )
              : new MagnetError(
                  'ERR_LISTEN',
                  `cannot listen for gRPC on ${c.grpc} (--grpc): ${err.message.split(' errors: ').pop() ?? err.message}`,
                ),
          )
        : resolve(p),
    ),
  );
  return { server, port };
}
