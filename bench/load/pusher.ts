// Pushes through logic's HTTP API (goim POST /goim/push/room): open-loop at a fixed rate
// for the fan-out scenario, closed-loop at a fixed concurrency for the push-API scenario.
// node:http with a keep-alive agent: lighter per request than fetch. The rate pacing
// (paceAtRate) also drives pushes straight into the queue (queue-pusher.ts).
import { Agent, request } from 'node:http';
import { newHistogram, recordMs, summarize, type LatencySummary } from '../measure/histogram.js';
import { every } from '../run/schedule.js';
import { clockMs, stampBody } from './stamp.js';

export interface PushTarget {
  host: string;
  port: number;
  /** Path and query, e.g. /goim/push/room?operation=1000&type=bench&room=1 */
  path: string;
}

export interface PushTally {
  sent: number;
  /** Answered 200 with code 0. */
  accepted: number;
  failed: number;
  /** The first few failure reasons. */
  errors: string[];
}

/** One push request: `done(null)` on 200 with code 0, else the reason. */
export function post(agent: Agent, t: PushTarget, body: string, done: (err: string | null) => void): void {
  const req = request(
    {
      agent,
      host: t.host,
      port: t.port,
      path: t.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => done(res.statusCode === 200 && text.startsWith('{"code":0') ? null : `HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
      res.on('error', (e) => done(e.message));
    },
  );
  req.on('error', (e) => done(e.message));
  req.end(body);
}

function noteError(tally: PushTally, err: string | null): void {
  if (err === null) tally.accepted++;
  else {
    tally.failed++;
    if (tally.errors.length < 5) tally.errors.push(err);
  }
}

export interface RatePush {
  tally: PushTally;
  /** Resolves once every request of the run was answered. */
  done: Promise<PushTally>;
}

/** Sends one push whose body is `body`; calls `done` once with null (accepted) or why it failed. */
export type PushSender = (body: string, done: (err: string | null) => void) => void;

/** Pushes in flight at most (HTTP: the keep-alive connections); further ones wait in order. */
const PUSH_IN_FLIGHT = 64;

/**
 * `rate` pushes per second for `durationMs`, evenly spaced, each body stamped when it is
 * due: a push waiting for a free slot carries that wait in its latency, as a request
 * queued in an HTTP agent does. At most `maxInFlight` unanswered pushes at a time.
 */
export function paceAtRate(rate: number, durationMs: number, bodySize: number, send: PushSender, maxInFlight = PUSH_IN_FLIGHT): RatePush {
  const tally: PushTally = { sent: 0, accepted: 0, failed: 0, errors: [] };
  const waiting: string[] = [];
  let head = 0;
  let inFlight = 0;
  let answered = 0;
  let scheduled = false;
  let finish!: () => void;
  const allAnswered = new Promise<void>((r) => (finish = r));
  const check = () => {
    if (scheduled && answered === tally.sent) finish();
  };
  const start = (body: string): void => {
    inFlight++;
    send(body, (err) => {
      inFlight--;
      noteError(tally, err);
      answered++;
      if (head < waiting.length) {
        start(waiting[head++]);
        if (head === waiting.length) {
          waiting.length = 0;
          head = 0;
        }
      }
      check();
    });
  };
  const schedule = every(rate, durationMs, () => {
    tally.sent++;
    const body = stampBody(clockMs(), bodySize);
    if (inFlight < maxInFlight) start(body);
    else waiting.push(body);
  });
  const done = schedule.done.then(async () => {
    scheduled = true;
    check();
    await allAnswered;
    return tally;
  });
  return { tally, done };
}

/** `rate` pushes per second for `durationMs` through the HTTP push API (see paceAtRate). */
export function pushAtRate(t: PushTarget, rate: number, durationMs: number, bodySize: number): RatePush {
  const agent = new Agent({ keepAlive: true, maxSockets: PUSH_IN_FLIGHT });
  const run = paceAtRate(rate, durationMs, bodySize, (body, done) => post(agent, t, body, done));
  return {
    tally: run.tally,
    done: run.done.finally(() => agent.destroy()),
  };
}

export interface ClosedLoopResult extends PushTally {
  /** Measured time, ms. */
  ms: number;
  latency: LatencySummary;
}

/** `concurrency` loops, each posting its next push when the previous one was answered. */
export async function pushClosedLoop(
  t: PushTarget,
  concurrency: number,
  durationMs: number,
  bodySize: number,
  onTick?: (tally: PushTally) => void,
): Promise<ClosedLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const tally: PushTally = { sent: 0, accepted: 0, failed: 0, errors: [] };
  const h = newHistogram();
  const start = performance.now();
  const end = start + durationMs;
  const ticker = onTick ? setInterval(() => onTick(tally), 1000) : null;
  const loop = () =>
    new Promise<void>((resolve) => {
      const next = (): void => {
        if (performance.now() >= end) return resolve();
        const t0 = clockMs();
        tally.sent++;
        post(agent, t, stampBody(t0, bodySize), (err) => {
          recordMs(h, clockMs() - t0);
          noteError(tally, err);
          next();
        });
      };
      next();
    });
  await Promise.all(Array.from({ length: concurrency }, loop));
  const ms = performance.now() - start;
  if (ticker) clearInterval(ticker);
  agent.destroy();
  return { ...tally, ms, latency: summarize(h) };
}
