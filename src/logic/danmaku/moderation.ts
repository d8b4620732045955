// A room type's moderation webhook (docs/history.md#moderation): logic POSTs
//   {"mid":123,"room":"live://1000","text":"…"}     (or "data":<as sent> instead of text)
// and expects 200 {"action":"accept"} | {"action":"reject","reason":"…"} | {"action":"replace","text":"…"}.
// Anything else — another status, a redirect, a body that is not one of those, more than
// MAX_ANSWER_BYTES, a network error, no answer within `timeout`, or more than `maxInflight`
// calls already waiting — is a failure, and the room type's failOpen decides.
import type { Logger } from '../../log.js';
import { sanitize } from '../auth/claims.js';
import { httpUrl } from '../auth/config-values.js';
import type { ModerationSettings } from '../room-types.js';
import { isWellFormed } from './send-request.js';
import { readAnswer } from '../webhook-answer.js';

/** A verdict is small; a larger answer is a misconfigured endpoint. */
export const MAX_ANSWER_BYTES = 16 * 1024;

export type Verdict =
  | { action: 'accept' }
  | { action: 'reject'; reason: string | undefined }
  | { action: 'replace'; text: string }
  | { action: 'failed'; why: 'timeout' | 'error' | 'busy' };

export interface ModerationAsk {
  mid: bigint;
  room: string;
  text?: string;
  /** JSON text as the sender wrote it. */
  data?: string;
}

/** Calls by outcome (metrics). */
export type ModerationCounts = Record<'accept' | 'reject' | 'replace' | 'timeout' | 'error' | 'busy', number>;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ModerationWebhook {
  readonly counts: ModerationCounts = { accept: 0, reject: 0, replace: 0, timeout: 0, error: 0, busy: 0 };
  private readonly url: URL;
  private inflight = 0;
  /** Aborts every call in flight on close(). */
  private readonly closing = new AbortController();
  /** Failures are logged at most this often (each is counted). */
  private failureLoggedAt = -Infinity;

  /** Throws (start-up) on an unusable URL. */
  constructor(
    private readonly settings: ModerationSettings,
    private readonly name: string,
    private readonly log: Logger,
  ) {
    this.url = httpUrl(settings.url, name, log);
  }

  async check(ask: ModerationAsk): Promise<Verdict> {
    if (this.closing.signal.aborted) return this.failed('error', 'logic is closing');
    if (this.inflight >= this.settings.maxInflight) return this.failed('busy', `${this.settings.maxInflight} calls in flight`);
    this.inflight++;
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.settings.timeout)]);
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: requestBody(ask),
        signal,
        redirect: 'manual',
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        return this.failed('error', `HTTP ${res.status}`);
      }
      return this.decide(utf8.decode(await readAnswer(res, MAX_ANSWER_BYTES)));
    } catch (err) {
      if (signal.aborted && !this.closing.signal.aborted) return this.failed('timeout', `no answer within ${this.settings.timeout} ms`);
      return this.failed('error', err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err));
    } finally {
      this.inflight--;
    }
  }

  close(): void {
    this.closing.abort(new Error('logic closing'));
  }

  private decide(answer: string): Verdict {
    let a: unknown;
    try {
      a = JSON.parse(answer);
    } catch {
      return this.failed('error', 'answer is not JSON');
    }
    if (typeof a !== 'object' || a === null) return this.failed('error', 'answer is not a JSON object');
    const { action, reason, text } = a as Record<string, unknown>;
    if (action === 'accept') {
      this.counts.accept++;
      return { action };
    }
    if (action === 'reject') {
      this.counts.reject++;
      const why = typeof reason === 'string' && isWellFormed(reason) ? sanitize(reason) : '';
      return { action, reason: why === '' ? undefined : why };
    }
    if (action === 'replace' && typeof text === 'string' && text !== '' && isWellFormed(text)) {
      this.counts.replace++;
      return { action, text };
    }
    return this.failed('error', 'answer is not accept, reject or replace with a text');
  }

  private failed(why: 'timeout' | 'error' | 'busy', detail: string): Verdict {
    this.counts[why]++;
    const t = performance.now();
    if (t - this.failureLoggedAt >= 10_000) {
      this.failureLoggedAt = t;
      this.log.warn(
        { failOpen: this.settings.failOpen },
        `logic: ${this.name} failed (${why}): ${detail}; further failures for 10 s are only counted`,
      );
    }
    return { action: 'failed', why };
  }
}

function requestBody(ask: ModerationAsk): string {
  let s = `{"mid":${ask.mid.toString()},"room":${JSON.stringify(ask.room)}`;
  if (ask.text !== undefined) s += `,"text":${JSON.stringify(ask.text)}`;
  if (ask.data !== undefined) s += `,"data":${ask.data}`;
  return `${s}}`;
}
