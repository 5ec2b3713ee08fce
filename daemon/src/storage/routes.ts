import type { IncomingMessage } from 'node:http';
import { type Route, readBody, sendJson } from '../api/routes.js';
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
        const limit = part.maxBlobBytes;
        const bytes = await readBody(req, limit).catch((err: { status?: number }) => {
          if (err.status === 413) throw new MagnetError('ERR_BLOB_TOO_LARGE', `the blob is over storage.maxBlobBytes (${limit} bytes)`);
          throw err;
        });
        const put = await part.put(bytes, kind, round);
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
        const { bytes, manifest } = await part.get(query(req).get('id') ?? '');
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': bytes.length,
          'x-magnet-sha256': manifest.blob.sha256,
        });
        res.end(bytes);
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
