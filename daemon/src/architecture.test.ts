/**
 * The dependency direction (STYLE.md "What that means here", 1), checked on every relative import under
 * daemon/src, tests included: a file imports only its own folder or a lower layer, folders on one layer never
 * import each other, and there is no cycle between files or between folders.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Top-level folders (and root files) of daemon/src, lowest layer first. A folder may import its own files and any
 * folder on a lower layer, nothing else.
 * - L0 leaves: constants, errors, helpers, logging and metrics interfaces.
 * - L1 infrastructure: the option-schema machinery and loader, the SQLite engine (database, migrations runner,
 *   generic repos), the HTTP server and its gates, keys and signatures, the native addon's loader.
 * - L2 profile, L3 membership: membership reads the machine's tier from profile (a member's admission depends on
 *   it), so the two are one layer apart rather than siblings.
 * - L4 net, L5 storage (stores shards over net), L6 the three parts that use net and storage and never each other
 *   (node/ adapts between them), L7 research (autoresearch: runs trials with the diloco part's trainer runner), L8 network (a network spec: the values of those parts' options every member shares),
 *   L9 node, the composition root (the merged config and the migrations list are assembled there), L10 testnet (runs
 *   whole nodes), L11 the command line.
 * - L12 adversary: a second program built on the CLI's start command (a real node with its honest checks
 *   bypassed), so it sits above cli; the CLI reads only the catalogue of its kinds (testnet/adversary-kinds.ts).
 * - L13 sim: the round simulation (real round coordinators over a simulated network and clock); nothing imports it.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['version.ts', 'util', 'log', 'metrics'],
  ['config', 'db', 'api', 'identity', 'native'],
  ['profile'],
  ['membership'],
  ['net'],
  ['storage'],
  ['diloco', 'serve', 'chain'],
  ['research'],
  ['network'],
  ['node'],
  ['testnet'],
  ['cli'],
  ['adversary'],
  ['sim'],
];

/** Root files that check the whole tree and belong to no layer; they may import nothing of ours. */
const UNLAYERED = new Set(['architecture.test.ts']);

/** An import from one file to another, paths relative to daemon/src with '/' separators. */
export interface Edge {
  from: string;
  to: string;
}

/** The top-level folder (or root file) a source path belongs to. */
export function folderOf(path: string): string {
  return path.split('/')[0];
}

/** Every rule the edges break: an import upward, between siblings, or out of a folder the layer list lacks. */
export function layerViolations(edges: readonly Edge[], layers: readonly (readonly string[])[] = LAYERS): string[] {
  const layerOf = new Map<string, number>();
  layers.forEach((folders, i) => folders.forEach((f) => layerOf.set(f, i)));
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    const la = layerOf.get(a);
    const lb = layerOf.get(b);
    if (la === undefined || lb === undefined) {
      const missing = la === undefined ? a : b;
      out.push(`${from} imports ${to}: '${missing}' is on no layer (add it to LAYERS in architecture.test.ts)`);
    } else if (lb === la) {
      out.push(`${from} imports ${to}: ${a} and ${b} are siblings on layer L${la} and must not import each other`);
    } else if (lb > la) {
      out.push(`${from} imports ${to}: ${a} (L${la}) may not import ${b} (L${lb}), a higher layer`);
    }
  }
  return out;
}

/** One cycle (as a closed path, first node repeated last) for every strongly connected part of the graph. */
export function findCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  // Tarjan's strongly connected components, iterative so deep graphs cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const succ = (n: string) => [...(graph.get(n) ?? [])];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; edges: string[]; i: number }[] = [];
    const enter = (n: string) => {
      index.set(n, next);
      low.set(n, next);
      next++;
      stack.push(n);
      onStack.add(n);
      work.push({ node: n, edges: succ(n), i: 0 });
    };
    enter(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top.i < top.edges.length) {
        const m = top.edges[top.i++];
        if (!index.has(m)) enter(m);
        else if (onStack.has(m)) low.set(top.node, Math.min(low.get(top.node)!, index.get(m)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const part: string[] = [];
        let m: string;
        do {
          m = stack.pop()!;
          onStack.delete(m);
          part.push(m);
        } while (m !== top.node);
        if (part.length > 1 || graph.get(top.node)?.has(top.node)) components.push(part);
      }
    }
  }
  return components.map((part) => cycleWithin(graph, new Set(part)));
}

