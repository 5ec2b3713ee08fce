import type { IncomingMessage } from 'node:http';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Route, sendJson } from '../api/routes.js';
import { MagnetError } from '../util/errors.js';
import type { StoragePart } from './part.js';

function badRequest(message: string): Error {
  return Object.assign(new MagnetError('ERR_BAD_REQUEST', message), { status: 400 });
}

const query = (req: IncomingMessage): URLSearchParams => new URL(req.url ?? '/', 'http://x').searchParams;

const KINDS = new Set(['checkpoint', 'gradient', 'model', 'blob']);

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

/**
 * Streams a request body into `file`, at most `limit` bytes (storage.maxBlobBytes): a larger declared or sent body is
 * refused (ERR_BLOB_TOO_LARGE, 413) without reading on. The file is the caller's to delete.
 */
async function receiveBody(req: IncomingMessage, limit: number, file: string): Promise<void> {
  const tooLarge = () => new MagnetError('ERR_BLOB_TOO_LARGE', `the blob is over storage.maxBlobBytes (${limit} bytes)`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  let size = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      done(size > limit ? tooLarge() : null, chunk);
    },
  });
  await pipeline(req, counted, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
}

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

/**
 * Admin routes of the storage part (the `magnet-node blob` commands call these). No route takes a path on this host:
 * the blob travels in the request and response bodies, so the API reads and writes no file the caller names.
 */
export function storageRoutes(part: StoragePart): Route[] {
  const routes: Route[] = [
    {
      // The blob's bytes are the body (application/octet-stream); ?kind=checkpoint|gradient|model|blob&round=N.
      method: 'POST',
      path: '/storage/blobs',
      body: 'bytes',
      handle: async (req, res) => {
        const q = query(req);
        const kind = q.get('kind') ?? 'blob';
        if (!KINDS.has(kind)) throw badRequest(`kind "${kind.slice(0, 40)}" is not one of ${[...KINDS].join(', ')}`);
        const round = Number(q.get('round') ?? 0);
        if (!Number.isSafeInteger(round) || round < 0) throw badRequest(`round "${q.get('round')}" is not a non-negative integer`);
        const work = await part.workDir();
        let put: Awaited<ReturnType<StoragePart['putFile']>>;
        try {
          const file = join(work, 'upload');
          await receiveBody(req, part.maxBlobBytes, file);
          put = await part.putFile(file, kind, round);
        } finally {
          await rm(work, { recursive: true, force: true });
        }
        sendJson(res, 200, {
          id: put.id,
          size: put.manifest.blob.size,
          sha256: put.manifest.blob.sha256,
          kubo: put.kubo,
          holders: put.manifest.shards.map((s) => s.holders),
          redundancy: put.redundancy,
        });
      },
    },
    {
      // The rebuilt blob as the body; x-magnet-sha256 carries its hash so the client checks what it wrote.
      method: 'GET',
      path: '/storage/blobs/content',
      handle: async (req, res) => {
        const work = await part.workDir();
        try {
          const file = join(work, 'blob');
          const manifest = await part.getToFile(query(req).get('id') ?? '', file);
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': manifest.blob.size,
            'x-magnet-sha256': manifest.blob.sha256,
          });
          await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), res);
        } finally {
          await rm(work, { recursive: true, force: true });
        }
      },
    },
    {
      // `magnet-node gc`: a garbage collection pass now (leases past, old rounds), and the bytes kept after it.
      method: 'POST',
      path: '/storage/gc',
      handle: async (_req, res) => {
        sendJson(res, 200, await part.gcNow());
      },
    },
    {
      method: 'GET',
      path: '/storage/blob',
      handle: async (req, res) => {
        sendJson(res, 200, await part.blobStatus(query(req).get('id') ?? ''));
      },
    },
  ];
  return routes.map((r) => ({ ...r, handle: guarded(r.handle) }));
}
