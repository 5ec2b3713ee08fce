import { MagnetError } from '../util/errors.js';

/**
 * The keystore passphrase: MAGNET_PASSPHRASE, else asked on a terminal (not echoed), else a clear error.
 */
export async function obtainPassphrase(env: NodeJS.ProcessEnv, purpose: string): Promise<string> {
  const fromEnv = env['MAGNET_PASSPHRASE'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY && process.stderr.isTTY) return askHidden(`Passphrase to ${purpose}: `);
  throw new MagnetError(
    'ERR_NO_PASSPHRASE',
    `no passphrase to ${purpose}: set MAGNET_PASSPHRASE or run on a terminal (the key is never stored unencrypted)`,
  );
}

function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new MagnetError('ERR_NO_PASSPHRASE', 'interrupted'));
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    stdin.on('data', onData);
  });
}
