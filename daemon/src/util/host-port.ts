import { ConfigError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "HOST:PORT" or "[v6]:PORT"; port 0 means "pick a free port". */
export function parseHostPort(value: string, key: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m) throw new ConfigError(`${key}: "${value}" is not HOST:PORT (e.g. 127.0.0.1:7680, [::1]:0)`, { key, value });
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`${key}: port ${port} is out of range 0..65535`, { key, value });
  return { host: m[1] as string, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
