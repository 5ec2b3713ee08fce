import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StateDb } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { CatchUp } from './catch-up.js';
import { CheckpointStore, removeOutput } from './checkpoint-store.js';
import { Checker } from './checker.js';
import { type RoundContext, currentRound } from './context.js';
import { Failover } from './failover.js';
import { Follower } from './follower.js';
import { Leader } from './leader.js';
import { LocalTraining } from './local-training.js';
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
import type { DilocoMetrics } from './metrics.js';
import { LossHistory, type RoundLoss } from './loss-history.js';
import { OutcomeRepository } from './outcome-repo.js';
import { PhaseClock } from './phase-clock.js';
import type { ContributionSink, ReceiptExchange, RoundMembers, RoundNetwork, RoundSigner, RoundStorage } from './ports.js';
import { CertificateRefused, Promotion } from './promotion.js';
import { type RoundMessageKind, Refuser } from './refusals.js';
import { GradientRepository, RoundRepository } from './round-repo.js';
import { RoundView } from './round-view.js';
import type { DilocoOptions, TrainerJobs } from './trainer-jobs.js';
import { Verifier } from './verifier.js';
import { Voting } from './voting.js';

export interface CoordinatorDeps {
  self: { nodeId: string; address: string; roles: string[] };
  home: string;
  db: StateDb;
  log: Logger;
  metrics: DilocoMetrics;
  network: RoundNetwork;
  storage: RoundStorage;
  members: RoundMembers;
  signer: RoundSigner;
  contributions: ContributionSink;
  jobs: TrainerJobs;
  /** The node's shutdown signal: once aborted, round messages are refused, the loop stops and trainer jobs are cut. */
  signal?: AbortSignal;
  /** The chain part's receipts: signed by a leader for its round, picked up by the contributors from the outcome. */
  receipts?: ReceiptExchange;
  /** Called after a merged checkpoint became `latest` (the serving hook). */
  onLatest?: (path: string, sha256: string, round: number) => void;
}

/**
 * One node's side of DiLoCo rounds, among peers that may be hostile. The round state lives in SQLite and the parts
 * below act on it: the leader (announce, collect, judge, merge, propose), the follower (train, submit), voting
 * (recompute and vote; certify with a quorum), promotion (the one way `latest` moves), failover (give up on a leader
 * that makes no progress) and catch-up (certified lineage). The tick loop re-drives whatever a message or a crash
 * left half done; message handlers only check and record.
 */
export class RoundCoordinator implements Startable {
  private readonly ctx: RoundContext;
  private readonly trainer: LocalTraining;
  private readonly leader: Leader;
  private readonly follower: Follower;
  private readonly voting: Voting;
  private readonly promotion: Promotion;
  private readonly failover: Failover;
  private readonly catchUp: CatchUp;
  private readonly checker: Checker;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private startedAt = 0;
  /** When this process had its genesis checkpoint (ready to follow rounds). */
  private readyAt = Number.MAX_SAFE_INTEGER;
  private lastError: string | undefined;
  /** Set from stop() (or the node's signal) until the next start(): round messages are refused meanwhile. */
  private stopping = false;

  constructor(
    private readonly opts: DilocoOptions,
    private readonly d: CoordinatorDeps,
  ) {
    const outcomes = new OutcomeRepository(d.db);
    const gradDir = join(d.home, 'gradients');
    mkdirSync(gradDir, { recursive: true });
    const view = new RoundView({ self: d.self, network: d.network, members: d.members, outcomes, voteQuorum: opts.voteQuorum });
    const phases = new PhaseClock(d.metrics);
    this.ctx = {
      opts,
      me: d.self.nodeId,
      view,
      rounds: new RoundRepository(d.db),
      grads: new GradientRepository(d.db),
      losses: new LossHistory(d.db),
      outcomes,
      ckpts: new CheckpointStore(d.home),
      gradDir,
      network: d.network,
      storage: d.storage,
      contributions: d.contributions,
      jobs: d.jobs,
      signer: d.signer,
      refuser: new Refuser(d.log, d.metrics),
      phases,
      metrics: d.metrics,
      log: d.log,
      signal: d.signal ?? new AbortController().signal,
      ...(d.receipts ? { receipts: d.receipts } : {}),
      ...(d.onLatest ? { onLatest: d.onLatest } : {}),
    };
    const verifier = new Verifier(opts, d.jobs, d.log);
    this.trainer = new LocalTraining({
      nodeId: d.self.nodeId,
      home: d.home,
      gradDir,
      opts,
      jobs: d.jobs,
      storage: d.storage,
      network: d.network,
      grads: this.ctx.grads,
      ckpts: this.ctx.ckpts,
      phases,
      signer: d.signer,
      log: d.log,
      ensureBase: async () => undefined, // a round's base is always this node's latest, which it holds
    });
    this.promotion = new Promotion(this.ctx);
    // A round's clock starts when it began here, and never before this node was ready to take part (its genesis
    // made, its start delay over): a slow start is not the leader's fault.
    this.failover = new Failover(this.ctx, (r) =>
      Math.max(this.promotion.roundStartedAt.get(r) ?? 0, this.readyAt + opts.startDelaySec * 1000),
    );
    this.voting = new Voting(this.ctx, this.promotion, verifier, (r, leader, reason) => this.failover.fail(r, leader, reason));
    this.catchUp = new CatchUp(this.ctx, this.promotion);
    this.leader = new Leader(
      this.ctx,
      this.trainer,
      verifier,
      this.voting,
      () => this.catchUp.soon(),
      (r, reason) => this.failover.fail(r, this.me, reason),
    );
    this.follower = new Follower(this.ctx, this.trainer);
    this.checker = new Checker(this.ctx, verifier);
    // Storage takes a pushed gradient only for a round this node leads, from a member that accepted it.
    d.storage.expectGradients?.((p) => this.leader.expectsGradient(p.sender, p.round, p.sha256, p.size));
  }

