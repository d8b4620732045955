// Pushes straight into distributed tsim's comets, as a job does: every batch is one gRPC
// BroadcastRoom call to every comet, its proto packed as tsim's job packs a room batch
// (roomBatchProto: op 9, the messages' frames in one body). Logic, NATS and the job are out of
// the measured path. `rate` messages per second leave as rate ÷ b calls per second of b
// messages each, all b stamped when the call is due (b: the batch tsim's job forms at that
// rate, what the raw-net baseline writes at once), so latency runs from the call on. As
// goim's job, a call does not wait for the previous one's reply (at most CALLS_IN_FLIGHT
// unanswered); how long each call took to be answered is recorded as a figure of its own.
import { GrpcCometClient } from '../../src/adapters/grpc/comet-client.js';
import { roomBatchProto } from '../../src/job/push-frame.js';
import { HEADER_LEN } from '../../src/protocol/frame.js';
import { newHistogram, recordMs, summarize, type LatencySummary } from '../measure/histogram.js';
import { BENCH_OP, BENCH_ROOM } from '../servers/bench-room.js';
import { paceAtRate, type PushTally } from './pusher.js';

/** Calls unanswered at most (goim's job.routineSize per comet); further ones wait in order. */
const CALLS_IN_FLIGHT = 32;

export interface CometPushRun {
  /** Calls (batches): sent, and accepted by every comet. */
  tally: PushTally;
  /** Resolves once every call was answered by every comet, with the BroadcastRoom reply times. */
  done: Promise<PushTally & { reply: LatencySummary }>;
}

/** One gRPC client per comet (its `grpc://host:port` address), for BroadcastRoom calls. */
export class CometPusher {
  private readonly clients: GrpcCometClient[];

  constructor(addrs: readonly string[]) {
    this.clients = addrs.map((a) => new GrpcCometClient(a, { timeoutMs: 30_000 }));
  }

  /** `rate` messages per second for `durationMs`, `batch` per call, to every comet (tally in calls). */
  push(rate: number, durationMs: number, bodySize: number, batch: number): CometPushRun {
    const replies = newHistogram();
    const clients = this.clients;
    const ops = new Array<number>(batch).fill(BENCH_OP);
    const run = paceAtRate(
      rate / batch,
      durationMs,
      bodySize,
      (stamped, done) => {
        const body = Buffer.from(stamped);
        const proto = roomBatchProto(ops, new Array<Uint8Array>(batch).fill(body), batch * (HEADER_LEN + body.length));
        let left = clients.length;
        let failed: string | null = null;
        for (const c of clients) {
          const t0 = performance.now();
          c.broadcastRoom(BENCH_ROOM.key, proto).then(
            () => {
              recordMs(replies, performance.now() - t0);
              if (--left === 0) done(failed);
            },
            (e: unknown) => {
              failed ??= e instanceof Error ? e.message : String(e);
              if (--left === 0) done(failed);
            },
          );
        }
      },
      CALLS_IN_FLIGHT,
    );
    return { tally: run.tally, done: run.done.then((t) => ({ ...t, reply: summarize(replies) })) };
  }

  close(): void {
    for (const c of this.clients) void c.close();
  }
}
