import type { NetPart } from '../net/net-part.js';
import type { GradientReadyMsg, LeaderProposalMsg, RoundAckMsg, RoundAnnouncementMsg, RoundOutcomeMsg } from '../net/proto.js';
import type { Ack, GradientReady, LeaderProposal, RoundAnnouncement, RoundOutcome } from './messages.js';
import type { RoundNetwork } from './ports.js';

/** The coordinator's handlers, as the net part calls them (the caller's nodeId comes from the verified envelope). */
export interface RoundMessageHandlers {
  onAnnouncement(from: string, a: RoundAnnouncement): Ack;
  onGradientReady(from: string, g: GradientReady): Ack;
  onLeaderProposal(from: string, p: LeaderProposal): Ack;
  onOutcome(from: string, o: RoundOutcome): Ack;
  onLatestRequest(from: string, round: number): Ack;
}

/**
 * RoundNetwork over the net part: every round message is a signed gRPC call over the pinned TLS channel, blobs go
 * through the data plane. A peer counts as stale when net lost it or its last heartbeat is older than `staleMs`.
 */
export class NetRoundNetwork implements RoundNetwork {
  constructor(
    private readonly net: NetPart,
    private readonly staleMs: number,
  ) {}

  livePeers(): { nodeId: string; roles: string[] }[] {
    return this.net.peers().map((p) => ({ nodeId: p.nodeId, roles: p.roles }));
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

  async proposeLeader(to: string, p: LeaderProposal): Promise<Ack> {
    return fromAckMsg(
      await this.net.client(to).proposeLeader({ round: p.round, leader: p.newLeader, oldLeader: p.oldLeader, reason: p.reason }),
    );
  }

  async publishOutcome(to: string, o: RoundOutcome): Promise<Ack> {
    return fromAckMsg(
      await this.net.client(to).publishOutcome({
        round: o.round,
        leader: o.leader,
        merged: o.merged,
        sha256: o.sha256,
        manifestId: o.manifestId ?? '',
        contributors: o.contributors,
        receiptsJson: o.receipts ?? '',
      }),
    );
  }

  async latestOf(peer: string, round: number): Promise<Ack> {
    return fromAckMsg(await this.net.client(peer).getLatest({ round }));
  }

  async pushBlob(to: string, file: string, sha256: string): Promise<void> {
    const res = await this.net.client(to).putBlob(file);
    if (res.sha256 && res.sha256 !== sha256) throw new Error(`pushBlob to ${to}: it stored ${res.sha256}, expected ${sha256}`);
  }

  async fetchBlob(from: string, sha256: string, dest: string): Promise<void> {
    await this.net.client(from).getBlobToFile(sha256, dest);
  }
}

/** Routes the net part's round RPCs to the coordinator, converting the wire messages. */
export function installRoundHandlers(net: NetPart, h: RoundMessageHandlers): void {
  const ack = async (a: Ack): Promise<RoundAckMsg> => toAckMsg(a);
  net.rounds.announceRound = (from, m) => ack(h.onAnnouncement(from, fromAnnouncementMsg(m)));
  net.rounds.signalGradientReady = (from, m) => ack(h.onGradientReady(from, fromGradientMsg(from, m)));
  net.rounds.proposeLeader = (from, m: LeaderProposalMsg) =>
    ack(h.onLeaderProposal(from, { round: m.round, newLeader: m.leader, oldLeader: m.oldLeader, reason: m.reason }));
  net.rounds.publishOutcome = (from, m: RoundOutcomeMsg) =>
    ack(
      h.onOutcome(from, {
        round: m.round,
        leader: m.leader,
        merged: m.merged,
        sha256: m.sha256,
        manifestId: m.manifestId || null,
        contributors: m.contributors,
        ...(m.receiptsJson ? { receipts: m.receiptsJson } : {}),
      }),
    );
  net.rounds.getLatest = (from, m) => ack(h.onLatestRequest(from, Number(m.round)));
}

function toAckMsg(a: Ack): RoundAckMsg {
  const l = a.latest;
  return {
    accepted: a.accepted,
    reason: a.reason,
    ...(l ? { hasLatest: true, latestRound: l.round, latestSha256: l.sha256, latestManifest: l.manifestId ?? '' } : {}),
  };
}

function fromAckMsg(m: RoundAckMsg): Ack {
  const latest =
    m.hasLatest && m.latestSha256
      ? { round: Number(m.latestRound), sha256: m.latestSha256, manifestId: m.latestManifest || null }
      : undefined;
  return { accepted: m.accepted, reason: m.reason, ...(latest ? { latest } : {}) };
}

function toAnnouncementMsg(a: RoundAnnouncement): RoundAnnouncementMsg {
  return {
    round: a.round,
    innerSteps: a.innerSteps,
    deadlineMs: a.deadlineMs,
    baseCheckpointSha256: a.baseSha256,
    leader: a.leader,
    eligible: a.eligible,
    baseManifest: a.baseManifest ?? '',
  };
}

function fromAnnouncementMsg(m: RoundAnnouncementMsg): RoundAnnouncement {
  return {
    round: m.round,
    leader: m.leader,
    innerSteps: m.innerSteps,
    deadlineMs: m.deadlineMs,
    baseSha256: m.baseCheckpointSha256,
    baseManifest: m.baseManifest || null,
    eligible: m.eligible,
  };
}

function toGradientMsg(g: GradientReady): GradientReadyMsg {
  return {
    round: g.round,
    sha256: g.sha256,
    cid: g.manifestId ?? '',
    localLoss: g.lossAfter,
    tokens: g.tokens,
    steps: g.steps,
    size: g.size,
    baseCheckpointSha256: g.baseSha256,
    lossBefore: g.lossBefore,
    compression: g.compression,
  };
}

/** The sender is the envelope's signer: a gradient can only be signalled for oneself. */
function fromGradientMsg(from: string, m: GradientReadyMsg): GradientReady {
  return {
    round: m.round,
    nodeId: from,
    baseSha256: m.baseCheckpointSha256,
    sha256: m.sha256,
    manifestId: m.cid || null,
    size: m.size,
    lossBefore: m.lossBefore,
    lossAfter: m.localLoss,
    tokens: m.tokens,
    steps: m.steps,
    compression: m.compression,
  };
}
