import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RoundCoordinator } from '../../daemon/src/diloco/coordinator.js';
import type { SignedReceipt } from '../../daemon/src/diloco/messages.js';
import type { ContributionSink, ReceiptExchange, RoundMembers, RoundNetwork, RoundStorage } from '../../daemon/src/diloco/ports.js';
import { sha256File } from '../../daemon/src/util/hash.js';

/**
 * Stands in for the network and storage parts so that several round coordinators can run in one test process
 * with the real trainer subprocess: the state machine's faults (a dead leader, a crashing merge, a forged
 * gradient) are injected precisely here. The multi-daemon tests run the same coordinator over real gRPC.
 */
export class LoopbackCluster {
  readonly nodes = new Map<string, { coordinator: RoundCoordinator; home: string; roles: string[] }>();
  readonly dead = new Set<string>();
  readonly sharedDir: string;
  readonly contributions: Parameters<ContributionSink['record']>[0][] = [];
  /** Receipts each node took from a round outcome (the leader's are a JSON list naming the round and the leader). */
  readonly receiptsTaken: { node: string; receipts: SignedReceipt[] }[] = [];

  constructor(root: string) {
    this.sharedDir = join(root, 'shared-storage');
    mkdirSync(this.sharedDir, { recursive: true });
  }

  add(nodeId: string, home: string, coordinator: RoundCoordinator, roles = ['trainer']): void {
    this.nodes.set(nodeId, { coordinator, home, roles });
  }

  private target(id: string): RoundCoordinator {
    const n = this.nodes.get(id);
    if (!n || this.dead.has(id)) throw new Error(`peer ${id} unreachable`);
    return n.coordinator;
  }

  inbox(id: string): string {
    const dir = join(this.nodes.get(id)?.home ?? '/nonexistent', 'inbox');
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Every node of the cluster is a member (the membership part's rules have their own tests). */
  members(): RoundMembers {
    return { isMember: (id) => this.nodes.has(id), size: () => this.nodes.size };
  }

  network(self: string): RoundNetwork {
    return {
      livePeers: () =>
        [...this.nodes.entries()]
          .filter(([id]) => id !== self && !this.dead.has(id))
          .map(([nodeId, n]) => ({ nodeId, roles: n.roles, member: true })),
      knownPeers: () =>
        [...this.nodes.entries()].filter(([id]) => id !== self).map(([nodeId, n]) => ({ nodeId, roles: n.roles, member: true })),
      isStale: (id) => this.dead.has(id),
      announce: async (to, a) => this.target(to).onAnnouncement(self, a),
      gradientReady: async (to, g) => this.target(to).onGradientReady(self, g),
      checkGradient: async (to, req) => this.target(to).onCheckRequest(self, req),
      submitVotes: async (to, p, votes) => this.target(to).onVotes(self, p, votes),
      publishOutcome: async (to, c) => this.target(to).onOutcome(self, c),
      latestOf: async (peer, round) => this.target(peer).onLatestRequest(self, round),
      lineageOf: async (peer, after, limit) => this.target(peer).onLineageRequest(self, after, limit),
      pushBlob: async (to, file, sha256) => {
        this.target(to);
        copyFileSync(file, join(this.inbox(to), sha256));
      },
      fetchBlob: async (from, sha256, dest) => {
        this.target(from);
        const home = this.nodes.get(from)?.home as string;
        for (const f of [
          join(home, 'checkpoints', `${sha256}.safetensors`),
          join(home, 'gradients', `${sha256}.safetensors`),
          join(home, 'inbox', sha256),
        ]) {
          if (existsSync(f)) return copyFileSync(f, dest);
        }
        throw new Error(`${from} does not hold ${sha256}`);
      },
    };
  }

  storage(self: string): RoundStorage {
    return {
      put: async (file) => {
        const sha = await sha256File(file);
        copyFileSync(file, join(this.sharedDir, sha));
        return { manifestId: sha };
      },
      get: async (manifestId, dest) => copyFileSync(join(this.sharedDir, manifestId), dest),
      localPath: (sha256) => {
        const f = join(this.inbox(self), sha256);
        return existsSync(f) ? f : undefined;
      },
    };
  }

  /** Each leader "signs" one receipt per round it leads, for itself (the chain part's checks are not the point here). */
  receipts(self: string): ReceiptExchange {
    return {
      forRound: async (round) => [
        {
          nodeId: self,
          node: '0x' + '11'.repeat(20),
          epoch: 1,
          round,
          checkpointHash: '0x' + '00'.repeat(32),
          gradientHash: '0x' + '22'.repeat(32),
          tokens: 1,
          score: 1,
          leader: '0x' + '33'.repeat(20),
          leaderSignature: '0x' + '44'.repeat(65),
        },
      ],
      accept: async (receipts) => void this.receiptsTaken.push({ node: self, receipts }),
    };
  }

  sink(): ContributionSink {
    return { record: (c) => void this.contributions.push(c) };
  }
}
