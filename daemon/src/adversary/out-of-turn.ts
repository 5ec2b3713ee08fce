import { readFileSync } from 'node:fs';
import { SigningKey } from 'ethers';
import { checkedKey } from '../identity/keystore.js';
import { labelOf } from './labels.js';
import { type ProbeContext, probeKit } from './probe-kit.js';

/** What the attack needs: the prober's own node (as the probes have it), its target and its accomplice. */
export interface OutOfTurnContext extends Omit<ProbeContext, 'report' | 'target' | 'only'> {
  /** The member the proposal goes to (one that does not train: it takes the trainers' votes as a hint). */
  target: string;
  /** A hex private key of a colluding member trainer whose vote backs the proposal (none: only our own vote). */
  accompliceKeyFile?: string;
  write(line: Record<string, unknown>): void;
}

/**
 * Two colluding trainers try to win the votes of a member that does not train for one of them out of turn: while
 * the round's leader (live, heartbeating) is still at work, the attacker proposes to abandon the round, carrying
 * its vote and its accomplice's (won, such votes would cancel the round's training for everyone). The target must
 * refuse it as `not_expected_leader` (two thirds of the other live trainers must back a leader it does not expect)
 * and never vote for it. Sent until the target keeps
 * the proposal (it answers `parent_mismatch` until it holds the genesis checkpoint).
 */
export async function proposeOutOfTurn(o: OutOfTurnContext): Promise<void> {
  const kit = probeKit(o);
  const accomplice = o.accompliceKeyFile ? new SigningKey(checkedKey(readFileSync(o.accompliceKeyFile, 'utf8').trim())) : undefined;
  for (let tries = 0; tries < 120; tries++) {
    const v = o.round();
    if (v.latest && v.leader && v.leader !== o.me) {
      // Abandoning the round: no merge to recompute, so a vote would follow at once (and a round lost for all).
      const p = kit.proposal({ merged: false, sha256: v.latest, contributions: [] });
      const votes = [kit.voteOf(p, o.key), ...(accomplice ? [kit.voteOf(p, accomplice)] : [])];
      const got = labelOf(
        await kit
          .member(o.target)
          .submitVote({ proposal: kit.wire(p), votes })
          .catch((err: unknown) => err),
      );
      o.log.warn(
        { target: o.target, round: p.round, leader: v.leader, got, votes: votes.map((x) => x.voter) },
        'adversary: out-of-turn proposal sent',
      );
      o.write({ probe: 'out-of-turn proposal', target: o.target, round: p.round, leader: v.leader, sha256: p.sha256, got });
      if (got === 'accepted') return;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
