import { int, list } from '../config/schema.js';

const ENTRY = /^(0x[0-9a-fA-F]{40}|node-[0-9a-f]{16})$/;

/** The `membership` config group: who may train, lead, vote, hold shards and publish in this network. */
export const membershipOptions = {
  members: list(
    [],
    "The network's members: wallet addresses (0x…) or nodeIds (node-…). Empty: this node alone. Ignored when a chain is configured: members are then the wallets registered and bonded in NodeRegistry",
    {
      env: 'MAGNET_MEMBERS',
      flag: '--members <list>',
      check: (v) => {
        const bad = v.find((x) => !ENTRY.test(x));
        return bad === undefined ? undefined : `wallet addresses 0x<40 hex> or nodeIds node-<16 hex>; "${bad.slice(0, 60)}" is neither`;
      },
    },
  ),
  refreshSeconds: int(15, 'How often the chain registry is read for members (with a chain configured)', {
    env: 'MAGNET_MEMBERS_REFRESH',
    min: 1,
    max: 86_400,
  }),
};
