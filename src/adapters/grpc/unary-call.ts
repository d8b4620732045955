// One unary gRPC call as a promise, as the logic and comet clients make them.
import { Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';

/** Error of a failed call, with the remote message and the gRPC status code. */
class RpcError extends Error {
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
