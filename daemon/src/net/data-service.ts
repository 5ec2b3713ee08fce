import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { type BlobBackend, UPLOAD_PURPOSES, type Upload, type UploadPurpose } from './blob-backend.js';
import { type CallCtx, clientCertOf, decodeOr, type RpcGuard } from './guard.js';
import { codecs, METHODS, type PutBlobHeaderMsg } from './proto.js';
import { ConcurrencyLimiter } from '../util/limiters.js';
import { Refusal, RpcStatus } from './refusal.js';
import type { StagingArea } from './staging.js';

export const HEAD_KEY = 'magnet-head-bin';
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface DataOptions {
  /** This node: the holder every upload must name. */
  self: string;
  staging: StagingArea;
  chunkBytes: number;
  maxBlobBytes: number;
  maxConcurrentStreams: number;
}

async function hashPrefix(file: string, bytes: number): Promise<Hash> {
  const h = createHash('sha256');
  if (bytes > 0) for await (const c of createReadStream(file, { start: 0, end: bytes - 1 })) h.update(c as Buffer);
  return h;
}

function checkSha(sha256: string, sender: string): void {
  if (!SHA256_HEX.test(sha256)) throw new Refusal('bad_field', `sha256 "${sha256.slice(0, 80)}" is not 64 lowercase hex digits`, sender);
}

/** Members read any blob; everyone else only public ones (certified checkpoints), and learns nothing of the rest. */
function readable(guard: RpcGuard, backend: BlobBackend, ctx: CallCtx, sha256: string): void {
  if (guard.isMember(ctx.nodeId) || backend.isPublic?.(sha256)) return;
  throw new Refusal('not_public', `blob ${sha256} is for members of this network; ${ctx.nodeId} is not one`, ctx.nodeId);
}

/** The placement a verified PutBlob header claims, or a refusal: it must name this node and say why it belongs here. */
function placementOf(h: PutBlobHeaderMsg, sender: string, self: string): Pick<Upload, 'purpose' | 'manifestId' | 'round'> {
  if (h.holder !== self)
    throw new Refusal('not_placed', `the upload is for ${h.holder ? h.holder.slice(0, 40) : 'no named holder'}, not for ${self}`, sender);
  const purpose = h.purpose ?? '';
  if (!(UPLOAD_PURPOSES as readonly string[]).includes(purpose))
    throw new Refusal(
      'not_placed',
      `an upload without a placement (purpose "${purpose.slice(0, 20)}"; this node takes ${UPLOAD_PURPOSES.join(', ')})`,
      sender,
    );
  const round = Number(h.round ?? 0);
  if (!Number.isSafeInteger(round) || round < 0) throw new Refusal('bad_field', `round ${h.round} is out of range`, sender);
  return {
    purpose: purpose as UploadPurpose,
    ...(h.manifestId ? { manifestId: h.manifestId } : {}),
    ...(purpose === 'gradient' ? { round } : {}),
  };
}

/**
 * Data service: PutBlob (checked against a placement, quotas and free disk before a byte is staged; staged,
 * resumable, hash-checked, handed to the BlobBackend), GetBlob, StatBlob.
 */
