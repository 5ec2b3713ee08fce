import type { StateDb } from '../db/database.js';
import type { Certificate, GradientCheck, OutcomeProposal, Vote } from './messages.js';

/** Thrown inside a transaction to undo it (caught by certifyChain's caller wrapper). */
class Rollback extends Error {}

/** JSON forms of proposals and certificates (signatures as hex), as they are kept in SQLite. */
export function proposalToJson(p: OutcomeProposal): string {
  return JSON.stringify({
    ...p,
    signature: p.signature.toString('hex'),
    contributions: p.contributions.map((c) => ({ ...c, signature: c.signature.toString('hex') })),
    leaderCheck: p.leaderCheck ? checkToPlain(p.leaderCheck) : null,
    basis: p.basis
      ? {
          ...p.basis,
          signature: p.basis.signature.toString('hex'),
          leaderCheck: p.basis.leaderCheck ? checkToPlain(p.basis.leaderCheck) : null,
        }
      : null,
  });
}

export function proposalFromJson(json: string): OutcomeProposal {
  const o = JSON.parse(json) as Record<string, unknown> & {
    contributions: Record<string, unknown>[];
    leaderCheck: Record<string, unknown> | null;
    basis?: { leader: string; signature: string; leaderCheck: Record<string, unknown> | null } | null;
  };
  return {
    ...(o as unknown as OutcomeProposal),
    signature: Buffer.from(o['signature'] as string, 'hex'),
    contributions: o.contributions.map((c) => ({
      nodeId: c['nodeId'] as string,
      sha256: c['sha256'] as string,
      size: c['size'] as number,
      signature: Buffer.from(c['signature'] as string, 'hex'),
    })),
    leaderCheck: o.leaderCheck ? checkFromPlain(o.leaderCheck) : null,
    damping: typeof o['damping'] === 'number' ? o['damping'] : 0,
    basis: o.basis
      ? {
          leader: o.basis.leader,
          signature: Buffer.from(o.basis.signature, 'hex'),
          leaderCheck: o.basis.leaderCheck ? checkFromPlain(o.basis.leaderCheck) : null,
        }
      : null,
  };
}

export function checkToJson(c: GradientCheck): string {
  return JSON.stringify(checkToPlain(c));
}

export function checkFromJson(json: string): GradientCheck {
  return checkFromPlain(JSON.parse(json) as Record<string, unknown>);
}

function checkToPlain(c: GradientCheck): Record<string, unknown> {
  return { ...c, signature: c.signature.toString('hex') };
}

function checkFromPlain(o: Record<string, unknown>): GradientCheck {
  return { ...(o as unknown as GradientCheck), signature: Buffer.from(o['signature'] as string, 'hex') };
}

export function certificateToJson(c: Certificate): string {
  return JSON.stringify({
    proposal: JSON.parse(proposalToJson(c.proposal)) as unknown,
    votes: c.votes.map((v) => ({ voter: v.voter, signature: v.signature.toString('hex') })),
  });
}

export function certificateFromJson(json: string): Certificate {
  const o = JSON.parse(json) as { proposal: unknown; votes: { voter: string; signature: string }[] };
  return {
    proposal: proposalFromJson(JSON.stringify(o.proposal)),
    votes: o.votes.map((v) => ({ voter: v.voter, signature: Buffer.from(v.signature, 'hex') })),
  };
}

export interface LatestPointer {
  sha256: string;
  round: number;
  manifestId: string | null;
}

/**
 * Proposals, votes and certificates of the rounds, the leaders this node gave up on and the ones caught
 * equivocating, and the `latest` pointer: everything a restarted node needs to keep its word (one vote per leader
 * per round) and to resume a round at the step it reached.
 */
export class OutcomeRepository {
  constructor(private readonly db: StateDb) {}

  // ---- proposals and votes

