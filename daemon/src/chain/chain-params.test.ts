import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { parseEther } from 'ethers';
import { REPO_ROOT } from '../version.js';
import { ConfigError } from '../util/errors.js';
import { loadChainParams } from './chain-params.js';
import { fastParams } from './local-chain.js';

const REPO_CONFIG = join(REPO_ROOT, 'config', 'reward-config.json');

/** Loads the repository's reward config with `chain` keys replaced by `over`. */
function loadWith(over: Record<string, unknown>) {
  const raw = JSON.parse(readFileSync(REPO_CONFIG, 'utf8')) as { chain: Record<string, unknown> };
  const dir = mkdtempSync(join(tmpdir(), 'chain-params-'));
  try {
    const file = join(dir, 'reward-config.json');
    writeFileSync(file, JSON.stringify({ ...raw, chain: { ...raw.chain, ...over } }));
    return loadChainParams(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const refusesKey = (over: Record<string, unknown>, key: string) =>
  assert.throws(
    () => loadWith(over),
    (err: unknown) => err instanceof ConfigError && err.data.key === key,
    `${JSON.stringify(over)} refused under ${key}`,
  );

test('chain params: the panel rules and challenge terms of config/reward-config.json', () => {
  const p = loadChainParams(REPO_CONFIG);
  assert.deepEqual(
    [p.panelSize, p.quorumBps, p.minVotes, p.challengeBond, p.expiryPenaltyBps, p.slashDelay],
    [5, 6_666, 2, parseEther('1'), 1_000, 86_400n],
  );
  assert.equal(fastParams(p).slashDelay, 60n, 'testnet heavy slashes wait a minute');
});

test('chain params: refuses panel rules and challenge terms the contract would refuse, naming the key', () => {
  refusesKey({ panelSize: 0 }, 'chain.panelSize');
  refusesKey({ panelSize: 33 }, 'chain.panelSize');
  refusesKey({ panelQuorum: 0.5 }, 'chain.panelQuorum');
  refusesKey({ panelQuorum: 1.01 }, 'chain.panelQuorum');
  refusesKey({ minVotes: 0 }, 'chain.minVotes');
  refusesKey({ panelSize: 3, minVotes: 4 }, 'chain.minVotes');
  refusesKey({ challengeBond: '0' }, 'chain.challengeBond');
  refusesKey({ challengeBond: 1 }, 'chain.challengeBond');
  refusesKey({ expiryPenalty: 1.5 }, 'chain.expiryPenalty');
  refusesKey({ slashDelaySeconds: 30 * 86_400 + 1 }, 'chain.slashDelaySeconds');
  refusesKey({ slashDelaySeconds: 'soon' }, 'chain.slashDelaySeconds');
});
