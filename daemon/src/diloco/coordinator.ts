import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StateDb } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { CheckpointStore } from './checkpoint-store.js';
import { eligibleTrainers, successorOf, viewDisagreement } from './election.js';
import type { Ack, GradientReady, LeaderProposal, RoundAnnouncement, RoundOutcome } from './messages.js';
import type { DilocoMetrics } from './metrics.js';
import { LocalTraining } from './local-training.js';
import { PhaseClock } from './phase-clock.js';
import type { ContributionSink, RoundNetwork, RoundStorage } from './ports.js';
import { GradientRepository, type RoundRow, RoundRepository } from './round-repo.js';
import type { DilocoOptions, TrainerJobs } from './trainer-jobs.js';
import { type Verdict, Verifier } from './verifier.js';

export interface CoordinatorDeps {
  self: { nodeId: string; roles: string[] };
  home: string;
  db: StateDb;
  log: Logger;
  metrics: DilocoMetrics;
  network: RoundNetwork;
  storage: RoundStorage;
  contributions: ContributionSink;
  jobs: TrainerJobs;
  /** The chain part's receipts: signed by a leader for its round, picked up by the contributors from the outcome. */
  receipts?: { forRound(round: number): Promise<string>; accept(json: string): Promise<void> };
  /** Called after a merged checkpoint became `latest` (the serving hook). */
  onLatest?: (path: string, sha256: string, round: number) => void;
}

const ok: Ack = { accepted: true, reason: '' };
const no = (reason: string): Ack => ({ accepted: false, reason });

/**
 * One node's side of DiLoCo rounds: as leader it collects, verifies and merges pseudo-gradients; as follower it
 * trains on the announced base and submits. Every decision is persisted before it is acted on, so a restarted node
 * resumes; the tick loop re-drives whatever a message or a crash left half done.
 */
export class RoundCoordinator implements Startable {
  private readonly rounds: RoundRepository;
  private readonly grads: GradientRepository;
  private readonly ckpts: CheckpointStore;
  private readonly verifier: Verifier;
  private readonly gradDir: string;
  private readonly phases: PhaseClock;
  private readonly trainer: LocalTraining;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly waitingSince = new Map<number, number>();
  private readonly failed = new Map<number, Set<string>>();
  private readonly mergeAttempts = new Map<number, number>();
  private startedAt = 0;
  private lastDisagreement: string | undefined;
  private lastProbe = 0;
  /** Accepted verdicts of the round being collected, by `round:nodeId`, until the merge records them. */
  private readonly verdicts = new Map<string, Verdict>();
  private lastError: string | undefined;

  constructor(
    private readonly opts: DilocoOptions,
    private readonly d: CoordinatorDeps,
  ) {
    this.rounds = new RoundRepository(d.db);
    this.grads = new GradientRepository(d.db);
    this.ckpts = new CheckpointStore(d.home);
    this.gradDir = join(d.home, 'gradients');
    mkdirSync(this.gradDir, { recursive: true });
    this.verifier = new Verifier(opts, d.jobs, this.grads, d.log);
    this.phases = new PhaseClock(d.metrics);
    this.trainer = new LocalTraining({
      nodeId: d.self.nodeId,
      home: d.home,
      gradDir: this.gradDir,
      opts,
      jobs: d.jobs,
      storage: d.storage,
      network: d.network,
      grads: this.grads,
      ckpts: this.ckpts,
      phases: this.phases,
      log: d.log,
      ensureBase: (row) => this.fetchCheckpoint(row.baseSha256, row.baseManifest, row.leader),
    });
  }

  private get me(): string {
    return this.d.self.nodeId;
  }

  private get trains(): boolean {
    return this.d.self.roles.includes('trainer');
  }

  /** Trainers run rounds; other nodes (serving, storage) follow: they take merged checkpoints and catch up. */
  async start(): Promise<void> {
    if (this.timer || !this.opts.enabled) return;
    this.trainer.reset();
    this.startedAt = Date.now();
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.trainer.stop();
  }

