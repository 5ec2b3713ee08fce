import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { KuboRPCClient } from 'kubo-rpc-client';
import { CID } from 'multiformats/cid';
import { MagnetError, errorMessage } from '../../util/errors.js';
import { KUBO_ADD_OPTIONS, contentCid, sha256Hex } from '../cid.js';
import type { ContentRef, ContentStore } from './content-store.js';

export interface KuboStoreOptions {
  /** kubo RPC API: an http URL (http://127.0.0.1:5001) or a multiaddr (/ip4/127.0.0.1/tcp/5001). */
  api: string;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
}

/**
 * Shards in kubo through kubo-rpc-client. Adds use the unixfs-v1-2025 parameters, so kubo's CID is the one
 * `contentCid` computes (checked on every put). Reads pass `offline=true` so a missing block fails at once
 * instead of waiting on bitswap.
 */
export class KuboStore implements ContentStore {
  readonly name = 'kubo';
  private readonly apiUrl: string;
  /** kubo-rpc-client, loaded at the first call: a node that never reaches kubo does not carry its code (~10 MiB). */
  private client: Promise<KuboRPCClient> | undefined;
  private readonly timeout: number;
  private readonly offline = new URLSearchParams({ offline: 'true' });

  constructor(readonly opts: KuboStoreOptions) {
    this.apiUrl = toApiUrl(opts.api); // a bad address fails here, at start, as before
    this.timeout = opts.timeoutMs ?? 60_000;
  }

  async put(bytes: Uint8Array): Promise<ContentRef> {
    const ref = { sha256: sha256Hex(bytes), cid: contentCid(bytes) };
    let cid: string;
    try {
      const added = await (await this.rpc()).add(bytes, { ...KUBO_ADD_OPTIONS, pin: true, timeout: this.timeout });
      cid = added.cid.toString();
    } catch (err) {
      throw this.error('add', err);
    }
    if (cid !== ref.cid) {
      throw new MagnetError(
        'ERR_KUBO_CID',
        `kubo stored ${ref.sha256} as ${cid}, expected ${ref.cid}: kubo is not using CIDv1 raw leaves with 1 MiB chunks`,
        { cid, expected: ref.cid },
      );
    }
    return ref;
  }

  /**
   * Adds and pins a file streamed from disk; `ref` is its sha256 and the CID kubo must give it. A plain multipart POST
   * piped from the file, so kubo's pace holds the reads back (kubo-rpc-client reads a stream ahead of the upload,
   * a whole shard into memory).
   */
  async putFile(file: string, ref: ContentRef): Promise<ContentRef> {
    let cid: string;
    try {
      cid = await this.addFile(file);
    } catch (err) {
      throw this.error('add', err);
    }
    if (cid !== ref.cid)
      throw new MagnetError(
        'ERR_KUBO_CID',
        `kubo stored ${file} as ${cid}, expected ${ref.cid}: kubo is not using CIDv1 raw leaves with 1 MiB chunks`,
        { cid, expected: ref.cid },
      );
    return { sha256: ref.sha256, cid: ref.cid };
  }

  private async addFile(file: string): Promise<string> {
    // The HTTP API's own option names (kubo-rpc-client translates its camelCase ones).
    const o = KUBO_ADD_OPTIONS;
    const params = new URLSearchParams({
      'cid-version': String(o.cidVersion),
      'raw-leaves': String(o.rawLeaves),
      chunker: o.chunker,
      hash: o.hashAlg,
      'max-file-links': String(o['max-file-links']),
      pin: 'true',
    });
    const url = new URL(`${this.apiUrl}/add?${params}`);
    const boundary = `magnet-${randomBytes(12).toString('hex')}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="shard"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const size = (await stat(file)).size;
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        url,
        {
          method: 'POST',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + size + tail.length },
          timeout: this.timeout, // idle: a large shard may take longer than this in all
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            if (res.statusCode === 200) resolve(text);
            else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no progress for ${this.timeout} ms`)));
      req.on('error', reject);
      req.write(head);
      const from = createReadStream(file, { highWaterMark: 1 << 20 });
      from.on('error', (err) => req.destroy(err));
      from.on('end', () => req.end(tail));
      from.pipe(req, { end: false });
    });
    // One JSON object per line; the last names the file.
    const lines = body.trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1] ?? '{}') as { Hash?: string };
    if (!last.Hash) throw new Error(`kubo add answered without a CID: ${body.slice(0, 200)}`);
    return last.Hash;
  }

  async get(ref: ContentRef): Promise<Uint8Array | undefined> {
    if (!(await this.has(ref))) return undefined;
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of (await this.rpc()).cat(ref.cid, { timeout: this.timeout, searchParams: this.offline })) chunks.push(chunk);
    } catch (err) {
      throw this.error('cat', err);
    }
    const bytes = Buffer.concat(chunks);
    const actual = sha256Hex(bytes);
    if (actual !== ref.sha256)
      throw new MagnetError('ERR_CONTENT_CORRUPT', `kubo returned bytes hashing to ${actual} for ${ref.cid}, expected ${ref.sha256}`, {
        cid: ref.cid,
      });
    return bytes;
  }

  async has(ref: ContentRef): Promise<boolean> {
    try {
      for await (const pin of (await this.rpc()).pin.ls({
        paths: [CID.parse(ref.cid)],
        timeout: this.timeout,
        searchParams: this.offline,
      })) {
        if (pin.cid.toString() === ref.cid) return true;
      }
      return false;
    } catch (err) {
      if (/not pinned|is not pinned|not found/i.test(errorMessage(err))) return false;
      throw this.error('pin ls', err);
    }
  }

  async unpin(ref: ContentRef): Promise<void> {
    try {
      await (await this.rpc()).pin.rm(ref.cid, { timeout: this.timeout });
    } catch (err) {
      if (/not pinned/i.test(errorMessage(err))) return;
      throw this.error('pin rm', err);
    }
  }

  async available(): Promise<boolean> {
    try {
      await (await this.rpc()).version({ timeout: 3000 });
      return true;
    } catch {
      return false;
    }
  }

  private rpc(): Promise<KuboRPCClient> {
    this.client ??= import('kubo-rpc-client').then((m) => m.create(this.apiUrl));
    return this.client;
  }

  private error(op: string, err: unknown): MagnetError {
    return new MagnetError('ERR_KUBO', `kubo ${op} at ${this.opts.api} failed: ${errorMessage(err)}`, { api: this.opts.api });
  }
}

/** kubo-rpc-client wants the /api/v0 base; accept a bare URL or a multiaddr too. */
export function toApiUrl(api: string): string {
  if (api.startsWith('/')) {
    const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(api);
    if (!m) throw new MagnetError('ERR_CONFIG', `cannot read the kubo API multiaddr ${api} (expected /ip4/HOST/tcp/PORT)`);
    const host = api.startsWith('/ip6/') ? `[${m[1]}]` : m[1];
    return `http://${host}:${m[2]}/api/v0`;
  }
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw new MagnetError('ERR_CONFIG', `the kubo API ${api} is neither a URL nor a multiaddr`);
  }
  return url.pathname.endsWith('/api/v0') ? url.toString() : `${url.origin}/api/v0`;
}
