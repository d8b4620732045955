// `tsim status`: the cluster's nodes and totals in a terminal, read from a logic's operations
// console API (GET /admin/api/overview, docs/http-api.md#operations-console-api) with an admin
// key as Bearer token.
import type { NodeView, Overview } from './logic/admin/cluster-view.js';
import { AnswerError, readAnswer } from './logic/webhook-answer.js';

export interface StatusOptions {
  /** Logic's HTTP address, e.g. "http://127.0.0.1:3111". */
  url: string;
  /** An admin key; undefined for a keyless console (embedded on loopback). */
  key: string | undefined;
  timeoutMs: number;
}

/** Why `tsim status` could not show the cluster: printed as is. */
export class StatusError extends Error {}

/** Most bytes of an answer read: an overview of 1000 nodes fits well within. */
const MAX_ANSWER_BYTES = 8 << 20;

export async function fetchOverview(opts: StatusOptions): Promise<Overview> {
  let base: URL;
  try {
    base = new URL(opts.url);
  } catch {
    throw new StatusError(`--url ${JSON.stringify(opts.url)} is not a URL (e.g. http://127.0.0.1:3111)`);
  }
  const url = new URL('/admin/api/overview', base);
  let res: Response;
  let text: string;
  // One deadline for the answer and its body; the body is read only up to MAX_ANSWER_BYTES.
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    res = await fetch(url, {
      headers: opts.key === undefined ? {} : { authorization: `Bearer ${opts.key}` },
      signal,
      redirect: 'error',
    });
    try {
      text = (await readAnswer(res, MAX_ANSWER_BYTES)).toString('utf8');
    } catch (err) {
      if (err instanceof AnswerError) throw new StatusError(`logic at ${base.origin} answered more than ${MAX_ANSWER_BYTES} bytes`);
      throw err;
    }
  } catch (err) {
    if (err instanceof StatusError) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      (err as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new StatusError(`cannot reach logic at ${base.origin}: ${why}`);
  }
  if (res.status === 401) {
    throw new StatusError(
      `logic at ${base.origin} refused the admin key (401): ${opts.key === undefined ? 'give one with --key or TSIM_ADMIN_KEY' : 'it is not one of its admin.keys'}`,
    );
  }
  if (res.status === 403) throw new StatusError(`logic at ${base.origin} refused the request (403): ${messageOf(text)}`);
  if (res.status === 404) throw new StatusError(`logic at ${base.origin} does not serve the operations console (404): set admin.keys there`);
  let body: { code?: number; message?: string; data?: Overview };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new StatusError(`logic at ${base.origin} answered HTTP ${res.status} with something that is not JSON`);
  }
  if (res.status !== 200 || body.code !== 0 || body.data === undefined) {
    throw new StatusError(`logic at ${base.origin} answered HTTP ${res.status}: ${plain(String(body.message ?? ''))}`);
  }
  if (!isOverview(body.data)) throw new StatusError(`logic at ${base.origin} answered an overview of another shape (a different tsim version?)`);
  return body.data;
}

function isOverview(v: unknown): v is Overview {
  const o = v as Partial<Overview> | null;
  if (typeof o !== 'object' || o === null || typeof o.totals !== 'object' || o.totals === null || !Array.isArray(o.nodes)) return false;
  return o.nodes.every(
    (n: Partial<NodeView> | null) =>
      typeof n === 'object' &&
      n !== null &&
      typeof n.role === 'string' &&
      typeof n.id === 'string' &&
      typeof n.version === 'string' &&
      typeof n.health === 'string' &&
      typeof n.uptimeS === 'number' &&
      Array.isArray(n.addrs) &&
      typeof n.values === 'object' &&
      n.values !== null &&
      typeof n.rates === 'object' &&
      n.rates !== null,
  );
}

/** Text from the snapshot store, safe for a terminal: control characters (escape sequences) shown as "?". */
function plain(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function messageOf(text: string): string {
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    return text.slice(0, 200);
  }
}

const num = (n: number | undefined, digits = 0): string => (typeof n !== 'number' || !Number.isFinite(n) ? '-' : n.toFixed(digits));

function uptime(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** The role's main number: connections on a comet, pushes/s on a logic, queue lag on a job. */
function load(n: NodeView): string {
  if (n.role === 'comet') return `${num(n.values.connections)} conns`;
  if (n.role === 'logic') return `${num(n.rates.pushes_in, 1)} push/s`;
  return `${num(n.values.queue_lag)} queued`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

/** The overview as text: the totals on two lines, then one row per node. */
export function formatStatus(o: Overview, url: string): string {
  const t = o.totals;
  const totals = [
    `connections ${num(t.connections)}`,
    `rooms ${num(t.rooms)}`,
    `pushes in/s ${num(t.pushes_in_per_s, 1)}`,
    `delivered/s ${num(t.delivered_per_s, 1)}`,
    `dropped/s ${num(t.dropped_per_s, 1)}`,
    `slow disconnects/s ${num(t.slow_disconnects_per_s, 1)}`,
    `auth failures/s ${num(t.auth_failures_per_s, 1)}`,
    `queue lag ${num(t.queue_lag)}`,
    `event loop p99 ${num(t.event_loop_p99_ms, 1)} ms`,
  ];
  const rows = [['ROLE', 'ID', 'VERSION', 'UPTIME', 'HEALTH', 'LOAD', 'LOOP P99', 'ADDRESSES']];
  for (const n of o.nodes) {
    rows.push(
      [n.role, n.id, n.version, uptime(n.uptimeS), n.health, load(n), `${num(n.values.event_loop_p99_ms, 1)} ms`, n.addrs.map(String).join(', ')].map(
        plain,
      ),
    );
  }
  const count = (role: string): number => o.nodes.filter((n) => n.role === role).length;
  return [
    `tsim at ${url}: ${count('comet')} comet(s), ${count('logic')} logic(s), ${count('job')} job(s)`,
    totals.slice(0, 5).join('  '),
    totals.slice(5).join('  '),
    '',
    table(rows),
    '',
  ].join('\n');
}
