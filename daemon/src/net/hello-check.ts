import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../util/errors.js';
import { parseHostPort } from '../util/host-port.js';
import { verifyBinding } from './binding.js';
import { CertPinError, type PeerBook } from './peer-book.js';
import type { HelloMsg, PeerInfoMsg } from './proto.js';
import { Refusal } from './refusal.js';
import { certFingerprint } from './tls.js';

/** The longest string field a Hello or heartbeat may carry. */
export const MAX_FIELD = 256;

/** A Hello that passed every check: who the peer is and the certificate it must present from now on. */
export interface CheckedHello {
  info: PeerInfoMsg;
  certPem: string;
  certSha256: Buffer;
}

/**
 * Checks a peer's Hello signed by `nodeId`: field sizes, its gRPC address, its certificate, the wallet binding of that
 * certificate to the key, the wallet it names, then either the cluster CA (private clusters) or the certificate
 * pinned on first contact, and last its network (so only a peer that proved its key learns ours differs). Throws a
 * Refusal naming what is wrong.
 */
export function checkHello(
  nodeId: string,
  msg: HelloMsg,
  trust: { caPem?: string | undefined; book: PeerBook; networkId: string },
): CheckedHello {
  const info = msg.self;
  if (!info || info.nodeId !== nodeId)
    throw new Refusal('bad_field', `Hello describes ${info?.nodeId ?? 'nobody'}, but it is signed by ${nodeId}`, nodeId);
  const tooLong = [
    info.address,
    info.peerId,
    info.grpcAddress,
    info.tier,
    info.version,
    info.networkId,
    ...info.roles,
    ...info.multiaddrs,
  ].some((s) => s.length > MAX_FIELD);
  if (tooLong || info.roles.length > 16 || info.multiaddrs.length > 32)
    throw new Refusal('bad_field', 'Hello fields are too long or too many', nodeId);
  try {
    parseHostPort(info.grpcAddress, 'grpcAddress');
  } catch {
    throw new Refusal('bad_field', `Hello grpcAddress "${info.grpcAddress}" is not HOST:PORT`, nodeId);
  }
  let certSha256: Buffer;
  try {
    certSha256 = certFingerprint(msg.certPem);
  } catch {
    throw new Refusal('bad_field', 'Hello carries no valid PEM certificate', nodeId);
  }
  let address: string;
  try {
    const b = msg.binding;
    address = verifyBinding(
      b ? { nodeId: b.nodeId, certSha256: Buffer.from(b.certSha256), signature: Buffer.from(b.signature) } : null,
      nodeId,
      certSha256,
    ).address;
  } catch (err) {
    throw new Refusal('bad_binding', errorMessage(err), nodeId);
  }
  // The address is what operator member lists name: it must be the wallet of the key, never a claim.
  if (info.address.toLowerCase() !== address.toLowerCase())
    throw new Refusal(
      'bad_field',
      `Hello names wallet ${info.address.slice(0, 42)}, but the key of ${nodeId} is wallet ${address}`,
      nodeId,
    );
  if (trust.caPem) {
    const ca = new X509Certificate(trust.caPem);
    const cert = new X509Certificate(msg.certPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      throw new Refusal('bad_binding', `the certificate of ${nodeId} is not signed by the configured CA`, nodeId);
  } else {
    try {
      trust.book.checkPin(nodeId, certSha256);
    } catch (err) {
      if (err instanceof CertPinError) throw new Refusal('cert_pin_mismatch', err.message, nodeId);
      throw err;
    }
  }
  if (info.networkId !== trust.networkId)
    throw new Refusal(
      'wrong_network',
      `${nodeId} is in network ${info.networkId ? shortNetworkId(info.networkId) : '(none given)'}, this node in network ${shortNetworkId(trust.networkId)}: nodes join one network by starting with the same spec (--network)`,
      nodeId,
    );
  return { info, certPem: msg.certPem, certSha256 };
}

/** A network id as logs show it (the spec module's short form; net sits below it). */
function shortNetworkId(id: string): string {
  return id.replace(/[^0-9a-f]/g, '?').slice(0, 12);
}
