// How the logic and comet clients open their gRPC channels: plaintext or TLS, message and
// flow-control limits, reconnect and keepalive as goim's clients (docs/internal-protocol.md,
// "gRPC settings").
import { readFileSync } from 'node:fs';
import { compressionAlgorithms, credentials, type ChannelCredentials, type ClientOptions } from '@grpc/grpc-js';

const MAX_MESSAGE = 16 << 20;

/** TLS for outgoing gRPC calls (config rpcClient.caFile and friends); PEM file paths. */
export interface RpcClientTls {
  /** CA bundle the server certificate must chain to. */
  caFile: string;
  /** Client certificate and key, for servers that require one. */
  certFile?: string;
  privateFile?: string;
  /** Name checked against the server certificate instead of the dialed host. */
  serverName?: string;
}

/** A channel's credentials and the options TLS adds (files read now). */
export function channelSecurity(tls: RpcClientTls | undefined): { creds: ChannelCredentials; options: Partial<ClientOptions> } {
  if (tls === undefined) return { creds: credentials.createInsecure(), options: {} };
  const ca = readFileSync(tls.caFile);
  const cert = tls.certFile ? readFileSync(tls.certFile) : null;
  const key = tls.privateFile ? readFileSync(tls.privateFile) : null;
  if ((cert === null) !== (key === null)) throw new Error('rpcClient: certFile and privateFile go together');
  return {
    creds: credentials.createSsl(ca, key, cert),
    options: tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {},
  };
}

/** Channel options: 16 MiB messages and windows, reconnect ≤ 3 s, keepalive ping every 10 s. */
export function channelOptions(gzip = false): Partial<ClientOptions> {
  return {
    'grpc.max_send_message_length': MAX_MESSAGE,
    'grpc.max_receive_message_length': MAX_MESSAGE,
    'grpc-node.flow_control_window': MAX_MESSAGE,
    'grpc.max_reconnect_backoff_ms': 3_000,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 3_000,
    'grpc.keepalive_permit_without_calls': 1,
    // Nothing reads channelz here; tracking it costs every call bookkeeping.
    'grpc.enable_channelz': 0,
    ...(gzip ? { 'grpc.default_compression_algorithm': compressionAlgorithms.gzip } : {}),
  };
}
