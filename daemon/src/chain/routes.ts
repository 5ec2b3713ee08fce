import { type Route, readBody, sendJson } from '../api/routes.js';
import { NODE_ID_PATTERN } from '../identity/node-id.js';
import { errorMessage, isMagnetError } from '../util/errors.js';
import type { ChainPart } from './chain-part.js';
import { receiptFromJson, receiptToJson } from './claim-store.js';

/**
 * /chain/claims (this node's claim queue), /chain/rewards (owed, balance, estimates), /chain/contributions
 * (leader-side records), /chain/receipts?nodeId= (leader-signed receipts for a contributor) and POST
 * /chain/receipts (hand a leader-signed receipt to this node's claim queue).
 */
export function chainRoutes(chain: ChainPart): Route[] {
  return [
    {
      method: 'GET',
      path: '/chain/claims',
      async handle(_req, res) {
        sendJson(res, 200, {
          status: chain.status(),
          claims: chain.claims.all().map((c) => ({
            ...c,
            epoch: c.epoch.toString(),
            reward: c.reward?.toString() ?? null,
            receipt: JSON.parse(receiptToJson(c.receipt)),
          })),
        });
      },
    },
    {
      method: 'GET',
      path: '/chain/rewards',
      async handle(_req, res) {
        try {
          sendJson(res, 200, await chain.rewards());
        } catch (err) {
          sendJson(res, 503, { error: { code: 'ERR_CHAIN_UNAVAILABLE', message: `chain RPC failed: ${errorMessage(err)}` } });
        }
      },
    },
    {
      method: 'GET',
      path: '/chain/contributions',
      async handle(_req, res) {
        sendJson(res, 200, { contributions: chain.contributions.all() });
      },
    },
    {
      method: 'GET',
      path: '/chain/receipts',
      async handle(req, res) {
        const nodeId = new URL(req.url ?? '/', 'http://x').searchParams.get('nodeId') ?? '';
        if (!NODE_ID_PATTERN.test(nodeId)) {
          sendJson(res, 400, { error: { code: 'ERR_BAD_NODE_ID', message: 'query must be ?nodeId=node-<16 hex>' } });
          return;
        }
        sendJson(res, 200, {
          receipts: chain.contributions.receiptsFor(nodeId).map((r) => ({ ...r, receipt: JSON.parse(receiptToJson(r.receipt)) })),
        });
      },
    },
    {
      method: 'POST',
      path: '/chain/receipts',
      async handle(req, res) {
        try {
          const body = JSON.parse((await readBody(req, 16_384)).toString('utf8')) as {
            round?: unknown;
            receipt?: unknown;
            leaderSignature?: unknown;
          };
          if (
            typeof body.round !== 'number' ||
            typeof body.leaderSignature !== 'string' ||
            typeof body.receipt !== 'object' ||
            body.receipt === null
          ) {
            throw new Error('body must be {"round": N, "receipt": {...}, "leaderSignature": "0x..."}');
          }
          const out = await chain.acceptReceipt(body.round, receiptFromJson(JSON.stringify(body.receipt)), body.leaderSignature);
          sendJson(res, 200, out);
        } catch (err) {
          const code = isMagnetError(err) ? err.code : 'ERR_BAD_RECEIPT';
          sendJson(res, 400, { error: { code, message: errorMessage(err) } });
        }
      },
    },
  ];
}
