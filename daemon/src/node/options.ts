import { choice, str } from '../config/schema.js';
import { LOG_LEVELS } from '../log/logger.js';
import { defaultHome } from './home.js';

export const nodeOptions = {
  home: str(defaultHome(), 'Data directory: keystore, state database, certificates, shards', { env: 'MAGNET_HOME' }),
  role: choice('auto', ['auto', 'trainer', 'storage', 'server', 'light'], 'Narrow the roles the hardware tier allows (never raises them)', { env: 'MAGNET_ROLE' }),
  logLevel: choice('info', LOG_LEVELS, 'Log level', { env: 'MAGNET_LOG_LEVEL' }),
};

export const apiOptions = {
  http: str('127.0.0.1:7680', 'Local HTTP API (status, metrics, OpenAI-compatible serving) HOST:PORT; port 0 picks a free port', { env: 'MAGNET_HTTP' }),
};
