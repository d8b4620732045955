// `npm run bench -- inbox`: the durable inbox (docs/inbox.md, docs/protocol.md#durable-inbox).
// 1. Offline drain: M durable pushes stored for each of N users through the HTTP API while
//    nobody is connected; then the N users connect at once (inbox clients with stable keys,
//    acknowledging cumulatively), timed until every one holds its backlog and its
//    acknowledgement of the last seq was answered; lost and duplicated seqs counted by the
//    clients, every device's watermark then read back through the inbox API.
// 2. With the users online: durable and non-durable mid pushes at a fixed concurrency for D s
//    each, pushes/s and deliveries, the ratio being the cost of durability.
// Embedded tsim keeps the inboxes in SQLite; tsim-cluster in PostgreSQL, in a database the
// run creates and drops.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InboxCommand, InboxCount, InboxOpened } from '../load/inbox-worker.js';
import { FD_RESERVE } from '../load/pool.js';
import { post } from '../load/pusher.js';
import { clockMs, stampBody } from '../load/stamp.js';
import { openFileLimit, sampleMachineCpu, type ProcDelta } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtMb, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline, stopChild, track } from '../run/children.js';
import { IpcWorker } from '../run/ipc-worker.js';
import { loopbackSources } from '../run/ports.js';
import type { TsimServer } from '../servers/tsim.js';
import { launchTsim } from '../servers/tsim.js';
import { launchTsimCluster } from '../servers/tsim-cluster.js';
import { backgroundBusy, checkServerFdLimit, groupDelta, processTable, progress, sampleGroup, sleep, splitCpu } from './common.js';
import { createDatabase } from './persist.js';

const WORKER = fileURLToPath(new URL('../load/inbox-worker.js', import.meta.url));
/** Operation of every push (the clients accept it, for the non-durable ones). */
const INBOX_OP = 1000;
/** The drain and the deliveries are waited for until nothing moved for this long. */
const STALL_MS = 10_000;
/** Largest `inbox.newDeviceRecent`: a new device receives at most this many stored messages after auth. */
const MAX_MESSAGES = 10_000;
/** Inbox API reads in flight while checking the watermarks. */
const CHECK_CONCURRENCY = 32;

export type InboxServer = 'tsim' | 'tsim-cluster';

export interface InboxOptions {
  server: InboxServer;
  users: number;
  /** Stored messages per user before anyone connects. */
  messages: number;
  /** Users named by one storing push (one transaction). */
  midsPerPush: number;
  size: number;
  ackEvery: number;
  /** Seconds of durable, then of non-durable pushes with the users online (0: skip). */
  pushSeconds: number;
  /** Users named by one push of the online phase. */
  onlineMids: number;
  /** HTTP requests in flight (keep-alive connections). */
  inFlight: number;
  /** Longest wait for the drain and for deliveries, s. */
  drainS: number;
  cometWorkers: number;
  postgresUrl: string;
  workers: number;
  concurrency: number;
  timeoutMs: number;
  sources: number;
  outDir?: string;
}

/** Why the options cannot run, or null. */
export function inboxOptionProblem(o: Pick<InboxOptions, 'users' | 'messages' | 'midsPerPush' | 'onlineMids'>): string | null {
  if (o.messages > MAX_MESSAGES)
    return `--messages ${o.messages}: a device receives at most ${MAX_MESSAGES} stored messages after auth (inbox.newDeviceRecent)`;
  if (o.midsPerPush > o.users || o.onlineMids > o.users) return `--mids-per-push and --online-mids must not exceed --users ${o.users}`;
  return null;
}

/**
 * The [inbox] table the scenario adds (embedded; the cluster's logic and job): a new device
 * receives the `messages` stored before it connected (the users connect after the storing, as
 * devices that were away), retention off, and more messages kept per user than a run stores.
 */
