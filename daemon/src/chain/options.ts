import { choice, int, str } from '../config/schema.js';

/** The `chain` config group: where the EVM chain is and how the claim loop paces itself. */
export const chainOptions = {
  rpc: str('', 'JSON-RPC URL of the EVM chain (http://HOST:PORT); empty = no chain, contributions are recorded and claims wait', {
    env: 'MAGNET_CHAIN_RPC',
    flag: '--chain-rpc <url>',
  }),
  deployment: str('', 'deployment file written by `magnet-node chain deploy` (chain id, contract addresses)', {
    env: 'MAGNET_CHAIN_DEPLOYMENT',
    flag: '--chain-deployment <file>',
  }),
  pollMs: int(5_000, 'period of the claim loop (sign, commit, reveal, settle), ms', { env: 'MAGNET_CHAIN_POLL_MS', min: 50 }),
  retryBaseMs: int(2_000, 'first retry delay after a failed chain call; doubles per failure, ms', {
    env: 'MAGNET_CHAIN_RETRY_BASE_MS',
    min: 10,
  }),
  retryMaxMs: int(300_000, 'longest retry delay, ms', { env: 'MAGNET_CHAIN_RETRY_MAX_MS', min: 10 }),
  registerBond: str(
    '',
    'if set (whole native coin, e.g. "1"), the node registers itself on chain at start with this bond and its tier when not registered yet',
    { env: 'MAGNET_CHAIN_REGISTER_BOND' },
  ),
  settlement: choice(
    'loop',
    ['loop', 'merkle'],
    'how this node settles an epoch nobody has settled yet: the claim loop (cheaper for a few claims) or one Merkle root of cumulative credits (checked by every node, challengeable by notaries, withdrawn by proof; for many claims)',
    { env: 'MAGNET_CHAIN_SETTLEMENT' },
  ),
  notaryBond: str(
    '',
    'if set (whole native coin, e.g. "5"), the node joins the notary panel with this bond: it challenges Merkle settlements the claims on chain do not give, and votes on such challenges when drawn',
    { env: 'MAGNET_CHAIN_NOTARY_BOND' },
  ),
  settleBatch: int(200, 'claims settled per settle transaction (bounded by the block gas limit)', {
    env: 'MAGNET_CHAIN_SETTLE_BATCH',
    min: 1,
    max: 5_000,
  }),
};

export type ChainOptions = { [K in keyof typeof chainOptions]: (typeof chainOptions)[K]['default'] };

export function chainSchemaDefaults(): ChainOptions {
  return Object.fromEntries(Object.entries(chainOptions).map(([k, f]) => [k, f.default])) as ChainOptions;
}
