/**
 * Leader election for a DiLoCo round: every node computes the same answer from the same view.
 * eligible = live peers whose roles include training, plus this node, sorted by nodeId; leader = eligible[round mod N].
 */
export interface Candidate {
  nodeId: string;
  roles: readonly string[];
}

export function eligibleTrainers(self: Candidate, livePeers: readonly Candidate[]): string[] {
  const ids = new Set<string>();
  for (const c of [self, ...livePeers]) if (c.roles.includes('trainer')) ids.add(c.nodeId);
  return [...ids].sort();
}

export function leaderOf(round: number, eligible: readonly string[]): string {
  if (eligible.length === 0) throw new Error('no eligible trainer');
  return eligible[round % eligible.length] as string;
}

/**
 * The node that takes over a round when `failed` leaders are out: the next ones in the eligible order, skipping
 * the failed ones. Undefined when every eligible node failed.
 */
export function successorOf(round: number, eligible: readonly string[], failed: ReadonlySet<string>): string | undefined {
  const n = eligible.length;
  for (let k = 0; k < n; k++) {
    const id = eligible[(round + k) % n] as string;
    if (!failed.has(id)) return id;
  }
  return undefined;
}

/** Describes a disagreement between the leader's eligible list and ours (for logs and /status); undefined if none. */
export function viewDisagreement(ours: readonly string[], theirs: readonly string[]): string | undefined {
  const a = new Set(ours);
  const b = new Set(theirs);
  const onlyOurs = ours.filter((x) => !b.has(x));
  const onlyTheirs = theirs.filter((x) => !a.has(x));
  if (onlyOurs.length === 0 && onlyTheirs.length === 0) return undefined;
  return `eligible views differ: only ours [${onlyOurs.join(', ')}], only the leader's [${onlyTheirs.join(', ')}]`;
}
