import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Layer } from '../config/load.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { type ConfigReader, type NetworkSpec, networkIdOf, parseSpec, shortId, specFromConfig, specLayer } from './spec.js';

/** The network a node is in: its spec, its id, and where the spec came from. */
export interface JoinedNetwork {
  id: string;
  spec: NetworkSpec;
  /** 'file' or 'id' (`--network`), or 'implicit': no network configured, the node's own round settings make one. */
  source: 'file' | 'id' | 'implicit';
}

/** Where a home keeps the specs of the networks it joined, by id (so `--network <id>` works after one join). */
export function networksDir(home: string): string {
  return join(home, 'networks');
}

/** A spec's chain deployment, written beside it in the home for the chain part to read. */
export function deploymentFileOf(home: string, id: string): string {
  return join(networksDir(home), `${id}.deployment.json`);
}

/** How a network is named to people: its short id, and its name when it has one. */
export function describeNetwork(n: { id: string; spec: { name: string } }): string {
  return n.spec.name ? `${shortId(n.id)} ("${n.spec.name}")` : shortId(n.id);
}

/**
 * The network `ref` names: a spec file, or the id (or its first 8+ hex digits) of a network this home joined before.
 * Throws a ConfigError naming what is wrong.
 */
export function resolveNetwork(ref: string, home: string): JoinedNetwork {
  if (/^[0-9a-f]{8,64}$/.test(ref) && !existsSync(ref)) {
    const dir = networksDir(home);
    const ids = existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f) && f.startsWith(ref)) : [];
    if (ids.length === 0)
      throw new ConfigError(`no network with id ${ref} was joined from this home (${dir}): pass its spec file to --network`, {
        key: 'node.network',
      });
    if (ids.length > 1) throw new ConfigError(`network id ${ref} is ambiguous in ${dir}: give more of its digits`, { key: 'node.network' });
    const file = join(dir, ids[0] as string);
    const spec = readSpec(file);
    const id = networkIdOf(spec);
    if (`${id}.json` !== ids[0])
      throw new ConfigError(`network spec ${file} has id ${id}, not the one its name says: it was edited`, { file });
    return { id, spec, source: 'id' };
  }
  if (!existsSync(ref))
    throw new ConfigError(`network spec file ${ref} does not exist (node.network takes a spec file or the id of a network joined before)`, {
      key: 'node.network',
    });
  const spec = readSpec(ref);
  return { id: networkIdOf(spec), spec, source: 'file' };
}

function readSpec(file: string): NetworkSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read network spec ${file}: ${errorMessage(err)}`, { file });
  }
  return parseSpec(text, file);
}

/** With no network configured: the network the node's own round settings describe (no member list, no chain). */
export function implicitNetwork(read: ConfigReader): JoinedNetwork {
  const spec = specFromConfig(read, { name: '', withMembers: false });
  return { id: networkIdOf(spec), spec, source: 'implicit' };
}

/** The config values a joined network fixes (its chain deployment as the file `remember` writes in the home). */
export function fixedLayer(n: JoinedNetwork, home: string): Layer {
  const layer = specLayer(n.spec);
  if (n.spec.chain) layer['chain.deployment'] = deploymentFileOf(home, n.id);
  return layer;
}

/** Keeps the spec (and its chain deployment) in the home, by id. Idempotent; written atomically. */
export function rememberNetwork(n: JoinedNetwork, home: string): void {
  if (n.source === 'implicit') return;
  const dir = networksDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${n.id}.json`);
  if (!existsSync(file)) writeFileAtomic(file, JSON.stringify(n.spec, null, 2) + '\n');
  if (n.spec.chain) writeFileAtomic(deploymentFileOf(home, n.id), JSON.stringify(n.spec.chain.deployment, null, 2) + '\n');
}