export function inboxConfig(messages: number, where: { dataDir: string; postgresUrl: string | null }): string {
  return [
    '[inbox]',
    `newDeviceRecent = ${messages}`,
    `keep = ${Math.max(1000, 10 * messages)}`,
    'pruneEvery = "0"',
    `dataDir = ${JSON.stringify(where.dataDir)}`,
    ...(where.postgresUrl ? ['engine = "postgres"', `postgresUrl = ${JSON.stringify(where.postgresUrl)}`] : []),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The clients

type Reply = InboxOpened | InboxCount | { t: 'flushed'; acks: number } | { t: 'closed' };

type ClientWorker = IpcWorker<InboxCommand, Reply>;

const ZERO: Omit<InboxCount, 't'> = {
  open: 0,
  lost: 0,
  inboxMessages: 0,
  duplicates: 0,
  gaps: 0,
  plainMessages: 0,
  drained: 0,
  acks: 0,
  ackRefused: 0,
  liveInbox: 0,
};
type Totals = typeof ZERO;

class Clients {
  private readonly workers: ClientWorker[];

  constructor(n: number) {
    this.workers = Array.from(
      { length: n },
      () => new IpcWorker<InboxCommand, Reply>(track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' }))),
    );
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  async open(port: number, o: InboxOptions): Promise<{ ok: number; failed: number; errors: string[]; ms: number }> {
    const n = this.workers.length;
    const per = Math.ceil(o.users / n);
    if (per > openFileLimit() - FD_RESERVE) throw new Error(`${per} clients per load worker exceed the open-file limit; use more --workers`);
    const rs = await Promise.all(
      this.workers.map((w, i) =>
        w.call(
          {
            t: 'open',
            host: '127.0.0.1',
            port,
            op: INBOX_OP,
            first: i * per,
            count: Math.max(0, Math.min(per, o.users - i * per)),
            ackEvery: o.ackEvery,
            concurrency: Math.max(1, Math.ceil(o.concurrency / n)),
            timeoutMs: o.timeoutMs,
            sources: loopbackSources(o.sources),
          },
          'opened',
        ),
      ),
    );
    return {
      ok: rs.reduce((s, r) => s + r.ok, 0),
      failed: rs.reduce((s, r) => s + r.failed, 0),
      errors: rs.flatMap((r) => r.errors).slice(0, 5),
      ms: Math.max(...rs.map((r) => r.ms)),
    };
  }

  async count(): Promise<Totals> {
    const rs = await Promise.all(this.workers.map((w) => w.call({ t: 'count' }, 'count')));
    const t = { ...ZERO };
    for (const r of rs) for (const k of Object.keys(ZERO) as Array<keyof Totals>) t[k] += r[k];
    return t;
  }

  async flush(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ t: 'flush' }, 'flushed')));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        await Promise.race([w.call({ t: 'close' }, 'closed').catch(() => {}), sleep(10_000)]);
        await stopChild(w.child, 'SIGTERM', 3000);
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Pushing

interface Tally {
  sent: number;
  accepted: number;
  failed: number;
  errors: string[];
}

/** `inFlight` keep-alive loops posting `next()`'s paths until it returns null or `untilMs` (performance.now()) passed. */
async function postLoop(port: number, inFlight: number, size: number, next: () => string | null, untilMs = Infinity, tally?: Tally): Promise<Tally> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const t: Tally = tally ?? { sent: 0, accepted: 0, failed: 0, errors: [] };
  const loop = () =>
    new Promise<void>((resolve) => {
      const one = (): void => {
        const path = performance.now() < untilMs ? next() : null;
        if (path === null) return resolve();
        t.sent++;
        post(agent, { host: '127.0.0.1', port, path }, stampBody(clockMs(), size), (err) => {
          if (err === null) t.accepted++;
          else {
            t.failed++;
            if (t.errors.length < 5) t.errors.push(err);
          }
          one();
        });
      };
      one();
    });
  try {
    await Promise.all(Array.from({ length: inFlight }, loop));
  } finally {
    agent.destroy();
  }
  return t;
}

function midsQuery(first: number, n: number, users: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`mids=${((first + i) % users) + 1}`);
  return parts.join('&');
}

// ---------------------------------------------------------------------------------------------
// One run

export interface StoreRow {
  pushes: number;
  failed: number;
  errors: string[];
  /** Messages stored (users × messages when nothing failed). */
  stored: number;
  seconds: number;
  storedPerSec: number;
  serverCpuPct: number;
}

