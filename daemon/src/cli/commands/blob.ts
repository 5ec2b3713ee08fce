import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { MagnetError, errorMessage } from '../../util/errors.js';
import { callDaemon, daemonAnswer, daemonEndpoint } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';
import { Progress } from '../progress.js';

/** Storage calls can take minutes (a large blob is coded and placed on peers), so no 10 s client timeout here. */
const STORAGE_TIMEOUT_MS = 30 * 60_000;

/**
 * One admin call over node:http, streaming `body` up and the answer down. Not fetch: undici gives up on an answer
 * whose headers take over 300 s, and the daemon answers a put once the blob is coded and placed (a 4 GiB blob takes
 * longer than that here), a get once it is rebuilt.
 */
function adminStream(
  home: string,
  path: string,
  opts: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: Readable },
): Promise<Response> {
  const ep = daemonEndpoint(home);
  return new Promise<Response>((resolve, reject) => {
    const req = httpRequest(
      new URL(path, ep.admin),
      {
        method: opts.method,
        headers: { ...opts.headers, authorization: `Bearer ${ep.token}` },
        signal: AbortSignal.timeout(STORAGE_TIMEOUT_MS),
      },
      (res) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve(new Response(Readable.toWeb(res) as ReadableStream, { status: res.statusCode ?? 500, headers }));
      },
    );
    req.on('error', (err) =>
      reject(new MagnetError('ERR_NO_DAEMON', `no magnet-node daemon answers at ${ep.admin} (home ${home}): ${errorMessage(err)}`)),
    );
    if (opts.body) {
      opts.body.on('error', (err) => req.destroy(err));
      opts.body.pipe(req);
    } else req.end();
  });
}