  addProposal(digest: string, p: OutcomeProposal): boolean {
    const r = this.db
      .prepare('INSERT OR IGNORE INTO round_proposals (digest, round, leader, sha256, body, received_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(digest, p.round, p.leader, p.sha256, proposalToJson(p), Date.now());
    return r.changes > 0;
  }

  proposal(digest: string): OutcomeProposal | undefined {
    const r = this.db.prepare('SELECT body FROM round_proposals WHERE digest = ?').get(digest) as { body: string } | undefined;
    return r && proposalFromJson(r.body);
  }

  /** Proposals of a round, oldest first, with their digests. */
  proposals(round: number): { digest: string; proposal: OutcomeProposal }[] {
    const rows = this.db.prepare('SELECT digest, body FROM round_proposals WHERE round = ? ORDER BY received_at, digest').all(round) as {
      digest: string;
      body: string;
    }[];
    return rows.map((r) => ({ digest: r.digest, proposal: proposalFromJson(r.body) }));
  }

  addVote(digest: string, v: Vote): boolean {
    return (
      this.db.prepare('INSERT OR IGNORE INTO round_votes (digest, voter, signature) VALUES (?, ?, ?)').run(digest, v.voter, v.signature)
        .changes > 0
    );
  }

  votes(digest: string): Vote[] {
    return (
      this.db.prepare('SELECT voter, signature FROM round_votes WHERE digest = ? ORDER BY voter').all(digest) as {
        voter: string;
        signature: Buffer;
      }[]
    ).map((r) => ({ voter: r.voter, signature: r.signature }));
  }

  /** This node's vote in (round, leader), at most one: the promise a restart must keep. */
  myVote(round: number, leader: string): { digest: string; sha256: string } | undefined {
    return this.db.prepare('SELECT digest, sha256 FROM round_my_votes WHERE round = ? AND leader = ?').get(round, leader) as
      { digest: string; sha256: string } | undefined;
  }

  /** Every vote this node cast in a round, oldest first (the first one is its lock). */
  myVotes(round: number): { leader: string; digest: string; sha256: string }[] {
    return this.db.prepare('SELECT leader, digest, sha256 FROM round_my_votes WHERE round = ? ORDER BY voted_at').all(round) as {
      leader: string;
      digest: string;
      sha256: string;
    }[];
  }

  /** Records our vote and its signature together; false when we already voted in (round, leader). */
  castVote(round: number, leader: string, digest: string, sha256: string, vote: Vote): boolean {
    return this.db.transaction(() => {
      const r = this.db
        .prepare('INSERT OR IGNORE INTO round_my_votes (round, leader, digest, sha256, voted_at) VALUES (?, ?, ?, ?, ?)')
        .run(round, leader, digest, sha256, Date.now());
      if (r.changes === 0) return false;
      this.addVote(digest, vote);
      return true;
    })();
  }

  // ---- leaders this node gave up on, and equivocators

  failLeader(round: number, leader: string, reason: string): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO round_failed_leaders (round, leader, reason, failed_at) VALUES (?, ?, ?, ?)')
        .run(round, leader, reason, Date.now()).changes > 0
    );
  }

  /** Takes back giving up on `leader` in round r (it was only late: diloco/failover.ts forgiveLate). */
  unfailLeader(round: number, leader: string): void {
    this.db.prepare('DELETE FROM round_failed_leaders WHERE round = ? AND leader = ?').run(round, leader);
  }

  failedLeaders(round: number): Map<string, string> {
    const rows = this.db.prepare('SELECT leader, reason FROM round_failed_leaders WHERE round = ?').all(round) as {
      leader: string;
      reason: string;
    }[];
    return new Map(rows.map((r) => [r.leader, r.reason]));
  }

  /** Every trainer was given up on in round r: start the rotation over (equivocators stay out: they are banned). */
  clearFailures(round: number): void {
    this.db.prepare('DELETE FROM round_failed_leaders WHERE round = ?').run(round);
  }

  addEquivocation(leader: string, round: number, a: string, b: string): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO round_equivocations (leader, round, digest_a, digest_b, found_at) VALUES (?, ?, ?, ?, ?)')
        .run(leader, round, a, b, Date.now()).changes > 0
    );
  }

  equivocated(leader: string, round?: number): boolean {
    const row =
      round === undefined
        ? this.db.prepare('SELECT 1 FROM round_equivocations WHERE leader = ?').get(leader)
        : this.db.prepare('SELECT 1 FROM round_equivocations WHERE leader = ? AND round = ?').get(leader, round);
    return row !== undefined;
  }

  equivocators(): string[] {
    return (this.db.prepare('SELECT DISTINCT leader FROM round_equivocations ORDER BY leader').all() as { leader: string }[]).map(
      (r) => r.leader,
    );
  }

  // ---- certificates and latest

  certificate(round: number): Certificate | undefined {
    const r = this.db.prepare('SELECT body FROM round_certificates WHERE round = ?').get(round) as { body: string } | undefined;
    return r && certificateFromJson(r.body);
  }

  /** Certificates after `round`, in round order. */
  certificatesAfter(round: number, limit: number): Certificate[] {
    const rows = this.db.prepare('SELECT body FROM round_certificates WHERE round > ? ORDER BY round LIMIT ?').all(round, limit) as {
      body: string;
    }[];
    return rows.map((r) => certificateFromJson(r.body));
  }

  lastCertifiedRound(): number {
    const r = this.db.prepare('SELECT MAX(round) AS r FROM round_certificates').get() as { r: number | null };
    return r.r ?? -1;
  }

  /** The round in progress: the one after `latest` and after the last certified one. */
  currentRound(): number {
    const latest = this.latest();
    return Math.max(latest ? latest.round + 1 : 0, this.lastCertifiedRound() + 1);
  }

  latest(): LatestPointer | undefined {
    const r = this.db.prepare('SELECT sha256, round, manifest_id FROM diloco_latest WHERE id = 1').get() as
      { sha256: string; round: number; manifest_id: string | null } | undefined;
    return r && { sha256: r.sha256, round: r.round, manifestId: r.manifest_id };
  }

  /** The genesis pointer (round -1), set once. */
  setGenesis(p: LatestPointer): void {
    this.db
      .prepare('INSERT OR IGNORE INTO diloco_latest (id, sha256, round, manifest_id, updated_at) VALUES (1, ?, ?, ?, ?)')
      .run(p.sha256, p.round, p.manifestId, Date.now());
  }

  /**
   * Stores a certificate and, for a merge, moves `latest` by compare-and-swap, in one transaction: only when the
   * certificate's round is after every certified round and its parent is the current latest. Returns false
   * (nothing written) otherwise.
   */
  certify(digest: string, c: Certificate): boolean {
    return this.certifyChain([{ digest, cert: c }]);
  }

  /**
   * Certificates of consecutive certified rounds (a lineage), all or nothing: each one's round after the last
   * certified, each one's parent the checkpoint the previous one left as latest. `within` runs inside the same
   * transaction for each (the leader records its contributions there: a crash never certifies without them).
   */
  certifyChain(chain: { digest: string; cert: Certificate }[], within: (c: Certificate) => void = () => undefined): boolean {
    const write = this.db.transaction(() => {
      for (const { digest, cert } of chain) {
        const p = cert.proposal;
        const latest = this.latest();
        if (p.round <= this.lastCertifiedRound() || !latest || latest.sha256 !== p.parentSha256 || p.round <= latest.round) {
          throw new Rollback();
        }
        this.db
          .prepare(
            'INSERT INTO round_certificates (round, digest, merged, sha256, parent_sha256, body, certified_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          )
          .run(p.round, digest, p.merged ? 1 : 0, p.sha256, p.parentSha256, certificateToJson(cert), Date.now());
        if (p.merged) {
          this.db
            .prepare('UPDATE diloco_latest SET sha256 = ?, round = ?, manifest_id = ?, updated_at = ? WHERE id = 1')
            .run(p.sha256, p.round, p.manifestId, Date.now());
        }
        within(cert);
      }
    });
    try {
      write();
      return true;
    } catch (err) {
      if (err instanceof Rollback) return false;
      throw err;
    }
  }
}
