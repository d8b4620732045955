// Gates for tests that need a real Redis, NATS or PostgreSQL server (or a program such as openssl). A
// reachable service runs the test; an unreachable one skips it with a visible reason, unless
// TSIM_REQUIRE_SERVICES=1 (CI), where it fails loudly instead of passing vacuously.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';

export type Service = 'redis' | 'nats' | 'postgres';

const DEFAULT_URL: Record<Service, string> = {
  redis: 'redis://127.0.0.1:6379',
  nats: 'nats://127.0.0.1:4222',
  postgres: 'postgres://postgres@127.0.0.1:5432/postgres',
};
const DEFAULT_PORT: Record<Service, number> = { redis: 6379, nats: 4222, postgres: 5432 };
const LABEL: Record<Service, string> = { redis: 'Redis', nats: 'NATS', postgres: 'PostgreSQL' };
const URL_ENV: Record<Service, string> = { redis: 'REDIS_URL', nats: 'NATS_URL', postgres: 'DATABASE_URL' };

/** The service's URL: REDIS_URL / NATS_URL / DATABASE_URL, else the local default. */
export function serviceUrl(service: Service): string {
  const env = process.env[URL_ENV[service]];
  return env && env.trim() !== '' ? env.trim() : DEFAULT_URL[service];
}

function hostPort(service: Service): { host: string; port: number } {
  const first = serviceUrl(service).split(',')[0];
  const u = new URL(first.includes('://') ? first : `${service}://${first}`);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : DEFAULT_PORT[service] };
}

const probes = new Map<Service, Promise<string | null>>();

/** Resolves to null when a TCP connection to the service succeeds, else the reason. Cached per process. */
export function probeService(service: Service, timeoutMs = 1500): Promise<string | null> {
  let p = probes.get(service);
  if (!p) {
    const { host, port } = hostPort(service);
    p = new Promise<string | null>((resolve) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(`no answer within ${timeoutMs} ms`);
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(null);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(err.code ?? err.message);
      });
    });
    probes.set(service, p);
  }
  return p;
}

function required(): boolean {
  return process.env.TSIM_REQUIRE_SERVICES === '1';
}

/**
 * For suites: `describe(name, { skip: await serviceGate('redis') }, …)`.
 * Resolves to false when the service is reachable, else to the skip reason; throws
 * when TSIM_REQUIRE_SERVICES=1 and the service is unreachable.
 */
export async function serviceGate(service: Service): Promise<false | string> {
  const reason = await probeService(service);
  if (reason === null) return false;
  const url = serviceUrl(service);
  if (required()) {
    throw new Error(`${LABEL[service]} at ${url} is required (TSIM_REQUIRE_SERVICES=1) but unreachable: ${reason}`);
  }
  const notice = `${LABEL[service]} unreachable at ${url} (${reason}); set TSIM_REQUIRE_SERVICES=1 to fail instead of skipping`;
  process.stderr.write(`# SKIP ${notice}\n`);
  return notice;
}

/**
 * The same gate for a program the tests run on this machine (openssl, Chromium):
 * `describe(name, { skip: toolGate('openssl', installed ? null : 'not installed') }, …)`.
 * False when `missing` is null, else the skip reason; throws when TSIM_REQUIRE_SERVICES=1,
 * since CI installs them (.ci/run).
 */
export function toolGate(tool: string, missing: string | null): false | string {
  if (missing === null) return false;
  if (required()) throw new Error(`${tool} is required (TSIM_REQUIRE_SERVICES=1) but ${missing}`);
  const notice = `${tool} ${missing}; set TSIM_REQUIRE_SERVICES=1 to fail instead of skipping`;
  process.stderr.write(`# SKIP ${notice}\n`);
  return notice;
}

/** For single tests: `if (!(await requireService(t, 'redis'))) return;` */
export async function requireService(t: TestContext, service: Service): Promise<boolean> {
  const skip = await serviceGate(service);
  if (skip === false) return true;
  t.skip(skip);
  return false;
}

export const requireRedis = (t: TestContext): Promise<boolean> => requireService(t, 'redis');
export const requireNats = (t: TestContext): Promise<boolean> => requireService(t, 'nats');

/** A name unique to this run (process and random suffix), for keys, prefixes and streams. */
export function uniqueName(prefix: string): string {
  return `${prefix}${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * A TCP relay to a service that a test can cut (every connection dropped, new ones refused)
 * and restore on the same port: an outage and recovery of the real server, seen by one client.
 */
export class OutageProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(service: Service): Promise<OutageProxy> {
    const p = new OutageProxy(hostPort(service));
    await p.listen();
    return p;
  }

  /** host:port of the proxy in the service's URL form. */
  url(service: Service): string {
    return `${service}://127.0.0.1:${this.port}`;
  }

  private listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      this.sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Drops every relayed connection and stops accepting. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts again on the same port. */
  restore(): Promise<void> {
    return this.listen();
  }

  close(): Promise<void> {
    return this.cut();
  }
}
