import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../daemon/src/version.js';
import { CLI, type RunningDaemon, loopbackStartArgs, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * A network spec (`network init`) is what a node joins: nodes started from the same spec see each other; a node of
 * another spec is refused by name on both sides; a spec with a bad key, an own setting that contradicts the spec,
 * and training data that is not there each stop `start` with one line naming what is wrong.
 */
const env = testEnv({ MAGNET_HEARTBEAT: '1', MAGNET_SSD_TEST: 'false' });
const dir = tempHome('magnet-network-');
const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.kill();
});

function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `network init` into `dir`; returns the file and the id it printed. */
function init(name: string, ...args: string[]): { file: string; id: string } {
  const file = join(dir, `${name}.json`);
  const r = cli(['network', 'init', '--name', name, '--out', file, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { id: string };
  assert.match(out.id, /^[0-9a-f]{64}$/);
  return { file, id: out.id };
}

/** `start` that must fail before the node is up: its one line on stderr. */
function refusedStart(args: string[], extraEnv: NodeJS.ProcessEnv = {}): string {
  const r = cli([...loopbackStartArgs(tempHome()), ...args], extraEnv);
  assert.equal(r.code, 1, `start should fail: ${r.stdout}${r.stderr}`);
  const line = r.stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('magnet-node:'));
  assert.equal(line.length, 1, `one error line: ${r.stderr}`);
  return line[0] as string;
}

test('bad specs, a setting that contradicts the spec, and missing data: start says what is wrong in one line', { timeout: 120_000 }, () => {
  const lab = init('lab');
  const shown = cli(['network', 'show', lab.file, '--json']);
  assert.equal((JSON.parse(shown.stdout) as { id: string }).id, lab.id, '`network show` gives the id init printed');

  const bad = (name: string, spec: unknown) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(spec));
    return file;
  };
  assert.match(
    refusedStart(['--network', bad('unknown-key', { magnetNetwork: 1, round: { innerStep: 5 } })]),
    /network spec .*unknown-key\.json: unknown key "round\.innerStep"; known keys in round: innerSteps/,
  );
  assert.match(
    refusedStart(['--network', bad('bad-value', { magnetNetwork: 1, round: { quorum: 2 } })]),
    /invalid value for round\.quorum: 2; allowed: a number in 0\.\.1/,
  );
  assert.match(refusedStart(['--network', join(dir, 'nowhere.json')]), /network spec file .*nowhere\.json does not exist/);
  // An own setting (env here) that contradicts the spec names both values and the network.
  assert.match(
    refusedStart(['--network', lab.file], { MAGNET_INNER_STEPS: '7' }),
    new RegExp(`diloco\\.innerSteps is 7 \\(from env\\), but network ${lab.id.slice(0, 12)} \\("lab"\\) fixes it at 100`),
  );
  // The spec's data is not on this machine: said at start, before any round.
  const missing = init('missing-data', '--data', join(dir, 'no-such-corpus.txt'));
  assert.match(
    refusedStart(['--network', missing.file], { MAGNET_DILOCO: 'true' }),
    /diloco\.data: the training data .*no-such-corpus\.txt does not exist/,
  );
});

test(
  'nodes of one spec join each other; a node of another network is refused on both sides, both ids named',
  { timeout: 120_000 },
  async () => {
    const lab = init('lab2');
    const other = init('other', '--inner-steps', '50');
    const d1 = await startDaemon({ env, args: ['--network', lab.file] });
    daemons.push(d1);
    const s1 = await d1.get<{ nodeId: string; network: { id: string; source: string }; listen: { p2p: string[] } }>('/status');
    assert.deepEqual([s1.network.id, s1.network.source], [lab.id, 'file']);
    const boot = s1.listen.p2p[0] as string;
    const d2 = await startDaemon({ env, args: ['--network', lab.file, '--bootstrap', boot] });
    const d3 = await startDaemon({ env, args: ['--network', other.file, '--bootstrap', boot] });
    daemons.push(d2, d3);
    const id2 = (await d2.get<{ nodeId: string }>('/status')).nodeId;
    const id3 = (await d3.get<{ nodeId: string }>('/status')).nodeId;
    const live = async (d: RunningDaemon) =>
      (await d.get<{ net: { peers: { nodeId: string; state: string }[] } }>('/status')).net.peers
        .filter((p) => p.state === 'live')
        .map((p) => p.nodeId);
    await waitFor(
      async () => (await live(d1)).includes(id2) && (await live(d2)).includes(s1.nodeId),
      20_000,
      'the two nodes of lab2 to see each other',
    );

    const named = (out: string, who: string) =>
      out
        .split('\n')
        .some(
          (l) => l.includes('wrong_network') && l.includes(who) && l.includes(lab.id.slice(0, 12)) && l.includes(other.id.slice(0, 12)),
        );
    await waitFor(async () => named(d1.output(), id3), 20_000, "the lab2 node to refuse the other network's node, naming both networks");
    await waitFor(async () => named(d3.output(), s1.nodeId), 20_000, 'the other node to refuse the lab2 node, naming both networks');
    const metrics = await (await d1.fetch('/metrics')).text();
    assert.match(metrics, /magnet_net_refused_total\{[^}]*reason="wrong_network"[^}]*\} [1-9]/);
    assert.deepEqual(await live(d3), [], 'the node of another network has no live peer');
    assert.ok(!(await live(d1)).includes(id3) && !(await live(d2)).includes(id3), 'and no lab2 node lists it');

    // The home keeps what it joined: the id (a prefix of it) names the spec from now on.
    const byId = cli(['network', 'show', lab.id.slice(0, 10), '--home', d1.home, '--json']);
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal((JSON.parse(byId.stdout) as { id: string }).id, lab.id);
    assert.deepEqual(
      JSON.parse(readFileSync(join(d1.home, 'networks', `${lab.id}.json`), 'utf8')),
      JSON.parse(readFileSync(lab.file, 'utf8')),
    );
  },
);

