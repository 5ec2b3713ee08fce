import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../version.js';
import type { HardwareInfo } from './hardware.js';
import { detectSimd, parseNvidiaSmi } from './hardware.js';
import { type Tier, loadRewardConfig } from './reward-config.js';
import type { SsdResult } from './ssd-test.js';
import { classifyTier, resolveRoles } from './tier.js';

const cfg = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), {});
const hw = (x: Partial<HardwareInfo> = {}): HardwareInfo => ({ cpuModel: 'cpu', arch: 'x64', cores: 8, simd: ['avx2'], ramGiB: 32, gpus: [], diskFreeGiB: 500, ...x });
const ssd = (readMBps: number, writeMBps: number): SsdResult => ({ readMBps, writeMBps, blocks: 1000, blockSize: 4096, queueDepth: 4, method: 'direct' });
const gpu = (memoryGiB: number) => [{ name: 'RTX', memoryGiB }];

const table: { name: string; hw: HardwareInfo; ssd: SsdResult | null; research?: boolean; tier: Tier }[] = [
  { name: 'GPU + SSD', hw: hw({ gpus: gpu(24) }), ssd: ssd(500, 300), tier: 'gpu_compute' },
  { name: 'GPU + SSD + research agent', hw: hw({ gpus: gpu(80) }), ssd: ssd(500, 300), research: true, tier: 'claude_session' },
  { name: 'research agent without GPU stays CPU', hw: hw(), ssd: ssd(500, 300), research: true, tier: 'cpu_only' },
  { name: 'small GPU counts as none', hw: hw({ gpus: gpu(4) }), ssd: ssd(500, 300), tier: 'cpu_only' },
  { name: 'CPU box with SSD', hw: hw(), ssd: ssd(200, 100), tier: 'cpu_only' },
  { name: 'exactly at the SSD thresholds passes', hw: hw(), ssd: ssd(100, 50), tier: 'cpu_only' },
  { name: 'one core, big disk: storage', hw: hw({ cores: 1 }), ssd: ssd(200, 100), tier: 'storage_node' },
  { name: 'little RAM, big disk: storage', hw: hw({ ramGiB: 2 }), ssd: ssd(200, 100), tier: 'storage_node' },
  { name: 'tiny box, tiny disk: light', hw: hw({ cores: 1, ramGiB: 1, diskFreeGiB: 2 }), ssd: ssd(200, 100), tier: 'mobile_light' },
  { name: 'SSD read too slow demotes a GPU node', hw: hw({ gpus: gpu(24) }), ssd: ssd(99.9, 300), tier: 'mobile_light' },
  { name: 'SSD write too slow demotes a CPU node', hw: hw(), ssd: ssd(500, 49), tier: 'mobile_light' },
  { name: 'SSD test skipped: never a storage tier', hw: hw({ gpus: gpu(24) }), ssd: null, tier: 'mobile_light' },
];

for (const row of table) {
  test(`tier: ${row.name} -> ${row.tier}`, () => {
    const d = classifyTier({ hardware: row.hw, ssd: row.ssd, researchAgent: row.research ?? false }, cfg);
    assert.equal(d.tier, row.tier);
    assert.equal(d.multiplier, cfg.tiers[row.tier].multiplier);
    if (row.tier === 'mobile_light') assert.ok(!d.allowedRoles.includes('storage'));
    assert.ok(d.reasons.length > 0);
  });
}

test('multipliers come from reward-config.json: 3.0/1.0/0.3/0.3/0.1', () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(cfg.tiers).map(([t, v]) => [t, v.multiplier])),
    { claude_session: 3, gpu_compute: 1, storage_node: 0.3, cpu_only: 0.3, mobile_light: 0.1 },
  );
});

test('environment overrides thresholds and multipliers; bad values are refused by name', () => {
  const c = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), { MAGNET_SSD_MIN_READ_MBPS: '10', MAGNET_TIER_MULTIPLIER_CPU_ONLY: '0.5' });
  assert.equal(c.thresholds.ssdMinReadMBps, 10);
  assert.equal(c.tiers.cpu_only.multiplier, 0.5);
  assert.equal(classifyTier({ hardware: hw(), ssd: ssd(20, 60), researchAgent: false }, c).tier, 'cpu_only');
  assert.throws(() => loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), { MAGNET_SSD_MIN_WRITE_MBPS: 'fast' }), /thresholds\.ssdMinWriteMBps \(from env MAGNET_SSD_MIN_WRITE_MBPS\)/);
});

test('--role narrows but never raises', () => {
  const cpu = classifyTier({ hardware: hw(), ssd: ssd(500, 300), researchAgent: false }, cfg);
  assert.deepEqual(resolveRoles(cpu, 'auto', false), ['server', 'storage']);
  assert.deepEqual(resolveRoles(cpu, 'storage', false), ['storage']);
  assert.throws(() => resolveRoles(cpu, 'trainer', false), /--role trainer is not allowed on this machine: its tier is cpu_only/);
  assert.deepEqual(resolveRoles(cpu, 'trainer', true), ['trainer']); // CPU training switched on by the operator
  const light = classifyTier({ hardware: hw(), ssd: null, researchAgent: false }, cfg);
  assert.throws(() => resolveRoles(light, 'storage', false), /not allowed/);
  assert.deepEqual(resolveRoles(light, 'auto', true), ['light']); // cpuTraining never lifts a light node
});

test('SIMD flags and nvidia-smi output are parsed', () => {
  assert.deepEqual(detectSimd('flags\t\t: fpu sse avx2 fma avx512f avx512_vnni\n'), ['avx2', 'avx512f', 'avx512_vnni', 'fma']);
  assert.deepEqual(detectSimd('Features\t: fp asimd asimddp\n'), ['asimd', 'asimddp', 'neon']);
  assert.deepEqual(parseNvidiaSmi('NVIDIA H200, 143771\nTesla T4, 15360\n'), [
    { name: 'NVIDIA H200', memoryGiB: 140.4 },
    { name: 'Tesla T4', memoryGiB: 15 },
  ]);
});
