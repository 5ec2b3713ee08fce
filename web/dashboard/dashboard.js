// The node's dashboard: reads snapshots from the admin API (/dashboard/events, server-sent events) with the admin
// token from the URL fragment, and draws them. Plain browser JavaScript, no build step. Every value that came from a
// peer is text (textContent), never markup.
'use strict';

const PHASES = [
  ['train', '#58a6ff'],
  ['transfer', '#a371f7'],
  ['verify', '#d29922'],
  ['merge', '#3fb950'],
  ['verify_merge', '#56d364'],
  ['distribute', '#db61a2'],
];
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const short = (s, n = 12) => (typeof s === 'string' && s.length > n ? `${s.slice(0, n)}…` : (s ?? '–'));
const num = (v, digits = 4) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');
const ago = (seconds) => (seconds == null ? 'never' : seconds < 90 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`);
const bytes = (n) => (typeof n === 'number' ? `${(n / 2 ** 30).toFixed(1)} GiB` : '–');

/** The admin token: from the fragment `#token=…` (then removed from the address bar), else this tab's memory. */
function takeToken() {
  const m = /(?:^#|&)token=([0-9a-fA-F]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('magnet-admin-token', m[1]);
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem('magnet-admin-token');
}

function setConnection(text, cls) {
  const c = $('connection');
  c.textContent = text;
  c.className = `badge ${cls}`;
}

function notice(text) {
  const n = $('notice');
  n.hidden = !text;
  n.textContent = text || '';
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

/** Fills a <dl> with [label, value] pairs. */
function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', k), el('dd', v ?? '–')]));
}

function renderHeader(s) {
  $('node-id').textContent = s.nodeId;
  const n = s.network || {};
  $('network').textContent = `network ${short(n.id)}${n.name ? ` "${n.name}"` : ''}${n.source === 'implicit' ? ' (own settings)' : ''}`;
  $('network').dataset.id = n.id || '';
  $('tier').textContent = `${s.tier} · ${(s.roles || []).join(', ') || 'no roles'}`;
  $('version').textContent = `v${s.version} · up ${Math.round((s.uptimeSeconds || 0) / 60)} min`;
}

function renderRound(d) {
  if (!d) return;
  $('round').textContent = d.round;
  $('round-state').textContent = d.enabled ? d.state : 'rounds off (diloco.enabled false)';
  $('round-leader').textContent = short(d.leader, 21);
  $('round-deadline').textContent = d.deadline ? new Date(d.deadline).toLocaleTimeString() : '–';
  $('latest').textContent = d.latest ? `round ${d.latest.round} · ${short(d.latest.sha256)}` : 'none yet';
  $('latest').dataset.round = d.latest ? String(d.latest.round) : '';
  const t = d.lastTrain;
  $('last-train').textContent = t ? `round ${t.round}: loss ${num(t.lossFirst)} → ${num(t.lossLast)} in ${num(t.seconds, 1)} s` : '–';
  renderTimeline(d.phasesByRound || {});
}

/** One stacked bar per round: seconds in each phase. */
function renderTimeline(byRound) {
  const svg = $('timeline');
  const rounds = Object.keys(byRound)
    .map(Number)
    .sort((a, b) => a - b)
    .slice(-8);
  const rowH = 22;
  const width = 600;
  const left = 70;
  svg.setAttribute('viewBox', `0 0 ${width} ${Math.max(1, rounds.length) * rowH + 8}`);
  const totals = rounds.map((r) => PHASES.reduce((sum, [p]) => sum + (byRound[r][p] || 0), 0));
  const scale = (width - left - 60) / Math.max(1, ...totals);
  const children = [];
  rounds.forEach((r, i) => {
    const y = 4 + i * rowH;
    const g = svgEl('g', { class: 'round-bar', 'data-round': r });
    g.appendChild(svgEl('text', { x: 0, y: y + 14 }, `round ${r}`));
    let x = left;
    for (const [p, color] of PHASES) {
      const s = byRound[r][p] || 0;
      if (s <= 0) continue;
      const w = Math.max(1, s * scale);
      const rect = svgEl('rect', { x, y, width: w, height: rowH - 6, fill: color, 'data-phase': p });
      rect.appendChild(svgEl('title', {}, `${p}: ${s.toFixed(1)} s`));
      g.appendChild(rect);
      x += w;
    }
    g.appendChild(svgEl('text', { x: x + 6, y: y + 14 }, `${totals[i].toFixed(1)} s`));
    children.push(g);
  });
  if (rounds.length === 0) children.push(svgEl('text', { x: 0, y: 16 }, 'no round timed yet'));
  svg.replaceChildren(...children);
  $('timeline-legend').replaceChildren(
    ...PHASES.map(([p, color]) => {
      const s = el('span', p);
      const i = document.createElement('i');
      i.style.background = color;
      s.prepend(i);
      return s;
    }),
  );
}

/** The held-out loss of each merge (solid) and of its parent (dashed), by round. */
function renderLoss(losses) {
  const svg = $('loss-chart');
  const W = 600;
  const H = 220;
  const pad = { l: 48, r: 12, t: 10, b: 26 };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  if (!losses.length) {
    svg.replaceChildren(svgEl('text', { x: pad.l, y: H / 2 }, 'the curve starts when a round merges'));
    return;
  }
  const values = losses.flatMap((l) => [l.lossMerged, l.lossParent]);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
  const r0 = losses[0].round;
  const r1 = Math.max(r0 + 1, losses[losses.length - 1].round);
  const x = (r) => pad.l + ((r - r0) / (r1 - r0)) * (W - pad.l - pad.r);
  const y = (v) => pad.t + ((hi - v) / (hi - lo)) * (H - pad.t - pad.b);
  const path = (key) => losses.map((l, i) => `${i ? 'L' : 'M'}${x(l.round).toFixed(1)},${y(l[key]).toFixed(1)}`).join(' ');
  const kids = [
    svgEl('line', { class: 'axis', x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b }),
    svgEl('line', { class: 'axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b }),
    svgEl('text', { x: 2, y: pad.t + 10 }, hi.toFixed(3)),
    svgEl('text', { x: 2, y: H - pad.b }, lo.toFixed(3)),
    svgEl('text', { x: pad.l, y: H - 6 }, `round ${r0}`),
    svgEl('text', { x: W - pad.r - 60, y: H - 6 }, `round ${r1}`),
    svgEl('path', { class: 'parent-line', d: path('lossParent') }),
    svgEl('path', { class: 'loss-line', d: path('lossMerged') }),
  ];
  for (const l of losses) {
    const c = svgEl('circle', {
      class: 'loss-point',
      cx: x(l.round),
      cy: y(l.lossMerged),
      r: 3.5,
      'data-round': l.round,
      'data-loss': l.lossMerged,
    });
    c.appendChild(svgEl('title', {}, `round ${l.round}: ${l.lossMerged.toFixed(4)} (parent ${l.lossParent.toFixed(4)})`));
    kids.push(c);
  }
  svg.replaceChildren(...kids);
  const last = losses[losses.length - 1];
  const first = losses[0];
  $('loss-summary').textContent =
    `${losses.length} merge${losses.length > 1 ? 's' : ''} judged; round ${last.round}: ${last.lossMerged.toFixed(4)}` +
    (losses.length > 1 ? ` (round ${first.round}: ${first.lossMerged.toFixed(4)})` : '') +
    '; dashed: the parent of each merge';
}

function renderPeers(peers) {
  const live = peers.filter((p) => p.state === 'live').length;
  $('peer-count').textContent = `${live} live of ${peers.length}`;
  $('peers').replaceChildren(
    ...peers.map((p) => {
      const tr = el('tr');
      tr.dataset.node = p.nodeId;
      const state = el('td');
      state.appendChild(el('span', p.state, `state-${p.state}`));
      tr.append(
        el('td', p.nodeId, 'mono'),
        el('td', p.member ? 'yes' : 'no'),
        state,
        el('td', p.tier),
        el('td', (p.roles || []).join(', ')),
        el('td', ago(p.lastHeartbeatAgoSeconds)),
        el('td', p.failures),
        el('td', short(p.certSha256, 16), 'mono'),
      );
      return tr;
    }),
  );
  if (peers.length === 0) {
    const tr = el('tr');
    const td = el('td', 'no peer yet', 'dim');
    td.colSpan = 8;
    tr.appendChild(td);
    $('peers').replaceChildren(tr);
  }
}

function renderStorage(s) {
  if (!s) return facts($('storage'), [['storage', 'not running']]);
  const c = s.coding || {};
  const last = s.repair && s.repair.last;
  facts($('storage'), [
    ['blobs', `${s.blobs ? s.blobs.blobs : 0} (${s.blobs ? s.blobs.active : 0} active)`],
    [
      'by priority',
      s.blobs
        ? Object.entries(s.blobs.byPriority || {})
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || 'all healthy'
        : '–',
    ],
    ['coding', `${c.k} data + ${c.m} parity shards, ${c.replicas} copies each`],
    ['live holders', s.holders ? s.holders.live : '–'],
    [
      'repairs',
      `${s.repair ? s.repair.rounds : 0} pass(es)${last ? `; the last rebuilt ${last.shardsRebuilt} shards, placed ${last.copiesPlaced} copies` : ''}`,
    ],
    ['kubo', s.kubo ? `${s.kubo.up ? 'up' : 'down'} (${s.kubo.pending} pending)` : 'embedded store'],
    ['disk', s.disk ? `${bytes(s.disk.freeBytes)} free of ${bytes(s.disk.totalBytes)}${s.disk.low ? ' (LOW)' : ''}` : '–'],
  ]);
}

let lastTokens;
function renderServing(s, at) {
  if (!s) return facts($('serving'), [['serving', 'not running']]);
  let rate = '–';
  if (typeof s.completionTokens === 'number') {
    if (lastTokens && at > lastTokens.at)
      rate = `${(((s.completionTokens - lastTokens.n) * 1000) / (at - lastTokens.at)).toFixed(1)} tokens/s`;
    lastTokens = { n: s.completionTokens, at };
  }
  const m = s.model;
  facts($('serving'), [
    [
      'serving',
      s.serving
        ? 'yes'
        : `no${s.unavailable ? `: ${s.unavailable}` : s.enabled === false ? ' (serve.enabled false)' : ' (no server role)'}`,
    ],
    ['model', m ? `round ${m.round ?? '–'} · ${short(m.checkpointSha256)}` : 'none loaded'],
    ['kernel', s.kernel || '–'],
    ['requests', s.requests !== undefined ? `${s.requests} (${s.rejected} rejected), ${s.running} running, ${s.queued} queued` : '–'],
    ['tokens', s.completionTokens !== undefined ? `${s.completionTokens} generated; now ${rate}` : '–'],
    ['last swap', s.lastSwapError ? `failed: ${s.lastSwapError}` : s.lastSwap ? swapText(s.lastSwap) : '–'],
  ]);
  $('serving').dataset.serving = s.serving ? 'yes' : 'no';
}

function swapText(w) {
  const when = w.at ? new Date(w.at).toLocaleTimeString() : '';
  return `round ${w.round ?? '–'} · ${short(w.sha256)}${when ? ` at ${when}` : ''}${typeof w.ms === 'number' ? ` (${w.ms} ms)` : ''}`;
}

function renderClaims(c) {
  if (!c) return facts($('claims'), [['chain', 'not running']]);
  facts($('claims'), [
    ['chain', c.state + (c.chainId ? ` (chain ${c.chainId})` : '')],
    ['ledger', c.ledger || '–'],
    ['contributions', c.contributions],
    [
      'claims',
      Object.entries(c.claims || {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none',
    ],
    ['waiting', c.waiting],
    ['last error', c.lastError || 'none'],
  ]);
}

function render(snap) {
  const s = snap.status;
  renderHeader(s);
  renderRound(s.diloco);
  renderLoss(snap.losses || []);
  renderPeers((s.net && s.net.peers) || []);
  renderStorage(s.storage);
  renderServing(s.serve, snap.at);
  renderClaims(s.chain);
  $('updated').textContent = `updated ${new Date(snap.at).toLocaleTimeString()}`;
  document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
}

/** Reads the event stream with fetch (EventSource cannot send the token); reconnects after a pause. */
async function stream(token) {
  for (let wait = 1000; ; wait = Math.min(wait * 2, 15000)) {
    try {
      const res = await fetch('/dashboard/events', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
      if (res.status === 401) {
        setConnection('token refused', 'bad');
        notice('The node refused this admin token. Run `magnet-node dashboard` on the node and open the link it prints.');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setConnection('live', 'on');
      notice('');
      wait = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data) render(JSON.parse(data));
        }
      }
    } catch (err) {
      console.warn('dashboard stream:', err);
    }
    setConnection('reconnecting', 'off');
    await new Promise((r) => setTimeout(r, wait));
  }
}

const token = takeToken();
if (!token) {
  setConnection('no token', 'bad');
  notice('This page needs the admin token. Run `magnet-node dashboard` on the node and open the link it prints.');
} else {
  void stream(token);
}
