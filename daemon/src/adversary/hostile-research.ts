import type { ResearchPeers } from '../research/ports.js';
import { signRecord } from '../research/records.js';

/**
 * research-liar: a worker that really trains the trials it is offered but reports each eval loss 30% lower than its
 * checkpoint scores, signed with its own key (a validly signed lie; the research node must re-score and refuse it).
 */
export function lyingResearchPeers(p: ResearchPeers, signer: { sign(digest: Buffer): Buffer }): ResearchPeers {
  return {
    livePeers: () => p.livePeers(),
    isStale: (id) => p.isStale(id),
    offerTrial: (to, rec) => p.offerTrial(to, rec),
    creditTrials: (to, rec) => p.creditTrials(to, rec),
    reportTrial: (to, rec) => {
      if (rec.kind !== 'trial-result') return p.reportTrial(to, rec); // it lies about losses, not about failures
      const body = JSON.parse(rec.body.toString('utf8')) as Record<string, unknown>;
      body['evalLoss'] = Number(body['evalLoss']) * 0.7;
      return p.reportTrial(
        to,
        signRecord('trial-result', body, (d) => signer.sign(d)),
      );
    },
  };
}
