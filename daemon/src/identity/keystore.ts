import { existsSync, readFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { MagnetError, errorMessage } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { type NodeIdentity, identityFromWallet } from './identity.js';
import { decryptKeystore, encryptKeystore } from './keystore-v3.js';

/**
 * The wallet lives in the home directory as a standard encrypted JSON keystore (the format wallets import).
 * A plaintext key never touches the disk.
 */
export class Keystore {
  constructor(readonly path: string) {}

  exists(): boolean {
    return existsSync(this.path);
  }

  /** Creates a new wallet; refuses to overwrite an existing keystore. */
  async create(passphrase: string, privateKey?: string): Promise<NodeIdentity> {
    if (this.exists()) {
      throw new MagnetError('ERR_KEYSTORE_EXISTS', `a keystore already exists at ${this.path}; it is never overwritten (move it away first)`);
    }
    requirePassphrase(passphrase);
    let wallet: Wallet;
    try {
      wallet = privateKey === undefined ? (Wallet.createRandom() as unknown as Wallet) : new Wallet(normalizeKey(privateKey));
    } catch (err) {
      throw new MagnetError('ERR_KEY_INVALID', `the private key is not a valid secp256k1 key: ${errorMessage(err)}`);
    }
    const json = await encryptKeystore(wallet.privateKey, passphrase);
    writeFileAtomic(this.path, JSON.stringify(json), 0o600);
    return identityFromWallet(new Wallet(wallet.privateKey));
  }

  async unlock(passphrase: string): Promise<NodeIdentity> {
    let json: string;
    try {
      json = readFileSync(this.path, 'utf8');
    } catch (err) {
      throw new MagnetError('ERR_KEYSTORE_UNREADABLE', `cannot read the keystore ${this.path}: ${errorMessage(err)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new MagnetError('ERR_KEYSTORE_CORRUPT', `the keystore ${this.path} is not valid JSON (corrupted?); restore it from a backup or import your key with "magnet-node keys import"`);
    }
    let wallet: Wallet;
    try {
      wallet = new Wallet(await decryptKeystore(parsed, passphrase, this.path));
    } catch (err) {
      if (err instanceof MagnetError) throw err;
      throw new MagnetError('ERR_KEYSTORE_CORRUPT', `the keystore ${this.path} cannot be decrypted: ${errorMessage(err)}`);
    }
    return identityFromWallet(wallet);
  }
}

function requirePassphrase(passphrase: string): void {
  if (passphrase.length === 0) throw new MagnetError('ERR_NO_PASSPHRASE', 'an empty passphrase is not allowed');
}

function normalizeKey(key: string): string {
  const k = key.trim();
  return k.startsWith('0x') ? k : `0x${k}`;
}
