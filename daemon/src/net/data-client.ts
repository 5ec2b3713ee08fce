import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { MagnetError, isMagnetError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import type { Placement } from './blob-backend.js';
import { HEAD_KEY } from './data-service.js';
import { blobChunkHead, codecs, METHODS, type BlobHeaderMsg, type PutBlobResponseMsg, type StatBlobResponseMsg } from './proto.js';
import type { RefusalReason } from './refusal.js';
import { RpcError } from './rpc-error.js';

/**
 * The data plane's client side (the streaming blob calls of data-service.ts), apart from the control calls in
 * client.ts: these stream in chunks, resume, and bound what they accept. They borrow the PeerClient's channel,
 * its request signing and answer checks, through this view of it.
 */
export interface DataCallSite {
  client: grpc.Client;
  /** The peer's nodeId, named in errors. */
  nodeId: string;
  /** The client's options (read at each call, as the client does). */
  opts: { chunkBytes: number; blobDeadlineMs: number };
  sign(method: string, body: Uint8Array, md?: grpc.Metadata): { md: grpc.Metadata; nonce: Buffer };
  checkAnswer(method: string, md: grpc.Metadata, body: Uint8Array, nonce: Buffer): void;
  /** Asked before an upload from a file: what the peer already holds or staged from us. */
  statBlob(sha256: string): Promise<StatBlobResponseMsg>;
  refused?: ((method: string, reason: RefusalReason, message: string) => void) | undefined;
}

/** What an upload sends: a file path (hashed here, resumed), bytes or a stream, or a file whose sha256 is known. */
export type UploadSource =
  string | { data: Uint8Array | AsyncIterable<Uint8Array>; sha256: string; size: number } | { file: string; sha256: string; size: number };

/** Chunks of one upload written to the call and not yet sent: bounds its memory (4 x chunkBytes). */
const MAX_CHUNKS_IN_FLIGHT = 4;

/**
 * Uploads a blob (UploadSource) under `placement`, the reason it belongs
 * on this peer (a peer stores nothing without one). Resumes after what the peer already staged from us; the peer
 * checks the sha256 at the end.
 */
export async function putBlob(site: DataCallSite, src: UploadSource, placement?: Placement): Promise<PutBlobResponseMsg> {
  let sha256: string;
  let size: number;
  let offset = 0;
  let messages: (from: number) => AsyncIterable<Buffer>;
  const chunk = site.opts.chunkBytes;
  if (typeof src === 'string') {
    size = (await stat(src)).size;
    sha256 = await sha256File(src);
    const st = await site.statBlob(sha256);
    if (st.present) return { sha256, size: st.size, alreadyPresent: true };
    if (st.staged > 0 && st.staged <= size) offset = st.staged;
    messages = (from) => fileMessages(src, from, size, chunk);
  } else if ('file' in src) {
    ({ sha256, size } = src);
    messages = (from) => fileMessages(src.file, from, size, chunk);
  } else {
    ({ sha256, size } = src);
    const data = src.data;
    messages = (from) => encodedMessages(data instanceof Uint8Array ? [data] : data, from, chunk);
  }
  const head = codecs.PutBlobHeader.encode({
    sha256,
    size,
    offset,
    holder: site.nodeId,
    ...(placement ? { purpose: placement.purpose, manifestId: placement.manifestId ?? '', round: placement.round ?? 0 } : {}),
  });
  const md = new grpc.Metadata();
  md.set(HEAD_KEY, head);
  const { nonce } = site.sign(METHODS.putBlob, head, md);
  const method = METHODS.putBlob;
  let answerMd = new grpc.Metadata();
  // Once the peer answered (a refusal comes before the bytes), the writer stops: no wait for a drain that never comes.
  let answered = false;
  const onAnswer: (() => void)[] = [];
  const result = new Promise<Buffer>((resolve, reject) => {
    const call = site.client.makeClientStreamRequest<Buffer, Buffer>(
      method,
      (b) => b,
      (b) => b,
      md,
      { deadline: Date.now() + site.opts.blobDeadlineMs },
      (err, value) => {
        answered = true;
        onAnswer.splice(0).forEach((f) => f());
        if (err) reject(new RpcError(method, err.code, err.details, site.nodeId));
        else resolve(value as Buffer);
      },
    );
    call.on('metadata', (m: grpc.Metadata) => (answerMd = m));
    void (async () => {
      // At most MAX_CHUNKS_IN_FLIGHT chunks written and not yet taken by HTTP/2: what one upload holds in memory,
      // whatever the blob's size (the stream's own buffer would hold 16 chunks).
      let inFlight = 0;
      let wake: (() => void) | undefined;
      onAnswer.push(() => wake?.()); // an answer (a refusal) ends the wait too
      for await (const message of messages(offset)) {
        if (answered) break;
        inFlight++;
        call.write(message, () => {
          inFlight--;
          wake?.();
        });
        while (inFlight >= MAX_CHUNKS_IN_FLIGHT && !answered) await new Promise<void>((r) => (wake = r));
      }
      if (!answered) call.end();
    })().catch((err: unknown) => {
      call.cancel();
      reject(err);
    });
  });
  const out = await result;
  site.checkAnswer(method, answerMd, out, nonce);
  return codecs.PutBlobResponse.decode(out);
}

/** BlobChunk messages of `pieces` (bytes from `from` on), cut at `chunk` bytes. */
async function* encodedMessages(
  pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  from: number,
  chunk: number,
): AsyncIterable<Buffer> {
  let pos = from;
  for await (const piece of pieces) {
    for (let i = 0; i < piece.length; i += chunk) {
      const data = piece.subarray(i, Math.min(piece.length, i + chunk));
      yield codecs.BlobChunk.encode({ offset: pos, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) });
      pos += data.length;
    }
  }
}