export interface DrainRow {
  clients: number;
  clientsOk: number;
  connectSeconds: number;
  /** Clients whose connection closed after authenticating. */
  clientsLost: number;
  /** From the first connection until every client held its backlog and its acknowledgement was answered. */
  drainSeconds: number;
  drained: number;
  expected: number;
  received: number;
  /** expected − (received − duplicates): stored messages no client got. */
  lost: number;
  duplicates: number;
  gaps: number;
  acks: number;
  ackRefused: number;
  messagesPerSec: number;
  /** Devices whose watermark read back through the inbox API is not their user's last seq. */
  watermarksWrong: number;
  watermarksChecked: number;
  serverCpuPct: number;
  serverRss: number;
  processes: ProcDelta[];
}

export interface OnlineRow {
  durable: boolean;
  midsPerPush: number;
  pushes: number;
  accepted: number;
  failed: number;
  errors: string[];
  seconds: number;
  pushesPerSec: number;
  expected: number;
  delivered: number;
  lost: number;
  /** Durable: op-27 seqs repeated or skipped at the clients. */
  duplicates: number;
  gaps: number;
  /** Seconds after the last push answer until the last delivery. */
  lagS: number;
  serverCpuPct: number;
  /** Server CPU ms per 1,000 accepted pushes. */
  cpuMsPer1k: number;
  irqCpuPct: number;
  otherCpuPct: number;
}

export interface InboxResult {
  server: string;
  database: string | null;
  store: StoreRow;
  drain: DrainRow;
  online: OnlineRow[];
  /** Durable pushes/s ÷ non-durable pushes/s (null: not measured). */
  durableRatio: number | null;
}

async function launch(o: InboxOptions, extraConfig: string): Promise<TsimServer> {
  const base = { transport: 'tcp' as const, batch: 20, signalMs: 1000, extraConfig };
  if (o.server === 'tsim') return launchTsim(base);
  return launchTsimCluster({ ...base, cometWorkers: o.cometWorkers });
}

/** Polls the clients until `done(totals)`, nothing moved for STALL_MS, or `maxMs`; returns the last totals and when they last moved. */
async function waitClients(
  clients: Clients,
  done: (t: Totals) => boolean,
  maxMs: number,
  onTick: (t: Totals) => void,
): Promise<{ t: Totals; movedAt: number }> {
  const start = performance.now();
  let t = await clients.count();
  let movedAt = performance.now();
  let shown = start;
  while (!done(t) && performance.now() - movedAt < STALL_MS && performance.now() - start < maxMs) {
    await sleep(50);
    const n = await clients.count();
    if (n.inboxMessages !== t.inboxMessages || n.plainMessages !== t.plainMessages || n.drained !== t.drained) movedAt = performance.now();
    t = n;
    if (performance.now() - shown >= 1000) {
      shown = performance.now();
      onTick(t);
    }
  }
  return { t, movedAt };
}

/** Reads every device's watermark through the inbox API: how many are not `expected`. */
async function checkWatermarks(httpPort: number, users: number, expected: number): Promise<number> {
  let next = 0;
  let wrong = 0;
  const one = async (): Promise<void> => {
    while (next < users) {
      const g = next++;
      const mid = g + 1;
      const res = await fetch(`http://127.0.0.1:${httpPort}/tsim/inbox/${mid}/devices`);
      const doc = (await res.json()) as { code: number; message?: string; data?: { devices: Array<{ key: string; acked: number }> } };
      if (doc.code !== 0 || !doc.data) throw new Error(`inbox API: ${doc.message ?? res.status}`);
      const d = doc.data.devices.find((x) => x.key === `bench-${mid}`);
      if (d?.acked !== expected) wrong++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, users) }, one));
  return wrong;
}

