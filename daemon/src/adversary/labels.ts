import { RpcError } from '../net/client.js';
import { errorMessage } from '../util/errors.js';

/** The refusal label of an answer: an RPC error's details or an Ack's reason start with it. */
export function labelOf(x: unknown): string {
  if (x instanceof RpcError) return /: ([a-z_]+): /.exec(x.message)?.[1] ?? `status_${x.status}`;
  if (typeof x === 'object' && x !== null && 'alreadyPresent' in x) return 'accepted'; // a PutBlob answer
  if (typeof x === 'object' && x !== null && 'accepted' in x) {
    const a = x as { accepted: boolean; reason: string };
    return a.accepted ? 'accepted' : (a.reason.split(':')[0] ?? a.reason);
  }
  return `error: ${errorMessage(x)}`.slice(0, 200);
}