  // ------------------------------------------------------------------ the loop

  /** Re-drives the current round from its persisted state. Never runs twice at once. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      if (!this.trains) {
        await this.caughtUp(this.currentRound());
        return;
      }
      await this.ensureGenesis();
      const r = this.currentRound();
      if (this.opts.maxRounds > 0 && r >= this.opts.maxRounds) return;
      this.d.metrics.round.set(r);
      const row = this.rounds.get(r);
      if (!row) await this.beforeAnnouncement(r);
      else if (row.leader === this.me) await this.driveLeader(row);
      else await this.driveFollower(row);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = errorMessage(err);
      this.d.log.warn({ err: this.lastError }, 'round step failed; retrying on the next tick');
    } finally {
      this.ticking = false;
    }
  }

  /** The round after the last one that ended here (merged or abandoned), or after the latest checkpoint's. */
  currentRound(): number {
    const latest = this.ckpts.latest();
    let r = latest ? latest.round + 1 : 0;
    for (let row = this.rounds.get(r); row && (row.state === 'merged' || row.state === 'abandoned'); row = this.rounds.get(r)) r++;
    return r;
  }

  /** A checkpoint or own gradient file this node holds, by hash (served to peers on the data plane). */
  fileOf(sha256: string): string | undefined {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    const ckpt = this.ckpts.path(sha256);
    if (existsSync(ckpt)) return ckpt;
    const own = join(this.gradDir, `${sha256}.safetensors`);
    return existsSync(own) ? own : undefined;
  }

  /** Storage manifest of the latest checkpoint (storage GC never collects it). */
  latestManifest(): string | undefined {
    return this.ckpts.latest()?.manifestId ?? undefined;
  }

  /** Round -1's checkpoint: every node makes the same bytes from the same preset and seed. */
  private async ensureGenesis(): Promise<void> {
    if (this.ckpts.latest()) return;
    const tmp = join(this.ckpts.dir, `genesis-${process.pid}.tmp.safetensors`);
    await this.d.jobs.init(tmp);
    const sha = await this.ckpts.adopt(tmp);
    this.ckpts.promote({ sha256: sha, round: -1, manifestId: null });
    this.d.log.info({ sha256: sha, preset: this.opts.preset, seed: this.opts.seed }, 'round-0 base checkpoint created');
  }

  private eligible(): string[] {
    return eligibleTrainers(this.d.self, this.d.network.livePeers());
  }

  private failedFor(r: number): Set<string> {
    let s = this.failed.get(r);
    if (!s) this.failed.set(r, (s = new Set()));
    return s;
  }

  private async beforeAnnouncement(r: number): Promise<void> {
    if (Date.now() - this.startedAt < this.opts.startDelaySec * 1000) return; // let peers appear first
    if (await this.caughtUp(r)) return;
    const eligible = this.eligible();
    const leader = successorOf(r, eligible, this.failedFor(r));
    if (leader === this.me) return this.lead(r, eligible);
    const since = this.waitingSince.get(r) ?? Date.now();
    this.waitingSince.set(r, since);
    if (leader && Date.now() - since > this.opts.announceGraceSec * 1000 && this.d.network.isStale(leader)) {
      await this.takeOver(r, leader, eligible, 'no announcement and the leader stopped heartbeating');
    }
  }

  // ------------------------------------------------------------------ leader side

