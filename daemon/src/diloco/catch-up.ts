import { errorMessage } from '../util/errors.js';
import { sample } from '../util/sample.js';
import { type RoundContext, currentRound } from './context.js';
import { CertificateRefused, type Promotion } from './promotion.js';

/** Certified outcomes fetched per lineage request. */
const PAGE = 64;

/**
 * How a node that is behind (it joined late, was away, or crashed) catches up: it asks a few live members where the
 * network is and fetches the certified outcomes it missed, oldest first; each is verified like any other (a quorum
 * of member votes, its parent this node's latest) before it moves `latest`. One lying peer cannot move it.
 */
export class CatchUp {
  private lastProbe = 0;
  private wanted = false;

  constructor(
    private readonly ctx: RoundContext,
    private readonly promotion: Promotion,
  ) {}

  /** Asks for a probe at the next tick (a peer said it is ahead). */
  soon(): void {
    this.wanted = true;
  }

  /** Probes at most once per grace period (or at once when asked); true when this node moved. */
  async probe(): Promise<boolean> {
    const c = this.ctx;
    if (!this.wanted && Date.now() - this.lastProbe < c.opts.announceGraceSec * 1000) return false;
    this.wanted = false;
    this.lastProbe = Date.now();
    const r = currentRound(c);
    // A sample, not every member: asking all made the probes most of a large network's messages (71% at 100
    // members in the round simulation). What the answers lead to is a quorum's certificates, checked anyway, so a
    // lying or silent sample costs one probe's delay.
    const peers = sample(
      c.network.livePeers().filter((p) => p.member && p.nodeId !== c.me),
      c.opts.catchUpFanout,
    );
    const answers = await Promise.all(
      peers.map((p) =>
        c.network.latestOf(p.nodeId, r).then(
          (a) => ({ peer: p.nodeId, round: a.currentRound ?? (a.latest ? a.latest.round + 1 : 0) }),
          () => undefined,
        ),
      ),
    );
    const ahead = answers
      .filter((a): a is { peer: string; round: number } => a !== undefined && a.round > r)
      .sort((a, b) => b.round - a.round);
    for (const a of ahead) {
      let moved = false;
      for (let page = 0; page < 1000; page++) {
        const n = await this.follow(a.peer);
        if (n === 0) break;
        moved = true;
      }
      if (moved) {
        c.log.info({ from: r, to: currentRound(c), peer: a.peer }, 'caught up through certified lineage');
        return true;
      }
    }
    return false;
  }

  /** Applies one page of `peer`'s lineage after our round; returns how many outcomes moved us. */
  private async follow(peer: string): Promise<number> {
    const c = this.ctx;
    const from = currentRound(c);
    let certs;
    try {
      certs = await c.network.lineageOf(peer, from - 1, PAGE);
    } catch (err) {
      c.log.debug({ peer, err: errorMessage(err) }, 'lineage request failed');
      return 0;
    }
    try {
      return await this.promotion.applyChain(certs, 'lineage', peer);
    } catch (err) {
      if (err instanceof CertificateRefused) c.refuser.note('lineage', peer, err.reason, err.detail);
      else c.log.warn({ peer, err: errorMessage(err) }, 'cannot apply the certified lineage');
      return 0;
    }
  }
}
