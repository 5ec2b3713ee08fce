import { eligibleTrainers, successorOf } from './election.js';
import type { OutcomeRepository } from './outcome-repo.js';
import type { RoundMembers, RoundNetwork } from './ports.js';

export interface RoundViewDeps {
  self: { nodeId: string; address: string; roles: string[] };
  network: RoundNetwork;
  members: RoundMembers;
  outcomes: OutcomeRepository;
  /** Fraction of the members whose votes certify an outcome. */
  voteQuorum: number;
}

/**
 * This node's own view of a round: who may train and lead (members only, by its membership view and its own
 * liveness data), who leads round r (the rotation, minus the leaders it gave up on and those it caught
 * equivocating), and how many votes certify an outcome. Nothing here comes from a message being judged.
 */
export class RoundView {
  constructor(private readonly d: RoundViewDeps) {}

  get me(): string {
    return this.d.self.nodeId;
  }

  isMember(nodeId: string, address?: string): boolean {
    return this.d.members.isMember(nodeId, address);
  }

  selfIsMember(): boolean {
    return this.d.members.isMember(this.d.self.nodeId, this.d.self.address);
  }

  /** This node trains and may lead: a member with the trainer role. */
  trains(): boolean {
    return this.selfIsMember() && this.d.self.roles.includes('trainer');
  }

  /**
   * Member trainers this node knows (live or stale: a peer that misses a few heartbeats does not shift everyone's
   * rotation; a stale leader is given up on by failover instead), and this node when it is one, sorted. Equivocators
   * never lead again.
   */
  trainers(): string[] {
    const banned = new Set(this.d.outcomes.equivocators());
    const self = this.trains() ? this.d.self : { nodeId: this.me, roles: [] };
    const peers = this.d.network.knownPeers().filter((p) => p.member && !banned.has(p.nodeId));
    return eligibleTrainers(self, peers);
  }

  /** Leaders this node gave up on in round r (own clock, or proof of misbehaviour). */
  failed(r: number): Set<string> {
    return new Set(this.d.outcomes.failedLeaders(r).keys());
  }

  /** The leader of round r in this node's view: the first trainer in r's rotation it has not given up on. */
  expectedLeader(r: number): string | undefined {
    return successorOf(r, this.trainers(), this.failed(r));
  }

  /** The member who spot-checks the leader's own gradient: the next live trainer after it in r's rotation. */
  checkerFor(r: number, leader: string, skip: string[] = []): string | undefined {
    return successorOf(r, this.trainers(), new Set([...this.failed(r), leader, ...skip]));
  }

  memberCount(): number {
    return this.d.members.size();
  }

  /** Votes that certify an outcome: `voteQuorum` of the members, at least one. */
  quorum(): number {
    return Math.max(1, Math.ceil(this.d.members.size() * this.d.voteQuorum - 1e-9));
  }

  isStale(nodeId: string): boolean {
    return this.d.network.isStale(nodeId);
  }
}
