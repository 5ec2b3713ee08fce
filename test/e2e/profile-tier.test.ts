import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { CLI, startDaemon, tempHome, testEnv } from '../helpers/daemon.js';

interface ProfileJson {
  tier: string;
  ssdPass: boolean;
  startTier: string;
  held: string[];
  saved: boolean;
}

function profile(home: string, extra: string[], env: NodeJS.ProcessEnv): ProfileJson {
  const r = spawnSync(process.execPath, [CLI, 'profile', '--home', home, '--blocks', '64', '--json', ...extra], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ProfileJson;
}

// A read floor no disk reaches, with a hysteresis that keeps a saved pass down to 1 MB/s: whatever this disk reads, the
// measurement alone fails the SSD test and a saved pass holds (deterministic on any CI disk).
const unreachable = testEnv({ MAGNET_SSD_MIN_READ_MBPS: '1000000000', MAGNET_TIER_HYSTERESIS: '0.999999999' });

test('a start keeps the saved tier against a reading that does not clearly cross the floor, logs why; profile --save replaces it', async () => {
  const home = tempHome();
  const first = profile(home, ['--save'], testEnv()); // floors 0: the SSD test passes
  assert.equal(first.saved, true);
  assert.equal(first.ssdPass, true);
  assert.equal(first.startTier, first.tier);

  const look = profile(home, [], unreachable);
  assert.equal(look.tier, 'mobile_light', 'the measurement alone fails the SSD test');
  assert.equal(look.startTier, first.tier, 'a start would keep the saved tier');
  assert.match(look.held.join('\n'), /SSD read .* the saved pass holds/);

  const d = await startDaemon({ home, env: unreachable });
  try {
    assert.equal((await d.get<{ tier: string }>('/status')).tier, first.tier);
    if (first.tier !== 'mobile_light') {
      assert.match(d.output(), new RegExp(`tier ${first.tier} kept \\(this measurement alone gives mobile_light\\): SSD read`));
    }
  } finally {
    assert.equal(await d.stop(), 0);
  }

  const replaced = profile(home, ['--save'], unreachable);
  assert.equal(replaced.tier, 'mobile_light');
  assert.equal(replaced.startTier, 'mobile_light');
  assert.deepEqual(replaced.held, [], '--save: the measurement alone decides');
  const after = profile(home, [], testEnv({ MAGNET_SSD_MIN_READ_MBPS: '1000000000', MAGNET_TIER_HYSTERESIS: '0' }));
  assert.equal(after.startTier, 'mobile_light', 'the next start takes the tier --save saved');
});