/**
 * BlobChunk messages of a file from `from` on, read straight into a ring of message buffers: no allocation per chunk
 * (each would be garbage the GC collects late, megabytes at a time). A buffer comes round again only after
 * MAX_CHUNKS_IN_FLIGHT + 1 later messages, by which time the call took it (the writer keeps fewer in flight).
 */
async function* fileMessages(file: string, from: number, size: number, chunk: number): AsyncIterable<Buffer> {
  const ring = Array.from({ length: MAX_CHUNKS_IN_FLIGHT + 2 }, () => Buffer.allocUnsafe(chunk + 16));
  const fh = await open(file, 'r');
  try {
    for (let pos = from, i = 0; pos < size; i++) {
      const n = Math.min(chunk, size - pos);
      const msg = ring[i % ring.length]!;
      const head = blobChunkHead(pos, n);
      msg.set(head, 0);
      const at = head.length;
      for (let got = 0; got < n;) {
        const { bytesRead } = await fh.read(msg, at + got, n - got, pos + got);
        if (bytesRead === 0) throw new MagnetError('ERR_BLOB_CHANGED', `${file} ended at ${pos + got} of ${size} bytes while it was sent`);
        got += bytesRead;
      }
      yield msg.subarray(0, at + n);
      pos += n;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Streams a blob from `offset`, at most `maxBytes` of it: the size this node expects, never the one the peer
 * chooses. `header` resolves with the peer's signed (sha256, size, offset) before the first chunk; an announced
 * size over `maxBytes`, or a stream running past the announced size, is cut off at once (the call is cancelled,
 * ERR_BLOB_TOO_LARGE). The caller checks the whole-blob hash (getBlobToFile does).
 */
export function getBlob(
  site: DataCallSite,
  sha256: string,
  offset: number,
  maxBytes: number,
): { header: Promise<BlobHeaderMsg>; chunks: AsyncIterable<Buffer>; cancel: () => void } {
  const method = METHODS.getBlob;
  const body = codecs.GetBlobRequest.encode({ sha256, offset });
  const { md, nonce } = site.sign(method, body);
  const call = site.client.makeServerStreamRequest<Buffer, Buffer>(
    method,
    (b) => b,
    (b) => b,
    body,
    md,
    { deadline: Date.now() + site.opts.blobDeadlineMs },
  );
  const target = site.nodeId;
  const tooLarge = (message: string): MagnetError => {
    call.cancel();
    site.refused?.(method, 'answer_too_large', message);
    return new MagnetError('ERR_BLOB_TOO_LARGE', message, { nodeId: target });
  };
  const header = new Promise<BlobHeaderMsg>((resolve, reject) => {
    call.once('metadata', (m: grpc.Metadata) => {
      try {
        const head = m.get(HEAD_KEY)[0];
        if (!Buffer.isBuffer(head)) throw new MagnetError('ERR_RESPONSE_AUTH', `GetBlob answer from ${target} has no header`);
        site.checkAnswer(method, m, head, nonce);
        const h = codecs.GetBlobHeader.decode(head);
        if (h.sha256 !== sha256 || h.offset !== offset)
          throw new MagnetError('ERR_BLOB_STREAM', `GetBlob from ${target} answers for ${h.sha256}@${h.offset}, not ${sha256}@${offset}`);
        if (h.size > maxBytes)
          throw tooLarge(`${target} announces ${h.size} bytes for ${sha256}; at most ${maxBytes} are expected: cut off`);
        resolve(h);
      } catch (err) {
        call.cancel();
        reject(err);
      }
    });
    call.once('error', (err: grpc.ServiceError) => reject(new RpcError(method, err.code, err.details, target)));
  });
  header.catch(() => undefined); // observed through chunks too
  async function* chunks(): AsyncIterable<Buffer> {
    const h = await header;
    let pos = h.offset;
    let ended = false;
    try {
      for await (const raw of call as AsyncIterable<Buffer>) {
        const c = codecs.BlobChunk.decode(raw);
        if (c.offset !== pos) throw new MagnetError('ERR_BLOB_STREAM', `GetBlob from ${target}: chunk at ${c.offset}, expected ${pos}`);
        if (pos + c.data.length > h.size)
          throw tooLarge(`GetBlob from ${target}: the stream runs past the announced ${h.size} bytes of ${sha256}: cut off at ${pos}`);
        pos += c.data.length;
        yield c.data;
      }
      ended = true;
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (typeof e.code === 'number' && e.details !== undefined) throw new RpcError(method, e.code, e.details, target);
      throw err;
    } finally {
      if (!ended) call.cancel(); // also when the consumer stops early: no more bytes come in
    }
    if (pos !== h.size) throw new MagnetError('ERR_BLOB_STREAM', `GetBlob from ${target} ended at ${pos} of ${h.size} bytes`);
  }
  return { header, chunks: chunks(), cancel: () => call.cancel() };
}

/**
 * Downloads a blob into `file`: into `file.part` first (resuming from its size), checks the sha256 of the whole
 * blob, then renames. A mismatch deletes the part and throws ERR_BLOB_HASH. A peer that announces (or sends)
 * more than `maxBytes` (what this node expects of that blob) is cut off at once: ERR_BLOB_TOO_LARGE, nothing kept.
 */
export async function getBlobToFile(site: DataCallSite, sha256: string, file: string, maxBytes: number): Promise<{ size: number }> {
  const part = `${file}.part`;
  let offset: number;
  try {
    offset = (await stat(part)).size;
  } catch {
    offset = 0;
  }
  if (offset > maxBytes) {
    await rm(part, { force: true });
    offset = 0;
  }
  const hash = createHash('sha256');
  if (offset > 0) for await (const c of createReadStream(part)) hash.update(c as Buffer);
  const fd = await open(part, offset > 0 ? 'r+' : 'w');
  let size: number;
  try {
    const { header, chunks } = getBlob(site, sha256, offset, maxBytes);
    let pos = offset;
    for await (const c of chunks) {
      await fd.write(c, 0, c.length, pos);
      hash.update(c);
      pos += c.length;
    }
    size = (await header).size;
    await fd.sync();
  } catch (err) {
    await fd.close();
    if (isMagnetError(err, 'ERR_BLOB_TOO_LARGE')) await rm(part, { force: true });
    throw err;
  }
  await fd.close();
  const got = hash.digest('hex');
  if (got !== sha256) {
    await rm(part, { force: true });
    throw new MagnetError('ERR_BLOB_HASH', `blob from ${site.nodeId} hashes to ${got}, not ${sha256}; discarded`, {
      nodeId: site.nodeId,
    });
  }
  await rename(part, file);
  return { size };
}
