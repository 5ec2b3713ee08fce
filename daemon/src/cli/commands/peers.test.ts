import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPeers } from './peers.js';

test('peers: a header row, aligned columns, the failure count, and a summary line', () => {
  const now = 1_000_000;
  const text = formatPeers(
    [
      {
        nodeId: 'node-00000000000000aa',
        state: 'live',
        grpcAddress: '127.0.0.1:7600',
        tier: 'cpu_only',
        roles: ['trainer', 'server'],
        certSha256: 'ab'.repeat(32),
        lastHeartbeat: now - 3000,
        failures: 0,
      },
      {
        nodeId: 'node-00000000000000bb',
        state: 'stale',
        grpcAddress: '10.0.0.2:7600',
        tier: 'light',
        roles: [],
        certSha256: null,
        lastHeartbeat: null,
        failures: 7,
      },
    ],
    now,
  );
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0] as string, /^NODE\s+STATE\s+GRPC\s+TIER\s+ROLES\s+HEARTBEAT\s+FAILURES\s+PINNED CERT$/);
  assert.match(
    lines[1] as string,
    /^node-00000000000000aa\s+live\s+127\.0\.0\.1:7600\s+cpu_only\s+trainer,server\s+3 s ago\s+0\s+abababababababab$/,
  );
  assert.match(lines[2] as string, /^node-00000000000000bb\s+stale\s+10\.0\.0\.2:7600\s+light\s+-\s+never\s+7\s+-$/);
  assert.equal(lines[1]?.indexOf('live'), lines[0]?.indexOf('STATE'), 'columns line up');
  assert.equal(lines[3], '2 peers, 1 live');
});
