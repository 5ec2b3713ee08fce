import { NODE_ID_PATTERN } from '../../identity/node-id.js';
import type {
  ContributionReceiptMsg,
  RoundLeafProofMsg,
  GradientCheckMsg,
  GradientReadyMsg,
  OutcomeProposalMsg,
  OutcomeVoteMsg,
  RoundAckMsg,
  RoundAnnouncementMsg,
  RoundOutcomeMsg,
} from '../../net/proto.js';
import { Refusal } from '../../net/refusal.js';
import type {
  Ack,
  Certificate,
  GradientCheck,
  GradientReady,
  OutcomeProposal,
  RoundAnnouncement,
  Vote,
  SignedReceipt,
} from '../../diloco/messages.js';
import { MAX_DAMPING } from '../../diloco/messages.js';

/*
 * The round messages between the wire (net/proto.ts) and the coordinator's types (diloco/messages.ts), both ways.
 * Everything that arrives is checked field by field before use; a bad field is a Refusal('bad_field') naming it.
 */

/**
 * Longest list in a round message (eligible trainers, contributions, votes). The control-message size limit bounds
 * them too (64 KiB by default: about 700 votes); this bound holds when that limit is raised.
 */
const MAX_LIST = 1024;

// ---------------------------------------------------------------- boundary checks (every field, before use)

const SHA256 = /^[0-9a-f]{64}$/;

export function sha(from: string, v: string, field: string): string {
  if (!SHA256.test(v)) throw new Refusal('bad_field', `${field} "${v.slice(0, 80)}" is not 64 lowercase hex digits`, from);
  return v;
}

export function optionalSha(from: string, v: string, field: string): string | null {
  return v === '' ? null : sha(from, v, field);
}

function nodeId(from: string, v: string, field: string): string {
  if (!NODE_ID_PATTERN.test(v)) throw new Refusal('bad_field', `${field} "${v.slice(0, 40)}" is not node-<16 hex>`, from);
  return v;
}

/** Rounds are whole numbers below 2^40 (a round a second for 34,000 years): larger ones are refused. */
export function roundOf(from: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 40) throw new Refusal('bad_field', `round ${v} is out of range`, from);
  return v;
}

export function size(from: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new Refusal('bad_field', `size ${v} is not a positive whole number`, from);
  return v;
}

