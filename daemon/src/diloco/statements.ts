import { createHash } from 'node:crypto';
import { type Signer, recoverSigner } from '../identity/signature.js';
import type { GradientCheck, GradientStatement, OutcomeProposal } from './messages.js';

/**
 * The signed statements of a round, in one canonical byte form so that every node computes the same digest
 * whatever the wire encoding: sha256("magnet-round/1" ‖ kind ‖ fields), each field tagged and length-prefixed.
 * Signatures are wallet signatures (identity/signature.ts); a statement's author is the key that signed it.
 */
const DOMAIN = Buffer.from('magnet-round/1', 'utf8');

const KIND = { gradient: 1, check: 2, proposal: 3, vote: 4 } as const;

type Field = string | number | boolean | Buffer;

function encode(kind: number, fields: Field[]): Buffer {
  const parts: Buffer[] = [DOMAIN, Buffer.from([kind])];
  for (const f of fields) {
    if (typeof f === 'string') {
      const b = Buffer.from(f, 'utf8');
      parts.push(Buffer.from('s'), u32(b.length), b);
    } else if (typeof f === 'number') {
      if (!Number.isSafeInteger(f) || f < 0) throw new RangeError(`statement field ${f} is not a whole number >= 0`);
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(f));
      parts.push(Buffer.from('n'), b);
    } else if (typeof f === 'boolean') parts.push(Buffer.from('b'), Buffer.from([f ? 1 : 0]));
    else parts.push(Buffer.from('x'), u32(f.length), f);
  }
  return createHash('sha256').update(Buffer.concat(parts)).digest();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** What a contributor signs: it trained `sha256` of `size` bytes on `base` for `round`. */
export function gradientDigest(round: number, baseSha256: string, sha256: string, size: number): Buffer {
  return encode(KIND.gradient, [round, baseSha256, sha256, size]);
}

/** What a checker signs about the leader's own gradient. */
export function checkDigest(c: Omit<GradientCheck, 'signature' | 'reason'>): Buffer {
  return encode(KIND.check, [c.round, c.baseSha256, c.sha256, c.subject, c.checker, c.accepted]);
}

/** The digest a leader signs and members vote for: every field of the proposal but the signature. */
export function proposalDigest(p: Omit<OutcomeProposal, 'signature'>): Buffer {
  const contributions = p.contributions.flatMap((c): Field[] => [c.nodeId, c.sha256, c.size, c.signature]);
  const check = p.leaderCheck ? checkDigest(p.leaderCheck) : Buffer.alloc(0);
  const b = p.basis;
  const basis = b
    ? encode(KIND.proposal, [b.leader, b.leaderCheck ? checkDigest(b.leaderCheck) : Buffer.alloc(0), b.signature])
    : Buffer.alloc(0);
  return encode(KIND.proposal, [
    p.round,
    p.leader,
    p.parentSha256,
    p.merged,
    p.sha256,
    p.manifestId ?? '',
    encode(KIND.gradient, contributions),
    check,
    p.note,
    basis,
    p.damping,
  ]);
}

/** What a voter signs: the proposal's digest. */
export function voteDigest(proposal: Buffer): Buffer {
  return encode(KIND.vote, [proposal]);
}

/**
 * Signers already recovered, by digest and signature (least recently used first out). A proposal travels with every
 * vote message, so without it a member recovers the same contribution statements once per voter: O(members²) key
 * recoveries per round (the round simulation, daemon/src/sim, measures this). Recovery is a pure function of the
 * two, so a hit answers exactly what recovering again would.
 */
const recovered = new Map<string, Signer | undefined>();
const RECOVERED_MAX = 16_384;

/** The signer of a statement, or undefined when the signature is malformed or recovers nothing. */
export function signerOf(digest: Buffer, signature: Uint8Array): Signer | undefined {
  const key = signature.length === 65 ? digest.toString('hex') + Buffer.from(signature).toString('hex') : undefined;
  if (key !== undefined && recovered.has(key)) {
    const hit = recovered.get(key);
    recovered.delete(key);
    recovered.set(key, hit);
    return hit;
  }
  let signer: Signer | undefined;
  try {
    signer = recoverSigner(digest, signature);
  } catch {
    signer = undefined;
  }
  if (key !== undefined) {
    recovered.set(key, signer);
    if (recovered.size > RECOVERED_MAX) recovered.delete(recovered.keys().next().value as string);
  }
  return signer;
}

/** True when `s` is signed by its own nodeId for (round, base). */
export function gradientStatementHolds(round: number, baseSha256: string, s: GradientStatement): boolean {
  return signerOf(gradientDigest(round, baseSha256, s.sha256, s.size), s.signature)?.nodeId === s.nodeId;
}