async function storePhase(server: TsimServer, o: InboxOptions): Promise<StoreRow> {
  const chunks = Math.ceil(o.users / o.midsPerPush);
  const total = o.messages * chunks;
  let i = 0;
  const pids = server.processes().map((p) => p.pid);
  const s0 = sampleGroup(pids);
  const t0 = performance.now();
  const tally: Tally = { sent: 0, accepted: 0, failed: 0, errors: [] };
  const ticker = setInterval(
    () => progress(`  storing: ${fmtInt(tally.accepted)} of ${fmtInt(total)} pushes accepted, ${fmtInt(tally.failed)} failed`),
    1000,
  );
  try {
    // Round by round: each user's messages are stored in order, every user once per round.
    const next = (): string | null => {
      if (i >= total) return null;
      const first = (i++ % chunks) * o.midsPerPush;
      return `/goim/push/mids?operation=${INBOX_OP}&durable=1&${midsQuery(first, Math.min(o.midsPerPush, o.users - first), o.users)}`;
    };
    await postLoop(server.httpPort, o.inFlight, o.size, next, Infinity, tally);
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - t0) / 1000;
  const srv = groupDelta(s0, sampleGroup(pids));
  // A refused push stored nothing for any of its users (docs/http-api.md#durable-pushes): the
  // drain would then expect what was never stored.
  if (tally.failed > 0) throw new Error(`${tally.failed} storing pushes failed: ${tally.errors.join('; ')}`);
  const stored = o.users * o.messages;
  return {
    pushes: tally.sent,
    failed: tally.failed,
    errors: tally.errors,
    stored,
    seconds,
    storedPerSec: stored / seconds,
    serverCpuPct: srv.cpuPct,
  };
}

async function drainPhase(server: TsimServer, clients: Clients, o: InboxOptions): Promise<DrainRow> {
  const roles = server.processes();
  const pids = roles.map((p) => p.pid);
  const s0 = sampleGroup(pids);
  const t0 = performance.now();
  progress(`offline drain: ${fmtInt(o.users)} inbox clients connect at once, ${o.messages} stored messages each`);
  const opening = clients.open(server.client.port, o);
  let opened: Awaited<typeof opening> | null = null;
  void opening.then((r) => (opened = r)).catch(() => {});
  const expected = o.users * o.messages;
  const tick = (t: Totals) =>
    progress(
      `  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${fmtInt(t.open)} connected, ${fmtInt(t.inboxMessages)} of ${fmtInt(expected)} messages, ${fmtInt(t.drained)} drained and acknowledged`,
    );
  // Until every client connected (or failed) and every connected one drained.
  const w = await waitClients(clients, (t) => opened !== null && t.drained >= opened.ok, o.drainS * 1000, tick);
  const o1 = await opening;
  const end = w.t.drained >= o1.ok ? w.movedAt : performance.now();
  const drainSeconds = (end - t0) / 1000;
  const srv = groupDelta(s0, sampleGroup(pids), roles);
  progress(
    `  ${fmtInt(o1.ok)} connected in ${(o1.ms / 1000).toFixed(1)} s${o1.errors.length ? ` — ${o1.errors.join('; ')}` : ''}; checking the watermarks`,
  );
  const watermarksWrong = await checkWatermarks(server.httpPort, o.users, o.messages);
  const t = w.t;
  return {
    clients: o.users,
    clientsOk: o1.ok,
    connectSeconds: o1.ms / 1000,
    clientsLost: t.lost,
    drainSeconds,
    drained: t.drained,
    expected,
    received: t.inboxMessages,
    lost: Math.max(0, expected - (t.inboxMessages - t.duplicates)),
    duplicates: t.duplicates,
    gaps: t.gaps,
    acks: t.acks,
    ackRefused: t.ackRefused,
    messagesPerSec: (t.inboxMessages - t.duplicates) / drainSeconds,
    watermarksWrong,
    watermarksChecked: o.users,
    serverCpuPct: srv.cpuPct,
    serverRss: srv.rss,
    processes: srv.perProcess,
  };
}

