import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusLine } from './status-line.js';

test('the one-line status names peers, the round, the latest checkpoint, the loss, serving and claims', () => {
  const line = statusLine({
    net: { peers: [{ state: 'live' }, { state: 'stale' }, { state: 'live' }] },
    diloco: { enabled: true, round: 7, state: 'training', latest: { round: 6, sha256: 'ab' }, lastTrain: { lossLast: 3.14159 } },
    serve: { serving: true, model: { round: 6 }, requests: 12 },
    chain: { configured: true, waiting: 2 },
  });
  assert.equal(
    line,
    'status: 2/3 peers live, round 7 training, latest round 6, training loss 3.142, serving round 6 (12 requests), 2 claims waiting',
  );
  assert.equal(
    statusLine({ diloco: { unavailable: 'no trainer' }, serve: { serving: false } }),
    'status: 0/0 peers live, rounds off (no trainer), not serving',
  );
});
