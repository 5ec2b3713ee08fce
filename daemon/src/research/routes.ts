import { type Route, readJson, sendJson } from '../api/routes.js';
import { isMagnetError } from '../util/errors.js';
import type { ResearchPart } from './part.js';

/** The plan text a `research start` may send (a plan is a few kilobytes; the built-in one is under 8). */
const MAX_PLAN_BYTES = 256 * 1024;

/**
 * Admin routes of autoresearch. POST /research/start {plan: "<JSON text>", where?} or {builtin: "<name>"};
 * POST /research/stop; GET /research/status; GET /research/insights?run=; POST /research/insights/import
 * {manifestId} (another research node's finding, checked); GET /research/report?run=&plot=1 (the
 * PNG comes back base64 in "plotPng"). No route takes a server-side path: the CLI reads and writes the files.
 */
export function researchRoutes(part: ResearchPart): Route[] {
  const fail = (res: Parameters<Route['handle']>[1], err: unknown) => {
    if (isMagnetError(err)) {
      const status = err.code === 'ERR_NO_RESEARCH' ? 404 : err.code === 'ERR_RESEARCH_RUNNING' ? 409 : 400;
      sendJson(res, status, { error: { code: err.code, message: err.message } });
      return;
    }
    throw err;
  };
  const runOf = (url: string | undefined) => new URL(url ?? '/', 'http://x').searchParams.get('run') ?? undefined;
  return [
    {
      method: 'POST',
      path: '/research/start',
      async handle(req, res) {
        const body = await readJson(req, MAX_PLAN_BYTES);
        try {
          const plan = typeof body['plan'] === 'string' ? body['plan'] : undefined;
          const builtin = typeof body['builtin'] === 'string' ? body['builtin'] : undefined;
          const where = typeof body['where'] === 'string' ? body['where'].slice(0, 200) : undefined;
          const run = part.startPlan({
            ...(plan !== undefined ? { plan } : {}),
            ...(builtin !== undefined ? { builtin } : {}),
            ...(where ? { where } : {}),
          });
          sendJson(res, 200, { runId: run.runId, name: run.name, planHash: run.planHash });
        } catch (err) {
          fail(res, err);
        }
      },
    },
    {
      method: 'POST',
      path: '/research/stop',
      async handle(_req, res) {
        const run = part.runner.halt();
        sendJson(res, 200, { stopped: run?.runId ?? null });
      },
    },
    {
      method: 'GET',
      path: '/research/status',
      async handle(_req, res) {
        sendJson(res, 200, part.status());
      },
    },
    {
      method: 'GET',
      path: '/research/insights',
      async handle(req, res) {
        sendJson(res, 200, { findings: part.insights(runOf(req.url)) });
      },
    },
    {
      method: 'POST',
      path: '/research/insights/import',
      async handle(req, res) {
        const body = await readJson(req, 4096);
        try {
          sendJson(res, 200, await part.importFinding(typeof body['manifestId'] === 'string' ? body['manifestId'] : ''));
        } catch (err) {
          fail(res, err);
        }
      },
    },
    {
      method: 'GET',
      path: '/research/report',
      async handle(req, res) {
        try {
          const run = runOf(req.url);
          const report = part.report(run);
          const plot = new URL(req.url ?? '/', 'http://x').searchParams.get('plot') === '1';
          sendJson(res, 200, plot ? { ...report, plotPng: (await part.plot(run)).toString('base64') } : report);
        } catch (err) {
          fail(res, err);
        }
      },
    },
  ];
}
