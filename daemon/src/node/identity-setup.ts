import { Keystore } from '../identity/keystore.js';
import type { NodeIdentity } from '../identity/identity.js';
import { obtainNewPassphrase, obtainPassphrase } from '../identity/passphrase.js';
import type { Logger } from '../log/logger.js';
import type { HomeDir } from './home.js';

/** Unlocks the node's wallet, creating it on first start. */
export async function unlockOrCreateIdentity(home: HomeDir, env: NodeJS.ProcessEnv, log: Logger): Promise<NodeIdentity> {
  const ks = new Keystore(home.keystore);
  if (ks.exists()) {
    const passphrase = await obtainPassphrase(env, `unlock the wallet in ${home.keystore}`);
    return ks.unlock(passphrase);
  }
  const passphrase = await obtainNewPassphrase(env, `encrypt the new wallet in ${home.keystore}`, (m) => log.warn(m));
  const identity = await ks.create(passphrase);
  log.info({ nodeId: identity.nodeId, address: identity.address, keystore: home.keystore }, 'created a new wallet');
  return identity;
}
