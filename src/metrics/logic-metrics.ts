// Logic's metrics, read from the Logic object (and its HTTP server) when scraped.
import type { Registry } from 'prom-client';
import type { Danmaku } from '../logic/danmaku/danmaku.js';
import type { Logic } from '../logic/logic.js';
import { lazyCounter, lazyCounterSamples, lazyGauge } from './lazy-metrics.js';

export type LogicMetricsSource = Pick<Logic, 'pushCounts' | 'onlineTotal' | 'comets'>;

type Sample = { labels: Record<string, string>; value: number };

/**
 * Auth results from `logic.authStats()` when the logic in use has it (read with a guard,
 * so this compiles and runs with or without): `accepted` is result="accepted", each
 * `denied` entry result="denied" with its reason, any other number result=<its name>.
 */
/** Danmaku counts when the logic in use has them (read with a guard, as the auth results). */
function danmakuOf(logic: LogicMetricsSource): Danmaku | undefined {
  return (logic as { danmaku?: Danmaku }).danmaku;
}

function moderationSamples(logic: LogicMetricsSource): Sample[] {
  const d = danmakuOf(logic);
  if (d === undefined) return [];
  const out: Sample[] = [];
  for (const [type, counts] of Object.entries(d.moderationCounts())) {
    for (const [result, n] of Object.entries(counts)) out.push({ labels: { type, result }, value: n });
  }
  return out;
}

function authSamples(logic: LogicMetricsSource): Sample[] {
  const f = (logic as { authStats?: unknown }).authStats;
  if (typeof f !== 'function') return [];
  const s: unknown = f.call(logic);
  if (typeof s !== 'object' || s === null) return [];
  const out: Sample[] = [];
  for (const [k, v] of Object.entries(s) as [string, unknown][]) {
    if (typeof v === 'number') out.push({ labels: { result: k }, value: v });
    else if (k === 'denied' && typeof v === 'object' && v !== null) {
      for (const [reason, n] of Object.entries(v)) if (typeof n === 'number') out.push({ labels: { result: 'denied', reason }, value: n });
    }
  }
  return out;
}

export function registerLogicMetrics(registry: Registry, logic: LogicMetricsSource): void {
  lazyCounter(registry, {
    name: 'tsim_logic_pushes_total',
    help: 'Push API calls by kind (keys, mids, room, broadcast).',
    label: 'kind',
    read: () => logic.pushCounts,
  });
  lazyCounter(registry, {
    name: 'tsim_logic_pushes_refused_total',
    help: 'Push API calls refused before queueing, by reason (too_large: message over push.maxBytes, answered 413).',
    label: 'reason',
    read: () => (logic as { pushRefused?: Record<string, number> }).pushRefused ?? { too_large: 0 },
  });
  lazyCounter(registry, {
    name: 'tsim_logic_inbox_pushes_total',
    help: 'Durable pushes (docs/http-api.md#durable-pushes), by result: stored (in every target inbox), unavailable (the inbox storage failed: answered 503, nothing queued).',
    label: 'result',
    read: () => (logic as { inboxCounts?: () => Record<string, number> }).inboxCounts?.() ?? { stored: 0, unavailable: 0 },
  });
  lazyCounterSamples(registry, {
    name: 'tsim_logic_auth_total',
    help: 'Connection authentications decided by logic, by result (accepted, denied) and denial reason.',
    read: () => authSamples(logic),
  });
  lazyCounter(registry, {
    name: 'tsim_logic_danmaku_accepted_total',
    help: 'Danmaku (op 4) accepted and published to their room.',
    read: () => danmakuOf(logic)?.counts.accepted ?? 0,
  });
  lazyCounter(registry, {
    name: 'tsim_logic_danmaku_refused_total',
    help: 'Danmaku refused, by reason (the op-5 codes of docs/history.md#sending).',
    label: 'reason',
    read: () => danmakuOf(logic)?.counts.refused ?? {},
  });
  lazyCounter(registry, {
    name: 'tsim_logic_danmaku_repeats_total',
    help: "Danmaku answered with an earlier send's answer (same user and nonce), not published again.",
    read: () => danmakuOf(logic)?.counts.repeats ?? 0,
  });
  lazyCounterSamples(registry, {
    name: 'tsim_logic_danmaku_moderation_total',
    help: 'Moderation webhook calls by room type and result (accept, reject, replace, timeout, error, busy).',
    read: () => moderationSamples(logic),
  });
  lazyGauge(registry, {
    name: 'tsim_logic_online_connections',
    help: 'Connections on all usable comets, as their registrations report (goim conn_count).',
    read: () => logic.onlineTotal().connCount,
  });
  lazyGauge(registry, {
    name: 'tsim_logic_online_ips',
    help: 'Distinct client IPs on all usable comets, as their registrations report (goim ip_count).',
    read: () => logic.onlineTotal().ipCount,
  });
  lazyGauge(registry, {
    name: 'tsim_logic_comets',
    help: 'Comets known to logic and usable (online, not offline).',
    read: () => logic.comets().length,
  });
}

/** API-key and admin-key refusals of logic's HTTP server, when it counts them (`apiAuthStats()`, `adminAuthStats()`). */
export function registerLogicHttpMetrics(registry: Registry, http: object): void {
  lazyCounter(registry, {
    name: 'tsim_logic_api_rejected_total',
    help: 'HTTP API requests refused for a missing or invalid API key.',
    read: () => {
      const f = (http as { apiAuthStats?: unknown }).apiAuthStats;
      if (typeof f !== 'function') return 0;
      const s: unknown = f.call(http);
      const n = typeof s === 'object' && s !== null ? (s as { rejected?: unknown }).rejected : undefined;
      return typeof n === 'number' ? n : 0;
    },
  });
  lazyCounter(registry, {
    name: 'tsim_logic_admin_rejected_total',
    help: 'Operations console requests refused for a missing or invalid admin key, or (actions) for their origin.',
    read: () => {
      const f = (http as { adminAuthStats?: unknown }).adminAuthStats;
      if (typeof f !== 'function') return 0;
      const s: unknown = f.call(http);
      const n = typeof s === 'object' && s !== null ? (s as { rejected?: unknown }).rejected : undefined;
      return typeof n === 'number' ? n : 0;
    },
  });
}
