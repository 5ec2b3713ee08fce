import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isMagnetError } from '../util/errors.js';
import { Keystore } from './keystore.js';
import { passphraseWeakness } from './passphrase.js';

const dir = () => mkdtempSync(join(tmpdir(), 'magnet-ks-'));

test('keystore round trip: create, unlock with the same passphrase, same identity; no plaintext key on disk', async () => {
  const ks = new Keystore(join(dir(), 'keystore.json'));
  const created = await ks.create('correct horse');
  const unlocked = await ks.unlock('correct horse');
  assert.equal(unlocked.nodeId, created.nodeId);
  assert.equal(unlocked.address, created.address);
  const onDisk = readFileSync(ks.path, 'utf8');
  assert.ok(!onDisk.includes(created.wallet.privateKey.slice(2)), 'private key must not be stored in clear');
  assert.equal(JSON.parse(onDisk).address.toLowerCase(), created.address.slice(2).toLowerCase());
});

test('wrong passphrase is refused with ERR_WRONG_PASSPHRASE', async () => {
  const ks = new Keystore(join(dir(), 'keystore.json'));
  await ks.create('right');
  await assert.rejects(ks.unlock('wrong'), (err) => isMagnetError(err, 'ERR_WRONG_PASSPHRASE'));
});

test('a corrupted keystore is reported and never overwritten', async () => {
  const path = join(dir(), 'keystore.json');
  writeFileSync(path, '{"version": 3, garbage');
  const ks = new Keystore(path);
  await assert.rejects(ks.unlock('x'), (err) => isMagnetError(err, 'ERR_KEYSTORE_CORRUPT'));
  await assert.rejects(ks.create('x'), (err) => isMagnetError(err, 'ERR_KEYSTORE_EXISTS'));
  assert.equal(readFileSync(path, 'utf8'), '{"version": 3, garbage');
});

test('import keeps the key: known private key gives the known nodeId', async () => {
  const ks = new Keystore(join(dir(), 'keystore.json'));
  const id = await ks.create('p', '0000000000000000000000000000000000000000000000000000000000000001');
  assert.equal(id.nodeId, 'node-0f715baf5d4c2ed3');
  await assert.rejects(new Keystore(join(dir(), 'k.json')).create('p', 'not-a-key'), (err) => isMagnetError(err, 'ERR_KEY_INVALID'));
});

test('keystores are interchangeable with ethers (the format wallets import)', async () => {
  const { Wallet } = await import('ethers');
  const { decryptKeystore, encryptKeystore } = await import('./keystore-v3.js');
  const w = new Wallet('0x' + '11'.repeat(32));
  const fromEthers = JSON.parse(await w.encrypt('pw'));
  assert.equal(await decryptKeystore(fromEthers, 'pw', 'ethers.json'), w.privateKey);
  const ours = await encryptKeystore(w.privateKey, 'pw', 1024);
  const back = await Wallet.fromEncryptedJson(JSON.stringify(ours), 'pw');
  assert.equal(back.privateKey, w.privateKey);
});

test('a bad private key is refused without repeating it', async () => {
  const d = dir();
  const typo = `${'ab'.repeat(31)}zz`;
  for (const [key, re] of [
    [typo, /64 hex digits .* with non-hex characters/],
    ['0x1234', /64 hex digits .* this one is 4 characters/],
    ['f'.repeat(64), /outside the secp256k1 range/],
    ['0'.repeat(64), /outside the secp256k1 range/],
  ] as [string, RegExp][]) {
    await assert.rejects(
      new Keystore(join(d, `${key.length}-${key.slice(-2)}.json`)).create('a-long-enough-passphrase', key),
      (e: Error) => re.test(e.message) && !e.message.includes(key.replace(/^0x/, '').slice(0, 16)),
    );
  }
});

test('weak passphrases are named: short, one character, one kind', () => {
  assert.equal(passphraseWeakness('hunter2'), '7 characters');
  assert.equal(passphraseWeakness('aaaaaaaaaaaaaaaa'), 'almost one character repeated');
  assert.equal(passphraseWeakness('abcdefghijklm'), 'one kind of character');
  assert.equal(passphraseWeakness('correct horse battery staple'), undefined);
  assert.equal(passphraseWeakness('Tr0ub4dor&3xyz'), undefined);
});