/** Decoded `bytes` fields are Uint8Array views: copied into a Buffer of exactly 65 bytes. */
export function signature(from: string, v: Uint8Array): Buffer {
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

export function fromAnnouncementMsg(from: string, m: RoundAnnouncementMsg): RoundAnnouncement {
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
export function fromGradientMsg(from: string, m: GradientReadyMsg): GradientReady {
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

export function fromCheckMsg(from: string, m: GradientCheckMsg): GradientCheck {
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

export function toCheckMsg(c: GradientCheck): GradientCheckMsg {
  return { ...c };
}

export function fromProposalMsg(from: string, m: OutcomeProposalMsg): OutcomeProposal {
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

export function toProposalMsg(p: OutcomeProposal): OutcomeProposalMsg {
  return { ...p, manifestId: p.manifestId ?? '', leaderCheck: p.leaderCheck, basis: p.basis };
}

export function votesOf(from: string, votes: OutcomeVoteMsg[]): Vote[] {
  return list(from, votes, 'votes').map((v) => ({ voter: nodeId(from, v.voter, 'votes.voter'), signature: signature(from, v.signature) }));
}

export function fromOutcomeMsg(from: string, m: RoundOutcomeMsg): Certificate {
  if (!m.proposal) throw new Refusal('bad_field', 'an outcome without its proposal', from);
  return {
    proposal: fromProposalMsg(from, m.proposal),
    votes: votesOf(from, m.votes),
    ...(m.receipts.length > 0 ? { receipts: receiptsOf(from, m.receipts) } : {}),
  };
}

export function toOutcomeMsg(c: Certificate): RoundOutcomeMsg {
  return { proposal: toProposalMsg(c.proposal), votes: c.votes, receipts: (c.receipts ?? []).map(toReceiptMsg) };
}

/** At most this many receipts ride with one outcome: one per contributor of a round and the few rounds before. */
const MAX_RECEIPTS = 256;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** Receipts are checked for shape here (the chain part checks the signatures against the ledger). */
export function receiptsOf(from: string, list: ContributionReceiptMsg[]): SignedReceipt[] {
  if (list.length > MAX_RECEIPTS) throw new Refusal('bad_field', `receipts has ${list.length} entries (at most ${MAX_RECEIPTS})`, from);
  return list.map((r) => ({
    nodeId: nodeId(from, r.nodeId, 'receipts.node_id'),
    node: address(from, r.node, 'receipts.node'),
    epoch: whole(from, r.epoch, 'receipts.epoch'),
    round: roundOf(from, r.round),
    checkpointHash: hash32(from, r.checkpointHash, 'receipts.checkpoint_hash'),
    gradientHash: hash32(from, r.gradientHash, 'receipts.gradient_hash'),
    tokens: whole(from, r.tokens, 'receipts.tokens'),
    score: whole(from, r.score, 'receipts.score'),
    leader: address(from, r.leader, 'receipts.leader'),
    leaderSignature: '0x' + signature(from, r.leaderSignature).toString('hex'),
    ...(r.leaf ? { leaf: leafOf(from, r.leaf) } : {}),
  }));
}

/** A round of at most 256 leaves: an index below 256 and a proof of at most 8 hashes. */
const MAX_LEAVES = 256;
const MAX_PROOF = 8;

function leafOf(from: string, l: RoundLeafProofMsg): { index: number; root: string; proof: string[] } {
  if (!Number.isSafeInteger(l.index) || l.index < 0 || l.index >= MAX_LEAVES)
    throw new Refusal('bad_field', `receipts.leaf.index ${l.index} is not below ${MAX_LEAVES}`, from);
  const proof = l.proof ?? [];
  if (proof.length > MAX_PROOF)
    throw new Refusal('bad_field', `receipts.leaf.proof has ${proof.length} hashes (at most ${MAX_PROOF})`, from);
  return {
    index: l.index,
    root: hash32(from, l.root, 'receipts.leaf.root'),
    proof: proof.map((p) => hash32(from, p, 'receipts.leaf.proof')),
  };
}

export function toReceiptMsg(r: SignedReceipt): ContributionReceiptMsg {
  const bytes = (hex: string) => Buffer.from(hex.slice(2), 'hex');
  return {
    ...r,
    checkpointHash: bytes(r.checkpointHash),
    gradientHash: bytes(r.gradientHash),
    leaderSignature: bytes(r.leaderSignature),
    leaf: r.leaf ? { index: r.leaf.index, root: bytes(r.leaf.root), proof: r.leaf.proof.map(bytes) } : null,
  };
}

function address(from: string, v: string, field: string): string {
  if (!ADDRESS.test(v)) throw new Refusal('bad_field', `${field} "${v.slice(0, 50)}" is not a 0x address`, from);
  return v;
}

function whole(from: string, v: number, field: string): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new Refusal('bad_field', `${field} ${v} is not a whole number`, from);
  return v;
}

function hash32(from: string, v: Uint8Array, field: string): string {
  if (!(v instanceof Uint8Array) || v.length !== 32)
    throw new Refusal('bad_field', `${field} has ${v?.length ?? 0} bytes (32 expected)`, from);
  return '0x' + Buffer.from(v).toString('hex');
}

export function toAckMsg(a: Ack): RoundAckMsg {
  const l = a.latest;
  return {
    accepted: a.accepted,
    reason: a.reason.slice(0, 1024),
    currentRound: a.currentRound ?? 0,
    ...(l ? { hasLatest: true, latestRound: l.round, latestSha256: l.sha256, latestManifest: l.manifestId ?? '' } : {}),
  };
}

export function fromAckMsg(m: RoundAckMsg): Ack {
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

export function toAnnouncementMsg(a: RoundAnnouncement): RoundAnnouncementMsg {
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

export function toGradientMsg(g: GradientReady): GradientReadyMsg {
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
