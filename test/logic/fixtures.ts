// Shared pieces of the logic tests: a recording push queue, configs, a running logic
// with its HTTP server, and a fetch wrapper that keeps status, type and body bytes.
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import { historyRoomTypes } from '../../src/config/history-settings.js';
import { logicHttpSettings, logicSettings } from '../../src/config/logic-settings.js';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { Authenticator } from '../../src/logic/auth/authenticator.js';
import { createAuthenticator } from '../../src/logic/auth/from-config.js';
import { LogicHttpServer, type LogicHttpSettings } from '../../src/logic/http/http-server.js';
import { Logic, type LogicSettings } from '../../src/logic/logic.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { AppId, type HistoryStore, type InboxStore, type Instance, type PushHandler, type PushMsg, type PushQueue } from '../../src/ports/index.js';

/** A PushQueue that records what logic publishes; `failWith` makes publish reject. */
export class RecordingQueue implements PushQueue {
  readonly published: PushMsg[] = [];
  failWith: Error | undefined;

  async publish(msg: PushMsg): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.published.push(msg);
  }
  async consume(_handler: PushHandler): Promise<void> {}
  async close(): Promise<void> {}
}

export function testConfig(input: ConfigInput = {}): Config {
  return configSchema.parse({ ...input, httpServer: { addr: '127.0.0.1:0', ...input.httpServer } });
}

/** What the wiring gives Logic for `config`: its settings and the authenticator `auth.mode` names. */
export function logicConfig(config: Config): LogicSettings & { authenticator: Authenticator } {
  return { ...logicSettings(config), authenticator: createAuthenticator(config.auth, silentLogger) };
}

/** What the wiring gives the HTTP API for `config`, embedded (the default) or distributed. */
export function httpConfig(config: Config, embedded = true): LogicHttpSettings {
  return logicHttpSettings(config, embedded, silentLogger);
}

export function comet(hostname: string, metadata: Record<string, string>, extra: Partial<Instance> = {}): Instance {
  return {
    region: '',
    zone: '',
    env: '',
    appid: AppId.Comet,
    hostname,
    addrs: [],
    version: '',
    latestTimestamp: 0,
    metadata,
    ...extra,
  };
}

export interface Running {
  config: Config;
  logic: Logic;
  store: MemorySessionStore;
  registry: MemoryRegistry;
  queue: RecordingQueue;
  http: LogicHttpServer;
  /** Limits the HTTP server counted. */
  hits: LimitHits;
  port: number;
  base: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Folders the demo page is served from. */
  webRoots?: string[];
  /** Embedded wiring (the default) or distributed: decides whether `api.auth = "auto"` requires keys. */
  embedded?: boolean;
  /** Room history logic reads, for the room types of `[roomTypes]` with history on. */
  history?: HistoryStore;
  /** Users' durable inboxes (docs/protocol.md#durable-inbox). */
  inbox?: InboxStore;
}

/** A started logic with its HTTP API on 127.0.0.1, wired as embedded.ts or logic-process.ts would. */
export async function startLogic(input: ConfigInput = {}, opts: StartOptions = {}): Promise<Running> {
  const config = testConfig(input);
  const store = new MemorySessionStore();
  const registry = new MemoryRegistry();
  const queue = new RecordingQueue();
  const logic = new Logic({
    ...logicConfig(config),
    store,
    queue,
    registry,
    log: silentLogger,
    history: opts.history,
    historyTypes: historyRoomTypes(config),
    inboxStore: opts.inbox,
  });
  await logic.start();
  const hits = new LimitHits();
  let http: LogicHttpServer;
  try {
    http = new LogicHttpServer({ ...httpConfig(config, opts.embedded), logic, log: silentLogger, webRoots: opts.webRoots, limits: hits });
    await http.listen();
  } catch (err) {
    await logic.close();
    throw err;
  }
  const { port } = http.address();
  return {
    config,
    logic,
    store,
    registry,
    queue,
    http,
    hits,
    port,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      await http.close();
      await logic.close();
      await store.close();
      await registry.close();
    },
  };
}

export interface Answer {
  status: number;
  type: string | null;
  body: string;
  headers: Headers;
}

export async function request(base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(base + path, { redirect: 'manual', ...init });
  const body = Buffer.from(await res.arrayBuffer()).toString('utf8');
  return { status: res.status, type: res.headers.get('content-type'), body, headers: res.headers };
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';
