import { defaultHome } from '../node/home.js';

/** --home, else MAGNET_HOME, else ~/.magnet (commands that do not load the whole config). */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? (env['MAGNET_HOME'] || defaultHome());
}
