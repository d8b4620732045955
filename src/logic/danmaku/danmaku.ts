// Danmaku sending in logic (docs/history.md#sending): a client's op 4 in a room type with
// `send` becomes a room message, answered with op 5. In order: the body (send-request.ts),
// the room and the sender, the nonce (a repeat gets the first answer), the user's token
// bucket, slow mode, moderation, then the push queue. Refusals are counted, never logged
// one by one (a flood would flood the log).
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../log.js';
import { PushType, type PushQueue, type ReceiveRequest, type ReceiveResult } from '../../ports/index.js';
import type { SendGuard } from '../../ports/send-guard.js';
import { newMessageId } from '../message-id.js';
import { roomTypeOf } from '../../protocol/room-key.js';
import type { RoomTypeSettings, RoomTypes } from '../room-types.js';
import { ModerationWebhook, type ModerationCounts } from './moderation.js';
import { acceptedBody, isPassing, REFUSAL_REASONS, refusalBody, type RefusalReason } from './refusal.js';
import { roomMessageBody } from './room-message.js';
import { parseSend, type SendRequest } from './send-request.js';
import { UserBuckets } from './user-buckets.js';

export interface DanmakuOptions {
  roomTypes: RoomTypes;
  guard: SendGuard;
  queue: PushQueue;
  log: Logger;
  /** push.maxBytes: a room message must fit. */
  pushMaxBytes: number;
  /** Monotonic time of the token buckets and of waiting on another process's send. */
  clock?: Clock;
  /** Accept time written into messages, Unix ms. */
  wallClock?: () => number;
  /** Users whose token buckets are kept (see user-buckets.ts); default 100,000. */
  maxUsers?: number;
}

export interface DanmakuCounts {
  accepted: number;
  /** Sends answered with an earlier send's answer (same nonce). */
  repeats: number;
  refused: Record<RefusalReason, number>;
}

/** How long a nonce may stay claimed by a send in progress beyond moderation's timeout (the queue's publish). */
const PENDING_EXTRA_MS = 10_000;
/** How often a repeat asks whether another process's send with its nonce is answered. */
const PENDING_POLL_MS = 50;
/** Guard failures are logged at most this often. */
const LOG_EVERY_MS = 10_000;
/** Limits used to recognise a danmaku naming a room in a room type that takes none. */
const DEFAULT_LIMITS = { maxText: 100, maxData: 2048 };
const ROOM_FIELD = Buffer.from('"room"');

const notHandled: ReceiveResult = { handled: false };

interface Outcome {
  reply: Uint8Array;
  /** false: a passing refusal; the nonce is given back. */
  final: boolean;
}

export class Danmaku {
  readonly counts: DanmakuCounts;
  private readonly types: RoomTypes;
  private readonly guard: SendGuard;
  private readonly queue: PushQueue;
  private readonly log: Logger;
  private readonly pushMax: number;
  private readonly clock: Clock;
  private readonly wall: () => number;
  private readonly buckets: UserBuckets;
  private readonly moderation = new Map<string, ModerationWebhook>();
  /** Sends with a nonce in progress in this process: a repeat waits for the same answer. */
  private readonly inflight = new Map<string, Promise<ReceiveResult>>();
  private guardLoggedAt = -Infinity;

  constructor(opts: DanmakuOptions) {
    this.types = opts.roomTypes;
    this.guard = opts.guard;
    this.queue = opts.queue;
    this.log = opts.log;
    this.pushMax = opts.pushMaxBytes;
    this.clock = opts.clock ?? systemClock;
    this.wall = opts.wallClock ?? Date.now;
    this.buckets = new UserBuckets(opts.maxUsers ?? 100_000);
    this.counts = { accepted: 0, repeats: 0, refused: Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number> };
    for (const [type, t] of this.types) {
      if (t.send && t.moderation.url !== '')
        this.moderation.set(type, new ModerationWebhook(t.moderation, `roomTypes.${type}.moderation.url`, this.log));
    }
  }

  /** Moderation calls by outcome, per room type. */
  moderationCounts(): Record<string, ModerationCounts> {
    return Object.fromEntries([...this.moderation].map(([type, m]) => [type, { ...m.counts }]));
  }

  close(): void {
    for (const m of this.moderation.values()) m.close();
  }

