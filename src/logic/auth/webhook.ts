// auth.mode = "webhook": logic asks the business server about every connection.
//
//   POST <auth.webhook.url>   Content-Type: application/json   (+ auth.webhook.headers)
//   {"token":"<auth body as text>","cookie":"…","client_ip":"…","server":"<comet id>"}
//
// and expects `200 {"allow":true,"mid":123,"key":"…","room_id":"…","accepts":[…]}` (mid a
// number or a decimal string; every field but allow optional). Anything else — another
// status, a redirect, invalid JSON, allow not exactly true, a network error or no answer
// within auth.webhook.timeout — denies the connection: the server fails closed. A denial
// may carry `"reason":"…"`, which is logged (truncated).
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { ConnectRequest } from '../../ports/index.js';
import { allow, deny, type AuthResult, type Authenticator } from './authenticator.js';
import { acceptsOf, ClaimError, midOf, roomsOf, sanitize, stringOf } from './claims.js';
import { httpUrl } from './config-values.js';
import { historyAsk, HistoryAskError } from '../../protocol/history-ask.js';
import type { HistoryAsk } from '../../ports/index.js';
import { AnswerError, readAnswer } from '../webhook-answer.js';

export type WebhookConfig = Config['auth']['webhook'];

/** An allow/deny answer is small; a larger one is a misconfigured endpoint. */
const MAX_ANSWER_BYTES = 64 * 1024;
const text = new TextDecoder();

/** Counts calls in flight; callers past the limit queue until a slot frees or their signal aborts. */
class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  acquire(signal: AbortSignal): Promise<void> {
    if (this.used < this.limit) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const take = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.used++;
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(take);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      this.waiting.push(take);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.used--;
    this.waiting.shift()?.();
  }
}

/** The network-level cause fetch hides behind "fetch failed". */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code !== undefined) return cause.code;
  if (cause?.message !== undefined) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

export class WebhookAuthenticator implements Authenticator {
  private readonly url: URL;
  private readonly headers: Headers;
  private readonly timeoutMs: number;
  private readonly slots: Slots;
  private readonly maxConcurrent: number;
  /** One controller per call (deadline and close()), never a long-lived shared signal. */
  private readonly calls = new Set<AbortController>();
  private closed = false;

  /** Throws (start-up) on a missing or unusable URL or header. */
  constructor(cfg: WebhookConfig, log: Logger) {
    if (cfg.url === '') throw new ConfigError('auth.mode is "webhook" but auth.webhook.url is not set');
    this.url = httpUrl(cfg.url, 'auth.webhook.url', log);
    try {
      this.headers = new Headers(cfg.headers);
    } catch (err) {
      throw new ConfigError(`auth.webhook.headers: ${(err as Error).message}`);
    }
    this.headers.set('content-type', 'application/json');
    if (cfg.timeout <= 0) throw new ConfigError('auth.webhook.timeout: must be above 0');
    this.timeoutMs = cfg.timeout;
    this.maxConcurrent = cfg.maxConcurrent;
    this.slots = new Slots(cfg.maxConcurrent);
    log.info(`logic: auth mode webhook, ${this.url.origin}${this.url.pathname}`);
  }

  async authenticate(req: ConnectRequest): Promise<AuthResult> {
    if (this.closed) return this.aborted('');
    // The client's history request rides in a JSON token; it grants nothing, so it is not the webhook's to decide.
    const history = historyOfToken(req.token);
    if (typeof history === 'string') return deny('malformed', `token ${history}`);
    const inbox = inboxOfToken(req.token);
    if (typeof inbox === 'string') return deny('malformed', `token ${inbox}`);
    const r = await this.decided(req);
    if (!r.ok) return r;
    return { ...r, ...(history.history !== undefined ? { history: history.history } : {}), ...(inbox ? { inbox: true } : {}) };
  }

