// Client-side channel settings shared by the logic and comet clients (goim's client
// options, spec §3.11 / §5.6), addresses, and the promise wrapper for unary calls.
import { Metadata, compressionAlgorithms, type CallOptions, type ClientOptions, type ServiceError } from '@grpc/grpc-js';

const MAX_MESSAGE = 16 << 20;

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
    start(new Metadata(), options, (err, res) => {
      if (err) reject(new RpcError(`${what} (${target}): ${err.details || err.message}`, err.code));
      else resolve(res);
    });
  });
}
