#!/usr/bin/env node
import { appendFileSync } from 'node:fs';
import { Command } from 'commander';
import { type StartFlags, runDaemon, withStartOptions } from '../cli/commands/start.js';
import { fail } from '../cli/output.js';
import { signDigest } from '../identity/signature.js';
import type { Peers } from '../net/peers.js';
import type { AssemblyHooks } from '../node/assemble.js';
import type { MagnetNode } from '../node/node.js';
import { errorMessage } from '../util/errors.js';
import { putFlood, rpcFlood } from './floods.js';
import { bloatingBackend, deposingHandlers, forgedLineageHandlers, withholdingBackend } from './hostile-handlers.js';
import { HostileRoundNetwork } from './hostile-network.js';
import { lyingResearchPeers } from './hostile-research.js';
import { ADVERSARY_KINDS, type AdversaryKind, parseKinds } from './kinds.js';
import { proposeOutOfTurn } from './out-of-turn.js';
import { runProbes } from './probes.js';
import { helloFlood } from './strangers.js';

/**
 * The adversary: a real magnet-node (same flags as `start`) whose honest behaviour is bypassed as KIND says, for
 * the adversary suite (test/adversary) and `magnet-node testnet --adversary KIND`. It runs only from this file:
 * `magnet-node start` never carries any of it.
 *   node dist/daemon/src/adversary/main.js --kind KIND[,KIND...] [--report FILE] [--target NODEID]
 *     [--accomplice-key FILE] <start flags>
 */
const program = withStartOptions(new Command('magnet-adversary'))
  .requiredOption('--kind <kinds>', `one or more (comma-separated) of: ${Object.keys(ADVERSARY_KINDS).join(', ')}`)
  .option('--report <file>', 'JSON lines, one per message-level attack and its answer')
  .option('--target <nodeId>', 'the member the probes and floods go to (default: the first member that does not lead the round)')
  .option(
    '--accomplice-key <file>',
    "out-of-turn: a file holding a colluding member trainer's private key (hex), whose vote backs the proposal",
  )
  .action((flags: StartFlags & { kind: string; report?: string; target?: string; accompliceKey?: string }) => {
    const kinds = parseKinds(flags.kind);
    if (!kinds) fail(new Error(`--kind ${flags.kind}: allowed ${Object.keys(ADVERSARY_KINDS).join(', ')} (comma-separated)`));
    const list = kinds as AdversaryKind[];
    let net: Peers | undefined;
    const has = (...ks: AdversaryKind[]) => list.includes('mixed') || ks.some((k) => list.includes(k));
    const roundKind = list.includes('mixed') ? 'mixed' : list.find((k) => ROUND_KINDS.includes(k));
    const signer = (node: MagnetNode) => ({ nodeId: node.identity.nodeId, sign: (d: Buffer) => signDigest(node.identity.signingKey, d) });
    const hooks: AssemblyHooks = {
      peers: (p) => (net = p),
      roundNetwork: (n, node) =>
        roundKind
          ? new HostileRoundNetwork(n, {
              me: node.identity.nodeId,
              kind: roundKind,
              signer: signer(node),
              log: node.log.child({ part: 'adversary' }),
              python: node.config.diloco.python,
            })
          : n,
      roundHandlers: (h, node) => {
        const forged = has('forge-lineage') ? forgedLineageHandlers(h, { me: node.identity.nodeId, signer: signer(node) }) : h;
        return has('depose') ? deposingHandlers(forged, node.log.child({ part: 'adversary' })) : forged;
      },
      researchPeers: (p, node) => (list.includes('research-liar') ? lyingResearchPeers(p, signer(node)) : p),
      blobBackend: (b) => (has('withhold-shards') ? withholdingBackend(b) : list.includes('oversize-answers') ? bloatingBackend(b) : b),
    };
    return runDaemon(flags, hooks, (node) => {
      if (net && has('probes', 'hello-flood', 'unplaced-blobs', 'rpc-flood'))
        void attackWhenReady(node, net, list, {
          ...(flags.report ? { report: flags.report } : {}),
          ...(flags.target ? { target: flags.target } : {}),
        });
      if (net && list.includes('out-of-turn')) void outOfTurnWhenReady(node, net, flags);
    });
  });

