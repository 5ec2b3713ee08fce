import { createCipheriv, createDecipheriv, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { computeAddress, getBytes, keccak256 } from 'ethers';
import { MagnetError } from '../util/errors.js';

/**
 * Web3 Secret Storage (keystore v3) with scrypt + AES-128-CTR, the format wallets import. Node's native scrypt
 * keeps the 128 MiB of scrypt memory out of the JS heap, so an idle daemon does not keep it.
 */
export interface KeystoreV3 {
  version: 3;
  id: string;
  address: string;
  crypto: {
    cipher: 'aes-128-ctr';
    cipherparams: { iv: string };
    ciphertext: string;
    kdf: 'scrypt';
    kdfparams: { dklen: number; n: number; r: number; p: number; salt: string };
    mac: string;
  };
}

const DEFAULT_N = 131072; // the scrypt cost ethers and geth use by default

function derive(passphrase: string, salt: Buffer, n: number, r: number, p: number, dklen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase.normalize('NFKC'), salt, dklen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

const mac = (dk: Buffer, ciphertext: Buffer): Buffer => Buffer.from(getBytes(keccak256(Buffer.concat([dk.subarray(16, 32), ciphertext]))));

export async function encryptKeystore(privateKey: string, passphrase: string, n = DEFAULT_N): Promise<KeystoreV3> {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const dk = await derive(passphrase, salt, n, 8, 1, 32);
  const cipher = createCipheriv('aes-128-ctr', dk.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(getBytes(privateKey))), cipher.final()]);
  return {
    version: 3,
    id: randomUUID(),
    address: computeAddress(privateKey).slice(2).toLowerCase(),
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: iv.toString('hex') },
      ciphertext: ciphertext.toString('hex'),
      kdf: 'scrypt',
      kdfparams: { dklen: 32, n, r: 8, p: 1, salt: salt.toString('hex') },
      mac: mac(dk, ciphertext).toString('hex'),
    },
  };
}

/** Returns the 0x private key; ERR_WRONG_PASSPHRASE when the MAC does not match. */
export async function decryptKeystore(json: unknown, passphrase: string, where: string): Promise<string> {
  const ks = json as Partial<KeystoreV3>;
  const c = ks.crypto ?? (json as { Crypto?: KeystoreV3['crypto'] }).Crypto;
  if (ks.version !== 3 || !c || c.kdf !== 'scrypt' || c.cipher !== 'aes-128-ctr' || !c.kdfparams) {
    throw new MagnetError('ERR_KEYSTORE_CORRUPT', `the keystore ${where} is not a scrypt/aes-128-ctr v3 keystore`);
  }
  const { n, r, p, dklen, salt } = c.kdfparams;
  const dk = await derive(passphrase, Buffer.from(salt, 'hex'), n, r, p, dklen);
  const ciphertext = Buffer.from(c.ciphertext, 'hex');
  const expected = Buffer.from(c.mac, 'hex');
  const actual = mac(dk, ciphertext);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new MagnetError('ERR_WRONG_PASSPHRASE', `wrong passphrase for the keystore ${where} (check MAGNET_PASSPHRASE)`);
  }
  const decipher = createDecipheriv('aes-128-ctr', dk.subarray(0, 16), Buffer.from(c.cipherparams.iv, 'hex'));
  const key = `0x${Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('hex')}`;
  if (ks.address && computeAddress(key).slice(2).toLowerCase() !== ks.address.toLowerCase()) {
    throw new MagnetError('ERR_KEYSTORE_CORRUPT', `the keystore ${where} decrypts to a key that does not match its address`);
  }
  return key;
}
