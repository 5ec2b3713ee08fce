import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RoundCoordinator } from '../diloco/coordinator.js';
import type { Certificate, OutcomeProposal } from '../diloco/messages.js';
import type { RoundNetwork, RoundStorage } from '../diloco/ports.js';
import { sha256File } from '../util/hash.js';
import type { VirtualClock } from './virtual-clock.js';

/** The simulated links. */
export interface NetParams {
  /** Mean one-way latency of a message; each draws 0.5x plus an exponential with half the mean. */
  latencyMs: number;
  /** Probability that a request, or its answer, is lost (the caller then waits rpcTimeoutMs). */
  loss: number;
  rpcTimeoutMs: number;
  /** Modelled bytes of a gradient or checkpoint transfer (the files themselves are tiny). */
  blobBytes: number;
  /** Each node's link speed, each way; transfers through one node's link queue behind each other. */
  mbps: number;
  /** A peer unreachable this long counts as stale (missed heartbeats) for the ones that cannot reach it. */
  staleMs: number;
}

/** What the network knows of a simulated node. */
export interface SimPeer {
  id: string;
  roles: string[];
  home: string;
  up: boolean;
  /** When `up` last changed. */
  since: number;
  /** Bumped each time it goes down: what its earlier run was waiting for never arrives (a stopped process). */
  epoch: number;
  /** Its running coordinator (undefined while down). */
  node: RoundCoordinator | undefined;
  /** Who it counts as a member (its own Membership). */
  isMember: (nodeId: string) => boolean;
  /** Its storage gate for pushed gradients (RoundStorage.expectGradients). */
  gate?: (p: { sender: string; round: number; sha256: string; size: number }) => string | undefined;
}

/** Per node: round RPCs it sent and answered, bytes both ways (blobs at their modelled size), handler CPU. */
export interface LinkStats {
  sent: number;
  received: number;
  bytesOut: number;
  bytesIn: number;
  cpuMs: number;
}

interface Cut {
  side: Set<string>;
  since: number;
  until: number;
}

/**
 * An in-process network for simulated nodes: every RoundNetwork call is a message with a latency, a chance of loss,
 * partitions and down nodes (the caller sees an error after a timeout, as over gRPC), and blob transfers that take
 * their modelled size over each node's link. Messages reach the real RoundCoordinator handlers of the target.
 */
export class SimNetwork {
  readonly peers = new Map<string, SimPeer>();
  readonly stats = new Map<string, LinkStats>();
  /** Messages by RPC name. */
  readonly byKind = new Map<string, number>();
  private cuts: Cut[] = [];
  private readonly linkFree = new Map<string, { up: number; down: number }>();
  private readonly sharedDir: string;
  /** Bumped whenever liveness may have changed (peer lists are cached per version). */
  private version = 0;
  private readonly cache = new Map<string, { version: number; known: PeerEntry[]; live: PeerEntry[] }>();

  constructor(
    private readonly clock: VirtualClock,
    private readonly rand: () => number,
    readonly params: NetParams,
    root: string,
  ) {
    this.sharedDir = join(root, 'shared-storage');
    mkdirSync(this.sharedDir, { recursive: true });
  }

  add(peer: SimPeer): void {
    this.peers.set(peer.id, peer);
    this.stats.set(peer.id, { sent: 0, received: 0, bytesOut: 0, bytesIn: 0, cpuMs: 0 });
    this.changed();
  }

  /** A node goes down (its coordinator was stopped) or comes back. */
  setUp(id: string, up: boolean): void {
    const p = this.peers.get(id);
    if (!p || p.up === up) return;
    p.up = up;
    p.since = this.clock.now();
    if (!up) p.epoch++;
    this.changed();
  }

  /** Cuts `side` off from every other node for `ms`. */
  partition(side: Iterable<string>, ms: number): void {
    const now = this.clock.now();
    this.cuts.push({ side: new Set(side), since: now, until: now + ms });
    this.changed();
    this.clock.schedule(ms, () => {
      this.cuts = this.cuts.filter((c) => c.until > this.clock.now());
      this.changed();
    });
  }

  partitioned(): boolean {
    return this.cuts.some((c) => c.until > this.clock.now());
  }

  /** Liveness changed now, and stale flags flip staleMs later. */
  private changed(): void {
    this.version++;
    this.clock.schedule(this.params.staleMs + 1, () => this.version++);
  }

  reachable(a: string, b: string): boolean {
    if (!this.peers.get(a)?.up || !this.peers.get(b)?.up) return false;
    const now = this.clock.now();
    return !this.cuts.some((c) => c.until > now && c.side.has(a) !== c.side.has(b));
  }