/** Streams FILE to the daemon as the request body: the daemon never opens a path the caller names. */
async function putFile(
  home: string,
  file: string,
  kind: string,
  progress: boolean,
): Promise<{ id: string; redundancy?: { target: number; reached: number; degraded: boolean; note?: string } }> {
  const path = resolve(file);
  const info = await stat(path).catch((err: unknown) => {
    throw new MagnetError('ERR_BAD_REQUEST', `cannot read ${path}: ${errorMessage(err)}`);
  });
  if (!info.isFile()) throw new MagnetError('ERR_BAD_REQUEST', `cannot read ${path}: not a regular file`);
  const sending = createReadStream(path);
  if (progress) {
    const bar = new Progress(`put ${basename(path)}`, info.size);
    sending.on('data', (c) => bar.add(c.length)).once('end', () => bar.finish('sent; the node codes the blob and places its shards'));
  }
  const res = await adminStream(home, `/storage/blobs?kind=${encodeURIComponent(kind)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(info.size) },
    body: sending,
  });
  return daemonAnswer(res);
}

/**
 * Streams blob ID from the daemon into OUT: written beside OUT, hash-checked against the daemon's x-magnet-sha256,
 * fsynced and renamed, so a failed get never leaves a half file under OUT.
 */
async function getFile(home: string, id: string, out: string, progress: boolean): Promise<{ size: number; sha256: string; out: string }> {
  const res = await adminStream(home, `/storage/blobs/content?id=${encodeURIComponent(id)}`, { method: 'GET' });
  if (!res.ok || !res.body) await daemonAnswer(res);
  const expected = res.headers.get('x-magnet-sha256') ?? '';
  const target = resolve(out);
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  let size = 0;
  const bar = progress ? new Progress(`get ${id.slice(0, 12)}`, Number(res.headers.get('content-length') ?? 0)) : undefined;
  try {
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream).on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
      bar?.add(c.length);
    });
    await pipeline(body, createWriteStream(tmp, { flags: 'wx' }));
    const got = hash.digest('hex');
    if (got !== expected) throw new MagnetError('ERR_BLOB_HASH', `the daemon sent ${size} bytes hashing to ${got}, not ${expected}`);
    const fh = await open(tmp, 'r');
    await fh.sync().finally(() => fh.close());
    await rename(tmp, target);
    bar?.finish('written');
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof MagnetError) throw err;
    throw new MagnetError('ERR_WRITE', `cannot write ${target}: ${errorMessage(err)}`);
  }
  return { size, sha256: expected, out: target };
}

export function registerBlobCommands(program: Command): void {
  const blob = program.command('blob').description('store and fetch blobs as Reed-Solomon shards on this node, its peers and kubo');
  blob
    .command('put')
    .description('store FILE; prints the manifest id')
    .argument('<file>', 'file to store')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--kind <kind>', 'checkpoint|gradient|model|blob', 'blob')
    .option('--json', 'print the full answer as JSON')
    .option('--no-progress', 'no progress on stderr')
    .action(async (file: string, flags: { home?: string; kind: string; json?: boolean; progress: boolean }) => {
      try {
        const r = await putFile(resolveHome(flags.home), file, flags.kind, flags.progress);
        if (flags.json) printJson(r);
        else process.stdout.write(`${r.id}\n`);
        // Below its redundancy target the blob is stored, and says so (stdout keeps the id alone for scripts).
        if (!flags.json && r.redundancy?.degraded)
          process.stderr.write(
            `warning: ${r.redundancy.reached} of ${r.redundancy.target} copies of each shard: ${r.redundancy.note ?? ''}\n`,
          );
      } catch (err) {
        fail(err);
      }
    });
  blob
    .command('get')
    .description('rebuild blob ID (a manifest id) into OUT, checking every shard and the blob hash')
    .argument('<id>', 'manifest id printed by blob put')
    .argument('<out>', 'file to write (replaced atomically)')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--no-progress', 'no progress on stderr')
    .action(async (id: string, out: string, flags: { home?: string; progress: boolean }) => {
      try {
        const r = await getFile(resolveHome(flags.home), id, out, flags.progress);
        process.stdout.write(`${r.out}: ${r.size} bytes, sha256 ${r.sha256}\n`);
      } catch (err) {
        fail(err);
      }
    });
  blob
    .command('status')
    .description('manifest of blob ID and, on the node that stored it, its live holders and repair priority')
    .argument('<id>', 'manifest id')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print the manifest and health as JSON')
    .action(async (id: string, flags: { home?: string; json?: boolean }) => {
      try {
        const st = await callDaemon<Record<string, unknown>>(resolveHome(flags.home), `/storage/blob?id=${encodeURIComponent(id)}`, {
          timeoutMs: STORAGE_TIMEOUT_MS,
        });
        if (flags.json) printJson(st);
        else process.stdout.write(formatBlobStatus(st));
      } catch (err) {
        fail(err);
      }
    });
}

/** `blob status` for people: the blob, its health on the owner, and each shard's live holders. */
export function formatBlobStatus(st: Record<string, unknown>): string {
  const m = (st['manifest'] ?? {}) as {
    blob?: { size?: number; sha256?: string };
    k?: number;
    m?: number;
    kind?: string;
    shards?: unknown[];
  };
  const lines = [
    `blob      ${String(st['id'])}`,
    `size      ${m.blob?.size ?? '?'} bytes, sha256 ${m.blob?.sha256 ?? '?'}`,
    `coding    ${m.k ?? '?'} data + ${m.m ?? '?'} parity shards${m.kind ? `, kind ${m.kind}` : ''}`,
  ];
  if (!st['owned']) lines.push('health    known only on the node that stored it (this node holds the manifest)');
  else {
    lines.push(
      `health    ${String(st['priority'])}: ${String(st['liveShards'])} shards live, ${String(st['minCopies'] ?? '?')} or more copies each, ` +
        `target ${String(st['target'])} now of ${String(st['replicas'] ?? st['target'])} wanted (${String(st['state'])})`,
    );
    lines.push('shard  live holders');
    for (const s of (st['shards'] ?? []) as { index: number; holders: string[] }[])
      lines.push(`${String(s.index).padStart(5)}  ${s.holders.length ? s.holders.join(', ') : 'NONE'}`);
  }
  return `${lines.join('\n')}\n`;
}