  /** An op-4 frame: handled when it is a danmaku (or names a room to send in), else goim's echo. */
  receive(req: ReceiveRequest): Promise<ReceiveResult> {
    const type = roomTypeOf(req.room);
    const rt = this.types.get(type);
    if (rt?.send !== true) return Promise.resolve(this.notSending(req, rt));
    const parsed = parseSend(req.proto.body, rt);
    if (!parsed.ok) return this.refused(parsed.reason);
    const r = parsed.req;
    if (r.room !== undefined && r.room !== req.room) return this.refused('not_in_room');
    if (req.mid <= 0n && !rt.anonymous) return this.refused('anonymous');
    const user = req.mid > 0n ? `m${req.mid}` : `k${req.key}`;
    if (r.nonce === undefined) return this.send(req, type, rt, r, user).then((o) => ({ handled: true, reply: o.reply }));
    // A nonce names one send of one user in one room: the same nonce in another room is another send.
    const nonce = `${req.room.length}:${req.room}${r.nonce}`;
    const key = `${user.length}:${user}${nonce}`;
    const same = this.inflight.get(key);
    if (same !== undefined) {
      this.counts.repeats++;
      return same;
    }
    const p = this.sendOnce(req, type, rt, r, user, nonce).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /**
   * Op 4 in a room type without `send` keeps goim's echo, unless its body is a danmaku that
   * names a room: that sender expects an answer (code 3 or 9).
   */
  private notSending(req: ReceiveRequest, rt: RoomTypeSettings | undefined): ReceiveResult {
    if (Buffer.from(req.proto.body.buffer, req.proto.body.byteOffset, req.proto.body.length).indexOf(ROOM_FIELD) < 0) return notHandled;
    const parsed = parseSend(req.proto.body, rt ?? DEFAULT_LIMITS);
    if (!parsed.ok || parsed.req.room === undefined) return notHandled;
    return this.refusal(parsed.req.room === req.room ? 'send_off' : 'not_in_room');
  }

  private refusal(reason: RefusalReason, message?: string): ReceiveResult {
    this.counts.refused[reason]++;
    return { handled: true, reply: refusalBody(reason, message) };
  }

  private refused(reason: RefusalReason): Promise<ReceiveResult> {
    return Promise.resolve(this.refusal(reason));
  }

  /** A send with a nonce: claimed in the guard, so a repeat from anywhere gets this answer. */
  private async sendOnce(
    req: ReceiveRequest,
    type: string,
    rt: RoomTypeSettings,
    r: SendRequest,
    user: string,
    nonce: string,
  ): Promise<ReceiveResult> {
    const pendingMs = (this.moderation.has(type) ? rt.moderation.timeout : 0) + PENDING_EXTRA_MS;
    const deadline = this.clock.now() + pendingMs;
    let token: string;
    try {
      for (;;) {
        const claim = await this.guard.claimNonce(user, nonce, pendingMs);
        if (claim.state === 'answered') {
          this.counts.repeats++;
          return { handled: true, reply: claim.answer };
        }
        if (claim.state === 'first') {
          token = claim.token;
          break;
        }
        // Another process is sending it: its answer comes within pendingMs.
        if (this.clock.now() >= deadline) return this.refusal('unavailable');
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, PENDING_POLL_MS));
      }
    } catch (err) {
      this.guardFailed(err);
      return this.refusal('unavailable');
    }
    const o = await this.send(req, type, rt, r, user);
    try {
      if (o.final) await this.guard.settleNonce(user, nonce, o.reply, rt.nonceWindow);
      else await this.guard.releaseNonce(user, nonce, token);
    } catch (err) {
      this.guardFailed(err);
    }
    return { handled: true, reply: o.reply };
  }

  private async send(req: ReceiveRequest, type: string, rt: RoomTypeSettings, r: SendRequest, user: string): Promise<Outcome> {
    if (!this.buckets.take(`${type}\n${user}`, rt.rate, rt.burst, this.clock.now())) return this.outcome('rate_limit');
    let slot: string | undefined;
    if (rt.slowMode > 0) {
      try {
        slot = await this.guard.claimSlot(user, req.room, rt.slowMode);
      } catch (err) {
        this.guardFailed(err);
        return this.outcome('unavailable');
      }
      if (slot === undefined) return this.outcome('slow_mode');
    }
    const o = await this.moderateAndPublish(req, type, rt, r);
    if (slot !== undefined && !o.final) {
      // Nothing was sent: the user may try again at once.
      await this.guard.releaseSlot(user, req.room, slot).catch((err: unknown) => this.guardFailed(err));
    }
    return o;
  }

  private async moderateAndPublish(req: ReceiveRequest, type: string, rt: RoomTypeSettings, r: SendRequest): Promise<Outcome> {
    let text = r.text;
    const webhook = this.moderation.get(type);
    if (webhook !== undefined) {
      const v = await webhook.check({ mid: req.mid, room: req.room, text: r.text, data: r.data });
      if (v.action === 'reject') return this.outcome('moderation_rejected', v.reason);
      if (v.action === 'replace') text = v.text;
      else if (v.action === 'failed' && !rt.moderation.failOpen) return this.outcome('moderation_unavailable');
    }
    const id = newMessageId();
    const time = this.wall();
    const msg = roomMessageBody({ id, mid: req.mid, text, req: r, time });
    // Only a replacement text can make it larger than the limits let through.
    if (msg.length > this.pushMax) return this.outcome('too_long');
    try {
      await this.queue.publish({
        type: PushType.ROOM,
        operation: rt.op,
        speed: 0,
        server: '',
        room: req.room,
        keys: [],
        msg,
        id,
        sender: req.mid,
        time,
        progress: r.progress,
      });
    } catch {
      // The queue says why in its own metrics (queue full, NATS down); the client tries again.
      return this.outcome('queue_refused');
    }
    this.counts.accepted++;
    return { reply: acceptedBody(id), final: true };
  }

  private outcome(reason: RefusalReason, message?: string): Outcome {
    this.counts.refused[reason]++;
    return { reply: refusalBody(reason, message), final: !isPassing(reason) };
  }

  private guardFailed(err: unknown): void {
    const t = this.clock.now();
    if (t - this.guardLoggedAt < LOG_EVERY_MS) return;
    this.guardLoggedAt = t;
    this.log.warn({ err: (err as Error)?.message ?? String(err) }, 'logic: the danmaku send guard failed; sends are refused with code 10 meanwhile');
  }
}