/** A shortest closed path through the first node of a strongly connected part (breadth-first back to it). */
function cycleWithin(graph: ReadonlyMap<string, ReadonlySet<string>>, part: ReadonlySet<string>): string[] {
  const start = [...part].sort()[0];
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const n = queue.shift()!;
    for (const m of graph.get(n) ?? []) {
      if (!part.has(m)) continue;
      if (m === start) {
        const path = [start];
        for (let k = n; k !== start; k = prev.get(k)!) path.push(k);
        return [start, ...path.slice(1).reverse(), start];
      }
      if (!prev.has(m)) {
        prev.set(m, n);
        queue.push(m);
      }
    }
  }
  return [start, start];
}

/** Every .ts file under dir, relative to it. */
function sourceFiles(dir: string, under = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, under)).sort()) {
    const rel = under === '' ? name : `${under}/${name}`;
    if (statSync(join(dir, rel)).isDirectory()) out.push(...sourceFiles(dir, rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/**
 * The relative imports of every file under srcDir that land inside it: static `import`/`export ... from`,
 * side-effect imports and `import('...')` (the TypeScript pre-processor finds all three, not comments).
 */
export function importEdges(srcDir: string): Edge[] {
  const edges: Edge[] = [];
  for (const from of sourceFiles(srcDir)) {
    const abs = join(srcDir, from);
    const info = ts.preProcessFile(readFileSync(abs, 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(abs), fileName.replace(/\.js$/, '.ts'));
      const rel = relative(srcDir, target);
      if (rel.startsWith('..')) continue; // outside daemon/src (package.json and the like)
      assert.ok(existsSync(target), `${from} imports ${fileName}, which does not exist`);
      edges.push({ from, to: rel.split(sep).join('/') });
    }
  }
  return edges;
}

function graphOf(edges: readonly Edge[], node: (path: string) => string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    const [a, b] = [node(e.from), node(e.to)];
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    if (a !== b) graph.get(a)!.add(b);
  }
  return graph;
}

const identity = (p: string) => p;
const showCycles = (cycles: string[][]) => cycles.map((c) => c.join(' -> ')).join('\n');

/** daemon/src, from this file (compiled to dist/daemon/src or run from daemon/src). */
function srcDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'daemon', 'src');
    if (existsSync(join(candidate, 'architecture.test.ts'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('daemon/src not found');
}

test('architecture: every folder of daemon/src is on a layer', () => {
  const folders = new Set(sourceFiles(srcDir()).map(folderOf));
  const placed = new Set(LAYERS.flat());
  const missing = [...folders].filter((f) => !placed.has(f) && !UNLAYERED.has(f));
  if (missing.length > 0) assert.fail(`folders on no layer (add them to LAYERS in architecture.test.ts): ${missing.join(', ')}`);
});

test('architecture: no import runs upward or between siblings of one layer', () => {
  const edges = importEdges(srcDir());
  assert.ok(edges.length > 100, `only ${edges.length} imports found; the parser is broken`);
  const unlayered = edges.filter((e) => UNLAYERED.has(folderOf(e.from)) || UNLAYERED.has(folderOf(e.to)));
  const bad = [...layerViolations(edges.filter((e) => !unlayered.includes(e))), ...unlayered.map((e) => `${e.from} imports ${e.to}`)];
  if (bad.length > 0) assert.fail(`${bad.length} imports break the layer order:\n${bad.join('\n')}`);
});

test('architecture: no cycle between files, none between folders', () => {
  const edges = importEdges(srcDir());
  const files = findCycles(graphOf(edges, identity));
  const folders = findCycles(graphOf(edges, folderOf));
  if (files.length + folders.length > 0) assert.fail(`file cycles:\n${showCycles(files)}\nfolder cycles:\n${showCycles(folders)}`);
});

/**
 * Files the CLI may not import: the database engine (db/) and every file that owns tables (exports a migrations
 * list). The CLI reaches a part's rows through the daemon's admin API, or with no daemon through the part's
 * offline facade (chain/offline.ts, net/offline.ts).
 */
export function cliTableImports(edges: readonly Edge[], ownsTables: (path: string) => boolean): string[] {
  return edges
    .filter((e) => folderOf(e.from) === 'cli' && (folderOf(e.to) === 'db' || ownsTables(e.to)))
    .map((e) => `${e.from} imports ${e.to}: the CLI opens no tables (use the admin API or the part's offline facade)`);
}

test('architecture: the CLI opens no database and no tables of a part', () => {
  const src = srcDir();
  const ownsTables = (path: string) => /\bexport const \w*[mM]igrations\b/.test(readFileSync(join(src, path), 'utf8'));
  const bad = cliTableImports(importEdges(src), ownsTables);
  if (bad.length > 0) assert.fail(bad.join('\n'));
});

test('architecture: the checker itself catches upward imports, sibling imports, cycles and CLI table access', () => {
  const layers = [['util'], ['db', 'identity'], ['net'], ['node']];
  const edges: Edge[] = [
    { from: 'net/a.ts', to: 'util/b.ts' }, // down: fine
    { from: 'net/a.ts', to: 'net/c.ts' }, // own folder: fine
    { from: 'db/d.ts', to: 'net/a.ts' }, // up
    { from: 'db/d.ts', to: 'identity/e.ts' }, // sibling
    { from: 'cli/f.ts', to: 'node/g.ts' }, // cli is on no layer here
    { from: 'net/c.ts', to: 'node/g.ts' }, // up, and closes the folder cycle node -> net -> node
    { from: 'node/g.ts', to: 'net/a.ts' },
    { from: 'net/c.ts', to: 'net/a.ts' },
    { from: 'net/a.ts', to: 'net/c.ts' },
  ];
  const bad = layerViolations(edges, layers);
  assert.equal(bad.length, 4, bad.join('\n'));
  assert.match(bad[0], /^db\/d\.ts imports net\/a\.ts: db \(L1\) may not import net \(L2\)/);
  assert.match(bad[1], /^db\/d\.ts imports identity\/e\.ts: db and identity are siblings on layer L1/);
  assert.match(bad[2], /'cli' is on no layer/);
  assert.match(bad[3], /^net\/c\.ts imports node\/g\.ts/);

  assert.deepEqual(findCycles(graphOf(edges, identity)), [['net/a.ts', 'net/c.ts', 'net/a.ts']]);
  const folders = findCycles(graphOf(edges, folderOf));
  assert.equal(folders.length, 1);
  assert.deepEqual(new Set(folders[0]), new Set(['net', 'node']));
  assert.equal(folders[0][0], folders[0][2]);
  // a longer cycle is printed as a path through all its nodes
  const ring = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a', 'd'])],
    ['d', new Set<string>()],
  ]);
  assert.deepEqual(findCycles(ring), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(findCycles(new Map([['x', new Set(['x'])]])), [['x', 'x']]);
  const cli = cliTableImports(
    [
      { from: 'cli/a.ts', to: 'db/database.ts' },
      { from: 'cli/a.ts', to: 'chain/claim-store.ts' },
      { from: 'cli/a.ts', to: 'chain/offline.ts' },
      { from: 'node/b.ts', to: 'db/database.ts' },
    ],
    (p) => p === 'chain/claim-store.ts',
  );
  assert.equal(cli.length, 2, cli.join('\n'));
});

test('architecture: the parser finds static, type, re-export, side-effect and dynamic imports, not comments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-arch-'));
  try {
    for (const f of ['a', 'b', 'c', 'd', 'e', 'f']) mkdirSync(join(dir, f));
    writeFileSync(
      join(dir, 'a', 'x.ts'),
      [
        "import { b } from '../b/b.js';",
        "import type {\n  C,\n} from '../c/c.js';",
        "export { d } from '../d/d.js';",
        "import '../e/e.js';",
        "// import { f } from '../f/f.js';",
        "const later = () => import('../f/f.js');",
        "import { readFileSync } from 'node:fs';",
      ].join('\n'),
    );
    for (const f of ['b', 'c', 'd', 'e', 'f']) writeFileSync(join(dir, f, `${f}.ts`), 'export {};\n');
    assert.deepEqual(
      importEdges(dir).map((e) => e.to),
      ['b/b.ts', 'c/c.ts', 'd/d.ts', 'e/e.ts', 'f/f.ts'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
