import { dilocoOptions } from '../diloco/options.js';
import { netOptions } from '../net/options.js';
import { apiOptions, nodeOptions } from './options.js';
import { profileOptions } from '../profile/options.js';
import { serveOptions } from '../serve/options.js';
import { storageOptions } from '../storage/options.js';
import { chainOptions } from '../chain/options.js';
import { membershipOptions } from '../membership/options.js';
import { researchOptions } from '../research/options.js';
import type { ConfigOf } from '../config/schema.js';

/** Every part's option group. A part adds its group here once; the loader, docs and CLI read it. */
export const nodeSchema = {
  node: nodeOptions,
  api: apiOptions,
  net: netOptions,
  membership: membershipOptions,
  profile: profileOptions,
  storage: storageOptions,
  chain: chainOptions,
  serve: serveOptions,
  diloco: dilocoOptions,
  research: researchOptions,
};

export type NodeConfig = ConfigOf<typeof nodeSchema>;

/** One value of a config by its "group.key" name (what a network spec reads and fixes). */
export function configValue(config: NodeConfig, key: string): unknown {
  const [g, k] = key.split('.') as [string, string];
  return (config as unknown as Record<string, Record<string, unknown>>)[g]?.[k];
}
