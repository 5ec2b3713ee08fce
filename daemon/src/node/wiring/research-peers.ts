import type { Peers } from '../../net/peers.js';
import type { ResearchAck, ResearchPeers, ResearchStorage } from '../../research/ports.js';
import type { SignedRecord } from '../../research/records.js';
import type { BlobStorage } from './round-storage.js';

/** ResearchPeers over the net part: trial offers and results are signed gRPC calls over the pinned TLS channels. */
export class NetResearchPeers implements ResearchPeers {
  constructor(
    private readonly net: Peers,
    private readonly staleMs: number,
  ) {}

  livePeers(): { nodeId: string; roles: string[]; member: boolean }[] {
    return this.net.peers().map((p) => ({ nodeId: p.nodeId, roles: p.roles, member: p.member }));
  }

  isStale(nodeId: string): boolean {
    const p = this.net.peers().find((x) => x.nodeId === nodeId);
    return !p || p.state !== 'live' || Date.now() - p.lastHeartbeat > this.staleMs;
  }

  async offerTrial(to: string, rec: SignedRecord): Promise<ResearchAck> {
    const a = await this.net.client(to).offerTrial(rec);
    return { accepted: a.accepted, reason: a.reason };
  }

  async reportTrial(to: string, rec: SignedRecord): Promise<ResearchAck> {
    const a = await this.net.client(to).reportTrial(rec);
    return { accepted: a.accepted, reason: a.reason };
  }

  async creditTrials(to: string, rec: SignedRecord): Promise<ResearchAck> {
    const a = await this.net.client(to).creditTrials(rec);
    return { accepted: a.accepted, reason: a.reason };
  }
}

/** ResearchStorage over the storage part: trial checkpoints and findings are erasure-coded blobs like round files. */
export function researchStorage(storage: Pick<BlobStorage, 'putFile' | 'getToFile' | 'manifestOf'>): ResearchStorage {
  return {
    describe: async (manifestId) => {
      const m = await storage.manifestOf(manifestId);
      return { sha256: m.blob.sha256, size: m.blob.size };
    },
    put: async (file, kind) => ({ manifestId: (await storage.putFile(file, kind, 0)).id }),
    get: async (manifestId, dest) => {
      await storage.getToFile(manifestId, dest);
    },
  };
}
