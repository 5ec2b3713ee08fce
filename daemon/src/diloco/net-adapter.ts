import { NODE_ID_PATTERN } from '../identity/node-id.js';
import type { NetPart } from '../net/net-part.js';
import type {
  GradientCheckMsg,
  GradientReadyMsg,
  OutcomeProposalMsg,
  OutcomeVoteMsg,
  RoundAckMsg,
  RoundAnnouncementMsg,
  RoundOutcomeMsg,
} from '../net/proto.js';
import { Refusal } from '../net/refusal.js';
import type {
  Ack,
  Certificate,
  GradientCheck,
  GradientCheckRequest,
  GradientReady,
  OutcomeProposal,
  RoundAnnouncement,
  Vote,
} from './messages.js';
import { MAX_DAMPING } from './messages.js';
import type { RoundNetwork } from './ports.js';

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
 * Longest list in a round message (eligible trainers, contributions, votes). The control-message size limit bounds
 * them too (64 KiB by default: about 700 votes); this bound holds when that limit is raised.
 */
const MAX_LIST = 1024;

/**
 * RoundNetwork over the net part: every round message is a signed gRPC call over the pinned TLS channel, blobs go
 * through the data plane. A peer counts as stale when net lost it or its last heartbeat is older than `staleMs`.
 */
export class NetRoundNetwork implements RoundNetwork {
  constructor(
    private readonly net: NetPart,
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

  async pushBlob(to: string, file: string, sha256: string): Promise<void> {
    const res = await this.net.client(to).putBlob(file);
    if (res.sha256 && res.sha256 !== sha256) throw new Error(`pushBlob to ${to}: it stored ${res.sha256}, expected ${sha256}`);
  }

  async fetchBlob(from: string, sha256: string, dest: string, maxBytes: number): Promise<void> {
    await this.net.client(from).getBlobToFile(sha256, dest, maxBytes);
  }
}

/** Routes the net part's round RPCs to the coordinator, converting (and bounds-checking) the wire messages. */
export function installRoundHandlers(net: NetPart, h: RoundMessageHandlers): void {
  const ack = async (a: Ack): Promise<RoundAckMsg> => toAckMsg(a);
  net.rounds.announceRound = (from, m) => ack(h.onAnnouncement(from, fromAnnouncementMsg(from, m)));
  net.rounds.signalGradientReady = (from, m) => ack(h.onGradientReady(from, fromGradientMsg(from, m)));
  net.rounds.checkGradient = async (from, m) => {
    const req = {
      round: roundOf(from, m.round),
      baseSha256: sha(from, m.baseSha256, 'base_sha256'),
      sha256: sha(from, m.sha256, 'sha256'),
      size: size(from, m.size),
      manifestId: optionalSha(from, m.manifestId, 'manifest_id'),
      statementSignature: signature(from, m.statementSignature),
    };
    return toCheckMsg(await h.onCheckRequest(from, req));
  };
  net.rounds.submitVote = (from, m) => {
    if (!m.proposal) throw new Refusal('bad_field', 'a vote bundle without its proposal', from);
    return ack(h.onVotes(from, fromProposalMsg(from, m.proposal), votesOf(from, m.votes)));
  };
  net.rounds.publishOutcome = (from, m) => ack(h.onOutcome(from, fromOutcomeMsg(from, m)));
  net.rounds.getLatest = (from, m) => ack(h.onLatestRequest(from, Number(m.round)));
  net.rounds.getLineage = async (from, m) => {
    const after = Number(m.afterRound);
    if (!Number.isSafeInteger(after) || after < -1) throw new Refusal('bad_field', `after_round ${m.afterRound} is not a round`, from);
    return { outcomes: h.onLineageRequest(from, after, Math.min(64, Math.max(1, m.limit))).map(toOutcomeMsg) };
  };
}

// ---------------------------------------------------------------- boundary checks (every field, before use)

const SHA256 = /^[0-9a-f]{64}$/;

function sha(from: string, v: string, field: string): string {
  if (!SHA256.test(v)) throw new Refusal('bad_field', `${field} "${v.slice(0, 80)}" is not 64 lowercase hex digits`, from);
  return v;
}

function optionalSha(from: string, v: string, field: string): string | null {
  return v === '' ? null : sha(from, v, field);
}

function nodeId(from: string, v: string, field: string): string {
  if (!NODE_ID_PATTERN.test(v)) throw new Refusal('bad_field', `${field} "${v.slice(0, 40)}" is not node-<16 hex>`, from);
  return v;
}

/** Rounds are whole numbers below 2^40 (a round a second for 34,000 years): larger ones are refused. */
function roundOf(from: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 40) throw new Refusal('bad_field', `round ${v} is out of range`, from);
  return v;
}

