// The `[roomTypes]` tables as the roles take them (logic/room-types.ts): built by the wiring
// so the roles never see the whole Config.
import type { RoomTypeSettings, RoomTypes } from '../logic/room-types.js';
import type { Config } from './schema.js';

export function roomTypeSettings(config: Config): RoomTypes {
  const out = new Map<string, RoomTypeSettings>();
  for (const [type, t] of Object.entries(config.roomTypes)) {
    out.set(type, {
      send: t.send,
      history: t.history,
      op: t.op,
      anonymous: t.anonymous,
      maxText: t.maxText,
      maxData: t.maxData,
      rate: t.rate,
      burst: t.burst,
      slowMode: t.slowMode,
      nonceWindow: t.nonceWindow,
      keep: t.keep,
      maxAge: t.maxAge,
      replayMax: t.replayMax,
      moderation: { url: t.moderation.url, timeout: t.moderation.timeout, failOpen: t.moderation.failOpen, maxInflight: t.moderation.maxInflight },
    });
  }
  return out;
}
