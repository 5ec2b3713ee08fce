import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crashPoint } from '../util/crash-points.js';
import { errorMessage } from '../util/errors.js';
import { type RoundContext, currentRound } from './context.js';
import type { Certificate, OutcomeProposal, SignedReceipt } from './messages.js';
import type { RoundRefusal } from './refusals.js';
import { checkDigest, gradientDigest, proposalDigest, signerOf, voteDigest } from './statements.js';

export type Verified = { ok: true; digest: string } | { ok: false; reason: RoundRefusal; detail: string };

/**
 * The only way `latest` moves: a certificate (a leader's signed proposal and the votes of a quorum of members,
 * each of whom recomputed it) for the round this node is at, whose parent is this node's latest. The checkpoint is
 * fetched and hash-checked first, then the certificate, the round's end and `latest` are written in one SQLite
 * transaction (compare-and-swap: round after every certified one, parent equal to the current latest).
 */
export class Promotion {
  private applying: Promise<unknown> = Promise.resolve();
  /** When each round began here (its predecessor was certified, or the node started): failover counts from it. */
  readonly roundStartedAt = new Map<number, number>();

  constructor(private readonly ctx: RoundContext) {}

  /** Checks signatures, membership and the quorum; nothing about the round or the parent (apply does). */
  verify(c: Certificate): Verified {
    const p = c.proposal;
    const structural = checkProposal(this.ctx, p);
    if (structural) return structural;
    const digest = proposalDigest(p);
    const want = voteDigest(digest);
    const voters = new Set<string>();
    for (const v of c.votes) {
      const s = signerOf(want, v.signature);
      if (!s || s.nodeId !== v.voter || !this.ctx.view.isMember(s.nodeId, s.address)) continue;
      voters.add(v.voter);
    }
    const need = this.ctx.view.quorum();
    if (voters.size < need)
      return {
        ok: false,
        reason: 'no_quorum',
        detail: `${voters.size} valid member votes; ${need} of the ${this.ctx.view.memberCount()} members are needed`,
      };
    return { ok: true, digest: digest.toString('hex') };
  }

  /**
   * Verifies and applies a certificate; false when it does not move this node (another round, or already applied).
   * One at a time: a slow checkpoint fetch never lets an older certificate land after a newer one.
   */
  apply(c: Certificate, via: 'votes' | 'outcome' | 'lineage', from: string): Promise<boolean> {
    return this.applyChain([c], via, from).then((n) => n > 0);
  }

  /**
   * Applies consecutive certified outcomes (a lineage): every certificate is verified and linked to the one before
   * (the first to this node's latest), only the last merged checkpoint is fetched, and all of them land in one
   * transaction. Returns how many moved this node; throws CertificateRefused for the first that does not hold.
   */
  /** Resolves once no certificate is being applied (the drain at stop). */
  async idle(): Promise<void> {
    await this.applying;
  }

