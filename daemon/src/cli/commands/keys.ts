import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { Keystore } from '../../identity/keystore.js';
import { obtainNewPassphrase, obtainPassphrase } from '../../identity/passphrase.js';
import { HomeDir } from '../../node/home.js';
import { MagnetError } from '../../util/errors.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('manage the node wallet (an encrypted JSON keystore in the home directory)');
  keys
    .command('create')
    .description('create a new wallet (never overwrites an existing keystore)')
    .option('--home <dir>', 'data directory (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const home = new HomeDir(resolveHome(flags.home));
        home.ensure();
        const ks = new Keystore(home.keystore);
        if (ks.exists())
          throw new MagnetError('ERR_KEYSTORE_EXISTS', `a keystore already exists at ${home.keystore}; it is never overwritten`);
        const id = await ks.create(await obtainNewPassphrase(process.env, `encrypt the new wallet in ${home.keystore}`));
        show({ nodeId: id.nodeId, address: id.address, publicKey: id.publicKey, keystore: home.keystore }, flags.json);
      } catch (err) {
        fail(err);
      }
    });
  keys
    .command('show')
    .description('print the nodeId, wallet address and public key')
    .option('--home <dir>', 'data directory (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const home = new HomeDir(resolveHome(flags.home));
        const ks = new Keystore(home.keystore);
        if (!ks.exists())
          throw new MagnetError(
            'ERR_NO_KEYSTORE',
            `no keystore at ${home.keystore}; create one with "magnet-node keys create" or start the node`,
          );
        const id = await ks.unlock(await obtainPassphrase(process.env, `unlock the wallet in ${home.keystore}`));
        show({ nodeId: id.nodeId, address: id.address, publicKey: id.publicKey, keystore: home.keystore }, flags.json);
      } catch (err) {
        fail(err);
      }
    });
  keys
    .command('import')
    .description('import an existing secp256k1 private key (hex) into a new keystore')
    .option('--home <dir>', 'data directory (default ~/.magnet, env MAGNET_HOME)')
    .option('--key-file <file>', 'file holding the hex private key (default: MAGNET_IMPORT_KEY, else stdin)')
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; keyFile?: string; json?: boolean }) => {
      try {
        const home = new HomeDir(resolveHome(flags.home));
        home.ensure();
        const key = flags.keyFile ? readFileSync(flags.keyFile, 'utf8') : (process.env['MAGNET_IMPORT_KEY'] ?? readFileSync(0, 'utf8'));
        const ks = new Keystore(home.keystore);
        const id = await ks.create(await obtainNewPassphrase(process.env, `encrypt the imported wallet in ${home.keystore}`), key);
        show({ nodeId: id.nodeId, address: id.address, publicKey: id.publicKey, keystore: home.keystore }, flags.json);
      } catch (err) {
        fail(err);
      }
    });
}

function show(info: Record<string, string>, json?: boolean): void {
  if (json) printJson(info);
  else
    process.stdout.write(
      Object.entries(info)
        .map(([k, v]) => `${k.padEnd(9)} ${v}`)
        .join('\n') + '\n',
    );
}
