// Room keys: a room `id` of type `type` is the key `type://id` everywhere (session store, push
// queue, comets). /goim/online/top reports a key's room id as goim does, the host Go's
// url.Parse finds in it (docs/http-api.md#online).
import { goUrlHost } from '../protocol/go/go-url.js';

export function encodeRoomKey(type: string, room: string): string {
  return `${type}://${room}`;
}

/** The room id goim reports for a room key (`live://1000` → `1000`); undefined when Go's parser rejects the key. */
export function roomIdOfKey(key: string): string | undefined {
  return goUrlHost(key);
}
