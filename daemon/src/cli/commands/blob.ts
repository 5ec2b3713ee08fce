import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MagnetError } from '../../util/errors.js';
import { daemonUrl } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

/** Storage calls can take minutes (a large blob is coded and placed on peers), so no 10 s client timeout here. */
async function call<T>(home: string, path: string, body?: unknown, timeoutMs = 30 * 60_000): Promise<T> {
  const base = daemonUrl(home);
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      signal: AbortSignal.timeout(timeoutMs),
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
  } catch {
    throw new MagnetError('ERR_NO_DAEMON', `no magnet-node daemon answers at ${base} (home ${home}); is it running?`);
  }
  const json = (await res.json().catch(() => ({}))) as T & { error?: { message?: string; code?: string } };
  if (!res.ok) throw new MagnetError(json.error?.code ?? 'ERR_DAEMON', json.error?.message ?? `the daemon answered ${res.status}`);
  return json;
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
    .action(async (file: string, flags: { home?: string; kind: string; json?: boolean }) => {
      try {
        const r = await call<{ id: string }>(resolveHome(flags.home), '/storage/blobs', { path: resolve(file), kind: flags.kind });
        if (flags.json) printJson(r);
        else process.stdout.write(`${r.id}\n`);
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
    .action(async (id: string, out: string, flags: { home?: string }) => {
      try {
        const r = await call<{ size: number; sha256: string; out: string }>(resolveHome(flags.home), '/storage/blobs/fetch', { id, out: resolve(out) });
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
    .action(async (id: string, flags: { home?: string }) => {
      try {
        printJson(await call(resolveHome(flags.home), `/storage/blob?id=${encodeURIComponent(id)}`));
      } catch (err) {
        fail(err);
      }
    });
}