  /** Creates the collection state first, then announces: a fast peer's gradient always finds its round. */
  private async lead(r: number, eligible: string[], failedLeaders: string[] = []): Promise<void> {
    const latest = this.ckpts.latest();
    if (!latest) return;
    const row: RoundRow = {
      round: r,
      leader: this.me,
      state: 'collecting',
      baseSha256: latest.sha256,
      baseManifest: latest.manifestId,
      innerSteps: this.opts.innerSteps,
      deadlineMs: Date.now() + this.opts.roundTimeoutSec * 1000,
      eligible,
      needed: [this.me],
      failedLeaders,
      mergedSha256: null,
      mergedManifest: null,
      note: null,
    };
    this.rounds.put(row);
    const a: RoundAnnouncement = {
      round: r,
      leader: this.me,
      innerSteps: row.innerSteps,
      deadlineMs: row.deadlineMs,
      baseSha256: row.baseSha256,
      baseManifest: row.baseManifest,
      eligible,
    };
    this.d.log.info({ round: r, eligible, base: row.baseSha256 }, 'leading round: announcing');
    const others = eligible.filter((id) => id !== this.me);
    const acks = await Promise.all(
      others.map((id) => this.d.network.announce(id, a).catch((err: unknown) => no(`unreachable: ${errorMessage(err)}`))),
    );
    const needed = [this.me, ...others.filter((_, i) => acks[i]?.accepted)];
    others.forEach((id, i) => {
      if (!acks[i]?.accepted) this.d.log.info({ round: r, peer: id, reason: acks[i]?.reason }, 'peer declined the round');
    });
    const ahead = acks.map((a, i) => ({ a, from: others[i] as string })).filter(({ a }) => a.latest && a.latest.round >= r);
    ahead.sort((x, y) => (y.a.latest?.round ?? 0) - (x.a.latest?.round ?? 0));
    if (ahead[0]?.a.latest) return this.catchUp(r, ahead[0].a.latest, ahead[0].from);
    this.rounds.update(r, { needed });
    if (!this.grads.get(r, this.me)) this.trainer.start(row); // after a takeover our gradient may already exist
  }

  /**
   * Before leading or waiting for round r (at the first chance after start, then once per grace period while no
   * announcement comes), asks the live trainers for their latest checkpoint; if one is ahead, catches up to it.
   */
  private async caughtUp(r: number): Promise<boolean> {
    if (Date.now() - this.lastProbe < this.opts.announceGraceSec * 1000) return false;
    const peers = this.eligible().filter((id) => id !== this.me);
    if (peers.length === 0) return false;
    this.lastProbe = Date.now();
    const answers = await Promise.all(
      peers.map((id) =>
        this.d.network.latestOf(id, r).then(
          (a) => ({ a, from: id }),
          () => undefined,
        ),
      ),
    );
    const ahead = answers
      .filter((x) => x?.a.latest && x.a.latest.round >= r)
      .sort((x, y) => (y?.a.latest?.round ?? 0) - (x?.a.latest?.round ?? 0))[0];
    if (!ahead?.a.latest) return false;
    await this.catchUp(r, ahead.a.latest, ahead.from);
    return true;
  }

  /**
   * Peers already finished round r (this node joined mid-run, or was away): drop our announcement, fetch their
   * latest checkpoint (storage manifest, else their data plane), verify its hash and continue from there.
   */
  private async catchUp(r: number, latest: { round: number; sha256: string; manifestId: string | null }, from: string): Promise<void> {
    this.d.log.info({ round: r, peer: from, latest }, 'the network is ahead of this node: catching up to its latest checkpoint');
    if (this.rounds.get(r))
      this.rounds.update(r, {
        state: 'abandoned',
        note: `the network had already finished this round; caught up to round ${latest.round} from ${from}`,
      });
    await this.fetchCheckpoint(latest.sha256, latest.manifestId, from);
    this.ckpts.promote({ sha256: latest.sha256, round: latest.round, manifestId: latest.manifestId });
    this.d.onLatest?.(this.ckpts.path(latest.sha256), latest.sha256, latest.round);
  }

