import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads
import { X509Certificate, createHash, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { MagnetError, errorMessage } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The node's TLS identity for gRPC. */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** sha256 of the certificate DER. */
  fingerprint: Buffer;
  /** 'pinned': self-signed, peers pin it (TOFU + wallet binding); 'ca': operator PKI, peers verify against caPem. */
  mode: 'pinned' | 'ca';
  caPem?: string;
}

export function certFingerprint(certPem: string): Buffer {
  let der: Buffer;
  try {
    der = new X509Certificate(certPem).raw;
  } catch (err) {
    throw new MagnetError('ERR_CERT_INVALID', `not a PEM X.509 certificate (${errorMessage(err)})`);
  }
  return createHash('sha256').update(der).digest();
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A long-lived (100 years) self-signed P-256 certificate; the key never leaves the home directory. */
export async function generateSelfSigned(nodeId: string): Promise<{ certPem: string; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + 100 * 365 * 86_400_000);
  notAfter.setMilliseconds(0);
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f; // positive, and never a leading 0x80 (PeculiarVentures/x509#74)
  if (serial[0] === 0) serial[0] = 1;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${nodeId}, O=magnet-node`,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: nodeId },
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
  return { certPem: cert.toString('pem'), keyPem };
}

export interface TlsSource {
  /** Directory for the self-signed pair (home/tls). */
  dir: string;
  nodeId: string;
  /** Operator PKI files; all three or none. */
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

/**
 * Loads the operator's PKI when configured, else the self-signed pair from `dir`, creating it on first start.
 * Both files are written atomically (key 0600), so a crash never leaves half a certificate.
 */
export async function loadOrCreateTls(src: TlsSource): Promise<TlsMaterial & { created: boolean }> {
  const pki = [src.certFile, src.keyFile, src.caFile].filter((f) => f);
  if (pki.length > 0) {
    if (pki.length !== 3)
      throw new MagnetError(
        'ERR_CONFIG',
        'operator PKI needs all of MAGNET_P2P_CERT, MAGNET_P2P_KEY and MAGNET_P2P_CA (net.tlsCert, net.tlsKey, net.tlsCa)',
      );
    const certPem = readPem(src.certFile as string, 'MAGNET_P2P_CERT');
    const keyPem = readPem(src.keyFile as string, 'MAGNET_P2P_KEY');
    const caPem = readPem(src.caFile as string, 'MAGNET_P2P_CA');
    checkPair(certPem, keyPem, src.certFile as string);
    return { certPem, keyPem, caPem, fingerprint: certFingerprint(certPem), mode: 'ca', created: false };
  }
  const certFile = join(src.dir, 'cert.pem');
  const keyFile = join(src.dir, 'key.pem');
  let created = false;
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    if (existsSync(certFile) !== existsSync(keyFile)) {
      throw new MagnetError(
        'ERR_TLS_FILES',
        `only one of ${certFile} and ${keyFile} exists; restore the other or remove both to make a new certificate (peers that pinned the old one will then refuse this node until they run "magnet-node peers forget")`,
      );
    }
    mkdirSync(src.dir, { recursive: true, mode: 0o700 });
    const pair = await generateSelfSigned(src.nodeId);
    writeFileAtomic(keyFile, pair.keyPem, 0o600);
    writeFileAtomic(certFile, pair.certPem, 0o644);
    created = true;
  }
  const certPem = readPem(certFile, 'the node certificate');
  const keyPem = readPem(keyFile, 'the node TLS key');
  checkPair(certPem, keyPem, certFile);
  return { certPem, keyPem, fingerprint: certFingerprint(certPem), mode: 'pinned', created };
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new MagnetError('ERR_TLS_FILES', `cannot read ${what} at ${file}: ${errorMessage(err)}`, { file });
  }
}

function checkPair(certPem: string, keyPem: string, certFile: string): void {
  try {
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the key does not match the certificate');
  } catch (err) {
    throw new MagnetError('ERR_TLS_FILES', `the TLS certificate ${certFile} and its key do not form a pair (${errorMessage(err)})`, {
      file: certFile,
    });
  }
}