async function onlinePhase(server: TsimServer, clients: Clients, o: InboxOptions, durable: boolean): Promise<OnlineRow> {
  const label = durable ? 'durable' : 'non-durable';
  const pids = server.processes().map((p) => p.pid);
  const before = await clients.count();
  const s0 = sampleGroup(pids);
  const m0 = sampleMachineCpu();
  const t0 = performance.now();
  let i = 0;
  const tally: Tally = { sent: 0, accepted: 0, failed: 0, errors: [] };
  const ticker = setInterval(() => progress(`  ${label}: ${fmtInt(tally.accepted)} pushes accepted, ${fmtInt(tally.failed)} failed`), 1000);
  try {
    await postLoop(
      server.httpPort,
      o.inFlight,
      o.size,
      () => {
        const first = (i++ * o.onlineMids) % o.users;
        return `/goim/push/mids?operation=${INBOX_OP}&durable=${durable ? 1 : 0}&${midsQuery(first, o.onlineMids, o.users)}`;
      },
      t0 + o.pushSeconds * 1000,
      tally,
    );
  } finally {
    clearInterval(ticker);
  }
  const pushedAt = performance.now();
  const seconds = (pushedAt - t0) / 1000;
  const s1 = sampleGroup(pids);
  const m1 = sampleMachineCpu();
  const expected = tally.accepted * o.onlineMids;
  const got = (t: Totals) => (durable ? t.inboxMessages - before.inboxMessages : t.plainMessages - before.plainMessages);
  const w = await waitClients(
    clients,
    (t) => got(t) >= expected,
    o.drainS * 1000,
    (t) => progress(`  ${label}: ${fmtInt(got(t))} of ${fmtInt(expected)} delivered`),
  );
  const srv = groupDelta(s0, s1);
  const delivered = got(w.t);
  const duplicates = w.t.duplicates - before.duplicates;
  return {
    durable,
    midsPerPush: o.onlineMids,
    pushes: tally.sent,
    accepted: tally.accepted,
    failed: tally.failed,
    errors: tally.errors,
    seconds,
    pushesPerSec: tally.accepted / seconds,
    expected,
    delivered,
    lost: Math.max(0, expected - (delivered - duplicates)),
    duplicates,
    gaps: w.t.gaps - before.gaps,
    lagS: Math.max(0, (w.movedAt - pushedAt) / 1000),
    serverCpuPct: srv.cpuPct,
    cpuMsPer1k: tally.accepted > 0 ? (srv.cpuPct * 10 * seconds) / (tally.accepted / 1000) : Number.NaN,
    ...splitCpu(m0, m1, srv.cpuPct),
  };
}

