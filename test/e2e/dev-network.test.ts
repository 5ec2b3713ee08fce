import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type RunningDaemon, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * The first run a newcomer sees: `magnet-node start` with nothing naming a network trains rounds alone on the CPU
 * (whatever the tier), says so, records the held-out loss of each merge, serves the merged model and answers on /v1.
 */
let d: RunningDaemon | undefined;
after(async () => {
  await d?.kill();
});

interface Snapshot {
  losses: { round: number; lossMerged: number }[];
  status: { roles: string[]; serve: { serving: boolean; model: { round: number } | null }; network: { source: string } };
}

test(
  'with no network configured the node runs a development network of one: it trains, merges and serves',
  { timeout: 300_000 },
  async () => {
    // Rounds on (testEnv turns them off), no CPU-training flag, no member list, no bootstrap, no chain: the defaults.
    d = await startDaemon({ env: testEnv({ MAGNET_DILOCO: 'true', MAGNET_INNER_STEPS: '10', MAGNET_SSD_TEST: 'false' }) });
    assert.match(
      d.output(),
      /development network of one .*the tier check is bypassed for this network only|development network of one .*allows both anyway/,
    );
    const first = await d.get<Snapshot>('/dashboard/state');
    assert.ok(first.status.roles.includes('trainer') && first.status.roles.includes('server'), `roles ${first.status.roles.join(', ')}`);
    assert.equal(first.status.network.source, 'implicit');
    const snap = await waitFor(
      async () => {
        const s = await d!.get<Snapshot>('/dashboard/state');
        return s.losses.length >= 2 && s.status.serve.model !== null && s;
      },
      240_000,
      'two merged rounds and a served model',
    );
    assert.ok(snap.losses.every((l) => Number.isFinite(l.lossMerged) && l.lossMerged > 0));
    const res = await fetch(`${d.apiUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'magnet', prompt: 'def ', max_tokens: 8 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { usage: { completion_tokens: number } };
    assert.ok(body.usage.completion_tokens > 0, 'the merged model answers');
    console.log(
      `# dev network: losses ${snap.losses.map((l) => l.lossMerged.toFixed(4)).join(' ')}; model round ${snap.status.serve.model?.round}`,
    );
  },
);

test('a node given a member list is not the development network: its roles stay those of its tier', { timeout: 60_000 }, async () => {
  const other = await startDaemon({
    env: testEnv({ MAGNET_DILOCO: 'true', MAGNET_SSD_TEST: 'false' }),
    args: ['--members', 'node-0123456789abcdef'],
  });
  try {
    assert.doesNotMatch(other.output(), /development network of one/);
  } finally {
    await other.kill();
  }
});