test(
  'a spec made with --genesis pins round 0: a node makes that hash, and a pin of other bytes stops it naming both',
  { timeout: 180_000 },
  async () => {
    const pinned = init('pinned', '--genesis');
    const spec = JSON.parse(readFileSync(pinned.file, 'utf8')) as { model: { genesisSha256: string } };
    assert.match(spec.model.genesisSha256, /^[0-9a-f]{64}$/, 'init --genesis records the round-0 hash');
    // DiLoCo on, no trainer role (CPU training off): the node makes round 0 and trains nothing.
    const dilocoEnv = { ...env, MAGNET_DILOCO: 'true' };
    type DilocoStatus = { diloco: { latest: { sha256: string; round: number } | null; lastError: string | null } };
    const good = await startDaemon({ env: dilocoEnv, args: ['--network', pinned.file] });
    daemons.push(good);
    const latest = (await waitFor(async () => (await good.get<DilocoStatus>('/status')).diloco.latest, 90_000, 'round 0 made')) as {
      sha256: string;
      round: number;
    };
    assert.deepEqual([latest.sha256, latest.round], [spec.model.genesisSha256, -1], 'the node made the pinned bytes');
    await good.stop();

    const wrong = 'ab'.repeat(32);
    const file = join(dir, 'wrong-genesis.json');
    writeFileSync(file, JSON.stringify({ ...spec, model: { ...spec.model, genesisSha256: wrong } }));
    const bad = await startDaemon({ env: dilocoEnv, args: ['--network', file] });
    daemons.push(bad);
    const error = (await waitFor(
      async () => (await bad.get<DilocoStatus>('/status')).diloco.lastError,
      90_000,
      'the mismatch to be reported',
    )) as string;
    assert.ok(error.includes(wrong) && error.includes(spec.model.genesisSha256), `both hashes named: ${error}`);
    assert.equal((await bad.get<DilocoStatus>('/status')).diloco.latest, null, 'no round 0 adopted');
  },
);

test(
  "a spec's data may be a blob in the network's storage: the node fetches it (hash-checked) and trains on it",
  { timeout: 240_000 },
  async () => {
    // A corpus: this repository's own TypeScript sources, about 1 MB of text.
    const corpus = Buffer.from(
      readdirSync(join(REPO_ROOT, 'daemon', 'src'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.ts'))
        .sort()
        .map((f) => readFileSync(join(REPO_ROOT, 'daemon', 'src', f), 'utf8'))
        .join('\n'),
    );
    const file = join(dir, 'corpus.txt');
    writeFileSync(file, corpus);
    const home = tempHome('magnet-blobdata-');
    const first = await startDaemon({ env, home });
    const put = spawnSync(process.execPath, [CLI, 'blob', 'put', file, '--home', home, '--no-progress'], { env, encoding: 'utf8' });
    assert.equal(put.status, 0, put.stderr);
    const id = put.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await first.stop();

    const spec = init('blob-data', '--data', `blob:${id}`, '--inner-steps', '3');
    const d = await startDaemon({
      // The SSD test on (its floors are 0 in tests): a CPU tier, which may train with MAGNET_CPU_TRAINING.
      env: { ...env, MAGNET_SSD_TEST: 'true', MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true', MAGNET_MAX_ROUNDS: '1' },
      home,
      args: ['--network', spec.file],
    });
    daemons.push(d);
    type S = { diloco: { latest: { round: number } | null; lastTrain: { tokens: number } | null; lastError: string | null } };
    const st = (await waitFor(
      async () => {
        const s = await d.get<S>('/status');
        return (s.diloco.latest?.round ?? -1) >= 0 && s;
      },
      180_000,
      'a round trained on the blob',
    )) as S;
    assert.ok(readFileSync(join(home, 'diloco', 'data', `${id}.txt`)).equals(corpus), 'the fetched data is the stored corpus');
    assert.ok((st.diloco.lastTrain?.tokens ?? 0) > 0, 'the round trained on it');
    assert.match(d.output(), /training data fetched from storage/);
  },
);
