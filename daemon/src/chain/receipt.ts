import { AbiCoder, TypedDataEncoder, getAddress, id, keccak256, verifyTypedData, type BaseWallet, type TypedDataDomain } from 'ethers';

/** The round receipt a node and its round leader sign (EIP-712 type `Receipt` of ContributionLedger). */
export interface Receipt {
  node: string;
  epoch: bigint;
  round: bigint;
  checkpointHash: string;
  gradientHash: string;
  tokens: bigint;
  /** Quality in parts per million, 0..1_000_000. */
  score: bigint;
  leader: string;
}

export const MAX_SCORE = 1_000_000n;

export const RECEIPT_TYPES = {
  Receipt: [
    { name: 'node', type: 'address' },
    { name: 'epoch', type: 'uint64' },
    { name: 'round', type: 'uint64' },
    { name: 'checkpointHash', type: 'bytes32' },
    { name: 'gradientHash', type: 'bytes32' },
    { name: 'tokens', type: 'uint64' },
    { name: 'score', type: 'uint32' },
    { name: 'leader', type: 'address' },
  ],
};

const COMMIT_TAG = id('MAGNET_CONTRIBUTION_COMMIT_V1');

/** The domain is bound to the chain and the ledger contract, so a signature is void anywhere else. */
export function ledgerDomain(chainId: bigint, ledger: string): TypedDataDomain {
  return { name: 'MAGNET Ledger', version: '1', chainId, verifyingContract: getAddress(ledger) };
}

/** EIP-712 struct hash: the "result" that the commitment hides. */
export function receiptStructHash(r: Receipt): string {
  return TypedDataEncoder.hashStruct('Receipt', RECEIPT_TYPES, r);
}

/** EIP-712 digest the wallets sign; equal to ContributionLedger.receiptDigest. */
export function receiptDigest(r: Receipt, chainId: bigint, ledger: string): string {
  return TypedDataEncoder.hash(ledgerDomain(chainId, ledger), RECEIPT_TYPES, r);
}

export async function signReceipt(wallet: BaseWallet, r: Receipt, chainId: bigint, ledger: string): Promise<string> {
  return wallet.signTypedData(ledgerDomain(chainId, ledger), RECEIPT_TYPES, r);
}

/** The signer of a receipt signature (for checking a leader's signature before queueing). */
export function receiptSigner(r: Receipt, signature: string, chainId: bigint, ledger: string): string {
  return verifyTypedData(ledgerDomain(chainId, ledger), RECEIPT_TYPES, r, signature);
}

/**
 * hash(result, nonce, sender, epoch, chainid, contract): equal to ContributionLedger.commitmentOf. `epoch` is the
 * epoch the claim is made in (default: the receipt's own; a later one when that epoch's slot is taken).
 */
export function commitment(r: Receipt, nonce: string, sender: string, chainId: bigint, ledger: string, epoch = r.epoch): string {
  const enc = AbiCoder.defaultAbiCoder().encode(
    ['bytes32', 'bytes32', 'bytes32', 'address', 'uint64', 'uint256', 'address'],
    [COMMIT_TAG, receiptStructHash(r), nonce, sender, epoch, chainId, ledger],
  );
  return keccak256(enc);
}

/** Receipt as the ABI tuple ethers passes to `reveal`. */
export function receiptTuple(r: Receipt): [string, bigint, bigint, string, string, bigint, bigint, string] {
  return [r.node, r.epoch, r.round, r.checkpointHash, r.gradientHash, r.tokens, r.score, r.leader];
}
