// What logic's `GET /goim/nodes/weighted` advertises (docs/http-api.md#nodes) and how a
// client uses it: which comets to dial, how often to heartbeat, how to back off between
// reconnects.

/** The `data` object of `/goim/nodes/weighted`; goim omits every zero/empty field. */
export interface WeightedNodes {
  domain?: string;
  tcp_port?: number;
  ws_port?: number;
  wss_port?: number;
  /** Recommended heartbeat interval, seconds. */
  heartbeat?: number;
  heartbeat_max?: number;
  nodes?: string[];
  /** Seconds (delays) and plain ratios, as goim's `[backoff]` section. */
  backoff?: { max_delay?: number; base_delay?: number; factor?: number; jitter?: number };
}

/** Reconnect back-off: delay = min(maxMs, baseMs × factor^attempt) × (1 ± jitter). */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  factor: number;
  /** 0.3 spreads delays over ±30 %, so clients dropped together do not return together. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 30_000, factor: 1.8, jitter: 0.3 };

/** Delay before reconnect number `attempt` (0 = the first retry). */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  let delay = b.baseMs;
  for (let i = 0; i < attempt && delay < b.maxMs; i++) delay *= b.factor;
  delay = Math.min(delay, b.maxMs);
  delay *= 1 + b.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(delay));
}

/** Back-off from explicit settings, else what logic advertised, else the defaults. */
export function resolveBackoff(explicit: Partial<Backoff> | undefined, nodes: WeightedNodes | undefined): Backoff {
  const adv = nodes?.backoff;
  const fromNodes: Partial<Backoff> = {};
  if (adv?.base_delay !== undefined && adv.base_delay > 0) fromNodes.baseMs = adv.base_delay * 1000;
  if (adv?.max_delay !== undefined && adv.max_delay > 0) fromNodes.maxMs = adv.max_delay * 1000;
  if (adv?.factor !== undefined && adv.factor >= 1) fromNodes.factor = adv.factor;
  if (adv?.jitter !== undefined && adv.jitter >= 0 && adv.jitter <= 1) fromNodes.jitter = adv.jitter;
  return { ...DEFAULT_BACKOFF, ...fromNodes, ...stripUndefined(explicit ?? {}) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** WebSocket URLs of the advertised comets (`ws://host:ws_port/sub`, or wss with wss_port). */
export function nodeUrls(nodes: WeightedNodes, secure = false): string[] {
  const port = secure ? nodes.wss_port : nodes.ws_port;
  const scheme = secure ? 'wss' : 'ws';
  return nodeHosts(nodes).map((h) => `${scheme}://${joinHostPort(h, port ?? (secure ? 3103 : 3102))}/sub`);
}

/** `host:port` of the advertised comets' raw TCP listeners. */
export function nodeTcpAddresses(nodes: WeightedNodes): string[] {
  return nodeHosts(nodes).map((h) => joinHostPort(h, nodes.tcp_port ?? 3101));
}

function nodeHosts(nodes: WeightedNodes): string[] {
  // goim puts "" in the list for a comet registered without addresses.
  const hosts = (nodes.nodes ?? []).filter((h) => h !== '');
  if (hosts.length === 0 && nodes.domain) hosts.push(nodes.domain);
  return hosts;
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Asks logic which comets to use. `logicUrl` is its HTTP base, e.g. `http://127.0.0.1:3111`.
 * Rejects when the request fails or the envelope's code is not 0.
 */
export async function fetchNodes(logicUrl: string, platform = 'web'): Promise<WeightedNodes> {
  const url = new URL('/goim/nodes/weighted', logicUrl);
  url.searchParams.set('platform', platform);
  const res = await fetch(url);
  const reply = (await res.json()) as { code?: number; message?: string; data?: WeightedNodes };
  if (reply.code !== 0) throw new Error(`nodes: ${url.href} answered code ${reply.code}: ${reply.message ?? ''}`);
  return reply.data ?? {};
}
