// A comet on 127.0.0.1 (free ports) with a StubLogic, and clients that are closed with it.
import { Comet, type CometOptions } from '../../src/comet/comet.js';
import { cometSettings } from '../../src/config/comet-settings.js';
import { buildConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { GoimTestClient, type WsOptions } from '../support/goim-client.js';
import { StubLogic } from '../support/stub-logic.js';

export const SERVER_ID = 'comet-test';

export interface Section {
  [key: string]: unknown;
}

export interface Harness {
  comet: Comet;
  logic: StubLogic;
  config: Config;
  tcpPort: number;
  wsPort: number;
  tcp(): Promise<GoimTestClient>;
  ws(opts?: WsOptions): Promise<GoimTestClient>;
  /** A client of the given transport authenticated with `token`. */
  client(transport: 'tcp' | 'ws', token: object): Promise<GoimTestClient>;
  stop(): Promise<void>;
}

/** Starts a comet; `sections` are merged over test defaults (short sweep, loopback binds). */
export async function startComet(
  sections: Record<string, Section> = {},
  logic = new StubLogic(),
  extra: Partial<CometOptions> = {},
): Promise<Harness> {
  const defaults: Record<string, Section> = {
    env: { host: SERVER_ID },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    comet: { sweepInterval: '20ms' },
  };
  const input: Record<string, Section> = { ...defaults };
  for (const [k, v] of Object.entries(sections)) input[k] = { ...(defaults[k] ?? {}), ...v };
  const config = buildConfig(input);
  const comet = new Comet({ ...cometSettings(config), serverId: SERVER_ID, logic, log: silentLogger, ...extra });
  await comet.start();
  const clients: GoimTestClient[] = [];
  const track = (c: GoimTestClient): GoimTestClient => {
    clients.push(c);
    return c;
  };
  const h: Harness = {
    comet,
    logic,
    config,
    tcpPort: comet.tcpAddresses()[0].port,
    wsPort: comet.wsAddresses()[0].port,
    tcp: async () => track(await GoimTestClient.tcp(h.tcpPort)),
    ws: async (opts) => track(await GoimTestClient.ws(h.wsPort, opts)),
    async client(transport, token) {
      const c = transport === 'tcp' ? await h.tcp() : await h.ws();
      await c.auth(token);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await comet.stop();
    },
  };
  return h;
}

/** "00 10 ff" → bytes. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/[\s|]+/g, ''), 'hex');
}

/** An inner frame as job builds it: header(ver 1, op, seq 0) + body. */
export function innerFrame(op: number, body: string): Buffer {
  const b = Buffer.from(body);
  const f = Buffer.alloc(16 + b.length);
  f.writeInt32BE(16 + b.length, 0);
  f.writeInt16BE(16, 4);
  f.writeInt16BE(1, 6);
  f.writeInt32BE(op, 8);
  f.writeInt32BE(0, 12);
  b.copy(f, 16);
  return f;
}

/** The Proto job sends for a key/mid/broadcast push or a room batch: op 9 around inner frames. */
export function rawProto(...frames: Buffer[]): { ver: number; op: number; seq: number; body: Buffer } {
  return { ver: 1, op: 9, seq: 0, body: Buffer.concat(frames) };
}

/** Resolves after the event loop has run pending I/O and immediates twice: the Outbound's flush of this turn is done. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
