// Sending one proto to several comets and reporting once all of them answered.
import type { Proto } from '../ports/index.js';
import type { CallDone, CometCall, CometLane } from './comet-lane.js';

/**
 * Submits `call` to every lane (under order key `key`); `done` runs once after all settled,
 * with an error naming the comets that failed, or null. Waiting for every comet before
 * reporting a failure keeps the ack honest: nothing is still in flight when the queue
 * decides to redeliver.
 */
export function fanOut(
  lanes: readonly CometLane[],
  key: string | null,
  call: CometCall,
  what: string,
  done: (err: Error | null) => void,
): void {
  fanOutWith(lanes, (lane, laneDone) => lane.submit(key, call, laneDone), what, done);
}

/** fanOut for a room batch: each lane keeps the room's order and may merge queued batches. */
export function fanOutRoomBatch(lanes: readonly CometLane[], room: string, proto: Proto, done: (err: Error | null) => void): void {
  fanOutWith(lanes, (lane, laneDone) => lane.submitRoomBatch(room, proto, laneDone), `broadcastRoom ${room}`, done);
}

function fanOutWith(
  lanes: readonly CometLane[],
  send: (lane: CometLane, done: CallDone) => void,
  what: string,
  done: (err: Error | null) => void,
): void {
  let remaining = lanes.length;
  let failed: string[] | null = null;
  let first: Error | null = null;
  if (remaining === 0) {
    done(null);
    return;
  }
  for (const lane of lanes) {
    send(lane, (err) => {
      if (err) {
        (failed ??= []).push(lane.hostname);
        first ??= err;
      }
      if (--remaining > 0) return;
      done(first ? new Error(`job: ${what} failed on comet ${failed!.join(', ')}: ${first.message}`, { cause: first }) : null);
    });
  }
}

/** fanOut as a promise. */
export function fanOutAsync(lanes: readonly CometLane[], key: string | null, call: CometCall, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => fanOut(lanes, key, call, what, (err) => (err ? reject(err) : resolve())));
}