  /** Makes checkpoint `sha256` local: from shared storage when it has a manifest, else from `from`'s data plane. */
  private async fetchCheckpoint(sha256: string, manifestId: string | null, from: string): Promise<void> {
    if (this.ckpts.has(sha256)) return;
    const tmp = join(this.ckpts.dir, `fetch-${sha256}.tmp`);
    try {
      if (manifestId) await this.d.storage.get(manifestId, tmp).catch(() => this.d.network.fetchBlob(from, sha256, tmp));
      else await this.d.network.fetchBlob(from, sha256, tmp);
      await this.ckpts.adopt(tmp, sha256); // verifies the hash
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  private async driveLeader(row: RoundRow): Promise<void> {
    if (row.state !== 'collecting') return;
    if (!this.trainer.running && !this.grads.get(row.round, this.me)) this.trainer.start(row); // resumed after a restart
    const tv = Date.now();
    const judgedBefore = this.grads.forRound(row.round).filter((g) => g.status !== 'received').length;
    await this.verifier.verifyPending(
      row,
      (g) => this.blobFile(g.sha256),
      this.ckpts.path(row.baseSha256),
      (c) => this.recordVerdict(row, c),
    );
    if (this.grads.forRound(row.round).filter((g) => g.status !== 'received').length > judgedBefore)
      this.phases.record(row.round, 'verify', (Date.now() - tv) / 1000);
    const judged = this.grads.forRound(row.round).filter((g) => g.status !== 'received' && row.needed.includes(g.nodeId));
    const accepted = judged.filter((g) => g.status === 'accepted');
    const quorum = Math.max(1, Math.ceil(this.opts.quorum * row.needed.length));
    const complete = judged.length === row.needed.length;
    // Gradients that arrived in time are judged before the deadline counts: verification takes one per tick.
    const unjudged = this.grads
      .forRound(row.round)
      .some((g) => g.status === 'received' && row.needed.includes(g.nodeId) && this.blobFile(g.sha256) !== undefined);
    const late = Date.now() > row.deadlineMs && !unjudged;
    if (complete || (late && accepted.length >= quorum)) {
      if (accepted.length === 0) return this.abandon(row, 'every gradient was refused');
      return this.mergeRound(
        row,
        accepted.map((g) => g.nodeId),
      );
    }
    if (late) return this.abandon(row, `deadline passed with ${accepted.length} accepted gradients, quorum ${quorum}`);
  }

  private recordVerdict(row: RoundRow, c: Verdict): void {
    this.d.metrics.gradients.inc({ verdict: c.verdict, reason: c.verdict === 'accepted' ? 'ok' : (c.reason.split(':')[0] ?? 'refused') });
    if (c.verdict === 'refused') {
      this.d.log.warn({ round: row.round, sender: c.nodeId, reason: c.reason }, 'gradient refused');
      return;
    }
    this.verdicts.set(`${row.round}:${c.nodeId}`, c);
  }

  /**
   * Contribution records for the gradients a merge used, written once the merge is `latest`: a leader that dies
   * before merging records nothing, and the one that completes the round records what it merged.
   */
  private recordContributions(r: number, contributors: string[]): void {
    for (const id of contributors) {
      const g = this.grads.get(r, id);
      if (!g) continue;
      // After a restart the verdict's held-out delta is gone: the sender's own training delta, marked unverified.
      const v = this.verdicts.get(`${r}:${id}`);
      this.d.contributions.record({
        round: r,
        nodeId: id,
        tokens: g.tokens,
        steps: g.steps,
        lossDelta: v?.lossDelta ?? (g.lossBefore ?? 0) - (g.lossAfter ?? 0),
        verified: v?.spotChecked ?? false,
        gradientSha256: g.sha256,
      });
      this.verdicts.delete(`${r}:${id}`);
    }
  }

  private async mergeRound(row: RoundRow, contributors: string[]): Promise<void> {
    const r = row.round;
    const t0 = Date.now();
    this.rounds.update(r, { state: 'merging' });
    const grads = contributors.map((id) => this.grads.get(r, id)).filter((g) => g !== undefined);
    const totalTokens = grads.reduce((s, g) => s + g.tokens, 0) || 1;
    const tmp = join(this.ckpts.dir, `merge-${r}-${process.pid}.tmp.safetensors`);
    try {
      // Weights from tokens; every gradient of a round starts from the same base, so staleness is 0 here.
      const inputs = grads.map((g) => ({ file: this.blobFile(g.sha256) as string, weight: g.tokens / totalTokens }));
      await this.d.jobs.merge({ base: this.ckpts.path(row.baseSha256), grads: inputs, out: tmp });
      const sha = await this.ckpts.adopt(tmp);
      // Followers fetch the merge from storage, or from this node's data plane when storage could not take it.
      const { manifestId } = await this.d.storage.put(this.ckpts.path(sha), { kind: 'checkpoint', round: r }).catch((err: unknown) => {
        this.d.log.warn(
          { round: r, err: errorMessage(err) },
          'merged checkpoint not stored in shared storage; peers fetch it from this node',
        );
        return { manifestId: null as string | null };
      });
      this.ckpts.promote({ sha256: sha, round: r, manifestId });
      this.recordContributions(r, contributors);
      this.rounds.update(r, { state: 'merged', mergedSha256: sha, mergedManifest: manifestId });
      this.phases.record(r, 'merge', (Date.now() - t0) / 1000);
      // Announcement to merge, on the leader's clock (the deadline was set roundTimeoutSec after the announcement).
      this.phases.record(r, 'round', (Date.now() - (row.deadlineMs - this.opts.roundTimeoutSec * 1000)) / 1000);
      this.d.metrics.rounds.inc({ outcome: 'merged', role: 'leader' });
      this.d.log.info({ round: r, sha256: sha, contributors }, 'round merged; latest promoted');
      this.d.onLatest?.(this.ckpts.path(sha), sha, r);
      const receipts = await this.receiptsFor(r);
      await this.publish(
        { round: r, leader: this.me, merged: true, sha256: sha, manifestId, contributors, ...(receipts ? { receipts } : {}) },
        row.eligible,
      );
    } catch (err) {
      rmSync(tmp, { force: true });
      const n = (this.mergeAttempts.get(r) ?? 0) + 1;
      this.mergeAttempts.set(r, n);
      this.d.log.error({ round: r, attempt: n, err: errorMessage(err) }, 'merge failed; latest unchanged');
      if (n >= 3) return this.abandon(row, `merge failed ${n} times: ${errorMessage(err)}`);
      this.rounds.update(r, { state: 'collecting', note: `merge attempt ${n} failed: ${errorMessage(err)}` });
    }
  }

  private async abandon(row: RoundRow, why: string): Promise<void> {
    this.rounds.update(row.round, { state: 'abandoned', note: why });
    this.d.metrics.rounds.inc({ outcome: 'abandoned', role: 'leader' });
    this.d.log.warn({ round: row.round, why }, 'round abandoned; the next one starts from the last good base');
    const latest = this.ckpts.latest();
    await this.publish(
      {
        round: row.round,
        leader: this.me,
        merged: false,
        sha256: latest?.sha256 ?? '',
        manifestId: latest?.manifestId ?? null,
        contributors: [],
      },
      row.eligible,
    );
  }

  /** The chain part's signed receipts for round r; never fails the round (a slow or absent chain gives none). */
  private async receiptsFor(r: number): Promise<string | undefined> {
    if (!this.d.receipts) return undefined;
    const timeout = new Promise<undefined>((res) => setTimeout(() => res(undefined), 15_000).unref());
    const json = await Promise.race([
      this.d.receipts
        .forRound(r)
        .catch((err: unknown) => void this.d.log.warn({ round: r, err: errorMessage(err) }, 'no contribution receipts for the outcome')),
      timeout,
    ]);
    return json && json !== '[]' ? json : undefined;
  }

  /** Tells the round's trainers and every other live peer (serving nodes load the merged model). */
  private async publish(o: RoundOutcome, eligible: string[]): Promise<void> {
    const to = new Set([...eligible, ...this.d.network.livePeers().map((p) => p.nodeId)]);
    await Promise.all(
      [...to]
        .filter((id) => id !== this.me)
        .map((id) =>
          this.d.network
            .publishOutcome(id, o)
            .catch((err: unknown) => this.d.log.info({ peer: id, err: errorMessage(err) }, 'outcome not delivered')),
        ),
    );
  }

  // ------------------------------------------------------------------ follower side

  private async driveFollower(row: RoundRow): Promise<void> {
    const mine = this.grads.get(row.round, this.me);
    if (row.state === 'training' && !this.trainer.running && !mine) this.trainer.start(row);
    if (mine && row.state === 'training') {
      // A leader that cannot take our gradient is handled below (takeover), not by failing the whole tick.
      await this.submit(row).catch((err: unknown) =>
        this.d.log.warn({ round: row.round, leader: row.leader, err: errorMessage(err) }, 'cannot submit our gradient to the leader yet'),
      );
    }
    const grace = this.opts.announceGraceSec * 1000;
    const waiting = row.state === 'submitted' || row.state === 'training';
    if (waiting && Date.now() > row.deadlineMs + grace) {
      await this.takeOver(row.round, row.leader, row.eligible, 'the leader missed its deadline');
    } else if (
      (row.state === 'submitted' || mine) &&
      waiting &&
      this.d.network.isStale(row.leader) &&
      Date.now() - this.waitStart(row.round) > grace
    ) {
      await this.takeOver(row.round, row.leader, row.eligible, 'the leader stopped heartbeating');
    }
  }

  private waitStart(r: number): number {
    const s = this.waitingSince.get(r) ?? Date.now();
    this.waitingSince.set(r, s);
    return s;
  }

  /**
   * Marks `old` failed for round r (and any stale node next in line after it); if this node is then next in order,
   * it proposes itself and leads the same round. Called again while we wait for the successor to act.
   */
  private async takeOver(r: number, old: string, eligible: string[], reason: string): Promise<void> {
    const failed = this.failedFor(r);
    const fresh = !failed.has(old);
    failed.add(old);
    let next = successorOf(r, eligible, failed);
    while (next && next !== this.me && this.d.network.isStale(next)) {
      failed.add(next);
      next = successorOf(r, eligible, failed);
    }
    if (fresh) {
      this.d.log.warn({ round: r, old, next, reason }, 'leader failed');
      this.d.metrics.failovers.inc();
    }
    this.waitingSince.set(r, Date.now());
    if (next !== this.me) return;
    const p: LeaderProposal = { round: r, oldLeader: old, newLeader: this.me, reason };
    await Promise.all(
      eligible
        .filter((id) => id !== this.me && !failed.has(id))
        .map((id) => this.d.network.proposeLeader(id, p).catch(() => no('unreachable'))),
    );
    const existing = this.rounds.get(r);
    await this.lead(
      r,
      eligible.filter((id) => !failed.has(id) || id === this.me),
      [...failed],
    );
    if (existing) this.d.log.info({ round: r }, 'took the round over; peers re-send their gradients from storage');
  }

  /** Sends our gradient to the round's leader; the round then waits for the outcome. */
  private async submit(row: RoundRow): Promise<void> {
    if (!(await this.trainer.submit(row))) return;
    this.rounds.update(row.round, { state: 'submitted' });
    this.waitingSince.set(row.round, Date.now());
  }

  /** A gradient file we hold: our own, or one pushed to us through the data plane. */
  private blobFile(sha256: string): string | undefined {
    const own = join(this.gradDir, `${sha256}.safetensors`);
    if (existsSync(own)) return own;
    return this.d.storage.localPath?.(sha256);
  }

  // ------------------------------------------------------------------ RPC handlers (called by the net part)

  onAnnouncement(from: string, a: RoundAnnouncement): Ack {
    if (!this.opts.enabled || !this.trains) return no('this node does not train');
    if (from !== a.leader) return no(`announcement for leader ${a.leader} sent by ${from}`);
    if (!a.eligible.includes(this.me)) return no('this node is not in the eligible list');
    const r = this.currentRound();
    if (a.round < r) return this.ahead(`round ${a.round} already ended here (now at ${r})`);
    const expected = successorOf(a.round, a.eligible, this.failedFor(a.round));
    if (expected !== a.leader && !this.d.network.isStale(expected ?? ''))
      return no(`leader of round ${a.round} is ${expected} in this node's view`);
    const disagree = viewDisagreement(this.eligible(), a.eligible);
    if (disagree) {
      this.lastDisagreement = `round ${a.round}: ${disagree}`;
      this.d.log.warn({ round: a.round, leader: from }, this.lastDisagreement);
    }
    const prev = this.rounds.get(a.round);
    const mine = this.grads.get(a.round, this.me);
    const sameBase = mine !== undefined && prev?.baseSha256 === a.baseSha256;
    this.rounds.put({
      round: a.round,
      leader: a.leader,
      state: 'training',
      baseSha256: a.baseSha256,
      baseManifest: a.baseManifest,
      innerSteps: a.innerSteps,
      deadlineMs: a.deadlineMs,
      eligible: a.eligible,
      needed: [],
      failedLeaders: [...this.failedFor(a.round)],
      mergedSha256: null,
      mergedManifest: null,
      note: null,
    });
    if (mine && !sameBase) this.grads.setVerdict(a.round, this.me, 'refused', 'base changed; retraining');
    this.waitingSince.set(a.round, Date.now());
    return ok;
  }

  onLatestRequest(_from: string, _round: number): Ack {
    return { ...this.ahead(''), accepted: true };
  }

  /** A refusal that carries our latest checkpoint, for a caller that is behind. */
  private ahead(reason: string): Ack {
    const l = this.ckpts.latest();
    return l && l.round >= 0
      ? { accepted: false, reason, latest: { round: l.round, sha256: l.sha256, manifestId: l.manifestId } }
      : no(reason);
  }

  onGradientReady(from: string, g: GradientReady): Ack {
    const row = this.rounds.get(g.round);
    if (!row || row.leader !== this.me) return no(`this node does not lead round ${g.round}`);
    if (from !== g.nodeId) return no(`gradient of ${g.nodeId} signalled by ${from}`);
    if (row.state !== 'collecting') return no(`round ${g.round} is ${row.state}`);
    if (!row.needed.includes(from)) return this.refuse(row, from, 'not_accepted', 'the sender did not accept the announcement');
    if (g.baseSha256 !== row.baseSha256)
      return this.refuse(row, from, 'base_mismatch', `trained on ${g.baseSha256}, the round's base is ${row.baseSha256}`);
    const added = this.grads.add({
      round: g.round,
      nodeId: from,
      sha256: g.sha256,
      manifestId: g.manifestId,
      size: g.size,
      lossBefore: g.lossBefore,
      lossAfter: g.lossAfter,
      tokens: g.tokens,
      steps: g.steps,
      status: 'received',
      reason: null,
      path: null,
    });
    if (added === 'duplicate') return { accepted: true, reason: 'already received' };
    if (added === 'conflict')
      return this.refuse(row, from, 'duplicate', 'a different gradient was already received from this node for this round');
    return ok;
  }

  private refuse(row: RoundRow, from: string, reason: string, detail: string): Ack {
    this.d.metrics.gradients.inc({ verdict: 'refused', reason });
    this.d.log.warn({ round: row.round, sender: from, reason, detail }, 'gradient refused');
    return no(`${reason}: ${detail}`);
  }

  onLeaderProposal(from: string, p: LeaderProposal): Ack {
    if (from !== p.newLeader) return no(`proposal for ${p.newLeader} sent by ${from}`);
    const row = this.rounds.get(p.round);
    const pastDeadline = row !== undefined && Date.now() > row.deadlineMs;
    if (!this.d.network.isStale(p.oldLeader) && !pastDeadline && row?.leader !== from) {
      return no(`leader ${p.oldLeader} is not stale in this node's view`);
    }
    this.failedFor(p.round).add(p.oldLeader);
    this.d.metrics.failovers.inc();
    this.d.log.warn({ round: p.round, old: p.oldLeader, next: from, reason: p.reason }, 'accepted a new leader');
    return ok;
  }

  onOutcome(from: string, o: RoundOutcome): Ack {
    if (!this.opts.enabled) return no('this node does not follow rounds');
    if (from !== o.leader) return no(`outcome for leader ${o.leader} sent by ${from}`);
    if (o.round < this.currentRound()) return no(`round ${o.round} already ended here`);
    const row = this.rounds.get(o.round);
    if (row && row.leader !== from && !this.failedFor(o.round).has(row.leader)) return no(`round ${o.round} is led by ${row.leader} here`);
    void this.applyOutcome(o).catch((err: unknown) =>
      this.d.log.error({ round: o.round, err: errorMessage(err) }, 'cannot apply the round outcome'),
    );
    return ok;
  }

  private async applyOutcome(o: RoundOutcome): Promise<void> {
    const base = this.rounds.get(o.round);
    if (!o.merged) {
      if (base) this.rounds.update(o.round, { state: 'abandoned', note: 'abandoned by the leader' });
      this.d.metrics.rounds.inc({ outcome: 'abandoned', role: 'follower' });
      return;
    }
    const t0 = Date.now();
    await this.fetchCheckpoint(o.sha256, o.manifestId, o.leader);
    this.ckpts.promote({ sha256: o.sha256, round: o.round, manifestId: o.manifestId });
    if (base) this.rounds.update(o.round, { state: 'merged', mergedSha256: o.sha256, mergedManifest: o.manifestId });
    this.phases.record(o.round, 'distribute', (Date.now() - t0) / 1000);
    this.d.metrics.rounds.inc({ outcome: 'merged', role: 'follower' });
    this.d.log.info({ round: o.round, sha256: o.sha256 }, 'merged checkpoint fetched, verified and promoted');
    if (o.receipts) {
      await this.d.receipts
        ?.accept(o.receipts)
        .catch((err: unknown) =>
          this.d.log.warn({ round: o.round, err: errorMessage(err) }, 'contribution receipts from the outcome refused'),
        );
    }
    this.d.onLatest?.(this.ckpts.path(o.sha256), o.sha256, o.round);
  }

  private gradientSummary(round: number): { node: string; status: string; reason: string | null; tokens: number }[] {
    return this.grads.forRound(round).map((g) => ({ node: g.nodeId, status: g.status, reason: g.reason, tokens: g.tokens }));
  }

  status(): Record<string, unknown> {
    const r = this.currentRound();
    const row = this.rounds.get(r);
    const prev = this.rounds.get(r - 1);
    return {
      enabled: this.opts.enabled,
      trains: this.opts.enabled && this.trains,
      round: r,
      leader: row?.leader ?? successorOf(r, this.eligible(), this.failedFor(r)) ?? null,
      state: row?.state ?? 'waiting',
      deadline: row ? new Date(row.deadlineMs).toISOString() : null,
      needed: row?.needed ?? [],
      gradients: row ? this.gradientSummary(r) : [],
      training: this.trainer.running ?? null,
      latest: this.ckpts.latest() ?? null,
      previous: prev
        ? { round: prev.round, state: prev.state, merged: prev.mergedSha256, note: prev.note, gradients: this.gradientSummary(prev.round) }
        : null,
      viewDisagreement: this.lastDisagreement ?? null,
      lastTrain: this.trainer.last ?? null,
      phaseSeconds: this.phases.last(),
      phasesByRound: this.phases.all(),
      lastError: this.lastError ?? null,
    };
  }
}
