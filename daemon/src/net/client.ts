import { X509Certificate, createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { fingerprintText } from './binding.js';
import type { Placement } from './blob-backend.js';
import { type DataCallSite, type UploadSource, getBlob, getBlobToFile, putBlob } from './data-client.js';
import { type EnvelopeSigner, type EnvelopeVerifier, envelopeFromPairs, envelopeToPairs, signEnvelope } from './envelope.js';
import type { RefusalReason } from './refusal.js';
import {
  codecs,
  METHODS,
  type BlobHeaderMsg,
  type GetPeersResponseMsg,
  type GradientCheckMsg,
  type GradientCheckRequestMsg,
  type GradientReadyMsg,
  type HeartbeatRequestMsg,
  type HeartbeatResponseMsg,
  type HelloMsg,
  type LatestRequestMsg,
  type LineageMsg,
  type LineageRequestMsg,
  type PutBlobResponseMsg,
  type ResearchMessageMsg,
  type RoundAckMsg,
  type RoundAnnouncementMsg,
  type RoundOutcomeMsg,
  type ReleaseBlobResponseMsg,
  type StatBlobResponseMsg,
  type VoteBundleMsg,
} from './proto.js';
import { RpcError } from './rpc-error.js';

// RpcError lives in rpc-error.ts so that data-client.ts throws it without importing this file (no cycle); callers import it from here.
export { RpcError };

/** Where and who a peer is: its gRPC address and the certificate fingerprint its wallet binding vouches for. */
export interface PeerTarget {
  nodeId: string;
  grpcAddress: string;
  /** sha256 of the certificate DER the peer must present. */
  certSha256: Buffer;
  /** Pinned mode: the peer's self-signed certificate, trusted as its own root. */
  certPem?: string;
}

export interface ClientOptions {
  chunkBytes: number;
  callDeadlineMs: number;
  blobDeadlineMs: number;
  /** Operator PKI: verify against this CA instead of the peer's own certificate. */
  caPem?: string;
  /** Operator PKI: the certificate this node presents as a client (servers require it). */
  clientCert?: { certPem: string; keyPem: string };
}

export interface ClientDeps {
  signer: EnvelopeSigner;
  /** Checks signed answers (hmac or wallet, same mode as ours). */
  verifier: EnvelopeVerifier;
  opts: ClientOptions;
  /** Told of every answer this client refuses (the net part logs it naming the peer and counts it by reason). */
  refused?: (method: string, reason: RefusalReason, message: string) => void;
}

/** TLS credentials that accept exactly the certificate `target.certSha256` (pinned: as its own root; PKI: CA-signed). */
export function pinnedCredentials(
  target: PeerTarget,
  caPem?: string,
  clientCert?: { certPem: string; keyPem: string },
): grpc.ChannelCredentials {
  const root = caPem ?? target.certPem;
  if (!root) throw new MagnetError('ERR_CERT_PIN', `no certificate known for ${target.nodeId}`, { nodeId: target.nodeId });
  const want = target.certSha256;
  const key = clientCert ? Buffer.from(clientCert.keyPem) : null;
  const chain = clientCert ? Buffer.from(clientCert.certPem) : null;
  return grpc.credentials.createSsl(Buffer.from(root), key, chain, {
    checkServerIdentity: (_host, cert) => {
      const got = createHash('sha256').update(cert.raw).digest();
      if (got.equals(want)) return undefined;
      return new MagnetError(
        'ERR_CERT_PIN',
        `certificate of ${target.nodeId} changed: pinned ${fingerprintText(want)}, presented ${fingerprintText(got)}; refusing it`,
        { nodeId: target.nodeId },
      );
    },
  });
}

/**
 * Typed, signed calls to one peer. Every call has a deadline, every request is signed over its exact bytes,
 * every answer's signature is checked (signer = this peer, nonce = ours).
 */
export class PeerClient {
  private readonly client: grpc.Client;
  /** What the data-plane calls (data-client.ts) use of this client. */
  private readonly data: DataCallSite;

  constructor(
    readonly target: PeerTarget,
    private readonly deps: ClientDeps,
  ) {
    const max = deps.opts.chunkBytes + 64 * 1024;
    // The peer streams GetBlob in its own chunk size, which may exceed ours: accept up to 16 MiB per message.
    const maxReceive = Math.max(deps.opts.chunkBytes, 16 * 1024 * 1024) + 64 * 1024;
    this.client = new grpc.Client(target.grpcAddress, pinnedCredentials(target, deps.opts.caPem, deps.opts.clientCert), {
      'grpc.max_receive_message_length': maxReceive,
      'grpc.max_send_message_length': max,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 30_000,
      // Peers are dialled by IP address; TLS SNI must be a host name (Node warns DEP0123 otherwise). The pin
      // (checkServerIdentity above) decides who the peer is, never this name.
      'grpc.ssl_target_name_override': 'magnet-peer',
      'grpc.enable_channelz': 0, // no introspection service reads its counters and traces (see grpc-server.ts)
    });
    this.data = {
      client: this.client,
      nodeId: target.nodeId,
      opts: deps.opts,
      sign: (method, body, md) => this.sign(method, body, md),
      checkAnswer: (method, md, body, nonce) => this.checkAnswer(method, md, body, nonce),
      statBlob: (sha256) => this.statBlob(sha256),
      refused: deps.refused,
    };
  }

  close(): void {
    this.client.close();
  }

  hello(msg: HelloMsg): Promise<HelloMsg> {
    return this.unary(METHODS.hello, codecs.HelloRequest.encode(msg), codecs.HelloResponse.decode);
  }
  heartbeat(msg: HeartbeatRequestMsg): Promise<HeartbeatResponseMsg> {
    return this.unary(METHODS.heartbeat, codecs.HeartbeatRequest.encode(msg), codecs.HeartbeatResponse.decode);
  }
  getPeers(limit = 0): Promise<GetPeersResponseMsg> {
    return this.unary(METHODS.getPeers, codecs.GetPeersRequest.encode({ limit }), codecs.GetPeersResponse.decode);
  }
  announceRound(msg: RoundAnnouncementMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.announceRound, codecs.RoundAnnouncement.encode(msg), codecs.RoundAck.decode);
  }
  signalGradientReady(msg: GradientReadyMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.signalGradientReady, codecs.GradientReady.encode(msg), codecs.RoundAck.decode);
  }
  /** Runs a trainer job at the peer: the deadline is the caller's (a data-plane one by default). */
  checkGradient(msg: GradientCheckRequestMsg, deadlineMs = this.deps.opts.blobDeadlineMs): Promise<GradientCheckMsg> {
    return this.unary(METHODS.checkGradient, codecs.GradientCheckRequest.encode(msg), codecs.GradientCheck.decode, deadlineMs);
  }
  submitVote(msg: VoteBundleMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.submitVote, codecs.VoteBundle.encode(msg), codecs.RoundAck.decode);
  }
  publishOutcome(msg: RoundOutcomeMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.publishOutcome, codecs.RoundOutcome.encode(msg), codecs.RoundAck.decode);
  }
  getLatest(msg: LatestRequestMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.getLatest, codecs.LatestRequest.encode(msg), codecs.RoundAck.decode);
  }
  getLineage(msg: LineageRequestMsg): Promise<LineageMsg> {
    return this.unary(METHODS.getLineage, codecs.LineageRequest.encode(msg), codecs.Lineage.decode);
  }
  offerTrial(msg: ResearchMessageMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.offerTrial, codecs.ResearchMessage.encode(msg), codecs.RoundAck.decode);
  }
  reportTrial(msg: ResearchMessageMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.reportTrial, codecs.ResearchMessage.encode(msg), codecs.RoundAck.decode);
  }

  creditTrials(msg: ResearchMessageMsg): Promise<RoundAckMsg> {
    return this.unary(METHODS.creditTrials, codecs.ResearchMessage.encode(msg), codecs.RoundAck.decode);
  }
  statBlob(sha256: string): Promise<StatBlobResponseMsg> {
    return this.unary(METHODS.statBlob, codecs.StatBlobRequest.encode({ sha256 }), codecs.StatBlobResponse.decode);
  }

  /** Lets the peer delete manifest `manifestId` and the shards this node placed under it (see data.proto). */
  releaseBlob(manifestId: string): Promise<ReleaseBlobResponseMsg> {
    return this.unary(
      METHODS.releaseBlob,
      codecs.ReleaseBlobRequest.encode({ manifestId, holder: this.target.nodeId }),
      codecs.ReleaseBlobResponse.decode,
    );
  }

  /**
   * Sends raw request bytes with the given metadata and returns the raw answer and its metadata, unchecked.
   * For tests and tools that need to send what an honest client never would.
   */
  rawUnary(
    method: string,
    body: Buffer,
    md: grpc.Metadata,
    deadlineMs = this.deps.opts.callDeadlineMs,
  ): Promise<{ body: Buffer; md: grpc.Metadata }> {
    return new Promise((resolve, reject) => {
      let answerMd = new grpc.Metadata();
      const call = this.client.makeUnaryRequest<Buffer, Buffer>(
        method,
        (b) => b,
        (b) => b,
        body,
        md,
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err) reject(new RpcError(method, err.code, err.details, this.target.nodeId));
          else resolve({ body: value as Buffer, md: answerMd });
        },
      );
      call.on('metadata', (m: grpc.Metadata) => (answerMd = m));
    });
  }

  /** Signed envelope metadata for `body`; returns the nonce to match the answer with. */
  sign(method: string, body: Uint8Array, md = new grpc.Metadata()): { md: grpc.Metadata; nonce: Buffer } {
    const env = signEnvelope(this.deps.signer, 'request', method, body);
    for (const [k, v] of envelopeToPairs(env)) md.set(k, v);
    return { md, nonce: env.nonce };
  }

  /** Checks an answer's envelope: signed by this peer, over these bytes, echoing our nonce. */
  checkAnswer(method: string, md: grpc.Metadata, body: Uint8Array, nonce: Buffer): void {
    try {
      const get = (k: string): string | undefined => {
        const v = md.get(k)[0];
        return typeof v === 'string' ? v : undefined;
      };
      this.deps.verifier.verify('response', method, envelopeFromPairs(get), body, Date.now(), { nodeId: this.target.nodeId, nonce });
    } catch (err) {
      throw new MagnetError(
        'ERR_RESPONSE_AUTH',
        `the answer to ${method} from ${this.target.nodeId} is not properly signed: ${errorMessage(err)}`,
        { nodeId: this.target.nodeId },
      );
    }
  }

  private async unary<T>(method: string, body: Buffer, decode: (b: Uint8Array) => T, deadlineMs?: number): Promise<T> {
    const { md, nonce } = this.sign(method, body);
    const res = await this.rawUnary(method, body, md, deadlineMs);
    this.checkAnswer(method, res.md, res.body, nonce);
    return decode(res.body);
  }

  /**
   * Uploads a blob (a file path, bytes or a stream, or a file with its sha256 and size) under `placement`, the reason it belongs
   * on this peer (a peer stores nothing without one). See data-client.ts.
   */
  putBlob(src: UploadSource, placement?: Placement): Promise<PutBlobResponseMsg> {
    return putBlob(this.data, src, placement);
  }

  /** Streams a blob from `offset`, at most `maxBytes` of it (cut off past that). See data-client.ts. */
  getBlob(
    sha256: string,
    offset: number,
    maxBytes: number,
  ): { header: Promise<BlobHeaderMsg>; chunks: AsyncIterable<Buffer>; cancel: () => void } {
    return getBlob(this.data, sha256, offset, maxBytes);
  }

  /** Downloads a blob into `file` (resuming a `.part`), its sha256 checked before the rename. See data-client.ts. */
  getBlobToFile(sha256: string, file: string, maxBytes: number): Promise<{ size: number }> {
    return getBlobToFile(this.data, sha256, file, maxBytes);
  }
}

export function certSha256OfPem(pem: string): Buffer {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest();
}