  private get me(): string {
    return this.d.self.nodeId;
  }

  /** Members train, lead and vote; every other node follows certified outcomes (to serve them). */
  async start(): Promise<void> {
    if (this.timer || !this.opts.enabled || this.ctx.signal.aborted) return;
    this.stopping = false;
    this.trainer.reset();
    this.startedAt = Date.now();
    const gone = this.ctx.ckpts.removeTemporaries();
    if (gone.length > 0) this.d.log.info({ files: gone }, 'removed half-written files a crash left');
    this.timer = setInterval(() => void this.tick(), 1000);
    this.ctx.signal.addEventListener('abort', () => this.halt(), { once: true });
  }

  /**
   * Stops taking work (round messages refused), stops the loop, then drains: the tick in progress, a certificate being
   * applied, a check being answered (with the node's signal aborted, a trainer job they wait on is cut and its round
   * left as persisted: a merge is redone on the next start). Then the trainer.
   */
  async stop(): Promise<void> {
    this.halt();
    await this.ticking;
    await this.promotion.idle();
    await this.checker.idle();
    await this.trainer.stop();
  }

  /** No new round work: messages are refused and the loop stops ticking (whatever runs now finishes or is cut). */
  private halt(): void {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Why a round message is refused while stopping; undefined while running. */
  private closed(kind: RoundMessageKind, from: string): Ack | undefined {
    if (!this.stopping && !this.ctx.signal.aborted) return undefined;
    return this.ctx.refuser.refuse(kind, from, 'shutting_down', 'this node is shutting down and takes no new round work');
  }

  // ------------------------------------------------------------------ the loop

  /** Re-drives the current round from its persisted state. Never runs twice at once. */
  tick(): Promise<void> {
    if (this.ctx.signal.aborted) return this.ticking ?? Promise.resolve();
    this.ticking ??= this.step().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async step(): Promise<void> {
    const c = this.ctx;
    if (this.startedAt === 0) this.startedAt = Date.now(); // ticked without start() (tests drive ticks by hand)
    try {
      await this.ensureGenesis();
      if (this.readyAt === Number.MAX_SAFE_INTEGER) this.readyAt = Date.now();
      if (this.opts.maxRounds > 0 && (c.outcomes.latest()?.round ?? -1) + 1 >= this.opts.maxRounds) return;
      const r = currentRound(c);
      this.d.metrics.round.set(r);
      if (c.view.selfIsMember() && !c.view.trains()) this.failover.checkLiveness();
      await this.voting.drive();
      if (currentRound(c) !== r) return;
      if (c.view.trains() && Date.now() - this.startedAt >= this.opts.startDelaySec * 1000) await this.driveRound(r);
      if (currentRound(c) === r) await this.catchUp.probe();
      this.voting.prune(currentRound(c) - 1);
      // Our gradients of settled rounds: nobody asks for them again (the leader's copies go by storage retention).
      const settled = c.outcomes.latest()?.round ?? -1;
      if (settled > 0 && this.trainer.prune(settled) > 0) c.log.debug({ before: settled }, 'gradients of settled rounds deleted');
      this.lastError = undefined;
    } catch (err) {
      if (this.ctx.signal.aborted) return; // cut by the shutdown: redone from the persisted state on the next start
      this.lastError = errorMessage(err);
      this.d.log.warn({ err: this.lastError }, 'round step failed; retrying on the next tick');
    }
  }

  private async driveRound(r: number): Promise<void> {
    const c = this.ctx;
    const row = c.rounds.get(r);
    const failed = c.view.failed(r);
    if (row?.leader === this.me && !failed.has(this.me)) await this.leader.drive(row);
    else if (row && !failed.has(row.leader)) await this.follower.drive(row);
    this.failover.check();
    const now = c.rounds.get(r);
    if (c.view.expectedLeader(r) === this.me && now?.leader !== this.me && currentRound(c) === r) await this.leader.lead(r);
  }

  /** Round -1's checkpoint: every node makes the same bytes from the same preset and seed. */
  private async ensureGenesis(): Promise<void> {
    const c = this.ctx;
    if (c.outcomes.latest()) return;
    const legacy = c.ckpts.legacyLatest(); // a home from before the pointer moved into SQLite
    if (legacy && c.ckpts.has(legacy.sha256)) return c.outcomes.setGenesis(legacy);
    const tmp = join(c.ckpts.dir, `genesis-${process.pid}.tmp.safetensors`);
    let sha: string;
    try {
      const made = await this.d.jobs.init(tmp);
      // A network spec names the round-0 hash its author's trainer made: a trainer that makes other bytes (another
      // torch, another preset table) would train a base no other member has.
      const want = this.opts.genesisSha256;
      if (want && made !== want)
        throw new MagnetError(
          'ERR_GENESIS_MISMATCH',
          `the round-0 checkpoint made here (preset ${this.opts.preset}, seed ${this.opts.seed}) is ${made}, but the network spec expects ${want}: this trainer (its torch version or presets) differs from the one that wrote the spec`,
          { made, want },
        );
      sha = await c.ckpts.adopt(tmp);
    } finally {
      removeOutput(tmp);
    }
    c.outcomes.setGenesis({ sha256: sha, round: -1, manifestId: null });
    this.d.log.info({ sha256: sha, preset: this.opts.preset, seed: this.opts.seed }, 'round-0 base checkpoint created');
  }

  /** The round after the last certified one. */
  currentRound(): number {
    return currentRound(this.ctx);
  }

  /** A checkpoint or gradient file this node holds, by hash (served to members on the data plane). */
  fileOf(sha256: string): string | undefined {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    const ckpt = this.publicFile(sha256);
    if (ckpt) return ckpt;
    for (const f of [join(this.ctx.gradDir, `${sha256}.safetensors`)]) if (existsSync(f)) return f;
    return undefined;
  }

  /** A checkpoint this node holds: public data anyone may fetch (to serve it, or to catch up). */
  publicFile(sha256: string): string | undefined {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    const ckpt = this.ctx.ckpts.path(sha256);
    return existsSync(ckpt) ? ckpt : undefined;
  }

  /** Storage manifest of the latest checkpoint (storage GC never collects it). */
  latestManifest(): string | undefined {
    return this.ctx.outcomes.latest()?.manifestId ?? undefined;
  }

  // ------------------------------------------------------------------ RPC handlers (called by the net part)

  onAnnouncement(from: string, a: RoundAnnouncement): Ack {
    // An announcement from a leader we do not expect may be a successor that saw our leader die before we did:
    // judge our leader now rather than on the next tick, or we refuse the successor, then give up on it for not
    // announcing again within the grace (while it is busy, say, waiting for our check of its gradient). And a
    // successor we gave up on for being late, that announces after all, is followed (once a round).
    if (a.round === currentRound(this.ctx) && this.ctx.view.expectedLeader(a.round) !== from) {
      this.failover.check();
      this.failover.forgiveLate(a.round, from);
    }
    const ack = this.closed('announcement', from) ?? this.follower.onAnnouncement(from, a);
    if (!ack.accepted && (ack.currentRound ?? 0) < a.round) this.catchUp.soon();
    return ack;
  }

  onGradientReady(from: string, g: GradientReady): Ack {
    return this.closed('gradient', from) ?? this.leader.onGradientReady(from, g);
  }

  onCheckRequest(from: string, req: GradientCheckRequest): Promise<GradientCheck> {
    return this.checker.check(from, req);
  }

  onVotes(from: string, p: OutcomeProposal, votes: Vote[]): Ack {
    const ack = this.closed('vote', from) ?? this.voting.onVotes(from, p, votes);
    if (!ack.accepted && p.round > currentRound(this.ctx)) this.catchUp.soon();
    return ack;
  }

  /** PublishOutcome: a certificate. Checked here; applied in the background (it may need a checkpoint download). */
  onOutcome(from: string, cert: Certificate): Ack {
    const c = this.ctx;
    if (!this.opts.enabled) return c.refuser.refuse('outcome', from, 'not_participating', 'this node does not follow rounds');
    const closed = this.closed('outcome', from);
    if (closed) return closed;
    const r = currentRound(c);
    const p = cert.proposal;
    if (p.round < r) {
      // Its own leader publishing what we certified from the votes already (receipts ride along): fine. Anyone
      // else sending an old certificate is replaying it.
      if (from === p.leader && this.promotion.sameAsStored(cert)) {
        if (cert.receipts) this.promotion.lateReceipts(cert);
        return { accepted: true, reason: `round ${p.round} is certified here already` };
      }
      return c.refuser.refuse(
        'outcome',
        from,
        'stale_round',
        `an outcome of round ${p.round}, which is certified here already (this node is at round ${r})`,
      );
    }
    if (p.round > r) {
      this.catchUp.soon();
      return c.refuser.refuse(
        'outcome',
        from,
        'wrong_round',
        `an outcome of round ${p.round}; this node is at round ${r} (it catches up through certified lineage)`,
      );
    }
    const v = this.promotion.verify(cert);
    if (!v.ok) return c.refuser.refuse('outcome', from, v.reason, v.detail);
    const latest = c.outcomes.latest();
    if (latest?.sha256 !== p.parentSha256)
      return c.refuser.refuse(
        'outcome',
        from,
        'parent_mismatch',
        `its parent ${p.parentSha256} is not this node's latest ${latest?.sha256}`,
      );
    void this.promotion.apply(cert, 'outcome', from).catch((err: unknown) => {
      if (err instanceof CertificateRefused) c.refuser.note('outcome', from, err.reason, err.detail);
      else c.log.error({ round: p.round, err: errorMessage(err) }, 'cannot apply the certified outcome');
    });
    return { accepted: true, reason: '' };
  }

  /** GetLatest: our latest checkpoint and the round we are at (public). */
  onLatestRequest(_from: string, _round: number): Ack {
    const l = this.ctx.outcomes.latest();
    return {
      accepted: true,
      reason: '',
      currentRound: currentRound(this.ctx),
      ...(l && l.round >= 0 ? { latest: { round: l.round, sha256: l.sha256, manifestId: l.manifestId } } : {}),
    };
  }

  /** GetLineage: certified outcomes after `afterRound` (public: anyone can verify them). */
  onLineageRequest(_from: string, afterRound: number, limit: number): Certificate[] {
    return this.ctx.outcomes.certificatesAfter(afterRound, Math.max(1, Math.min(limit, 64)));
  }

  /** The gradients of a round this node holds, with its verdicts (as leader) and their reasons. */
  gradients(round: number): { nodeId: string; sha256: string; status: string; reason: string | null; lossDelta: number | null }[] {
    return this.ctx.grads
      .forRound(round)
      .map((g) => ({ nodeId: g.nodeId, sha256: g.sha256, status: g.status, reason: g.reason, lossDelta: g.lossDelta }));
  }

  // ------------------------------------------------------------------ status

  /** The held-out loss of each merge this node judged, oldest first. */
  lossHistory(limit?: number): RoundLoss[] {
    return this.ctx.losses.recent(limit);
  }

  status(): Record<string, unknown> {
    const c = this.ctx;
    const r = currentRound(c);
    const row = c.rounds.get(r);
    const prev = c.rounds.get(r - 1);
    const grads = (round: number) =>
      c.grads.forRound(round).map((g) => ({ node: g.nodeId, status: g.status, reason: g.reason, tokens: g.tokens }));
    return {
      enabled: this.opts.enabled,
      member: c.view.selfIsMember(),
      trains: this.opts.enabled && c.view.trains(),
      round: r,
      leader: row?.leader ?? c.view.expectedLeader(r) ?? null,
      state: row?.state ?? 'waiting',
      deadline: row ? new Date(row.deadlineMs).toISOString() : null,
      needed: row?.needed ?? [],
      gradients: row ? grads(r) : [],
      failedLeaders: Object.fromEntries(c.outcomes.failedLeaders(r)),
      equivocators: c.outcomes.equivocators(),
      quorum: { votes: c.view.quorum(), members: c.view.memberCount() },
      training: this.trainer.running ?? null,
      latest: c.outcomes.latest() ?? null,
      previous: prev
        ? { round: prev.round, state: prev.state, merged: prev.mergedSha256, note: prev.note, gradients: grads(prev.round) }
        : null,
      lastTrain: this.trainer.last ?? null,
      phaseSeconds: c.phases.last(),
      phasesByRound: c.phases.all(),
      lastError: this.lastError ?? null,
    };
  }
}
