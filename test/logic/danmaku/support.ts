// What the danmaku tests share: room type settings with the schema's defaults, a queue that
// records what is published (and can refuse or hold it), and a Danmaku on a manual clock.
import { MemorySendGuard } from '../../../src/adapters/memory/send-guard.js';
import { Danmaku } from '../../../src/logic/danmaku/danmaku.js';
import type { RoomTypeSettings } from '../../../src/logic/room-types.js';
import { silentLogger } from '../../../src/log.js';
import type { PushMsg, PushQueue, ReceiveRequest, SendGuard } from '../../../src/ports/index.js';
import { ManualClock } from '../../support/manual-clock.js';

export function roomType(over: Partial<RoomTypeSettings> = {}): RoomTypeSettings {
  return {
    send: true,
    history: false,
    op: 1000,
    anonymous: false,
    maxText: 100,
    maxData: 2048,
    rate: 1,
    burst: 5,
    slowMode: 0,
    nonceWindow: 120_000,
    keep: 10_000,
    maxAge: 604_800_000,
    replayMax: 100,
    moderation: { url: '', timeout: 500, failOpen: true, maxInflight: 256 },
    ...over,
  };
}

export class RecordingQueue implements PushQueue {
  readonly published: PushMsg[] = [];
  /** Set: publish rejects with it. */
  failure: Error | undefined;
  /** Set: publish waits for this promise first. */
  hold: Promise<void> | undefined;

  async publish(msg: PushMsg): Promise<void> {
    if (this.hold) await this.hold;
    if (this.failure) throw this.failure;
    this.published.push(msg);
  }
  async consume(): Promise<void> {}
  async close(): Promise<void> {}
}

export const WALL_TIME = 1_767_225_600_000;

export function desk(
  types: Record<string, RoomTypeSettings>,
  opts: { guard?: SendGuard; clock?: ManualClock; queue?: RecordingQueue; maxUsers?: number } = {},
) {
  const clock = opts.clock ?? new ManualClock();
  const queue = opts.queue ?? new RecordingQueue();
  const guard = opts.guard ?? new MemorySendGuard({ clock });
  const danmaku = new Danmaku({
    roomTypes: new Map(Object.entries(types)),
    guard,
    queue,
    log: silentLogger,
    pushMaxBytes: 262_144,
    clock,
    wallClock: () => WALL_TIME,
    maxUsers: opts.maxUsers,
  });
  return { danmaku, clock, queue, guard };
}

let seq = 0;
export function op4(body: string | object, over: Partial<Omit<ReceiveRequest, 'proto'>> = {}): ReceiveRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { mid: 123n, key: 'conn-1', room: 'live://1000', ...over, proto: { ver: 1, op: 4, seq: ++seq, body: Buffer.from(text) } };
}

/** The op-5 body as text, or 'echo' when goim's echo is kept. */
export function answer(r: { handled: boolean; reply?: Uint8Array }): string {
  return r.handled ? Buffer.from(r.reply ?? []).toString() : 'echo';
}

export function code(r: { handled: boolean; reply?: Uint8Array }): number | 'echo' {
  return r.handled ? (JSON.parse(answer(r)) as { code: number }).code : 'echo';
}
