/** A registered node as the chain registry records it. */
export interface RegistryEntry {
  /** EIP-55 wallet address. */
  address: string;
  nodeId: string;
  /** Tier index in TIERS order (claude_session = 0 ... mobile_light = 4). */
  tier: number;
  /** Registered, not unbonding, and bonded at least the minimum. */
  active: boolean;
}

/** Where chain-backed membership comes from (the chain part reads NodeRegistry). */
export interface RegistrySource {
  list(): Promise<RegistryEntry[]>;
}
