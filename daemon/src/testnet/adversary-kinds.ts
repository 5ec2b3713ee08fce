/**
 * What the adversary tool can do (daemon/src/adversary: a real node, or a real client, with the honest checks
 * bypassed). `magnet-node testnet --adversary KIND` runs one testnet node this way; test/adversary runs `mixed`.
 * The catalogue lives here, below the CLI, because the CLI checks `--adversary KIND` against it while the
 * adversary tool itself is built on the CLI's start command (it sits above cli; see architecture.test.ts).
 */
export const ADVERSARY_KINDS = {
  'silent-leader': 'heartbeats like any member but never announces the rounds it should lead',
  'far-deadline': 'announces its rounds with a deadline in the year 3000, then never proposes an outcome',
  equivocate: 'as leader, sends its real proposal to half the members and a forged merge to the others',
  poison: 'submits gradients that raise the loss while staying inside the norm bounds',
  tokens: 'claims 2^53-1 tokens for its gradients',
  'withhold-shards': 'accepts storage shards but never serves them back',
  'forge-lineage': 'claims to be far ahead and answers catch-up requests with forged certified outcomes',
  depose: "accepts each round's announcement, then answers its leader's repeated announcements that it gave up on it (leader_failed)",
  probes: 'sends malformed and unauthorized round messages, as a member and with throwaway keys',
  'hello-flood': 'says Hello from 300 throwaway identities',
  'oversize-answers': 'serves the blobs placed on it with up to 1 GiB more than it announces (a GetBlob answer that does not end)',
  'unplaced-blobs':
    'pushes its target blobs nothing places there (no manifest, a manifest it never sent, a manifest signed by another key, a gradient for a round the target does not lead), then 100 unplaced 4 MiB blobs in a row',
  'rpc-flood': 'sends 1000 signed requests a second from its own key to one member for 5 s',
  'research-liar': 'runs the research trials it is offered, then reports each with an eval loss 30% below what its checkpoint scores',
  'out-of-turn':
    "proposes to abandon a round it does not lead, to a member that does not train, backed by a colluding trainer's vote (--accomplice-key)",
  mixed:
    'all of them but oversize-answers, research-liar and out-of-turn: probes (placement ones included), hello-flood, withheld shards, forged lineage and deposing answers throughout, a 3 s RPC flood; poison and tokens as a follower; as leader silent first, then equivocating under a year-3000 deadline',
} as const;

export type AdversaryKind = keyof typeof ADVERSARY_KINDS;

export function isAdversaryKind(k: string): k is AdversaryKind {
  return Object.hasOwn(ADVERSARY_KINDS, k);
}

/** `--kind a,b,c`: several kinds at once (each must be known). */
export function parseKinds(text: string): AdversaryKind[] | undefined {
  const kinds = text.split(',').map((k) => k.trim());
  return kinds.length > 0 && kinds.every(isAdversaryKind) ? kinds : undefined;
}
