import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, tempHome, testEnv } from '../helpers/daemon.js';

const run = promisify(execFile);

const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
const close = (s: Server) => new Promise((r) => s.close(r));

/** `magnet-node doctor` as a new user runs it: each failing check named, with what to do. */
describe('magnet-node doctor', () => {
  const loopbackPorts = { MAGNET_ADMIN: '127.0.0.1:0', MAGNET_GRPC: '127.0.0.1:0', MAGNET_P2P: '/ip4/127.0.0.1/tcp/0' };

  it(
    'names a port held by another program and a kubo that does not answer, each with its fix, and exits 1',
    { timeout: 180_000 },
    async () => {
      const holder = createServer();
      const held = await listen(holder);
      const gone = createServer();
      const closed = await listen(gone);
      await close(gone); // nothing listens there now: kubo "down"
      try {
        const env = testEnv({ ...loopbackPorts, MAGNET_API: `127.0.0.1:${held}`, MAGNET_IPFS_API: `http://127.0.0.1:${closed}` });
        const r = await run(process.execPath, [CLI, 'doctor', '--home', tempHome('magnet-doctor-')], { env }).catch(
          (err: { code: number; stdout: string }) => err,
        );
        const out = (r as { stdout: string }).stdout;
        assert.equal((r as { code?: number }).code, 1, out);
        assert.match(out, new RegExp(`^fail\\s+port api\\s+127\\.0\\.0\\.1:${held} is in use$`, 'm'));
        assert.match(
          out,
          new RegExp(
            `fix: stop what holds it \\(\`ss -ltnp 'sport = :${held}'\` names it\\) or choose another port with --api \\(or MAGNET_API\\)`,
          ),
        );
        assert.match(out, new RegExp(`^fail\\s+kubo\\s+kubo at http://127\\.0\\.0\\.1:${closed} does not answer`, 'm'));
        assert.match(out, /fix: start it \(`ipfs daemon`\), or unset MAGNET_IPFS_API/);
        assert.match(out, /^ok\s+port admin\s+127\.0\.0\.1:0: the OS picks a free port at start$/m);
        assert.match(out, /^2 check\(s\) failed$/m);

        const j = await run(process.execPath, [CLI, 'doctor', '--json', '--home', tempHome('magnet-doctor-')], { env }).catch(
          (err: { stdout: string }) => err,
        );
        const report = JSON.parse((j as { stdout: string }).stdout) as { ok: boolean; findings: { check: string; status: string }[] };
        assert.equal(report.ok, false);
        assert.deepEqual(
          report.findings.filter((f) => f.status === 'fail').map((f) => f.check),
          ['port api', 'kubo'],
        );
      } finally {
        await close(holder);
      }
    },
  );

  it('names a network spec that cannot be used, with its fix, beside the other checks', { timeout: 180_000 }, async () => {
    const home = tempHome('magnet-doctor-');
    const spec = join(home, 'bad-spec.json');
    writeFileSync(spec, JSON.stringify({ magnetNetwork: 1, round: { innerStep: 3 } }));
    const env = testEnv({ ...loopbackPorts, MAGNET_API: '127.0.0.1:0', MAGNET_NETWORK: spec });
    const r = await run(process.execPath, [CLI, 'doctor', '--json', '--home', home], { env }).catch(
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal((r as { code?: number }).code, 1);
    const report = JSON.parse((r as { stdout: string }).stdout) as {
      findings: { check: string; status: string; detail: string; fix?: string }[];
    };
    const net = report.findings.find((f) => f.check === 'network');
    assert.equal(net?.status, 'fail');
    assert.match(net?.detail ?? '', /unknown key "round\.innerStep"/);
    assert.match(net?.fix ?? '', /magnet-node network show/);
    assert.ok(
      report.findings.some((f) => f.check === 'disk'),
      'the other checks still ran',
    );
  });

  it('finds a machine the project scripts set up ready to join', { timeout: 180_000 }, async () => {
    const env = testEnv({ ...loopbackPorts, MAGNET_API: '127.0.0.1:0' });
    const { stdout } = await run(process.execPath, [CLI, 'doctor', '--home', tempHome('magnet-doctor-')], { env });
    assert.match(stdout, /^ok\s+torch\s+torch \d+\.\d+/m); // python/install.sh made the .venv
    assert.match(stdout, /^ok\s+native\s+kernel \S+ \(self-tested/m); // native/build.sh built the addon
    assert.match(stdout, /^ok\s+disk\s+[\d.]+ GiB free/m);
    assert.match(stdout, /^ready to join/m);
  });
});
