import { TIERS, type Tier } from '../profile/reward-config.js';
import type { Logger } from '../log/logger.js';
import type { Values } from '../config/schema.js';
import { errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import type { membershipOptions } from './options.js';
import type { RegistrySource } from './registry-source.js';

export type MembershipOptions = Values<typeof membershipOptions>;

/** Where the member list comes from: this node alone, the operator's list, or the chain registry. */
export type MembershipSource = 'self' | 'list' | 'chain';

/**
 * Authorization's one question: may this signer act as a member? Authentication (a valid signature) says who a
 * caller is; only members may train, lead, vote, hold shards, push data or publish. Everyone else may read
 * public data (the certified checkpoints) and nothing more.
 */
export interface MemberView {
  /** True when this authenticated nodeId (with its verified wallet address, when known) is a member. */
  isMember(nodeId: string, address?: string): boolean;
  /** How many members the network has: the denominator of every quorum. */
  size(): number;
  /** A member's tier as the chain records it (chain source only). */
  tierOf(nodeId: string): Tier | undefined;
}

export interface MembershipDeps {
  self: { nodeId: string; address: string };
  /** Set when a chain is configured: members are then its registered, bonded wallets. */
  registry?: RegistrySource;
  log: Logger;
}

/** The member set, from the operator's list or the chain registry (re-read every refreshSeconds). */
export class Membership implements MemberView, Startable {
  readonly source: MembershipSource;
  private nodeIds = new Set<string>();
  private addresses = new Set<string>();
  private tiers = new Map<string, Tier>();
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private lastRefresh = 0;
  private lastError: string | undefined;

  constructor(
    private readonly opts: MembershipOptions,
    private readonly d: MembershipDeps,
  ) {
    this.source = d.registry ? 'chain' : opts.members.length > 0 ? 'list' : 'self';
    if (this.source === 'self') this.setMembers([d.self.nodeId]);
    if (this.source === 'list') this.setMembers(opts.members);
  }

  async start(): Promise<void> {
    if (this.source !== 'chain' || this.timer) {
      this.d.log.info({ source: this.source, members: this.count, self: this.selfIsMember() }, 'membership');
      return;
    }
    if (this.opts.members.length > 0)
      this.d.log.warn('membership.members is ignored: with a chain configured, members are the wallets registered in NodeRegistry');
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
  }

  isMember(nodeId: string, address?: string): boolean {
    return this.nodeIds.has(nodeId) || (address !== undefined && this.addresses.has(address.toLowerCase()));
  }

  size(): number {
    return this.count;
  }

  tierOf(nodeId: string): Tier | undefined {
    return this.tiers.get(nodeId);
  }

  selfIsMember(): boolean {
    return this.isMember(this.d.self.nodeId, this.d.self.address);
  }

  status(): Record<string, unknown> {
    return {
      source: this.source,
      members: this.count,
      selfIsMember: this.selfIsMember(),
      listed: [...this.nodeIds, ...this.addresses].slice(0, 64),
      ...(this.source === 'chain'
        ? { lastRefresh: this.lastRefresh ? new Date(this.lastRefresh).toISOString() : null, lastError: this.lastError ?? null }
        : {}),
    };
  }

  /** Reads the registry once (never two reads at once); a failed read keeps the last good member set. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readRegistry().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readRegistry(): Promise<void> {
    const registry = this.d.registry;
    if (!registry) return;
    try {
      const active = (await registry.list()).filter((e) => e.active);
      const before = this.count;
      this.setMembers(
        active.map((e) => e.nodeId),
        new Map(active.map((e) => [e.nodeId, TIERS[e.tier] ?? 'mobile_light'])),
      );
      this.lastRefresh = Date.now();
      this.lastError = undefined;
      if (this.count !== before) this.d.log.info({ members: this.count, self: this.selfIsMember() }, 'membership: chain registry read');
    } catch (err) {
      this.lastError = errorMessage(err);
      this.d.log.warn({ err: this.lastError }, 'membership: cannot read the chain registry; keeping the last member set');
    }
  }

  /** nodeIds and addresses, each one member (list each member once, by one of the two). */
  private setMembers(entries: string[], tiers = new Map<string, Tier>()): void {
    this.nodeIds = new Set(entries.filter((e) => e.startsWith('node-')));
    this.addresses = new Set(entries.filter((e) => e.startsWith('0x')).map((e) => e.toLowerCase()));
    this.tiers = tiers;
    this.count = this.nodeIds.size + this.addresses.size;
  }
}
