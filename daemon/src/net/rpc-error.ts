import * as grpc from '@grpc/grpc-js';
import { MagnetError } from '../util/errors.js';

/** A gRPC failure as the caller sees it: the status code and the server's details. */
export class RpcError extends MagnetError {
  override readonly name = 'RpcError';
  constructor(
    readonly method: string,
    readonly status: grpc.status,
    details: string,
    readonly nodeId: string,
  ) {
    super('ERR_RPC', `${method} to ${nodeId} failed with ${grpc.status[status] ?? status}: ${details}`, { method, status, nodeId });
  }
}
