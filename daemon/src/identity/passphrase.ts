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

/**
 * A passphrase for a new keystore: MAGNET_PASSPHRASE, else asked twice on a terminal (a typo there would lock the
 * wallet away for good). A weak one is accepted with a warning on stderr: the keystore is only as strong as it.
 */
export async function obtainNewPassphrase(
  env: NodeJS.ProcessEnv,
  purpose: string,
  warn: (m: string) => void = (m) => void process.stderr.write(`${m}\n`),
): Promise<string> {
  const fromEnv = env['MAGNET_PASSPHRASE'];
  let passphrase: string;
  if (fromEnv !== undefined && fromEnv !== '') passphrase = fromEnv;
  else {
    passphrase = await obtainPassphrase(env, purpose);
    const again = await askHidden('The same passphrase again: ');
    if (again !== passphrase) throw new MagnetError('ERR_PASSPHRASE_MISMATCH', 'the two passphrases differ; nothing was written');
  }
  const weakness = passphraseWeakness(passphrase);
  if (weakness)
    warn(
      `warning: weak passphrase (${weakness}): anyone who copies the keystore can guess it; 12 or more characters of several kinds, or 4+ random words, are much stronger`,
    );
  return passphrase;
}

/** Why a passphrase is easy to guess, or undefined: short, one kind of character, or one character repeated. */
export function passphraseWeakness(p: string): string | undefined {
  if (p.length < 12) return `${p.length} characters`;
  if (new Set(p).size <= 3) return 'almost one character repeated';
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(p)).length;
  if (kinds < 2 && p.length < 20) return 'one kind of character';
  return undefined;
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
