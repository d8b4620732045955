// Sending one proto to several comets and reporting once all of them answered.
//
// The outcome decides the queue message's fate (docs/deployment.md, when a part fails):
// - some comet accepted it: it is acknowledged; a comet that is down keeps its copy (the
//   lane delivers it when the comet answers again, or drops and counts it when the comet
//   leaves), so the comets that accepted it never see it again;
// - no comet accepted it and one is down: it fails, the down comets forget their copies,
//   and the queue redelivers it later — nothing was delivered, so nothing is duplicated;
// - otherwise (accepted nowhere because the comets left, or refused): acknowledged; the
//   lanes counted what they dropped.
import type { Proto } from '../ports/index.js';
import { CometDownError, type CallDone, type CometCall, type CometLane, type ParkedCall } from './comet-lane.js';

/**
 * Submits `call` to every lane; resolves once all settled, or rejects when the message must
 * go back to the queue. Waiting for every comet before reporting keeps the ack honest:
 * nothing is still in flight when the queue decides to redeliver. `bytes`: the message
 * bytes the call carries.
 */
export function fanOutAsync(lanes: readonly CometLane[], call: CometCall, what: string, bytes = 0): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    fanOutWith(
      lanes,
      (lane, laneDone) => lane.submit(null, call, laneDone, bytes),
      what,
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

/** fanOutAsync for a room batch, reported to `done`: each lane keeps the room's order and may merge queued batches. */
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
  if (remaining === 0) {
    done(null);
    return;
  }
  let accepted = 0;
  let down: string[] | null = null;
  let parked: ParkedCall[] | null = null;
  let cause: Error | null = null;
  for (const lane of lanes) {
    send(lane, (err, skipped, held) => {
      if (err === null) {
        if (skipped !== true) accepted++;
      } else if (err instanceof CometDownError) {
        (down ??= []).push(lane.hostname);
        if (held) (parked ??= []).push(held);
        cause ??= err;
      }
      if (--remaining > 0) return;
      if (down === null || accepted > 0) {
        if (parked) for (const p of parked) p.keep();
        done(null);
        return;
      }
      if (parked) for (const p of parked) p.drop();
      done(new Error(`job: ${what} not delivered: comet ${down.join(', ')} down and no comet took it (${cause!.message})`, { cause }));
    });
  }
}
