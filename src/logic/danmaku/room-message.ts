// The body viewers receive for a danmaku (docs/history.md#sending), written by hand: the mid
// is a bigint written exactly (beyond 2^53), `data` is the sender's JSON text as sent, and
// the fields keep the documented order.
import type { SendRequest } from './send-request.js';

export interface RoomMessage {
  id: string;
  mid: bigint;
  /** Moderation's replacement, else the sender's text; undefined for a data danmaku. */
  text: string | undefined;
  req: SendRequest;
  /** Accept time, Unix ms. */
  time: number;
}

export function roomMessageBody(m: RoomMessage): Buffer {
  let s = `{"id":${JSON.stringify(m.id)},"mid":${m.mid.toString()}`;
  if (m.text !== undefined) s += `,"text":${JSON.stringify(m.text)}`;
  else s += `,"data":${m.req.data}`;
  const r = m.req;
  if (r.nonce !== undefined) s += `,"nonce":${JSON.stringify(r.nonce)}`;
  if (r.progress !== undefined) s += `,"progress":${r.progress}`;
  if (r.mode !== undefined) s += `,"mode":${r.mode}`;
  if (r.color !== undefined) s += `,"color":${r.color}`;
  s += `,"time":${m.time}}`;
  return Buffer.from(s);
}
