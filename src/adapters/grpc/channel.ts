// Client-side channel settings shared by the logic and comet clients (goim's client
// options, spec §3.11 / §5.6), addresses, and the promise wrapper for unary calls.
import { readFileSync } from 'node:fs';
import {
  Metadata,
  compressionAlgorithms,
  credentials,
  type CallOptions,
  type ChannelCredentials,
  type ClientOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Config } from '../../config/schema.js';

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

/** The TLS settings of `rpcClient`, or undefined when rpcClient.caFile is unset (plaintext). */
export function rpcClientTls(c: Config['rpcClient']): RpcClientTls | undefined {
  if (c.caFile === '') return undefined;
  return { caFile: c.caFile, certFile: c.certFile, privateFile: c.privateFile, serverName: c.serverName };
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
    ...(gzip ? { 'grpc.default_compression_algorithm': compressionAlgorithms.gzip } : {}),
  };
}

/**
 * The "host:port" of an instance's `grpc://` address (goim registers exactly one), or
 * undefined. A bare "host:port" is taken as it is.
 */
export function grpcTarget(addrs: readonly string[]): string | undefined {
  for (const a of addrs) {
    if (a.startsWith('grpc://')) return a.slice('grpc://'.length).replace(/\/+$/, '');
  }
  for (const a of addrs) {
    if (!a.includes('://') && a.includes(':')) return a;
  }
  return undefined;
}

/** Error of a failed call, with the remote message and the gRPC status code. */
export class RpcError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

/**
 * Runs one unary call with an optional deadline (ms, 0 = none). Rejections read
 * "<what> (<target>): <remote message>".
 */
export function unaryCall<Res>(
  what: string,
  target: string,
  timeoutMs: number,
  start: (metadata: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => void,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const options: Partial<CallOptions> = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
    // grpc-js builds an Error on every call, only to append its stack to the call's error
    // should it fail; capturing that stack cost more than the rest of the call on the
    // job's busiest path. Our rejection carries what failed and where (what, target), so
    // no frames are captured while the call starts.
    const frames = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      start(new Metadata(), options, (err, res) => {
        if (err) reject(new RpcError(`${what} (${target}): ${err.details || err.message}`, err.code));
        else resolve(res);
      });
    } finally {
      Error.stackTraceLimit = frames;
    }
  });
}
