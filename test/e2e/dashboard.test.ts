import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { adminFetch } from '../../daemon/src/api/daemon-endpoint.js';
import { ProcessTestnet } from '../../daemon/src/testnet/testnet.js';
import { REPO_ROOT } from '../../daemon/src/version.js';
import { tempHome, waitFor } from '../helpers/daemon.js';

/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core, which downloads no browser): a
 * 2-node testnet runs rounds, the page opened with the admin token shows the network, both peers, a merged round in
 * the timeline and a point on the loss curve, storage, serving and claims; without the token the page says so and
 * the data routes answer 401; a cross-site page is refused. Screenshots go to test-artifacts/.
 */
const BROWSER = process.env['MAGNET_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const ROUNDS = 2;

let net: ProcessTestnet | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await net?.stop();
});

test(
  'the dashboard shows a live 2-node testnet: network, peers, rounds, loss, storage, serving, claims',
  { timeout: 600_000 },
  async () => {
    assert.ok(existsSync(BROWSER), `${BROWSER} is missing: bash test/setup/chromium.sh installs Debian's chromium`);
    const lines: string[] = [];
    net = new ProcessTestnet({
      nodes: 2,
      dir: tempHome('magnet-dashboard-'),
      preset: 'tiny',
      rounds: ROUNDS,
      innerSteps: 5,
      print: (l) => lines.push(l),
    });
    await net.start();
    const [n1, n2] = net.nodes as [NonNullable<(typeof net.nodes)[0]>, NonNullable<(typeof net.nodes)[0]>];
    const id2 = (await (await adminFetch(n2.endpoint, '/status')).json()) as { nodeId: string };

    // The page, its data without the token, and a cross-site page's request.
    const page0 = await fetch(`${n1.url}/dashboard`);
    assert.equal(page0.status, 200);
    assert.match(page0.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    assert.equal((await fetch(`${n1.url}/dashboard/state`)).status, 401, 'the snapshot needs the admin token');
    assert.equal((await fetch(`${n1.url}/dashboard/events`)).status, 401, 'so does the live stream');
    const crossSite = await fetch(`${n1.url}/dashboard/state`, {
      headers: { authorization: `Bearer ${n1.endpoint.token}`, origin: 'http://evil.example' },
    });
    assert.equal(crossSite.status, 403, 'a request from another site is refused even with the token');

    browser = await chromium.launch({
      executablePath: BROWSER,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    mkdirSync(ARTIFACTS, { recursive: true });

    const anonymous = await browser.newPage();
    await anonymous.goto(`${n1.url}/dashboard`);
    await anonymous.locator('#connection', { hasText: 'no token' }).waitFor();
    assert.match((await anonymous.textContent('#notice')) ?? '', /needs the admin token/);

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${n1.url}/dashboard#token=${n1.endpoint.token}`);
    await page.locator('#connection', { hasText: /^live$/ }).waitFor({ timeout: 30_000 });
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');

    // Wait for the testnet's rounds to merge: the page follows on its own, over the live stream.
    // (Locators, not page functions: the page's CSP forbids evaluating strings.)
    await page
      .locator('#loss-chart circle.loss-point')
      .nth(ROUNDS - 1)
      .waitFor({ state: 'attached', timeout: 480_000 });
    const status = (await (await adminFetch(n1.endpoint, '/status')).json()) as { network: { id: string }; nodeId: string };
    assert.equal(await page.getAttribute('#network', 'data-id'), status.network.id, 'the network id');
    assert.equal(await page.textContent('#node-id'), status.nodeId);
    await waitFor(
      async () => (await page.textContent(`#peers tr[data-node="${id2.nodeId}"]`))?.includes('live'),
      20_000,
      'the other node listed live',
    );
    assert.match((await page.textContent(`#peers tr[data-node="${id2.nodeId}"]`)) ?? '', /yes/, 'as a member');
    // A merge's loss point is recorded when it is judged, `latest` moves when it is promoted a moment later: the page
    // shows both within a refresh or two.
    await waitFor(
      async () => Number(await page.getAttribute('#latest', 'data-round')) >= ROUNDS - 1,
      20_000,
      'latest to be the last merged round',
    );
    assert.ok(
      (await page.locator('#timeline g.round-bar rect[data-phase="train"]').count()) >= 1,
      'a round timeline with its training phase',
    );
    const points = await page
      .locator('#loss-chart circle.loss-point')
      .evaluateAll((cs) => cs.map((c) => Number(c.getAttribute('data-loss'))));
    assert.ok(
      points.every((v) => Number.isFinite(v) && v > 0),
      `finite loss points: ${points.join(', ')}`,
    );
    assert.match((await page.textContent('#storage')) ?? '', /data \+ \d+ parity shards/);
    assert.match((await page.textContent('#serving')) ?? '', /serving/);
    assert.match((await page.textContent('#claims')) ?? '', /not configured/);
    assert.deepEqual(errors, [], 'no script error on the page');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    console.log(`# screenshot ${join(ARTIFACTS, 'dashboard.png')}; loss by round ${points.map((v) => v.toFixed(4)).join(' ')}`);
  },
);