  /** `id` missed heartbeats long enough, as `observer` sees it: down, or cut off from it, for staleMs. */
  isStale(observer: string, id: string): boolean {
    const p = this.peers.get(id);
    if (!p) return true;
    const now = this.clock.now();
    if (!p.up) return now - p.since >= this.params.staleMs;
    return this.cuts.some((c) => c.until > now && now - c.since >= this.params.staleMs && c.side.has(observer) !== c.side.has(id));
  }

  private lists(self: string): { known: PeerEntry[]; live: PeerEntry[] } {
    const hit = this.cache.get(self);
    if (hit && hit.version === this.version) return hit;
    const me = this.peers.get(self) as SimPeer;
    const known: PeerEntry[] = [];
    for (const p of this.peers.values()) if (p.id !== self) known.push({ nodeId: p.id, roles: p.roles, member: me.isMember(p.id) });
    const live = known.filter((p) => !this.isStale(self, p.nodeId));
    const out = { version: this.version, known, live };
    this.cache.set(self, out);
    return out;
  }

  /** Membership changed somewhere (peer lists carry each observer's member flags). */
  membershipChanged(): void {
    this.version++;
  }

  private stat(id: string): LinkStats {
    return this.stats.get(id) as LinkStats;
  }

  private latency(): number {
    const m = this.params.latencyMs;
    return m * 0.5 - (m / 2) * Math.log(1 - this.rand());
  }

  /** Milliseconds from now until `bytes` went from `from`'s uplink to `to`'s downlink, both queued FIFO. */
  private transfer(from: string, to: string, bytes: number, startIn: number): number {
    const now = this.clock.now();
    const a = this.link(from);
    const b = this.link(to);
    const start = Math.max(now + startIn, a.up, b.down);
    const end = start + (bytes * 8) / (this.params.mbps * 1000);
    a.up = end;
    b.down = end;
    return end - now;
  }

  private link(id: string): { up: number; down: number } {
    let l = this.linkFree.get(id);
    if (!l) this.linkFree.set(id, (l = { up: 0, down: 0 }));
    return l;
  }

  /**
   * One RPC from `from` to `to`: the request travels (or is lost), the target's handler runs, the answer travels
   * back (or is lost). `dataIn`: modelled bytes the request carries after it (a pushed blob).
   */
  private rpc<T>(
    from: string,
    to: string,
    kind: string,
    bytes: number,
    handle: (target: RoundCoordinator, peer: SimPeer) => T | Promise<T>,
    answerBytes: (t: T) => number,
    dataIn = 0,
  ): Promise<T> {
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    const s = this.stat(from);
    s.sent++;
    s.bytesOut += bytes + dataIn;
    const caller = this.peers.get(from) as SimPeer;
    const epoch = caller.epoch;
    const alive = () => caller.up && caller.epoch === epoch;
    return new Promise<T>((resolve, reject) => {
      const t0 = this.clock.now();
      const fail = (why: string, at: number) =>
        this.clock.schedule(Math.max(0, at - (this.clock.now() - t0)), () => {
          if (alive()) reject(new Error(`unreachable: ${to}: ${why}`));
        });
      if (!this.reachable(from, to)) return fail('no route to the peer', 1000);
      if (this.rand() < this.params.loss) return fail('request lost (deadline exceeded)', this.params.rpcTimeoutMs);
      const lat = this.latency();
      const arrive = dataIn > 0 ? this.transfer(from, to, dataIn, lat) : lat;
      this.clock.schedule(arrive, () => {
        const peer = this.peers.get(to) as SimPeer;
        if (!this.reachable(from, to) || !peer.node) return fail('no answer (deadline exceeded)', this.params.rpcTimeoutMs);
        const r = this.stat(to);
        r.received++;
        r.bytesIn += bytes + dataIn;
        const c0 = performance.now();
        let out: T | Promise<T>;
        try {
          out = handle(peer.node, peer);
        } catch (err) {
          out = Promise.reject(err);
        } finally {
          r.cpuMs += performance.now() - c0;
        }
        const back = (settle: () => void, size: number) => {
          r.bytesOut += size;
          if (this.rand() < this.params.loss) return fail('answer lost (deadline exceeded)', this.params.rpcTimeoutMs);
          this.clock.schedule(this.latency(), () => {
            if (!alive()) return; // the caller went down meanwhile
            s.bytesIn += size;
            settle();
          });
        };
        Promise.resolve(out).then(
          (v) => back(() => resolve(v), answerBytes(v)),
          (err: unknown) => back(() => reject(err instanceof Error ? err : new Error(String(err))), 100),
        );
      });
    });
  }

