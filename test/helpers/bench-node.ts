#!/usr/bin/env node
/**
 * A real magnet-node (same flags as `start`) with one extra admin route for the storage benchmark: POST
 * /bench/plain-copy?copies=N sends its body whole and uncoded to N live peers and reads it back from the first, the
 * reference the coded `blob put` is measured against; it answers the one-shard manifest id, so `blob get` of it on
 * another node is a fetch from one holder. It exists only here: `magnet-node start` has no such route.
 *   node dist/test/helpers/bench-node.js <start flags>
 */
import { createHash } from 'node:crypto';
import { Command } from 'commander';
import { readBody, sendJson } from '../../daemon/src/api/routes.js';
import { type StartFlags, runDaemon, withStartOptions } from '../../daemon/src/cli/commands/start.js';
import { wholeBlobManifest } from '../../daemon/src/storage/manifest.js';
import { NetShardTransport } from '../../daemon/src/node/wiring/shard-transport.js';

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const program = withStartOptions(new Command('magnet-bench-node')).action((flags: StartFlags) =>
  runDaemon(flags, {
    peers: (net, node) => {
      const transport = new NetShardTransport(net);
      node.admin.add({
        method: 'POST',
        path: '/bench/plain-copy',
        body: 'bytes',
        handle: async (req, res) => {
          const copies = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('copies') ?? 1);
          const peers = net
            .peers()
            .filter((p) => p.member && p.roles.includes('storage'))
            .map((p) => p.nodeId)
            .slice(0, copies);
          if (peers.length < copies)
            return sendJson(res, 400, { error: { message: `${copies} copies asked, ${peers.length} live storage peers` } });
          const bytes = await readBody(req, 8 * 2 ** 30);
          const sha256 = sha256Hex(bytes);
          // Peers store only what a signed manifest of the sender places on them: a one-shard manifest goes first.
          const manifest = wholeBlobManifest(bytes, node.identity.signingKey, peers, 'plain-copy');
          await Promise.all(peers.map((p) => transport.put(p, manifest.id, manifest.bytes, { purpose: 'manifest' })));
          const t0 = performance.now();
          await Promise.all(peers.map((p) => transport.put(p, sha256, bytes, { purpose: 'shard', manifestId: manifest.id })));
          const t1 = performance.now();
          const back = await transport.get(peers[0] as string, sha256, bytes.length);
          const getMs = performance.now() - t1;
          if (!back || sha256Hex(back) !== sha256)
            return sendJson(res, 500, { error: { message: `${peers[0]} gave back different bytes` } });
          sendJson(res, 200, { size: bytes.length, peers, putMs: t1 - t0, getMs, manifestId: manifest.id });
        },
      });
    },
  }),
);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