async function runOnce(o: InboxOptions): Promise<InboxResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tsim-bench-inbox-'));
  const db = o.server === 'tsim-cluster' ? await createDatabase(o.postgresUrl, 'tsim_bench_inbox') : null;
  let server: TsimServer | null = null;
  let clients: Clients | null = null;
  try {
    progress(`starting ${o.server}${db ? ` (database ${db.name})` : ''}`);
    server = await launch(o, inboxConfig(o.messages, { dataDir, postgresUrl: db?.url ?? null }));
    progress(`storing ${o.messages} durable messages for each of ${fmtInt(o.users)} users (${o.midsPerPush} users per push, nobody connected)`);
    const store = await storePhase(server, o);
    progress(`  stored ${fmtInt(store.stored)} messages in ${fmtNum(store.seconds)} s (${fmtInt(store.storedPerSec)}/s)`);
    clients = new Clients(Math.min(o.workers, o.users));
    const drain = await drainPhase(server, clients, o);
    progress(
      `  drained: ${fmtInt(drain.drained)} of ${fmtInt(drain.clientsOk)} clients in ${fmtNum(drain.drainSeconds, 2)} s; lost ${fmtInt(drain.lost)}, duplicated ${fmtInt(drain.duplicates)}, watermarks wrong ${fmtInt(drain.watermarksWrong)}`,
    );
    const online: OnlineRow[] = [];
    if (o.pushSeconds > 0 && drain.clientsOk > 0) {
      for (const durable of [true, false]) {
        progress(`${durable ? 'durable' : 'non-durable'} mid pushes for ${o.pushSeconds} s, ${o.onlineMids} users each, ${o.inFlight} in flight`);
        const row = await onlinePhase(server, clients, o, durable);
        online.push(row);
        progress(`  ${fmtInt(row.pushesPerSec)} pushes/s, ${fmtInt(row.delivered)} of ${fmtInt(row.expected)} delivered, lost ${fmtInt(row.lost)}`);
      }
      await clients.flush();
    }
    const d = online.find((r) => r.durable);
    const n = online.find((r) => !r.durable);
    return {
      server: server.label,
      database: db?.name ?? null,
      store,
      drain,
      online,
      durableRatio: d && n && n.pushesPerSec > 0 ? d.pushesPerSec / n.pushesPerSec : null,
    };
  } finally {
    await clients?.close();
    await server?.stop();
    await db?.drop().catch((err: unknown) => progress(`could not drop database ${db.name}: ${(err as Error).message}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function report(r: InboxResult, o: InboxOptions): string {
  const s = r.store;
  const d = r.drain;
  const lines = [
    `inbox: ${r.server}, ${fmtInt(o.users)} users × ${o.messages} messages of ${o.size} bytes, acks every ${o.ackEvery}`,
    formatTable(
      ['store', 'pushes', 'users/push', 'failed', 'stored', 's', 'stored/s', 'srv cpu%'],
      [['durable, offline', s.pushes, o.midsPerPush, s.failed, s.stored, fmtNum(s.seconds), s.storedPerSec, fmtNum(s.serverCpuPct)]],
    ),
    '',
    formatTable(
      [
        'drain',
        'clients',
        'connected',
        'connect s',
        'drained',
        'drain s',
        'expected',
        'received',
        'lost',
        'dup',
        'gaps',
        'acks',
        'msgs/s',
        'wm wrong',
        'srv cpu%',
        'srv MB',
      ],
      [
        [
          'reconnect',
          d.clients,
          d.clientsOk,
          fmtNum(d.connectSeconds, 2),
          d.drained,
          fmtNum(d.drainSeconds, 2),
          d.expected,
          d.received,
          d.lost,
          d.duplicates,
          d.gaps,
          d.acks,
          d.messagesPerSec,
          d.watermarksWrong,
          fmtNum(d.serverCpuPct),
          fmtMb(d.serverRss),
        ],
      ],
    ),
  ];
  if (r.online.length > 0) {
    lines.push(
      '',
      formatTable(
        [
          'online',
          'users/push',
          'pushes',
          'failed',
          'pushes/s',
          'expected',
          'delivered',
          'lost',
          'dup',
          'gaps',
          'lag s',
          'srv cpu%',
          'cpu ms/1k',
          'other cpu%',
        ],
        r.online.map((x) => [
          x.durable ? 'durable' : 'non-durable',
          x.midsPerPush,
          x.accepted,
          x.failed,
          x.pushesPerSec,
          x.expected,
          x.delivered,
          x.lost,
          x.duplicates,
          x.gaps,
          fmtNum(x.lagS),
          fmtNum(x.serverCpuPct),
          fmtNum(x.cpuMsPer1k),
          fmtNum(x.otherCpuPct),
        ]),
      ),
    );
    if (r.durableRatio !== null) lines.push(`durable ÷ non-durable pushes/s: ${fmtNum(r.durableRatio, 2)}`);
  }
  const per = processTable([{ server: 'drain', processes: d.processes }]);
  if (per) lines.push('', per);
  return lines.join('\n');
}

export async function runInbox(o: InboxOptions): Promise<InboxResult> {
  const problem = inboxOptionProblem(o);
  if (problem) throw new Error(problem);
  checkServerFdLimit(o.users, [o.server], o.cometWorkers);
  const storing = (o.users * o.messages) / 2000;
  armDeadline((120 + storing + o.users / 200 + 2 * o.drainS + 2 * (o.pushSeconds + o.drainS) + 60) * 1000, 'inbox');
  const backgroundBusyPct = await backgroundBusy();
  let result: InboxResult;
  try {
    result = await runOnce(o);
  } finally {
    disarmDeadline();
  }
  const file = writeResults('inbox', o, { backgroundBusyPct, ...result }, o.outDir);
  process.stdout.write(`\n${report(result, o)}\n\n`);
  progress(`results: ${file}`);
  return result;
}