function size(from: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new Refusal('bad_field', `size ${v} is not a positive whole number`, from);
  return v;
}

/** Decoded `bytes` fields are Uint8Array views: copied into a Buffer of exactly 65 bytes. */
function signature(from: string, v: Uint8Array): Buffer {
  if (!(v instanceof Uint8Array) || v.length !== 65)
    throw new Refusal('bad_field', `a signature of ${v?.length ?? 0} bytes (65 expected)`, from);
  return Buffer.from(v);
}

function text(from: string, v: string, field: string, max = 256): string {
  if (v.length > max) throw new Refusal('bad_field', `${field} is longer than ${max} characters`, from);
  return v;
}

function list<T>(from: string, v: T[], field: string): T[] {
  if (v.length > MAX_LIST) throw new Refusal('bad_field', `${field} has ${v.length} entries (at most ${MAX_LIST})`, from);
  return v;
}

function fromAnnouncementMsg(from: string, m: RoundAnnouncementMsg): RoundAnnouncement {
  if (!Number.isSafeInteger(m.deadlineMs) || m.deadlineMs < 0)
    throw new Refusal('bad_field', `deadline ${m.deadlineMs} is not a time`, from);
  if (!Number.isSafeInteger(m.innerSteps) || m.innerSteps <= 0)
    throw new Refusal('bad_field', `inner_steps ${m.innerSteps} is not positive`, from);
  return {
    round: roundOf(from, m.round),
    leader: nodeId(from, m.leader, 'leader'),
    innerSteps: m.innerSteps,
    deadlineMs: m.deadlineMs,
    baseSha256: sha(from, m.baseCheckpointSha256, 'base_checkpoint_sha256'),
    baseManifest: optionalSha(from, m.baseManifest, 'base_manifest'),
    eligible: list(from, m.eligible, 'eligible').map((id) => nodeId(from, id, 'eligible')),
    failedLeaders: list(from, m.failedLeaders, 'failed_leaders').map((id) => nodeId(from, id, 'failed_leaders')),
  };
}

/** The sender is the envelope's signer: a gradient can only be signalled for oneself. */
function fromGradientMsg(from: string, m: GradientReadyMsg): GradientReady {
  const finite = (x: number) => (Number.isFinite(x) ? x : NaN);
  if (!Number.isSafeInteger(m.tokens) || m.tokens < 0 || !Number.isSafeInteger(m.steps) || m.steps < 0)
    throw new Refusal('bad_field', `tokens ${m.tokens} / steps ${m.steps} are out of range`, from);
  return {
    round: roundOf(from, m.round),
    nodeId: from,
    baseSha256: sha(from, m.baseCheckpointSha256, 'base_checkpoint_sha256'),
    sha256: sha(from, m.sha256, 'sha256'),
    manifestId: optionalSha(from, m.cid, 'cid'),
    size: size(from, m.size),
    lossBefore: finite(m.lossBefore),
    lossAfter: finite(m.localLoss),
    tokens: m.tokens,
    steps: m.steps,
    compression: text(from, m.compression, 'compression', 16),
    statementSignature: signature(from, m.statementSignature),
  };
}

function fromCheckMsg(from: string, m: GradientCheckMsg): GradientCheck {
  return {
    round: roundOf(from, m.round),
    baseSha256: sha(from, m.baseSha256, 'base_sha256'),
    sha256: sha(from, m.sha256, 'sha256'),
    subject: nodeId(from, m.subject, 'subject'),
    checker: nodeId(from, m.checker, 'checker'),
    accepted: m.accepted,
    reason: text(from, m.reason, 'reason', 1024),
    signature: signature(from, m.signature),
  };
}

