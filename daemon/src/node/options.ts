import { choice, int, str } from '../config/schema.js';
import { LOG_LEVELS } from '../log/logger.js';
import { defaultHome } from './home.js';

export const nodeOptions = {
  home: str(defaultHome(), 'Data directory: keystore, state database, certificates, shards', { env: 'MAGNET_HOME', flag: '--home <dir>' }),
  role: choice('auto', ['auto', 'trainer', 'storage', 'server', 'light'], 'Narrow the roles the hardware tier allows (never raises them)', {
    env: 'MAGNET_ROLE',
    flag: '--role <role>',
  }),
  logLevel: choice('info', LOG_LEVELS, 'Log level', { env: 'MAGNET_LOG_LEVEL', flag: '--log-level <level>' }),
  network: str(
    '',
    "Network to join: a spec file written by `magnet-node network init`, or the id (8+ hex digits) of one this home joined before. Empty: the network of this node's own round settings",
    { env: 'MAGNET_NETWORK', flag: '--network <file|id>' },
  ),
};

/** The node's two HTTP listeners: the public one (OpenAI-compatible /v1, health) and the admin one (everything else). */
export const apiOptions = {
  listen: str('127.0.0.1:7680', 'Public HTTP API (/v1 OpenAI-compatible serving, /healthz, /readyz) HOST:PORT; port 0 picks a free port', {
    env: 'MAGNET_API',
    flag: '--api <host:port>',
  }),
  admin: str(
    '127.0.0.1:7681',
    "Admin HTTP API (status, metrics, storage, peers, chain) on a loopback HOST:PORT, behind the token in the home's admin.token",
    {
      env: 'MAGNET_ADMIN',
      flag: '--admin <host:port>',
    },
  ),
  keysFile: str('', 'File of public API keys (one "NAME KEY" per line); empty: /v1 needs no key (per-IP limits still apply)', {
    env: 'MAGNET_API_KEYS_FILE',
    flag: '--api-keys <file>',
  }),
  ratePerMinute: int(120, 'Public API requests per minute per client (its API key, or its IP address when the API takes no keys)', {
    env: 'MAGNET_API_RATE',
    min: 1,
  }),
  burst: int(20, 'Public API requests a client may send at once above its rate', { env: 'MAGNET_API_BURST', min: 1 }),
  maxInFlight: int(4, 'Public API requests one client may have in flight at once', { env: 'MAGNET_API_MAX_IN_FLIGHT', min: 1, max: 1000 }),
};
