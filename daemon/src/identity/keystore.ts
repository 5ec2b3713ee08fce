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
      throw new MagnetError(
        'ERR_KEYSTORE_EXISTS',
        `a keystore already exists at ${this.path}; it is never overwritten (move it away first)`,
      );
    }
    requirePassphrase(passphrase);
    const wallet = privateKey === undefined ? (Wallet.createRandom() as unknown as Wallet) : new Wallet(checkedKey(privateKey));
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
      throw new MagnetError(
        'ERR_KEYSTORE_CORRUPT',
        `the keystore ${this.path} is not valid JSON (corrupted?); restore it from a backup or import your key with "magnet-node keys import"`,
      );
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

/** secp256k1's group order: a private key is an integer in [1, n). */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/**
 * A private key as 0x + 64 hex digits, or a clear error that never repeats what was given (a mistyped key is still
 * almost all of a key, and errors end up in terminals and logs).
 */
export function checkedKey(key: string): string {
  const k = key.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(k))
    throw new MagnetError(
      'ERR_KEY_INVALID',
      `the private key must be 64 hex digits (32 bytes), optionally after 0x; this one is ${k.length} characters${/[^0-9a-fA-F]/.test(k) ? ' with non-hex characters' : ''}`,
    );
  const v = BigInt(`0x${k}`);
  if (v === 0n || v >= CURVE_ORDER)
    throw new MagnetError('ERR_KEY_INVALID', 'the private key is outside the secp256k1 range (it must be in 1 .. n-1)');
  return `0x${k.toLowerCase()}`;
}
