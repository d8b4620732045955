// How big a push may be, derived from the settings every role can see. A push must fit what
// one connection may queue (protocol.sendQueueBytes minus the part kept for replies), or a
// comet drops it although logic answered `code 0`; logic refuses bigger ones and job never
// builds a room batch bigger than the largest push (docs/configuration.md, [push]).
import type { Config } from './schema.js';

/** goim frame header: packLen, headerLen, ver, op, seq. */
const FRAME_HEADER = 16;
/** Largest WebSocket frame header comet writes (a binary frame of 64 KiB or more, unmasked). */
const WS_HEADER_MAX = 10;

/**
 * Bytes a connection's send queue needs beyond the message itself: the message's own frame
 * header, and on WebSocket the op-9 frame around the batch and the WebSocket frame header
 * (docs/protocol.md, pushes on the wire).
 */
export const PUSH_FRAME_OVERHEAD = FRAME_HEADER + FRAME_HEADER + WS_HEADER_MAX;

/** push.maxBytes when unset, unless protocol.sendQueueBytes needs less. */
const DEFAULT_PUSH_MAX_BYTES = 256 * 1024;

/** Smallest power of two >= n (goim rounds cliProto up: 5 → 8). */
function ringSize(n: number): number {
  let r = 1;
  while (r < n) r <<= 1;
  return r;
}

export interface SendQueueSplit {
  /** protocol.sendQueueBytes: the most one connection may hold unsent. */
  capBytes: number;
  /** The part only replies may use: heartbeat replies still pass a client slowed by pushes. */
  replyReserve: number;
  /** What pushes may fill: capBytes − replyReserve. */
  pushBytes: number;
}

/** How a connection's send queue is split between pushes and replies (comet's Outbound). */
export function sendQueueSplit(protocol: Pick<Config['protocol'], 'sendQueueBytes' | 'cliProto' | 'maxBody'>): SendQueueSplit {
  const capBytes = protocol.sendQueueBytes;
  // Room for the replies of a full client ring.
  const replyReserve = Math.min(capBytes >> 2, ringSize(protocol.cliProto) * (FRAME_HEADER + protocol.maxBody + 10));
  return { capBytes, replyReserve, pushBytes: capBytes - replyReserve };
}

/** The largest push message protocol.sendQueueBytes lets through to an idle connection. */
function pushBytesThatFit(protocol: Config['protocol']): number {
  return sendQueueSplit(protocol).pushBytes - PUSH_FRAME_OVERHEAD;
}

/** push.maxBytes in effect: as set, or the default lowered to what the send queue holds. */
export function pushMaxBytes(config: Pick<Config, 'push' | 'protocol'>): number {
  return config.push.maxBytes ?? Math.min(DEFAULT_PUSH_MAX_BYTES, pushBytesThatFit(config.protocol));
}

/** Cross-key problems of the push limits, each naming its keys (empty when consistent). */
export function pushLimitIssues(config: Pick<Config, 'push' | 'protocol'>): { path: string; message: string }[] {
  const set = config.push.maxBytes;
  if (set === undefined) return [];
  const split = sendQueueSplit(config.protocol);
  const fit = split.pushBytes - PUSH_FRAME_OVERHEAD;
  if (set <= fit) return [];
  return [
    {
      path: 'push.maxBytes',
      message:
        `${set} does not fit a connection's send queue: a push of that size needs ${set + PUSH_FRAME_OVERHEAD} bytes, ` +
        `and protocol.sendQueueBytes (${split.capBytes}) leaves ${split.pushBytes} to pushes ` +
        `(${split.replyReserve} are kept for replies, from protocol.cliProto and protocol.maxBody); ` +
        `set push.maxBytes to at most ${fit}, or raise protocol.sendQueueBytes`,
    },
  ];
}
