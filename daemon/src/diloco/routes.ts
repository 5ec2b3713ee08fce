import { type Route, sendJson } from '../api/routes.js';
import type { DilocoPart } from './part.js';

/**
 * GET /diloco/outcomes?after=R&limit=N: the certified outcomes this node holds after round R (default -1), oldest
 * first: round, leader, merged or abandoned, checkpoint, the fraction of the outer step taken, contributors and voters.
 * GET /diloco/gradients?round=R: the gradients of round R this node holds, with its verdict on each (as leader).
 */
export function dilocoRoutes(part: DilocoPart): Route[] {
  return [
    {
      method: 'GET',
      path: '/diloco/outcomes',
      async handle(req, res) {
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        const after = Number(q.get('after') ?? -1);
        const limit = Number(q.get('limit') ?? 64);
        if (!Number.isSafeInteger(after) || after < -1 || !Number.isSafeInteger(limit) || limit < 1) {
          sendJson(res, 400, { error: { code: 'ERR_BAD_QUERY', message: 'after must be a round >= -1 and limit a whole number >= 1' } });
          return;
        }
        const outcomes = part.coordinator.onLineageRequest('', after, Math.min(limit, 64)).map(({ proposal: p, votes }) => ({
          round: p.round,
          leader: p.leader,
          merged: p.merged,
          sha256: p.sha256,
          parentSha256: p.parentSha256,
          manifestId: p.manifestId,
          note: p.note,
          step: 2 ** -p.damping,
          contributors: p.contributions.map((c) => ({ nodeId: c.nodeId, sha256: c.sha256 })),
          repeats: p.basis?.leader ?? null,
          voters: votes.map((v) => v.voter),
        }));
        sendJson(res, 200, { outcomes });
      },
    },
    {
      method: 'GET',
      path: '/diloco/gradients',
      async handle(req, res) {
        const round = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('round'));
        if (!Number.isSafeInteger(round) || round < 0) {
          sendJson(res, 400, { error: { code: 'ERR_BAD_QUERY', message: 'round must be a whole number >= 0' } });
          return;
        }
        sendJson(res, 200, { round, gradients: part.coordinator.gradients(round) });
      },
    },
  ];
}
