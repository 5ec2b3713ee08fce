#!/usr/bin/env node
import { Command } from 'commander';
import { type StartFlags, runDaemon, withStartOptions } from '../cli/commands/start.js';
import { fail } from '../cli/output.js';
import { signDigest } from '../identity/signature.js';
import type { NetPart } from '../net/net-part.js';
import type { AssemblyHooks } from '../node/assemble.js';
import type { MagnetNode } from '../node/node.js';
import { errorMessage } from '../util/errors.js';
import { forgedLineageHandlers, withholdingBackend } from './hostile-handlers.js';
import { HostileRoundNetwork } from './hostile-network.js';
import { ADVERSARY_KINDS, type AdversaryKind, isAdversaryKind } from './kinds.js';
import { helloFlood, runProbes } from './probes.js';

/**
 * The adversary: a real magnet-node (same flags as `start`) whose honest behaviour is bypassed as KIND says, for
 * the adversary suite (test/adversary) and `magnet-node testnet --adversary KIND`. It runs only from this file:
 * `magnet-node start` never carries any of it.
 *   node dist/daemon/src/adversary/main.js --kind KIND [--report FILE] <start flags>
 */
const program = withStartOptions(new Command('magnet-adversary'))
  .requiredOption('--kind <kind>', `one of: ${Object.keys(ADVERSARY_KINDS).join(', ')}`)
  .option('--report <file>', 'JSON lines, one per message-level attack and its answer')
  .action((flags: StartFlags & { kind: string; report?: string }) => {
    if (!isAdversaryKind(flags.kind)) fail(new Error(`--kind ${flags.kind}: allowed ${Object.keys(ADVERSARY_KINDS).join(', ')}`));
    const kind = flags.kind as AdversaryKind;
    let net: NetPart | undefined;
    const has = (...kinds: AdversaryKind[]) => kind === 'mixed' || kinds.includes(kind);
    const signer = (node: MagnetNode) => ({ nodeId: node.identity.nodeId, sign: (d: Buffer) => signDigest(node.identity.signingKey, d) });
    const hooks: AssemblyHooks = {
      net: (n) => (net = n),
      roundNetwork: (n, node) =>
        has('silent-leader', 'far-deadline', 'equivocate', 'poison', 'tokens')
          ? new HostileRoundNetwork(n, { me: node.identity.nodeId, kind, signer: signer(node), log: node.log.child({ part: 'adversary' }) })
          : n,
      roundHandlers: (h, node) => (has('forge-lineage') ? forgedLineageHandlers(h, { me: node.identity.nodeId, signer: signer(node) }) : h),
      blobBackend: (b) => (has('withhold-shards') ? withholdingBackend(b) : b),
    };
    return runDaemon(flags, hooks, (node) => {
      if (net && has('probes', 'hello-flood')) void attackWhenReady(node, net, kind, flags.report);
    });
  });

/**
 * The message-level attacks, once the network has certified a round (so there is a latest to lie about) and at a
 * moment this node does not lead: the probes, then the Hello flood against every member.
 */
async function attackWhenReady(node: MagnetNode, net: NetPart, kind: AdversaryKind, report?: string): Promise<void> {
  const log = node.log.child({ part: 'adversary' });
  const view = () => {
    const d = node.status()['diloco'] as { round: number; leader: string | null; latest: { sha256: string } | null };
    return { round: d.round, latest: d.latest?.sha256 ?? '', leader: d.leader };
  };
  try {
    for (;;) {
      const v = view();
      if (v.round >= 1 && v.leader !== node.identity.nodeId && net.peers().some((p) => p.member)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (kind === 'probes' || kind === 'mixed') {
      const r = await runProbes({
        net,
        key: node.identity.signingKey,
        me: node.identity.nodeId,
        round: view,
        innerSteps: node.config.diloco.innerSteps,
        log,
        ...(report ? { report } : {}),
      });
      log.warn(r, 'adversary: probes done');
    }
    if (kind === 'hello-flood' || kind === 'mixed') {
      // 300 throwaway identities at each of two members (the peer table is per node).
      for (const p of net
        .peers()
        .filter((x) => x.member)
        .slice(0, 2)) {
        const counts = await helloFlood(net, p.nodeId);
        log.warn({ target: p.nodeId, counts }, 'adversary: hello flood done');
        if (report)
          (await import('node:fs')).appendFileSync(report, `${JSON.stringify({ probe: 'hello flood', target: p.nodeId, counts })}\n`);
      }
    }
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'adversary: attack loop failed');
  }
}

await program.parseAsync(process.argv);
