import { createHash } from 'node:crypto';
import { SigningKey, Wallet } from 'ethers';
import type { Logger } from '../log/logger.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import type { OutcomeProposal } from '../diloco/messages.js';
import { gradientDigest, proposalDigest, voteDigest } from '../diloco/statements.js';
import type { Peers } from '../net/peers.js';
import type { GradientReadyMsg, OutcomeProposalMsg, RoundAnnouncementMsg } from '../net/proto.js';
import { strangerClient } from './strangers.js';

/** What the prober knows: the net part of its own (member) node, that node's key, and its view of the round. */
export interface ProbeContext {
  net: Peers;
  key: SigningKey;
  me: string;
  /** The round this node is at, its latest checkpoint, and who leads the round in its view. */
  round(): { round: number; latest: string; leader: string | null };
  /** The network's H (an announcement with another one is refused for that before anything else). */
  innerSteps: number;
  log: Logger;
  /** JSON lines, one per probe: { probe, target, expected, got, ok }. */
  report?: string;
  /** The member to send the probes to (default: the first member that does not lead the round). */
  target?: string;
  /** Only the probes of this group (the placement ones need no rounds). */
  only?: 'placement';
}

export interface Probe {
  name: string;
  group?: 'placement';
  /** Refusal labels that count as the right answer ("accepted" for the public reads a stranger may do). */
  expect: string[];
  run(t: string): Promise<string>;
}

export const SHA = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * What the probes are made of (shared by message-probes.ts and placement-probes.ts): clients as a member and as a
 * stranger, and round messages in their honest shape, each field open to a change that makes it hostile.
 */
export function probeKit(ctx: ProbeContext) {
  const member = (t: string) => ctx.net.client(t);
  const stranger = (t: string) => strangerClient(ctx.net, t);
  const sign = (d: Buffer) => signDigest(ctx.key, d);
  const st = () => ctx.round();
  const announcement = (over: Partial<RoundAnnouncementMsg> = {}): RoundAnnouncementMsg => ({
    round: st().round,
    innerSteps: ctx.innerSteps,
    deadlineMs: Date.now() + 60_000,
    baseCheckpointSha256: st().latest,
    leader: ctx.me,
    eligible: [],
    baseManifest: '',
    failedLeaders: [],
    ...over,
  });
  const gradient = (over: Partial<GradientReadyMsg> = {}, signer = sign): GradientReadyMsg => {
    const sha = SHA(`probe gradient ${Math.random()}`);
    const m = {
      round: st().round,
      sha256: sha,
      cid: '',
      localLoss: 1,
      tokens: 1,
      steps: 1,
      size: 1000,
      baseCheckpointSha256: st().latest,
      lossBefore: 2,
      compression: 'none',
      ...over,
    };
    return { ...m, statementSignature: signer(gradientDigest(m.round, m.baseCheckpointSha256, m.sha256, m.size)), ...over };
  };
  /** A proposal of ours for the round (merged from one made-up gradient of ours), signed unless told otherwise. */
  const proposal = (over: Partial<OutcomeProposal> = {}, leaderKey = ctx.key): OutcomeProposal => {
    const s = st();
    const g = SHA(`probe ${Math.random()}`);
    const leader = nodeIdFromPublicKey(leaderKey.compressedPublicKey);
    const unsigned = {
      round: s.round,
      leader,
      parentSha256: s.latest,
      merged: true,
      sha256: SHA(`probe merge ${Math.random()}`),
      manifestId: null,
      contributions: [
        { nodeId: leader, sha256: g, size: 1000, signature: signDigest(leaderKey, gradientDigest(s.round, s.latest, g, 1000)) },
      ],
      leaderCheck: null,
      note: '',
      basis: null,
      damping: 0,
      ...over,
    };
    return { ...unsigned, signature: signDigest(leaderKey, proposalDigest(unsigned)) };
  };
  const wire = (p: OutcomeProposal): OutcomeProposalMsg => ({ ...p, manifestId: p.manifestId ?? '' });
  const voteOf = (p: OutcomeProposal, key: SigningKey) => ({
    voter: nodeIdFromPublicKey(key.compressedPublicKey),
    signature: signDigest(key, voteDigest(proposalDigest(p))),
  });
  const fresh = () => new SigningKey(Wallet.createRandom().privateKey);

  return { ctx, member, stranger, sign, st, announcement, gradient, proposal, wire, voteOf, fresh };
}

export type ProbeKit = ReturnType<typeof probeKit>;