export function dataImplementation(guard: RpcGuard, backend: BlobBackend, opts: DataOptions): grpc.UntypedServiceImplementation {
  const streams = new ConcurrencyLimiter(opts.maxConcurrentStreams);

  const putBlob: grpc.handleClientStreamingCall<Buffer, Buffer> = (call, callback) => {
    const t0 = performance.now();
    const remote = call.getPeer();
    const method = METHODS.putBlob;
    let ctx: CallCtx | undefined;
    const releases: (() => void)[] = [];
    const release = () => releases.splice(0).forEach((r) => r());
    void (async () => {
      const headBytes = call.metadata.get(HEAD_KEY)[0];
      const head = Buffer.isBuffer(headBytes) ? headBytes : Buffer.alloc(0);
      ctx = guard.authenticate(method, call.metadata, head, remote, false, clientCertOf(call));
      guard.authorize(ctx, 'member');
      if (head.length === 0) throw new Refusal('bad_field', `PutBlob needs the signed header in ${HEAD_KEY}`, ctx.nodeId);
      const h: PutBlobHeaderMsg = decodeOr(codecs.PutBlobHeader.decode, head, 'PutBlobHeader', ctx.nodeId);
      const sender = ctx.nodeId;
      checkSha(h.sha256, sender);
      if (h.size > opts.maxBlobBytes)
        throw new Refusal('blob_too_large', `blob of ${h.size} bytes exceeds the limit of ${opts.maxBlobBytes}`, sender);
      const streamDone = streams.acquire(sender);
      if (!streamDone) throw new Refusal('too_many_streams', `more than ${opts.maxConcurrentStreams} data streams at once`, sender);
      releases.push(streamDone);
      const unclaim = opts.staging.claim(sender, h.sha256);
      if (!unclaim) throw new Refusal('too_many_streams', `an upload of ${h.sha256} from ${sender} is already running`, sender);
      releases.push(unclaim);
      const part = opts.staging.path(sender, h.sha256);
      const staged = await opts.staging.size(sender, h.sha256);
      if (h.offset !== 0 && h.offset !== staged)
        throw new Refusal('bad_offset', `upload resumes at ${h.offset}, but ${staged} bytes are staged`, sender);
      if (h.offset > h.size) throw new Refusal('bad_offset', `offset ${h.offset} is beyond the blob size ${h.size}`, sender);
      // Placement, quotas and free disk, before any byte lands: what nothing places here is never written.
      const u: Upload = {
        sender,
        sha256: h.sha256,
        size: h.size,
        ...placementOf(h, sender, opts.self),
        staged: await opts.staging.usage(sender),
      };
      releases.push(await backend.admit(u));
      const have = await backend.stat(h.sha256);
      if (have) return { sha256: h.sha256, size: have.size, alreadyPresent: true };
      const hash = h.offset === 0 ? createHash('sha256') : await hashPrefix(part, h.offset);
      const fd = await open(part, h.offset === 0 ? 'w' : 'r+');
      let pos = h.offset;
      try {
        for await (const raw of call as AsyncIterable<Buffer>) {
          const chunk = decodeOr(codecs.BlobChunk.decode, raw, 'BlobChunk', sender);
          if (chunk.offset !== pos) throw new Refusal('bad_chunk', `chunk at offset ${chunk.offset}, expected ${pos}`, sender);
          if (chunk.data.length > opts.chunkBytes)
            throw new Refusal('bad_chunk', `chunk of ${chunk.data.length} bytes exceeds ${opts.chunkBytes}`, sender);
          if (pos + chunk.data.length > h.size)
            throw new Refusal('blob_too_large', `stream carries more than the declared ${h.size} bytes`, sender);
          await fd.write(chunk.data, 0, chunk.data.length, pos);
          hash.update(chunk.data);
          pos += chunk.data.length;
        }
        await fd.sync();
      } finally {
        await fd.close();
      }
      if (pos !== h.size)
        throw new Refusal('size_mismatch', `stream ended at ${pos} of ${h.size} bytes (the staged part is kept: resume at ${pos})`, sender);
      const got = hash.digest('hex');
      if (got !== h.sha256) {
        await rm(part, { force: true });
        throw new Refusal('hash_mismatch', `received bytes hash to ${got}, not the declared ${h.sha256}; the upload was discarded`, sender);
      }
      try {
        await backend.accept(h.sha256, part, u);
      } finally {
        await rm(part, { force: true }); // moved into the store, or refused for what it is
      }
      guard.metricsBytes('in', h.size - h.offset);
      return { sha256: h.sha256, size: h.size, alreadyPresent: false };
    })().then(
      (res) => {
        release();
        const out = codecs.PutBlobResponse.encode(res);
        call.sendMetadata(guard.signResponse(ctx as CallCtx, out));
        callback(null, out);
        guard.served(method, t0);
      },
      (err: unknown) => {
        release();
        callback(guard.fail(method, remote, err, ctx?.nodeId));
      },
    );
  };

  const getBlob: grpc.handleServerStreamingCall<Buffer, Buffer> = (call) => {
    const t0 = performance.now();
    const remote = call.getPeer();
    const method = METHODS.getBlob;
    let ctx: CallCtx | undefined;
    let release: (() => void) | undefined;
    void (async () => {
      ctx = guard.authenticate(method, call.metadata, call.request, remote, false, clientCertOf(call));
      const req = decodeOr(codecs.GetBlobRequest.decode, call.request, 'GetBlobRequest', ctx.nodeId);
      checkSha(req.sha256, ctx.nodeId);
      readable(guard, backend, ctx, req.sha256);
      const have = await backend.stat(req.sha256);
      if (!have) throw new Refusal('not_found', `blob ${req.sha256} is not here`, ctx.nodeId);
      if (req.offset > have.size) throw new Refusal('bad_offset', `offset ${req.offset} is beyond the blob size ${have.size}`, ctx.nodeId);
      release = streams.acquire(ctx.nodeId);
      if (!release) throw new Refusal('too_many_streams', `more than ${opts.maxConcurrentStreams} data streams at once`, ctx.nodeId);
      const head = codecs.GetBlobHeader.encode({ sha256: req.sha256, size: have.size, offset: req.offset });
      const md = new grpc.Metadata();
      md.set(HEAD_KEY, head);
      call.sendMetadata(guard.signResponse(ctx, head, md));
      let pos = req.offset;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (): Promise<void> => {
        if (pendingBytes === 0) return;
        const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        const ok = call.write(codecs.BlobChunk.encode({ offset: pos, data }));
        pos += data.length;
        if (!ok)
          await new Promise<void>((resolve, reject) => {
            call.once('drain', resolve);
            call.once('error', reject);
            call.once('cancelled', () => reject(new Error('cancelled')));
          });
      };
      for await (const c of backend.read(req.sha256, req.offset)) {
        let buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
        while (buf.length > 0) {
          if (call.cancelled) return;
          const take = Math.min(buf.length, opts.chunkBytes - pendingBytes);
          pending.push(buf.subarray(0, take));
          pendingBytes += take;
          buf = buf.subarray(take);
          if (pendingBytes === opts.chunkBytes) await flush();
        }
      }
      await flush();
      guard.metricsBytes('out', pos - req.offset);
      call.end();
    })().then(
      () => {
        release?.();
        guard.served(method, t0);
      },
      (err: unknown) => {
        release?.();
        if (call.cancelled) return;
        call.emit('error', guard.fail(method, remote, err, ctx?.nodeId));
      },
    );
  };

  return {
    PutBlob: putBlob,
    GetBlob: getBlob,
    StatBlob: guard.unary(
      METHODS.statBlob,
      true,
      async (ctx, body) => {
        const req = decodeOr(codecs.StatBlobRequest.decode, body, 'StatBlobRequest', ctx.nodeId);
        checkSha(req.sha256, ctx.nodeId);
        readable(guard, backend, ctx, req.sha256);
        const have = await backend.stat(req.sha256);
        if (have) backend.touch?.(ctx.nodeId, req.sha256); // its holder's probe: the lease on it is renewed
        const staged = have ? 0 : await opts.staging.size(ctx.nodeId, req.sha256);
        return codecs.StatBlobResponse.encode({ present: have !== undefined, size: have?.size ?? 0, staged });
      },
      'anyone',
    ),
    ReleaseBlob: guard.unary(
      METHODS.releaseBlob,
      true,
      async (ctx, body) => {
        const req = decodeOr(codecs.ReleaseBlobRequest.decode, body, 'ReleaseBlobRequest', ctx.nodeId);
        checkSha(req.manifestId, ctx.nodeId);
        if (req.holder !== opts.self)
          throw new Refusal(
            'bad_field',
            `the release is for ${req.holder ? req.holder.slice(0, 40) : 'no named holder'}, not for ${opts.self}`,
            ctx.nodeId,
          );
        if (!backend.release) throw new RpcStatus(grpc.status.UNIMPLEMENTED, 'this node keeps blobs until their lease lapses');
        return codecs.ReleaseBlobResponse.encode(await backend.release(ctx.nodeId, req.manifestId));
      },
      'member',
    ),
  };
}
