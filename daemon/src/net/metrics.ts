import type { Metrics } from '../metrics/metrics.js';

/** The net part's metrics, in one place. */
export function netMetrics(m: Metrics) {
  return {
    refused: m.counter('net_refused_total', 'RPCs and peers refused by the net part, by method and reason', ['method', 'reason']),
    rpcServed: m.counter('net_rpc_served_total', 'RPCs answered by this node, by method and gRPC status code', ['method', 'code']),
    rpcSeconds: m.histogram(
      'net_rpc_server_seconds',
      'Time to serve an RPC',
      ['method'],
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1, 10, 60],
    ),
    clientCalls: m.counter('net_rpc_client_total', 'RPCs this node made, by method and outcome', ['method', 'outcome']),
    peers: m.gauge('net_peers', 'Peers known, by state', ['state']),
    blobBytes: m.counter('net_blob_bytes_total', 'Data-plane bytes, by direction', ['direction']),
    heartbeats: m.counter('net_heartbeats_total', 'Heartbeats sent, by outcome', ['outcome']),
    stagingCollected: m.counter('net_staging_collected_total', 'Partial uploads deleted after net.stagingTimeoutSeconds without a resume'),
  };
}
export type NetMetrics = ReturnType<typeof netMetrics>;
