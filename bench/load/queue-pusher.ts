// Pushes straight into distributed tsim's queue, leaving logic and its HTTP API out of the
// measured path: this process publishes each room push to the cluster's NATS JetStream
// with tsim's own queue adapter (NatsPushQueue), as the PushMsg logic's pushRoom would
// publish (same bytes, same partition subject, same stream), paced as the HTTP pusher is.
import { pino, type Logger } from 'pino';
import type { NatsPushQueue } from '../../src/adapters/nats/push-queue.js';
import { loadConfig } from '../../src/config/load.js';
import { natsPushQueue } from '../../src/distributed/nats.js';
import { newMessageId } from '../../src/logic/message-id.js';
import { encodeRoomKey } from '../../src/logic/room-key.js';
import { PushType, type PushMsg, type PushQueue } from '../../src/ports/index.js';
import { BENCH_OP, BENCH_ROOM } from '../servers/bench-room.js';
import { paceAtRate, type RatePush } from './pusher.js';

/** The PushMsg logic publishes for POST /goim/push/room?operation=BENCH_OP&type=bench&room=1 with `body` (a fresh id, the time now). */
export function benchRoomPushMsg(body: Uint8Array): PushMsg {
  const room = encodeRoomKey(BENCH_ROOM.type, BENCH_ROOM.id);
  return { type: PushType.ROOM, operation: BENCH_OP, speed: 0, server: '', room, keys: [], msg: body, id: newMessageId(), time: Date.now() };
}

/** `rate` room pushes per second for `durationMs`, published to `queue` (pacing and tally: paceAtRate). */
export function publishAtRate(queue: Pick<PushQueue, 'publish'>, rate: number, durationMs: number, bodySize: number): RatePush {
  return paceAtRate(rate, durationMs, bodySize, (body, done) => {
    queue.publish(benchRoomPushMsg(Buffer.from(body))).then(
      () => done(null),
      (e: unknown) => done(e instanceof Error ? e.message : String(e)),
    );
  });
}

/**
 * A publishing NatsPushQueue with the `nats` settings of logic's configuration file (stream,
 * subject, partitions, publish timeout: what logic runs with) on `url`, the private server
 * (never NATS_URL). Resolves once the queue has connected and found the stream.
 */
export async function openQueuePusher(logicConfigFile: string, url: string, timeoutMs: number): Promise<NatsPushQueue> {
  const config = await loadConfig(logicConfigFile);
  let lastProblem = '';
  const log: Logger = pino(
    { level: 'warn', base: null },
    {
      write(line: string): void {
        let r: { msg?: string; err?: string };
        try {
          r = JSON.parse(line) as typeof r;
        } catch {
          return;
        }
        lastProblem = `${r.msg}${r.err ? `: ${r.err}` : ''}`;
        process.stderr.write(`queue pusher: ${lastProblem}\n`);
      },
    },
  );
  // The private server's address, whatever NATS_URL says in this process's environment.
  const queue = natsPushQueue(config, { log, url, name: 'tsim bench pusher' });
  const n = config.nats;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
  const late = await Promise.race([queue.ready().then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) {
    await queue.abort();
    throw new Error(`queue pusher: NATS ${url} or stream ${n.stream} not ready within ${timeoutMs} ms${lastProblem ? ` (${lastProblem})` : ''}`);
  }
  return queue;
}