  /** The RoundNetwork port of node `self`. */
  roundNetwork(self: string): RoundNetwork {
    const ack = () => 80;
    return {
      livePeers: () => this.lists(self).live,
      knownPeers: () => this.lists(self).known,
      isStale: (id) => this.isStale(self, id),
      announce: (to, a) =>
        this.rpc(self, to, 'announce', 200 + 24 * (a.eligible.length + a.failedLeaders.length), (n) => n.onAnnouncement(self, a), ack),
      gradientReady: (to, g) => this.rpc(self, to, 'gradientReady', 320, (n) => n.onGradientReady(self, g), ack),
      checkGradient: (to, req) =>
        this.rpc(
          self,
          to,
          'checkGradient',
          300,
          (n) => n.onCheckRequest(self, req),
          () => 300,
        ),
      submitVotes: (to, p, votes) =>
        this.rpc(self, to, 'submitVotes', proposalBytes(p) + 100 * votes.length, (n) => n.onVotes(self, p, votes), ack),
      publishOutcome: (to, c) => this.rpc(self, to, 'publishOutcome', certificateBytes(c), (n) => n.onOutcome(self, c), ack),
      latestOf: (peer, round) =>
        this.rpc(
          self,
          peer,
          'latestOf',
          60,
          (n) => n.onLatestRequest(self, round),
          () => 200,
        ),
      lineageOf: (peer, after, limit) =>
        this.rpc(
          self,
          peer,
          'lineageOf',
          60,
          (n) => n.onLineageRequest(self, after, limit),
          (certs) => certs.reduce((sum, c) => sum + certificateBytes(c), 0),
        ),
      pushBlob: (to, file, sha256, round) =>
        this.rpc(
          self,
          to,
          'pushBlob',
          200,
          (_n, peer) => {
            const why = peer.gate?.({ sender: self, round, sha256, size: statSync(file).size });
            if (why) throw new Error(`refused: ${why}`);
            copyFileSync(file, join(inbox(peer.home), sha256));
          },
          ack,
          this.params.blobBytes,
        ),
      fetchBlob: async (from, sha256, dest, maxBytes) => {
        const me = this.peers.get(self) as SimPeer;
        const epoch = me.epoch;
        const src = await this.rpc(
          self,
          from,
          'fetchBlob',
          100,
          (_n, peer) => heldBy(peer.home, sha256),
          () => 100,
        );
        if (!src) throw new Error(`${from} does not hold ${sha256}`);
        if (statSync(src).size > maxBytes) throw new Error(`${sha256} is larger than ${maxBytes} bytes`);
        await this.clock.sleep(this.transfer(from, self, this.params.blobBytes, 0));
        this.stat(from).bytesOut += this.params.blobBytes;
        this.stat(self).bytesIn += this.params.blobBytes;
        if (!me.up || me.epoch !== epoch) return new Promise<void>(() => undefined); // went down: never resumes
        copyFileSync(src, dest);
      },
    };
  }

  /** The RoundStorage port of node `self`: a shared, always reachable store (its own faults are not simulated here). */
  roundStorage(self: string): RoundStorage {
    const peer = () => this.peers.get(self) as SimPeer;
    return {
      put: async (file) => {
        const sha = await sha256File(file);
        this.stat(self).bytesOut += this.params.blobBytes;
        await this.clock.sleep(this.transfer(self, `storage:${self}`, this.params.blobBytes, this.latency()));
        copyFileSync(file, join(this.sharedDir, sha));
        return { manifestId: sha };
      },
      get: async (manifestId, dest) => {
        const f = join(this.sharedDir, manifestId);
        if (!existsSync(f)) throw new Error(`no manifest ${manifestId}`);
        this.stat(self).bytesIn += this.params.blobBytes;
        await this.clock.sleep(this.transfer(`storage:${self}`, self, this.params.blobBytes, this.latency()));
        copyFileSync(f, dest);
      },
      localPath: (sha256) => {
        const f = join(inbox(peer().home), sha256);
        return existsSync(f) ? f : undefined;
      },
      expectGradients: (gate) => {
        peer().gate = gate;
      },
    };
  }
}

interface PeerEntry {
  nodeId: string;
  roles: string[];
  member: boolean;
}

function inbox(home: string): string {
  const dir = join(home, 'inbox');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A file a node holds by hash: a checkpoint, its own gradient, or one pushed to it. */
function heldBy(home: string, sha256: string): string | undefined {
  for (const f of [
    join(home, 'checkpoints', `${sha256}.safetensors`),
    join(home, 'gradients', `${sha256}.safetensors`),
    join(home, 'inbox', sha256),
  ])
    if (existsSync(f)) return f;
  return undefined;
}

const sizes = new WeakMap<object, number>();

/** Approximate wire bytes of a proposal (protobuf: ids, hashes, 65-byte signatures), memoized per object. */
export function proposalBytes(p: OutcomeProposal): number {
  let n = sizes.get(p);
  if (n === undefined) {
    n = 420 + p.note.length + p.contributions.length * 170 + (p.leaderCheck ? 260 : 0) + (p.basis ? 350 : 0);
    sizes.set(p, n);
  }
  return n;
}

export function certificateBytes(c: Certificate): number {
  return proposalBytes(c.proposal) + c.votes.length * 100 + (c.receipts?.length ?? 0) * 400;
}