/** Proposes out of turn to a member that does not train (--target, else the first such member it meets). */
async function outOfTurnWhenReady(
  node: MagnetNode,
  net: Peers,
  flags: { report?: string; target?: string; accompliceKey?: string },
): Promise<void> {
  const log = node.log.child({ part: 'adversary' });
  try {
    let target = flags.target;
    while (!target) {
      target = net.peers().find((p) => p.member && !p.roles.includes('trainer'))?.nodeId;
      if (!target) await new Promise((r) => setTimeout(r, 1000));
    }
    await proposeOutOfTurn({
      net,
      key: node.identity.signingKey,
      me: node.identity.nodeId,
      round: () => roundView(node),
      innerSteps: node.config.diloco.innerSteps,
      log,
      target,
      ...(flags.accompliceKey ? { accompliceKeyFile: flags.accompliceKey } : {}),
      write: (line) => flags.report && appendFileSync(flags.report, `${JSON.stringify(line)}\n`),
    });
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'adversary: out-of-turn attack failed');
  }
}

/** This node's view of the round, from its status. */
function roundView(node: MagnetNode): { round: number; latest: string; leader: string | null } {
  const d = node.status()['diloco'] as { round?: number; leader?: string | null; latest?: { sha256: string } | null } | undefined;
  return { round: d?.round ?? 0, latest: d?.latest?.sha256 ?? '', leader: d?.leader ?? null };
}

/** The kinds that change what this node does in the rounds (HostileRoundNetwork). */
const ROUND_KINDS: AdversaryKind[] = ['silent-leader', 'far-deadline', 'equivocate', 'poison', 'tokens'];

/**
 * The message-level attacks. The round probes wait until the network has certified a round (so there is a latest to
 * lie about) and for a moment this node does not lead; the placement probes and the floods need only a live member.
 */
async function attackWhenReady(
  node: MagnetNode,
  net: Peers,
  kinds: AdversaryKind[],
  o: { report?: string; target?: string },
): Promise<void> {
  const log = node.log.child({ part: 'adversary' });
  const has = (...ks: AdversaryKind[]) => kinds.includes('mixed') || ks.some((k) => kinds.includes(k));
  const needsRounds = has('probes', 'hello-flood');
  const view = () => roundView(node);
  const write = (line: Record<string, unknown>) => o.report && appendFileSync(o.report, `${JSON.stringify(line)}\n`);
  const target = () =>
    o.target ??
    net
      .peers()
      .filter((p) => p.member && p.nodeId !== node.identity.nodeId && p.nodeId !== view().leader)
      .map((p) => p.nodeId)
      .sort()[0];
  try {
    for (;;) {
      const v = view();
      const member = net.peers().some((p) => p.member && (!o.target || p.nodeId === o.target));
      if (member && (!needsRounds || (v.round >= 1 && v.leader !== node.identity.nodeId))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const probeCtx = {
      net,
      key: node.identity.signingKey,
      me: node.identity.nodeId,
      round: view,
      innerSteps: node.config.diloco.innerSteps,
      log,
      ...(o.report ? { report: o.report } : {}),
      ...(o.target ? { target: o.target } : {}),
    };
    if (has('probes')) log.warn(await runProbes(probeCtx), 'adversary: probes done');
    else if (kinds.includes('unplaced-blobs'))
      log.warn(await runProbes({ ...probeCtx, only: 'placement' }), 'adversary: placement probes done');
    if (kinds.includes('unplaced-blobs')) {
      const to = target();
      if (to) {
        const answers = await putFlood(net, to);
        log.warn({ target: to, answers }, 'adversary: 100 unplaced blobs pushed');
        write({ probe: 'unplaced blob flood', target: to, answers });
      }
    }
    if (has('hello-flood')) {
      // 300 throwaway identities at each of two members (the peer table is per node).
      for (const p of net
        .peers()
        .filter((x) => x.member)
        .slice(0, 2)) {
        const counts = await helloFlood(net, p.nodeId, node.network.id);
        log.warn({ target: p.nodeId, counts }, 'adversary: hello flood done');
        write({ probe: 'hello flood', target: p.nodeId, counts });
      }
    }
    if (has('rpc-flood')) {
      const to = target();
      if (to) {
        write({ probe: 'rpc flood start', target: to, at: Date.now() });
        const r = await rpcFlood(net, to, 1000, kinds.includes('rpc-flood') ? 5 : 3);
        log.warn({ target: to, ...r }, 'adversary: RPC flood done');
        write({ probe: 'rpc flood', target: to, at: Date.now(), ...r });
      }
    }
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'adversary: attack loop failed');
  }
}

await program.parseAsync(process.argv);
