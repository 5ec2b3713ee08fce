import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStateDb } from '../db/database.js';
import { REPO_ROOT } from '../version.js';
import type { HardwareInfo } from './hardware.js';
import type { HardwareProfile } from './profile.js';
import { ProfileRepository, profileMigrations } from './profile-repo.js';
import { loadRewardConfig } from './reward-config.js';
import { settleTier } from './saved-tier.js';
import { type TierDecision, classifyTier, withHysteresis } from './tier.js';

// Floors: SSD read 100 MB/s, write 50 MB/s, free disk 10 GiB; hysteresis 15%.
const cfg = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), {});
const hw = (x: Partial<HardwareInfo> = {}): HardwareInfo => ({
  cpuModel: 'cpu',
  arch: 'x64',
  cores: 8,
  simd: ['avx2'],
  ramGiB: 32,
  gpus: [],
  diskFreeGiB: 500,
  ...x,
});
const measured = (readMBps: number | null, x: Partial<HardwareInfo> = {}): HardwareProfile => ({
  measuredAt: Date.now(),
  hardware: hw(x),
  ssd: readMBps === null ? null : { readMBps, writeMBps: 200, blocks: 1000, blockSize: 4096, queueDepth: 4, method: 'direct' },
});
const repo = (): ProfileRepository =>
  new ProfileRepository(openStateDb(join(mkdtempSync(join(tmpdir(), 'magnet-tier-')), 'state.db'), profileMigrations).db);
/** One start: the measurement against the saved profile, then saved. */
const start = (r: ProfileRepository, p: HardwareProfile) => settleTier(r, p, false, cfg, 'keep');

test('the reward config holds a 15% hysteresis', () => {
  assert.equal(cfg.thresholds.hysteresis, 0.15);
  assert.throws(
    () => loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), { MAGNET_TIER_HYSTERESIS: '1' }),
    /thresholds\.hysteresis/,
  );
});

test('a reading just under the SSD floor keeps a saved storage tier, and says why', () => {
  const r = repo();
  assert.equal(start(r, measured(140)).decision.tier, 'cpu_only'); // roles server, storage
  const s = start(r, measured(95));
  assert.equal(s.decision.tier, 'cpu_only');
  assert.deepEqual(s.decision.allowedRoles, ['server', 'storage']);
  assert.equal(s.alone.tier, 'mobile_light', 'the measurement alone would have demoted it');
  assert.equal(s.decision.held.length, 1);
  assert.match(
    s.decision.held[0]!,
    /SSD read 95 MB\/s is under its 100 MB\/s floor by less than 15% \(under 85 drops it\): the saved pass holds/,
  );
  assert.equal(r.latest()?.decision.tier, 'cpu_only', 'the kept tier is what is saved');
});

test('a reading well under the floor drops a saved storage tier', () => {
  const r = repo();
  start(r, measured(140));
  const s = start(r, measured(80));
  assert.equal(s.decision.tier, 'mobile_light');
  assert.deepEqual(s.decision.held, []);
  assert.equal(start(r, measured(105)).decision.tier, 'mobile_light', 'then a reading just over the floor does not bring it back');
});

test('a reading just over the floor does not promote a saved light tier; one well over it does', () => {
  const r = repo();
  assert.equal(start(r, measured(88)).decision.tier, 'mobile_light');
  const s = start(r, measured(105));
  assert.equal(s.decision.tier, 'mobile_light');
  assert.equal(s.alone.tier, 'cpu_only');
  assert.match(
    s.decision.held[0]!,
    /SSD read 105 MB\/s is over its 100 MB\/s floor by less than 15% \(115 or more passes\): the saved failure holds/,
  );
  assert.equal(start(r, measured(115)).decision.tier, 'cpu_only');
});

test('a disk that reads on either side of its floor keeps one tier from start to start', () => {
  const r = repo();
  start(r, measured(101));
  for (const reading of [88, 112, 95, 99.9, 86, 104])
    assert.equal(start(r, measured(reading)).decision.tier, 'cpu_only', `${reading} MB/s`);
});

test('profile --save replaces the saved tier with the measurement alone, and the next starts keep that one', () => {
  const r = repo();
  start(r, measured(140));
  const saved = settleTier(r, measured(95), false, cfg, 'replace');
  assert.equal(saved.decision.tier, 'mobile_light');
  assert.deepEqual(saved.decision.held, []);
  assert.equal(r.latest()?.decision.tier, 'mobile_light');
  assert.equal(start(r, measured(105)).decision.tier, 'mobile_light', 'a start after --save keeps the tier it saved');
  settleTier(r, measured(105), false, cfg, 'replace');
  assert.equal(start(r, measured(95)).decision.tier, 'cpu_only');
});

test('a skipped SSD test fails the storage tiers but leaves the saved SSD result for the next start', () => {
  const r = repo();
  start(r, measured(140));
  assert.equal(start(r, measured(null)).decision.tier, 'mobile_light');
  assert.equal(start(r, measured(95)).decision.tier, 'cpu_only');
});

test('free disk has the same hysteresis (storage_node on a small box)', () => {
  const r = repo();
  const small = (diskFreeGiB: number) => measured(300, { cores: 1, ramGiB: 2, diskFreeGiB });
  assert.equal(start(r, small(12)).decision.tier, 'storage_node');
  assert.equal(start(r, small(9)).decision.tier, 'storage_node');
  assert.equal(start(r, small(8)).decision.tier, 'mobile_light');
  assert.equal(start(r, small(11)).decision.tier, 'mobile_light');
});

test('hardware facts switch at once: a saved profile never holds back a core or GPU change', () => {
  const r = repo();
  assert.equal(start(r, measured(140, { cores: 1, ramGiB: 1, diskFreeGiB: 2 })).decision.tier, 'mobile_light');
  assert.equal(start(r, measured(140, { cores: 2, ramGiB: 4 })).decision.tier, 'cpu_only');
  assert.equal(start(r, measured(140, { gpus: [{ name: 'RTX', memoryGiB: 8 }] })).decision.tier, 'gpu_compute');
});

test('a profile saved before checks were recorded has them recomputed from its measurements', () => {
  const r = repo();
  const old = measured(140);
  const oldDecision: Partial<TierDecision> = classifyTier({ hardware: old.hardware, ssd: old.ssd, researchAgent: false }, cfg);
  delete oldDecision.checks;
  delete oldDecision.held;
  r.add(old, oldDecision as TierDecision);
  assert.equal(start(r, measured(95)).decision.tier, 'cpu_only');
});

test('withHysteresis: no saved result, the floor decides; a saved one flips only beyond the margin', () => {
  assert.deepEqual(withHysteresis(100, 100, undefined, 0.15), { pass: true, held: false });
  assert.deepEqual(withHysteresis(99, 100, undefined, 0.15), { pass: false, held: false });
  assert.deepEqual(withHysteresis(85, 100, true, 0.15), { pass: true, held: true });
  assert.deepEqual(withHysteresis(84.9, 100, true, 0.15), { pass: false, held: false });
  assert.deepEqual(withHysteresis(114.9, 100, false, 0.15), { pass: false, held: true });
  assert.deepEqual(withHysteresis(115, 100, false, 0.15), { pass: true, held: false });
  assert.deepEqual(withHysteresis(0, 0, false, 0.15), { pass: true, held: false }, 'a floor of 0 (test daemons) always passes');
  assert.deepEqual(withHysteresis(95, 100, true, 0), { pass: false, held: false }, 'no margin: the floor alone');
});