  private async decided(req: ConnectRequest): Promise<AuthResult> {
    // One deadline covers waiting for a slot and the whole call, body included.
    const call = new AbortController();
    const timer = setTimeout(() => call.abort(new Error('webhook timeout')), this.timeoutMs);
    this.calls.add(call);
    try {
      return await this.call(req, call.signal);
    } finally {
      clearTimeout(timer);
      this.calls.delete(call);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const call of this.calls) call.abort(new Error('logic closing'));
  }

  private async call(req: ConnectRequest, signal: AbortSignal): Promise<AuthResult> {
    try {
      await this.slots.acquire(signal);
    } catch {
      return this.aborted(` (all ${this.maxConcurrent} webhook calls busy)`);
    }
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify({
          token: text.decode(req.token),
          cookie: req.cookie,
          client_ip: req.clientIp ?? '',
          server: req.server,
        }),
        signal,
        // A redirect could carry the token elsewhere; it is a denial like any non-200.
        redirect: 'manual',
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        return deny('webhook_error', `webhook: HTTP ${res.status}`);
      }
      return this.decide(text.decode(await readAnswer(res, MAX_ANSWER_BYTES)));
    } catch (err) {
      if (signal.aborted) return this.aborted('');
      if (err instanceof AnswerError) return deny('webhook_error', `webhook: ${err.message}`);
      return deny('webhook_error', `webhook: ${networkError(err)}`);
    } finally {
      this.slots.release();
    }
  }

  /** The denial for a call cut short by its deadline or by close(). */
  private aborted(detail: string): AuthResult {
    if (this.closed) return deny('webhook_error', 'webhook: logic is closing');
    return deny('webhook_timeout', `webhook: timeout after ${this.timeoutMs}ms${detail}`);
  }

  private decide(answer: string): AuthResult {
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer);
    } catch {
      return deny('webhook_error', 'webhook: answer is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return deny('webhook_error', 'webhook: answer is not a JSON object');
    }
    const a = parsed as Record<string, unknown>;
    if (a.allow !== true) {
      const why = typeof a.reason === 'string' && a.reason !== '' ? ` (${sanitize(a.reason)})` : '';
      return deny('webhook_denied', `webhook: denied${why}`);
    }
    try {
      const rooms = roomsOf(a.rooms, '"rooms"');
      return allow({
        mid: a.mid === undefined || a.mid === null ? 0n : midOf(a.mid, '"mid"'),
        key: stringOf(a.key, '"key"') ?? '',
        roomId: stringOf(a.room_id, '"room_id"') ?? '',
        accepts: acceptsOf(a.accepts, '"accepts"') ?? [],
        // The business server decided the room and ops; the client cannot widen them later.
        roomFixed: true,
        acceptsFixed: true,
        ...(rooms !== undefined ? { rooms } : {}),
      });
    } catch (err) {
      if (err instanceof ClaimError) return deny('webhook_error', `webhook: bad answer: ${err.message}`);
      throw err;
    }
  }
}

/**
 * The `history` field of a token that is a JSON object (docs/history.md#opting-in); {} for any
 * other token, the reason when the field is invalid.
 */
function historyOfToken(token: Uint8Array): { history?: HistoryAsk } | string {
  if (token.length === 0 || token[0] !== 0x7b /* { */) return {};
  let v: unknown;
  try {
    v = JSON.parse(text.decode(token));
  } catch {
    return {};
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const h = (v as Record<string, unknown>).history;
  if (h === undefined || h === null) return {};
  try {
    return { history: historyAsk(h) };
  } catch (err) {
    if (err instanceof HistoryAskError) return err.message;
    throw err;
  }
}

/**
 * The `inbox` field of a token that is a JSON object (docs/protocol.md#durable-inbox): it opts
 * in to the inbox of the mid the webhook answers, so like `history` it is the client's choice.
 */
function inboxOfToken(token: Uint8Array): boolean | string {
  if (token.length === 0 || token[0] !== 0x7b /* { */) return false;
  let v: unknown;
  try {
    v = JSON.parse(text.decode(token));
  } catch {
    return false;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const inbox = (v as Record<string, unknown>).inbox;
  if (inbox === undefined || inbox === null || inbox === false) return false;
  return inbox === true ? true : 'inbox must be a boolean';
}