  applyChain(certs: Certificate[], via: 'votes' | 'outcome' | 'lineage', from: string): Promise<number> {
    const run = this.applying.then(() => this.applyNow(certs, via, from));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(certs: Certificate[], via: 'votes' | 'outcome' | 'lineage', from: string): Promise<number> {
    const ctx = this.ctx;
    const chain: { digest: string; cert: Certificate }[] = [];
    let round = currentRound(ctx);
    let sha = ctx.outcomes.latest()?.sha256;
    let refused: CertificateRefused | undefined;
    for (const c of certs) {
      const p = c.proposal;
      if (p.round < round) {
        this.lateReceipts(c); // certified here already, from the votes
        continue;
      }
      const v = this.verify(c);
      if (!v.ok) refused = new CertificateRefused(v.reason, v.detail);
      else if (p.round !== round && chain.length === 0)
        break; // not the round this node is at
      else if (sha !== p.parentSha256)
        refused = new CertificateRefused('parent_mismatch', `its parent is ${p.parentSha256}, this node's latest is ${sha}`);
      if (refused) break;
      chain.push({ digest: v.ok ? v.digest : '', cert: c });
      round = p.round + 1;
      sha = p.sha256;
    }
    if (chain.length === 0) {
      if (refused) throw refused;
      return 0;
    }
    const t0 = Date.now();
    const last = [...chain].reverse().find((x) => x.cert.proposal.merged)?.cert;
    if (last) await this.ensureCheckpoint(last.proposal, last, from);
    const mine = (c: Certificate) => c.proposal.leader === ctx.me && this.recordContributions(c.proposal);
    if (!ctx.outcomes.certifyChain(chain, mine)) return 0;
    if (chain.some((x) => x.cert.proposal.leader === ctx.me)) crashPoint('leader:certified'); // certified, not yet published
    for (const { cert } of chain) this.landed(cert, via, t0);
    if (last) ctx.onLatest?.(ctx.ckpts.path(last.proposal.sha256), last.proposal.sha256, last.proposal.round);
    const single = chain.length === 1 ? chain[0]?.cert : undefined;
    if (single?.receipts && single.proposal.leader !== ctx.me) await this.acceptReceipts(single.proposal.round, single.receipts);
    if (refused) ctx.refuser.note(via === 'lineage' ? 'lineage' : 'outcome', from, refused.reason, refused.detail);
    return chain.length;
  }

  /** A certified round: its row, metrics and log line; the leader records its contributions and tells everyone. */
  private landed(c: Certificate, via: 'votes' | 'outcome' | 'lineage', t0: number): void {
    const ctx = this.ctx;
    const p = c.proposal;
    if (ctx.rounds.get(p.round))
      ctx.rounds.update(p.round, {
        state: p.merged ? 'merged' : 'abandoned',
        mergedSha256: p.merged ? p.sha256 : null,
        mergedManifest: p.manifestId,
        note: p.merged ? null : p.note,
      });
    const began = ctx.rounds.get(p.round)?.acceptedAt ?? this.roundStartedAt.get(p.round);
    // 'round' is the leader's view of its round (announcement to certificate); 'elapsed' every node's own.
    if (began !== undefined && via !== 'lineage')
      ctx.phases.record(p.round, p.leader === ctx.me ? 'round' : 'elapsed', (Date.now() - began) / 1000);
    this.roundStartedAt.set(p.round + 1, Date.now());
    ctx.metrics.certified.inc({ outcome: p.merged ? 'merged' : 'abandoned', via });
    ctx.metrics.rounds.inc({ outcome: p.merged ? 'merged' : 'abandoned', role: p.leader === ctx.me ? 'leader' : 'follower' });
    if (p.merged) {
      if (p.leader !== ctx.me) ctx.phases.record(p.round, 'distribute', (Date.now() - t0) / 1000);
      ctx.log.info(
        { round: p.round, sha256: p.sha256, leader: p.leader, votes: c.votes.length, via },
        'certified outcome: latest promoted',
      );
    } else ctx.log.warn({ round: p.round, leader: p.leader, note: p.note, via }, 'certified outcome: round abandoned');
    if (p.leader === ctx.me) void this.publish(c);
  }

  /**
   * The leader tells every live peer (serving and reading nodes too) with the certificate and its contribution
   * receipts; members may have certified it already from the votes, and take the receipts.
   */
  private async publish(c: Certificate): Promise<void> {
    const ctx = this.ctx;
    const receipts = await this.receiptsFor(c.proposal.round);
    const cert = { ...c, ...(receipts ? { receipts } : {}) };
    await Promise.all(
      ctx.network
        .livePeers()
        .filter((p) => p.nodeId !== ctx.me)
        .map((p) =>
          ctx.network
            .publishOutcome(p.nodeId, cert)
            .catch((err: unknown) => ctx.log.debug({ peer: p.nodeId, err: errorMessage(err) }, 'outcome not delivered')),
        ),
    );
  }

  /** The chain part's signed receipts for round r; never holds the round up (a slow or absent chain gives none). */
  private async receiptsFor(r: number): Promise<SignedReceipt[] | undefined> {
    const receipts = this.ctx.receipts;
    if (!receipts) return undefined;
    const timeout = new Promise<undefined>((res) => setTimeout(() => res(undefined), 15_000).unref());
    const list = await Promise.race([
      receipts
        .forRound(r)
        .catch((err: unknown) => void this.ctx.log.warn({ round: r, err: errorMessage(err) }, 'no contribution receipts for the outcome')),
      timeout,
    ]);
    return list && list.length > 0 ? list : undefined;
  }

  /** True when `c` is the outcome this node certified for that round (same proposal). */
  sameAsStored(c: Certificate): boolean {
    const stored = this.ctx.outcomes.certificate(c.proposal.round);
    return stored !== undefined && proposalDigest(stored.proposal).equals(proposalDigest(c.proposal));
  }

  /** Receipts that come with the certificate of a round this node certified already (from the votes). */
  lateReceipts(c: Certificate): boolean {
    if (!c.receipts || c.proposal.leader === this.ctx.me || !this.sameAsStored(c) || !this.verify(c).ok) return false;
    void this.acceptReceipts(c.proposal.round, c.receipts);
    return true;
  }

  /** The merged checkpoint: ours already (we recomputed it), else from storage, the leader or any voter. */
  private async ensureCheckpoint(p: OutcomeProposal, c: Certificate, from: string): Promise<void> {
    const ctx = this.ctx;
    if (ctx.ckpts.has(p.sha256)) return;
    const tmp = join(ctx.ckpts.dir, `fetch-${p.sha256}-${process.pid}.tmp`);
    const sources = [...new Set([from, p.leader, ...c.votes.map((v) => v.voter)])].filter((id) => id !== ctx.me);
    const max = Math.max(1, 4 * (ctx.ckpts.has(p.parentSha256) ? sizeOf(ctx.ckpts.path(p.parentSha256)) : 64 * 1024 ** 3));
    let last: unknown;
    try {
      if (p.manifestId && ctx.view.selfIsMember()) {
        // Shards are for members; everyone else fetches the (public) checkpoint whole from a member.
        try {
          await ctx.storage.get(p.manifestId, tmp);
          await ctx.ckpts.adopt(tmp, p.sha256);
          return;
        } catch (err) {
          last = err;
        }
      }
      for (const peer of sources) {
        try {
          await ctx.network.fetchBlob(peer, p.sha256, tmp, max);
          await ctx.ckpts.adopt(tmp, p.sha256); // verifies the hash
          return;
        } catch (err) {
          last = err;
          rmSync(tmp, { force: true });
          rmSync(`${tmp}.part`, { force: true });
        }
      }
      throw new Error(`merged checkpoint ${p.sha256} of round ${p.round} could not be fetched: ${errorMessage(last)}`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** The leader records the contributions of its certified round, once (the store ignores a second record). */
  private recordContributions(p: OutcomeProposal): void {
    const ctx = this.ctx;
    for (const s of p.contributions) {
      const g = ctx.grads.get(p.round, s.nodeId);
      ctx.contributions.record({
        round: p.round,
        nodeId: s.nodeId,
        tokens: ctx.jobs.tokensPerGradient,
        steps: ctx.opts.innerSteps,
        lossDelta: g?.lossDelta ?? 0,
        verified: g?.spotChecked ?? false,
        gradientSha256: s.sha256,
      });
    }
  }

  private async acceptReceipts(round: number, receipts: SignedReceipt[]): Promise<void> {
    await this.ctx.receipts
      ?.accept(receipts)
      .catch((err: unknown) => this.ctx.log.warn({ round, err: errorMessage(err) }, 'contribution receipts from the outcome refused'));
  }
}

/** A certificate that fails verification: the reason is a refusal label. */
export class CertificateRefused extends Error {
  override readonly name = 'CertificateRefused';
  constructor(
    readonly reason: RoundRefusal,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

/**
 * The checks on a proposal that need no state: a member leader signed it, an abandon carries no contributions and
 * keeps the parent, a merge lists distinct members in nodeId order whose statements hold for (round, parent), and
 * when the leader's own gradient is in it, another member's signed check vouches for it.
 */
export function checkProposal(ctx: RoundContext, p: OutcomeProposal): { ok: false; reason: RoundRefusal; detail: string } | undefined {
  const fail = (reason: RoundRefusal, detail: string) => ({ ok: false as const, reason, detail });
  const leader = signerOf(proposalDigest(p), p.signature);
  if (!leader || leader.nodeId !== p.leader) return fail('bad_signature', `the proposal is not signed by its leader ${p.leader}`);
  if (!ctx.view.isMember(leader.nodeId, leader.address)) return fail('not_member', `its leader ${p.leader} is not a member`);
  if (!p.merged) {
    if (p.contributions.length > 0 || p.sha256 !== p.parentSha256)
      return fail('bad_contribution', 'an abandoned round keeps its parent and lists no contributions');
    return undefined;
  }
  if (p.contributions.length === 0) return fail('bad_contribution', 'a merge lists no contributions');
  if (p.sha256 === p.parentSha256) return fail('bad_contribution', 'a merge must change the checkpoint');
  if (p.contributions.length > ctx.view.memberCount())
    return fail('bad_contribution', `${p.contributions.length} contributions from ${ctx.view.memberCount()} members`);
  for (let i = 0; i < p.contributions.length; i++) {
    const s = p.contributions[i]!;
    if (i > 0 && s.nodeId <= p.contributions[i - 1]!.nodeId)
      return fail('bad_contribution', 'contributions are not distinct and in nodeId order');
    const signer = signerOf(gradientDigest(p.round, p.parentSha256, s.sha256, s.size), s.signature);
    if (!signer || signer.nodeId !== s.nodeId)
      return fail('bad_contribution', `the statement of ${s.nodeId} does not hold for round ${p.round} on ${p.parentSha256}`);
    if (!ctx.view.isMember(signer.nodeId, signer.address)) return fail('bad_contribution', `contributor ${s.nodeId} is not a member`);
  }
  return checkLeaderGradient(ctx, p);
}

/**
 * The merging leader's own gradient needs another member's signed check. For a proposal made again by a later
 * leader, the rule applies to the original: its leader signed the same content, and its check goes with it.
 */
function checkLeaderGradient(ctx: RoundContext, p: OutcomeProposal): { ok: false; reason: RoundRefusal; detail: string } | undefined {
  const fail = (reason: RoundRefusal, detail: string) => ({ ok: false as const, reason, detail });
  if (p.basis) {
    const original: OutcomeProposal = {
      ...p,
      leader: p.basis.leader,
      leaderCheck: p.basis.leaderCheck,
      basis: null,
      signature: p.basis.signature,
    };
    const by = signerOf(proposalDigest(original), original.signature);
    if (!by || by.nodeId !== original.leader || !ctx.view.isMember(by.nodeId, by.address))
      return fail('bad_signature', `the proposal it repeats is not signed by its leader ${original.leader}`);
    if (p.leaderCheck) return fail('bad_contribution', 'a repeated proposal carries its original check only');
    p = original;
  }
  const own = p.contributions.find((s) => s.nodeId === p.leader);
  if (own && ctx.view.memberCount() > 1) {
    const c = p.leaderCheck;
    const checker = c ? signerOf(checkDigest(c), c.signature) : undefined;
    if (
      !c ||
      !checker ||
      checker.nodeId !== c.checker ||
      c.checker === p.leader ||
      !ctx.view.isMember(checker.nodeId, checker.address) ||
      !c.accepted ||
      c.subject !== p.leader ||
      c.round !== p.round ||
      c.baseSha256 !== p.parentSha256 ||
      c.sha256 !== own.sha256
    )
      return fail('unchecked_leader_gradient', "the leader's own gradient is in the merge without another member's signed check");
  }
  return undefined;
}

function sizeOf(path: string): number {
  return statSync(path).size;
}
