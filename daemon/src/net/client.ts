import { X509Certificate, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { fingerprintText } from './binding.js';
import { HEAD_KEY } from './data-service.js';
import { type EnvelopeSigner, type EnvelopeVerifier, envelopeFromPairs, envelopeToPairs, signEnvelope } from './envelope.js';
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
  type RoundAckMsg,
  type RoundAnnouncementMsg,
  type RoundOutcomeMsg,
  type StatBlobResponseMsg,
  type VoteBundleMsg,
} from './proto.js';

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
}

/** A gRPC failure as the caller sees it: the status code and the server's details. */
export class RpcError extends MagnetError {
  override readonly name = 'RpcError';
  constructor(
    readonly method: string,
    readonly status: grpc.status,
    details: string,
    readonly nodeId: string,
  ) {
    super('ERR_RPC', `${method} to ${nodeId} failed with ${grpc.status[status] ?? status}: ${details}`, { method, status, nodeId });
  }
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
    });
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
  statBlob(sha256: string): Promise<StatBlobResponseMsg> {
    return this.unary(METHODS.statBlob, codecs.StatBlobRequest.encode({ sha256 }), codecs.StatBlobResponse.decode);
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
   * Uploads a blob (a file path, or bytes/stream with their sha256 and size). Resumes after what the peer
   * already staged from us; the peer checks the sha256 at the end.
   */
  async putBlob(src: string | { data: Uint8Array | AsyncIterable<Uint8Array>; sha256: string; size: number }): Promise<PutBlobResponseMsg> {
    let sha256: string;
    let size: number;
    let offset = 0;
    let open_: (from: number) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    if (typeof src === 'string') {
      size = (await stat(src)).size;
      sha256 = await fileSha256(src);
      const st = await this.statBlob(sha256);
      if (st.present) return { sha256, size: st.size, alreadyPresent: true };
      if (st.staged > 0 && st.staged <= size) offset = st.staged;
      open_ = (from) => createReadStream(src, { start: from, highWaterMark: this.deps.opts.chunkBytes }) as AsyncIterable<Buffer>;
    } else {
      ({ sha256, size } = src);
      const data = src.data;
      open_ = () => (data instanceof Uint8Array ? [data] : data);
    }
    const head = codecs.PutBlobHeader.encode({ sha256, size, offset });
    const md = new grpc.Metadata();
    md.set(HEAD_KEY, head);
    const { nonce } = this.sign(METHODS.putBlob, head, md);
    const method = METHODS.putBlob;
    let answerMd = new grpc.Metadata();
    const result = new Promise<Buffer>((resolve, reject) => {
      const call = this.client.makeClientStreamRequest<Buffer, Buffer>(
        method,
        (b) => b,
        (b) => b,
        md,
        { deadline: Date.now() + this.deps.opts.blobDeadlineMs },
        (err, value) => {
          if (err) reject(new RpcError(method, err.code, err.details, this.target.nodeId));
          else resolve(value as Buffer);
        },
      );
      call.on('metadata', (m: grpc.Metadata) => (answerMd = m));
      void (async () => {
        let pos = offset;
        for await (const piece of open_(offset)) {
          for (let i = 0; i < piece.length; i += this.deps.opts.chunkBytes) {
            const data = piece.subarray(i, Math.min(piece.length, i + this.deps.opts.chunkBytes));
            const ok = call.write(
              codecs.BlobChunk.encode({ offset: pos, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }),
            );
            pos += data.length;
            if (!ok) await new Promise((r) => call.once('drain', r));
          }
        }
        call.end();
      })().catch((err: unknown) => {
        call.cancel();
        reject(err);
      });
    });
    const out = await result;
    this.checkAnswer(method, answerMd, out, nonce);
    return codecs.PutBlobResponse.decode(out);
  }

  /**
   * Streams a blob from `offset`. `header` resolves with the peer's signed (sha256, size, offset) before the
   * first chunk; the caller checks the whole-blob hash (getBlobToFile does).
   */
  getBlob(sha256: string, offset = 0): { header: Promise<BlobHeaderMsg>; chunks: AsyncIterable<Buffer>; cancel: () => void } {
    const method = METHODS.getBlob;
    const body = codecs.GetBlobRequest.encode({ sha256, offset });
    const { md, nonce } = this.sign(method, body);
    const call = this.client.makeServerStreamRequest<Buffer, Buffer>(
      method,
      (b) => b,
      (b) => b,
      body,
      md,
      { deadline: Date.now() + this.deps.opts.blobDeadlineMs },
    );
    const header = new Promise<BlobHeaderMsg>((resolve, reject) => {
      call.once('metadata', (m: grpc.Metadata) => {
        try {
          const head = m.get(HEAD_KEY)[0];
          if (!Buffer.isBuffer(head)) throw new MagnetError('ERR_RESPONSE_AUTH', `GetBlob answer from ${this.target.nodeId} has no header`);
          this.checkAnswer(method, m, head, nonce);
          resolve(codecs.GetBlobHeader.decode(head));
        } catch (err) {
          call.cancel();
          reject(err);
        }
      });
      call.once('error', (err: grpc.ServiceError) => reject(new RpcError(method, err.code, err.details, this.target.nodeId)));
    });
    header.catch(() => undefined); // observed through chunks too
    const target = this.target.nodeId;
    async function* chunks(): AsyncIterable<Buffer> {
      const h = await header;
      let pos = h.offset;
      try {
        for await (const raw of call as AsyncIterable<Buffer>) {
          const c = codecs.BlobChunk.decode(raw);
          if (c.offset !== pos) throw new MagnetError('ERR_BLOB_STREAM', `GetBlob from ${target}: chunk at ${c.offset}, expected ${pos}`);
          pos += c.data.length;
          if (pos > h.size) throw new MagnetError('ERR_BLOB_STREAM', `GetBlob from ${target}: more bytes than the announced ${h.size}`);
          yield c.data;
        }
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (typeof e.code === 'number' && e.details !== undefined) throw new RpcError(method, e.code, e.details, target);
        throw err;
      }
      if (pos !== h.size) throw new MagnetError('ERR_BLOB_STREAM', `GetBlob from ${target} ended at ${pos} of ${h.size} bytes`);
    }
    return { header, chunks: chunks(), cancel: () => call.cancel() };
  }

  /**
   * Downloads a blob into `file`: into `file.part` first (resuming from its size), checks the sha256 of the whole
   * blob, then renames. A mismatch deletes the part and throws ERR_BLOB_HASH. A peer that announces (or sends)
   * more than `maxBytes` is cut off at once: ERR_BLOB_TOO_LARGE, nothing kept.
   */
  async getBlobToFile(sha256: string, file: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<{ size: number }> {
    const part = `${file}.part`;
    let offset: number;
    try {
      offset = (await stat(part)).size;
    } catch {
      offset = 0;
    }
    const hash = createHash('sha256');
    if (offset > 0) for await (const c of createReadStream(part)) hash.update(c as Buffer);
    const fd = await open(part, offset > 0 ? 'r+' : 'w');
    let size: number;
    try {
      const { header, chunks, cancel } = this.getBlob(sha256, offset);
      const announced = (await header).size;
      if (announced > maxBytes) {
        cancel();
        await rm(part, { force: true });
        throw new MagnetError(
          'ERR_BLOB_TOO_LARGE',
          `${this.target.nodeId} announces ${announced} bytes for ${sha256}; at most ${maxBytes} are expected`,
          {
            nodeId: this.target.nodeId,
          },
        );
      }
      let pos = offset;
      for await (const c of chunks) {
        await fd.write(c, 0, c.length, pos);
        hash.update(c);
        pos += c.length;
      }
      size = (await header).size;
      await fd.sync();
    } finally {
      await fd.close();
    }
    const got = hash.digest('hex');
    if (got !== sha256) {
      await rm(part, { force: true });
      throw new MagnetError('ERR_BLOB_HASH', `blob from ${this.target.nodeId} hashes to ${got}, not ${sha256}; discarded`, {
        nodeId: this.target.nodeId,
      });
    }
    await rename(part, file);
    return { size };
  }
}

export async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(c as Buffer);
  return h.digest('hex');
}

export function certSha256OfPem(pem: string): Buffer {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest();
}
