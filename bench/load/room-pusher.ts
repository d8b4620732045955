// Room pushes spread over many rooms, for the persist scenario: push k goes to room
// `<type>://<1 + k mod rooms>`, evenly spaced, stamped when due, at most `inFlight`
// unanswered (a push due beyond that is counted, not sent), through logic's HTTP push API (goim POST
// /goim/push/room, keep-alive) or straight into distributed tsim's NATS JetStream queue
// (the PushMsg logic's pushRoom publishes, as queue-pusher.ts does for the bench room).
// What each room accepted is counted, so that each viewer can be held to its own room.
import { Agent } from 'node:http';
import type { NatsPushQueue } from '../../src/adapters/nats/push-queue.js';
import { newMessageId } from '../../src/logic/message-id.js';
import { encodeRoomKey } from '../../src/logic/room-key.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { every } from '../run/schedule.js';
import { post, type PushTally } from './pusher.js';
import { clockMs, stampBody } from './stamp.js';

export interface RoomPushTally extends PushTally {
  /** Pushes that were due while `inFlight` were unanswered: not sent (the source could not keep up). */
  unsent: number;
}

export interface RoomPushRun {
  tally: RoomPushTally;
  /** Pushes accepted per room index (room `<type>://<index + 1>`). */
  acceptedByRoom: number[];
  /** Resolves once every push sent was answered. */
  done: Promise<RoomPushTally>;
}

export interface RoomPushOptions {
  roomType: string;
  operation: number;
  rooms: number;
  rate: number;
  durationMs: number;
  bodySize: number;
  inFlight: number;
}

type RoomSender = (room: number, body: string, done: (err: string | null) => void) => void;

/**
 * `rate` pushes per second for `durationMs`, evenly spaced (schedule.ts), push k to room
 * k mod rooms, each body stamped when due. Open loop with a bound: a push due while `inFlight`
 * pushes are unanswered is not sent but counted (unsent), so a run lasts its duration whatever
 * the server does, and the figures say when the source fell behind.
 */
function spread(o: RoomPushOptions, send: RoomSender): RoomPushRun {
  const tally: RoomPushTally = { sent: 0, accepted: 0, failed: 0, unsent: 0, errors: [] };
  const acceptedByRoom = new Array<number>(o.rooms).fill(0);
  let k = 0;
  let inFlight = 0;
  let answered = 0;
  let scheduled = false;
  let finish!: () => void;
  const allAnswered = new Promise<void>((r) => (finish = r));
  const check = (): void => {
    if (scheduled && answered === tally.sent) finish();
  };
  const schedule = every(o.rate, o.durationMs, () => {
    const room = k++ % o.rooms;
    if (inFlight >= o.inFlight) {
      tally.unsent++;
      return;
    }
    inFlight++;
    tally.sent++;
    send(room, stampBody(clockMs(), o.bodySize), (err) => {
      inFlight--;
      answered++;
      if (err === null) {
        tally.accepted++;
        acceptedByRoom[room]++;
      } else {
        tally.failed++;
        if (tally.errors.length < 5) tally.errors.push(err);
      }
      check();
    });
  });
  const done = schedule.done.then(async () => {
    scheduled = true;
    check();
    await allAnswered;
    return tally;
  });
  return { tally, acceptedByRoom, done };
}

/** Through logic's HTTP push API on 127.0.0.1:`port`, one keep-alive connection per push in flight. */
export function pushRoomsHttp(port: number, o: RoomPushOptions): RoomPushRun {
  const agent = new Agent({ keepAlive: true, maxSockets: o.inFlight });
  const paths = Array.from({ length: o.rooms }, (_, i) => `/goim/push/room?operation=${o.operation}&type=${o.roomType}&room=${i + 1}`);
  const run = spread(o, (room, body, done) => {
    post(agent, { host: '127.0.0.1', port, path: paths[room] }, body, done);
  });
  return { ...run, done: run.done.finally(() => agent.destroy()) };
}

/** Published to `queue` (a NatsPushQueue on the cluster's NATS, see openQueuePusher), as logic would for the HTTP push. */
export function pushRoomsQueue(queue: Pick<NatsPushQueue, 'publish'>, o: RoomPushOptions): RoomPushRun {
  const keys = Array.from({ length: o.rooms }, (_, i) => encodeRoomKey(o.roomType, String(i + 1)));
  return spread(o, (room, body, done) => {
    const msg: PushMsg = {
      type: PushType.ROOM,
      operation: o.operation,
      speed: 0,
      server: '',
      room: keys[room],
      keys: [],
      msg: Buffer.from(body),
      id: newMessageId(),
      time: Date.now(),
    };
    queue.publish(msg).then(
      () => done(null),
      (e: unknown) => done(e instanceof Error ? e.message : String(e)),
    );
  });
}
