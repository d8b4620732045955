// What a room type (the `live` of `live://1000`) enables, resolved from `[roomTypes]` by the
// wiring (config/room-type-settings.ts); docs/history.md#room-types. Durations in ms.

export interface ModerationSettings {
  /** Empty: no moderation. */
  url: string;
  timeout: number;
  failOpen: boolean;
  maxInflight: number;
}

export interface RoomTypeSettings {
  send: boolean;
  history: boolean;
  /** Operation of the room message a danmaku becomes. */
  op: number;
  anonymous: boolean;
  /** Longest text, in Unicode code points. */
  maxText: number;
  /** Largest `data` payload in bytes as sent. */
  maxData: number;
  rate: number;
  burst: number;
  slowMode: number;
  nonceWindow: number;
  keep: number;
  maxAge: number;
  replayMax: number;
  moderation: ModerationSettings;
}

/** Room type → its settings; a type not listed enables nothing. */
export type RoomTypes = ReadonlyMap<string, RoomTypeSettings>;