function toCheckMsg(c: GradientCheck): GradientCheckMsg {
  return { ...c };
}

function fromProposalMsg(from: string, m: OutcomeProposalMsg): OutcomeProposal {
  return {
    round: roundOf(from, m.round),
    leader: nodeId(from, m.leader, 'leader'),
    parentSha256: sha(from, m.parentSha256, 'parent_sha256'),
    merged: m.merged,
    sha256: sha(from, m.sha256, 'sha256'),
    manifestId: optionalSha(from, m.manifestId, 'manifest_id'),
    contributions: list(from, m.contributions, 'contributions').map((c) => ({
      nodeId: nodeId(from, c.nodeId, 'contributions.node_id'),
      sha256: sha(from, c.sha256, 'contributions.sha256'),
      size: size(from, c.size),
      signature: signature(from, c.signature),
    })),
    leaderCheck: m.leaderCheck ? fromCheckMsg(from, m.leaderCheck) : null,
    note: text(from, m.note, 'note'),
    basis: m.basis
      ? {
          leader: nodeId(from, m.basis.leader, 'basis.leader'),
          leaderCheck: m.basis.leaderCheck ? fromCheckMsg(from, m.basis.leaderCheck) : null,
          signature: signature(from, m.basis.signature),
        }
      : null,
    damping: damping(from, m.damping, m.merged),
    signature: signature(from, m.signature),
  };
}

function damping(from: string, v: number, merged: boolean): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_DAMPING || (!merged && v !== 0))
    throw new Refusal('bad_field', `damping ${v} is out of range (0..${MAX_DAMPING}, 0 without a merge)`, from);
  return v;
}

function toProposalMsg(p: OutcomeProposal): OutcomeProposalMsg {
  return { ...p, manifestId: p.manifestId ?? '', leaderCheck: p.leaderCheck, basis: p.basis };
}

function votesOf(from: string, votes: OutcomeVoteMsg[]): Vote[] {
  return list(from, votes, 'votes').map((v) => ({ voter: nodeId(from, v.voter, 'votes.voter'), signature: signature(from, v.signature) }));
}

function fromOutcomeMsg(from: string, m: RoundOutcomeMsg): Certificate {
  if (!m.proposal) throw new Refusal('bad_field', 'an outcome without its proposal', from);
  return {
    proposal: fromProposalMsg(from, m.proposal),
    votes: votesOf(from, m.votes),
    ...(m.receiptsJson ? { receipts: text(from, m.receiptsJson, 'receipts_json', 48 * 1024) } : {}),
  };
}

function toOutcomeMsg(c: Certificate): RoundOutcomeMsg {
  return { proposal: toProposalMsg(c.proposal), votes: c.votes, receiptsJson: c.receipts ?? '' };
}

function toAckMsg(a: Ack): RoundAckMsg {
  const l = a.latest;
  return {
    accepted: a.accepted,
    reason: a.reason.slice(0, 1024),
    currentRound: a.currentRound ?? 0,
    ...(l ? { hasLatest: true, latestRound: l.round, latestSha256: l.sha256, latestManifest: l.manifestId ?? '' } : {}),
  };
}

function fromAckMsg(m: RoundAckMsg): Ack {
  const latest =
    m.hasLatest && m.latestSha256 && SHA256.test(m.latestSha256) && Number.isSafeInteger(Number(m.latestRound))
      ? {
          round: Number(m.latestRound),
          sha256: m.latestSha256,
          manifestId: m.latestManifest && SHA256.test(m.latestManifest) ? m.latestManifest : null,
        }
      : undefined;
  const currentRound = Number(m.currentRound ?? 0);
  return {
    accepted: m.accepted,
    reason: String(m.reason).slice(0, 1024),
    ...(Number.isSafeInteger(currentRound) && currentRound >= 0 ? { currentRound } : {}),
    ...(latest ? { latest } : {}),
  };
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
    failedLeaders: a.failedLeaders,
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
    statementSignature: g.statementSignature,
  };
}
