import { type Route, readBody, sendJson } from '../api/routes.js';
import { NODE_ID_PATTERN } from '../identity/node-id.js';
import type { NetPart } from './net-part.js';
import type { Peers } from './peers.js';

/** /net/peers (the peer book with live state) and /net/peers/forget (drop a peer and its certificate pin). */
export function netRoutes(peers: Peers, net: NetPart): Route[] {
  return [
    {
      method: 'GET',
      path: '/net/peers',
      async handle(_req, res) {
        const live = new Map(peers.peers().map((p) => [p.nodeId, p]));
        const state = new Map(peers.known().map((p) => [p.nodeId, p.state]));
        sendJson(res, 200, {
          peers: peers.book
            .all()
            .map((r) => ({ ...r, certPem: undefined, state: live.has(r.nodeId) ? 'live' : (state.get(r.nodeId) ?? 'offline') })),
        });
      },
    },
    {
      method: 'POST',
      path: '/net/peers/forget',
      async handle(req, res) {
        let nodeId: unknown;
        try {
          nodeId = (JSON.parse((await readBody(req, 4096)).toString('utf8')) as { nodeId?: unknown }).nodeId;
        } catch {
          nodeId = undefined;
        }
        if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) {
          sendJson(res, 400, { error: { code: 'ERR_BAD_NODE_ID', message: 'body must be {"nodeId": "node-<16 hex>"}' } });
          return;
        }
        sendJson(res, 200, { nodeId, forgotten: net.forget(nodeId) });
      },
    },
  ];
}
