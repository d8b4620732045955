// Starting and stopping a grpc-js server the way goim's servers behave (keepalive and
// connection ages as goim's rpcServer settings, docs/internal-protocol.md "gRPC settings"),
// and the glue that turns a promise-returning handler into a goim-style unary handler.
import { readFileSync } from 'node:fs';
import {
  Server,
  ServerCredentials,
  status,
  type handleUnaryCall,
  type Metadata,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { parseListen } from '../../config/listen.js';

/** goim's rpcServer keepalive settings in ms, and TLS (config `rpcServer`; all optional). */
export interface RpcServerOptions {
  /** An idle connection is closed after this long (default 60 s). */
  idleTimeout?: number;
  /** A connection is closed after this long (default 2 h). */
  maxLifeTime?: number;
  /** Calls in flight on a connection past maxLifeTime get this long (default 20 s). */
  forceCloseWait?: number;
  /** Keepalive ping interval (default 60 s). */
  keepAliveInterval?: number;
  /** An unanswered ping drops the connection after this long (default 20 s). */
  keepAliveTimeout?: number;
  /** PEM certificate chain and key: serve over TLS; plaintext when certFile is empty. */
  certFile?: string;
  privateFile?: string;
  /** PEM CA bundle: require client certificates signed by it. */
  clientCaFile?: string;
  /** How long close() lets calls in flight finish before cutting them (default 5 s). */
  shutdownGrace?: number;
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

const MAX_MESSAGE = 16 << 20;

function serverOptions(o: RpcServerOptions) {
  return {
    'grpc.max_connection_idle_ms': o.idleTimeout ?? 60_000,
    'grpc.max_connection_age_ms': o.maxLifeTime ?? 7_200_000,
    'grpc.max_connection_age_grace_ms': o.forceCloseWait ?? 20_000,
    'grpc.keepalive_time_ms': o.keepAliveInterval ?? 60_000,
    'grpc.keepalive_timeout_ms': o.keepAliveTimeout ?? 20_000,
    // goim's clients ping every 10 s, with or without calls. grpc-js does not police client
    // pings today; these state the policy for any stack that does, so such pings never earn
    // a GOAWAY too_many_pings.
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': MAX_MESSAGE,
    'grpc.max_send_message_length': MAX_MESSAGE,
    // channelz (grpc-js's call and socket statistics) is served by nobody here; left on, it
    // tracks every call: closures, counters and timestamps per call.
    'grpc.enable_channelz': 0,
  };
}

/**
 * Serves one service on `addr` (goim style: ":3119", "127.0.0.1:0", "[::1]:0"). An address
 * without host listens on every interface (IPv6 dual-stack, else IPv4).
 */
export async function serveService(
  service: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  addr: string,
  opts: RpcServerOptions = {},
  /** More services on the same server (tsim's own beside goim's). */
  also: readonly { service: ServiceDefinition; implementation: UntypedServiceImplementation }[] = [],
): Promise<RunningServer> {
  const { host, port: wanted } = parseListen(addr);
  const server = new Server(serverOptions(opts));
  server.addService(service, implementation);
  for (const s of also) server.addService(s.service, s.implementation);
  const creds = serverCredentials(opts);
  const bind = (target: string) =>
    new Promise<number>((resolve, reject) => server.bindAsync(target, creds, (err, port) => (err ? reject(err) : resolve(port))));
  let port: number;
  if (host !== undefined) {
    port = await bind(host.includes(':') ? `[${host}]:${wanted}` : `${host}:${wanted}`);
  } else {
    port = await bind(`[::]:${wanted}`).catch(() => bind(`0.0.0.0:${wanted}`));
  }
  const grace = opts.shutdownGrace ?? 5_000;
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), grace);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}

/** TLS when rpcServer.certFile is set (client certificates required with clientCaFile), else plaintext. */
function serverCredentials(o: RpcServerOptions): ServerCredentials {
  if (!o.certFile) {
    if (o.privateFile || o.clientCaFile) throw new Error('rpcServer: privateFile / clientCaFile need certFile');
    return ServerCredentials.createInsecure();
  }
  if (!o.privateFile) throw new Error('rpcServer: certFile needs privateFile');
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`rpcServer: ${(err as Error).message}`, { cause: err });
    }
  };
  const clientCa = o.clientCaFile ? read(o.clientCaFile) : null;
  return ServerCredentials.createSsl(clientCa, [{ cert_chain: read(o.certFile), private_key: read(o.privateFile) }], clientCa !== null);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A unary handler from a function that returns (or resolves to) the reply; it gets the
 * call's metadata too. A throw or rejection becomes status UNKNOWN with the error's message,
 * as a plain Go error does.
 */
export function unary<Req, Res>(fn: (req: Req, metadata: Metadata) => Res | Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Promise<Res>;
    try {
      result = Promise.resolve(fn(call.request, call.metadata));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (reply) => callback(null, reply),
      (err: unknown) => callback({ code: status.UNKNOWN, details: errorMessage(err) }),
    );
  };
}
