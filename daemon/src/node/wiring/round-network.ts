import type { RoundHandlers } from '../../net/control-service.js';
import type { Peers } from '../../net/peers.js';
import type { RoundAckMsg } from '../../net/proto.js';
import { Refusal } from '../../net/refusal.js';
import type {
  Ack,
  Certificate,
  GradientCheck,
  GradientCheckRequest,
  GradientReady,
  OutcomeProposal,
  RoundAnnouncement,
  Vote,
} from '../../diloco/messages.js';
import type { RoundNetwork } from '../../diloco/ports.js';

import {
  fromAckMsg,
  fromAnnouncementMsg,
  fromCheckMsg,
  fromGradientMsg,
  fromOutcomeMsg,
  fromProposalMsg,
  optionalSha,
  roundOf,
  sha,
  signature,
  size,
  toAckMsg,
  toAnnouncementMsg,
  toCheckMsg,
  toGradientMsg,
  toOutcomeMsg,
  toProposalMsg,
  votesOf,
} from './round-wire.js';

/** The coordinator's handlers, as the net part calls them (the caller's nodeId comes from the verified envelope). */
export interface RoundMessageHandlers {
  onAnnouncement(from: string, a: RoundAnnouncement): Ack;
  onGradientReady(from: string, g: GradientReady): Ack;
  onCheckRequest(from: string, req: GradientCheckRequest): Promise<GradientCheck>;
  onVotes(from: string, p: OutcomeProposal, votes: Vote[]): Ack;
  onOutcome(from: string, c: Certificate): Ack;
  onLatestRequest(from: string, round: number): Ack;
  onLineageRequest(from: string, afterRound: number, limit: number): Certificate[];
}

/**
 * RoundNetwork over the net part: every round message is a signed gRPC call over the pinned TLS channel, blobs go
 * through the data plane. A peer counts as stale when net lost it or its last heartbeat is older than `staleMs`.
 */
export class NetRoundNetwork implements RoundNetwork {
  constructor(
    private readonly net: Peers,
    private readonly staleMs: number,
  ) {}

  livePeers(): { nodeId: string; roles: string[]; member: boolean }[] {
    return this.net.peers().map((p) => ({ nodeId: p.nodeId, roles: p.roles, member: p.member }));
  }

  knownPeers(): { nodeId: string; roles: string[]; member: boolean }[] {
    return this.net.known().map((p) => ({ nodeId: p.nodeId, roles: p.roles, member: p.member }));
  }

  isStale(nodeId: string): boolean {
    const p = this.net.peers().find((x) => x.nodeId === nodeId);
    return !p || p.state !== 'live' || Date.now() - p.lastHeartbeat > this.staleMs;
  }

  async announce(to: string, a: RoundAnnouncement): Promise<Ack> {
    return fromAckMsg(await this.net.client(to).announceRound(toAnnouncementMsg(a)));
  }

  async gradientReady(to: string, g: GradientReady): Promise<Ack> {
    return fromAckMsg(await this.net.client(to).signalGradientReady(toGradientMsg(g)));
  }

  async checkGradient(to: string, req: GradientCheckRequest): Promise<GradientCheck> {
    const m = await this.net.client(to).checkGradient({ ...req, manifestId: req.manifestId ?? '' });
    return fromCheckMsg(to, m);
  }

  async submitVotes(to: string, p: OutcomeProposal, votes: Vote[]): Promise<Ack> {
    return fromAckMsg(await this.net.client(to).submitVote({ proposal: toProposalMsg(p), votes }));
  }

  async publishOutcome(to: string, c: Certificate): Promise<Ack> {
    return fromAckMsg(await this.net.client(to).publishOutcome(toOutcomeMsg(c)));
  }

  async latestOf(peer: string, round: number): Promise<Ack> {
    return fromAckMsg(await this.net.client(peer).getLatest({ round }));
  }

  async lineageOf(peer: string, afterRound: number, limit: number): Promise<Certificate[]> {
    const m = await this.net.client(peer).getLineage({ afterRound, limit });
    return m.outcomes.slice(0, limit).map((o) => fromOutcomeMsg(peer, o));
  }

  async pushBlob(to: string, file: string, sha256: string, round: number): Promise<void> {
    const res = await this.net.client(to).putBlob(file, { purpose: 'gradient', round });
    if (res.sha256 && res.sha256 !== sha256) throw new Error(`pushBlob to ${to}: it stored ${res.sha256}, expected ${sha256}`);
  }

  async fetchBlob(from: string, sha256: string, dest: string, maxBytes: number): Promise<void> {
    await this.net.client(from).getBlobToFile(sha256, dest, maxBytes);
  }
}

/** The net part's round RPCs, routed to the coordinator, converting (and bounds-checking) the wire messages. */
export function roundHandlersOf(h: RoundMessageHandlers): RoundHandlers {
  const ack = async (a: Ack): Promise<RoundAckMsg> => toAckMsg(a);
  return {
    announceRound: (from, m) => ack(h.onAnnouncement(from, fromAnnouncementMsg(from, m))),
    signalGradientReady: (from, m) => ack(h.onGradientReady(from, fromGradientMsg(from, m))),
    checkGradient: async (from, m) => {
      const req = {
        round: roundOf(from, m.round),
        baseSha256: sha(from, m.baseSha256, 'base_sha256'),
        sha256: sha(from, m.sha256, 'sha256'),
        size: size(from, m.size),
        manifestId: optionalSha(from, m.manifestId, 'manifest_id'),
        statementSignature: signature(from, m.statementSignature),
      };
      return toCheckMsg(await h.onCheckRequest(from, req));
    },
    submitVote: (from, m) => {
      if (!m.proposal) throw new Refusal('bad_field', 'a vote bundle without its proposal', from);
      return ack(h.onVotes(from, fromProposalMsg(from, m.proposal), votesOf(from, m.votes)));
    },
    publishOutcome: (from, m) => ack(h.onOutcome(from, fromOutcomeMsg(from, m))),
    getLatest: (from, m) => ack(h.onLatestRequest(from, Number(m.round))),
    getLineage: async (from, m) => {
      const after = Number(m.afterRound);
      if (!Number.isSafeInteger(after) || after < -1) throw new Refusal('bad_field', `after_round ${m.afterRound} is not a round`, from);
      return { outcomes: h.onLineageRequest(from, after, Math.min(64, Math.max(1, m.limit))).map(toOutcomeMsg) };
    },
  };
}
