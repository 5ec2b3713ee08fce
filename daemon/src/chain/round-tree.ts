import { AbiCoder, concat, getAddress, id, keccak256 } from 'ethers';

/**
 * Round roots (ContributionLedger.commitRound / claimRound): a leader commits one Merkle root of its round's
 * contributions; each contributor claims its own leaf with a proof. The tree hashes sorted pairs, as OpenZeppelin's
 * MerkleProof verifies, and leaves are double-hashed so a leaf can never pass for an inner node.
 */

export const ROUND_LEAF_TAG = id('MAGNET_ROUND_LEAF_V1');

/** One contribution as the round's leader vouches for it. */
export interface RoundLeaf {
  leader: string;
  epoch: bigint;
  round: bigint;
  /** The leaf's own index in its round, below the round's declared contributors: the ledger keeps one bit per index. */
  index: number;
  node: string;
  tokens: bigint;
  /** Quality in parts per million, 0..1_000_000. */
  score: bigint;
  gradientHash: string;
}

/** Equal to ContributionLedger.roundLeaf: bound to the chain and the ledger, so a proof is void anywhere else. */
export function roundLeafHash(l: RoundLeaf, chainId: bigint, ledger: string): string {
  const inner = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['bytes32', 'uint256', 'address', 'address', 'uint64', 'uint64', 'uint32', 'address', 'uint64', 'uint32', 'bytes32'],
      [
        ROUND_LEAF_TAG,
        chainId,
        getAddress(ledger),
        getAddress(l.leader),
        l.epoch,
        l.round,
        l.index,
        getAddress(l.node),
        l.tokens,
        l.score,
        l.gradientHash,
      ],
    ),
  );
  return keccak256(inner);
}

function hashPair(a: string, b: string): string {
  return BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

export interface RoundTree {
  root: string;
  /** The proof of a leaf hash in this tree; throws for a hash that is not a leaf. */
  proof(leaf: string): string[];
}

/**
 * Builds the tree over leaf hashes (sorted first, so the root does not depend on their order). A node without a
 * sibling on its level moves up unchanged and adds nothing to the proofs that pass through it. Duplicate leaves are
 * refused: the ledger pays a leaf once, so a second copy could only mislead about the round's size.
 */
export function buildRoundTree(leafHashes: readonly string[]): RoundTree {
  if (leafHashes.length === 0) throw new Error('a round tree needs at least one leaf');
  const leaves = [...leafHashes].map((h) => h.toLowerCase()).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  for (let i = 1; i < leaves.length; i++) {
    if (leaves[i] === leaves[i - 1]) throw new Error(`duplicate round leaf ${leaves[i]}`);
  }
  const levels: string[][] = [leaves];
  while (levels[levels.length - 1]!.length > 1) {
    const below = levels[levels.length - 1]!;
    const above: string[] = [];
    for (let i = 0; i < below.length; i += 2) above.push(i + 1 < below.length ? hashPair(below[i]!, below[i + 1]!) : below[i]!);
    levels.push(above);
  }
  return {
    root: levels[levels.length - 1]![0]!,
    proof(leaf: string): string[] {
      let index = leaves.indexOf(leaf.toLowerCase());
      if (index < 0) throw new Error(`${leaf} is not a leaf of this round tree`);
      const proof: string[] = [];
      for (const level of levels.slice(0, -1)) {
        const sibling = index ^ 1;
        if (sibling < level.length) proof.push(level[sibling]!);
        index >>= 1;
      }
      return proof;
    },
  };
}

/** A leaf as ContributionLedger.claimRound takes it (the node is the sender). */
export function roundClaimTuple(l: RoundLeaf): [bigint, string, bigint, number, bigint, bigint, string] {
  return [l.epoch, l.leader, l.round, l.index, l.tokens, l.score, l.gradientHash];
}

/** Recomputes the root from a leaf and its proof, as MerkleProof.processProof does. */
export function rootFromProof(leaf: string, proof: readonly string[]): string {
  return proof.reduce((acc, p) => hashPair(acc, p), leaf.toLowerCase());
}

export const SETTLEMENT_LEAF_TAG = id('MAGNET_SETTLEMENT_LEAF_V1');

/** Equal to ContributionLedger.settlementLeaf: `node`'s cumulative credit in a settlement root. */
export function settlementLeafHash(node: string, cumulative: bigint, chainId: bigint, ledger: string): string {
  const inner = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['bytes32', 'uint256', 'address', 'address', 'uint256'],
      [SETTLEMENT_LEAF_TAG, chainId, getAddress(ledger), getAddress(node), cumulative],
    ),
  );
  return keccak256(inner);
}
