import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { type Route, readBody, sendJson } from '../api/routes.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import type { StoragePart } from './part.js';

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, 64 * 1024);
  try {
    return JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
  } catch {
    throw Object.assign(new MagnetError('ERR_BAD_REQUEST', 'the request body is not JSON'), { status: 400 });
  }
}

function badRequest(message: string): Error {
  return Object.assign(new MagnetError('ERR_BAD_REQUEST', message), { status: 400 });
}

function absolutePath(v: unknown, what: string): string {
  if (typeof v !== 'string' || !isAbsolute(v)) throw badRequest(`${what} must be an absolute file path`);
  return v;
}

const STATUS: Record<string, number> = {
  ERR_BAD_REQUEST: 400,
  ERR_BAD_ID: 400,
  ERR_BLOB_NOT_FOUND: 404,
  ERR_BLOB_TOO_LARGE: 413,
  ERR_MANIFEST_HASH: 422,
  ERR_MANIFEST_FORMAT: 422,
  ERR_MANIFEST_SIGNATURE: 422,
  ERR_BLOB_UNAVAILABLE: 503,
  ERR_DISK_FULL: 507,
};

/** Answers a storage failure with its code, so the CLI can say exactly what went wrong. */
function guarded(handle: Route['handle']): Route['handle'] {
  return async (req, res) => {
    try {
      await handle(req, res);
    } catch (err) {
      if (!(err instanceof MagnetError)) throw err;
      sendJson(res, STATUS[err.code] ?? 500, { error: { message: err.message, code: err.code } });
    }
  };
}

/** Local HTTP API of the storage part (the `magnet-node blob` commands call these). Files are paths on this host. */
export function storageRoutes(part: StoragePart): Route[] {
  const routes: Route[] = [
    {
      method: 'POST',
      path: '/storage/blobs',
      handle: async (req, res) => {
        const body = await jsonBody(req);
        const file = absolutePath(body['path'], 'path');
        const kind = typeof body['kind'] === 'string' ? body['kind'] : 'blob';
        const round = typeof body['round'] === 'number' ? body['round'] : 0;
        const info = await stat(file).catch((err: unknown) => {
          throw badRequest(`cannot read ${file}: ${errorMessage(err)}`);
        });
        if (!info.isFile()) throw badRequest(`cannot read ${file}: not a regular file`);
        const size = info.size;
        if (size > part.options.maxBlobBytes) throw badRequest(`${file} is ${size} bytes, over storage.maxBlobBytes (${part.options.maxBlobBytes})`);
        const put = await part.service.put(await readFile(file), kind, round);
        sendJson(res, 200, { id: put.id, size: put.manifest.blob.size, sha256: put.manifest.blob.sha256, kubo: put.kubo, holders: put.manifest.shards.map((s) => s.holders) });
      },
    },
    {
      method: 'POST',
      path: '/storage/blobs/fetch',
      handle: async (req, res) => {
        const body = await jsonBody(req);
        const out = absolutePath(body['out'], 'out');
        const id = String(body['id'] ?? '');
        const { bytes, manifest } = await part.service.get(id);
        // Written beside the target and renamed: a failed get never leaves a half file under OUT.
        const tmp = join(dirname(out), `.${basename(out)}.${randomBytes(4).toString('hex')}.tmp`);
        try {
          await writeFile(tmp, bytes);
          await rename(tmp, out);
        } catch (err) {
          await rm(tmp, { force: true });
          throw new MagnetError('ERR_WRITE', `cannot write ${out}: ${errorMessage(err)}`);
        }
        sendJson(res, 200, { id, size: manifest.blob.size, sha256: manifest.blob.sha256, out });
      },
    },
    {
      // Benchmark reference (test/bench/storage-cluster): the file sent whole, uncoded, to `copies` live peers.
      method: 'POST',
      path: '/storage/plain-copy',
      handle: async (req, res) => {
        const body = await jsonBody(req);
        const file = absolutePath(body['path'], 'path');
        const copies = typeof body['copies'] === 'number' && body['copies'] >= 1 ? body['copies'] : 1;
        const peers = part.livePeerIds().slice(0, copies);
        if (peers.length < copies) throw badRequest(`${copies} copies asked, ${peers.length} live storage peers`);
        const bytes = await readFile(file);
        sendJson(res, 200, { size: bytes.length, peers, ...(await part.plainCopy(bytes, peers)) });
      },
    },
    {
      method: 'GET',
      path: '/storage/blob',
      handle: async (req, res) => {
        const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
        sendJson(res, 200, await part.blobStatus(id));
      },
    },
  ];
  return routes.map((r) => ({ ...r, handle: guarded(r.handle) }));
}
