// The configuration schema: goim's section and key names where goim has the option,
// goim's defaults, and tsim's additions. docs/configuration.md documents every key.
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseListen } from './listen.js';

const duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s, ctx) => {
      try {
        return parseDuration(s);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
        return z.NEVER;
      }
    });

const listen = z.string().superRefine((s, ctx) => {
  try {
    parseListen(s);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
  }
});

const port = z.number().int().min(0).max(65535);

export const configSchema = z
  .object({
    /** Instance identity (goim [env]). */
    env: z
      .object({
        host: z.string().default(() => hostname()),
        region: z.string().default(''),
        zone: z.string().default(''),
        deployEnv: z.string().default(''),
        weight: z.number().int().min(0).default(10),
        offline: z.boolean().default(false),
        addrs: z.array(z.string()).default([]),
      })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({}),
    tcp: z
      .object({
        bind: z.array(listen).default([':3101']),
        sndbuf: z.number().int().min(0).default(0),
        rcvbuf: z.number().int().min(0).default(0),
        keepalive: z.boolean().default(false),
      })
      .strict()
      .default({}),
    websocket: z
      .object({
        bind: z.array(listen).default([':3102']),
      })
      .strict()
      .default({}),
    protocol: z
      .object({
        handshakeTimeout: duration('5s'),
        /** Largest client→server body (goim 4096). */
        maxBody: z.number().int().min(0).max(1 << 24).default(4096),
        /** Bytes that may wait in one connection's send buffer before the slow policy applies. */
        sendQueueBytes: z.number().int().min(1024).default(1 << 20),
        /** What happens to a connection whose send buffer is full: drop the push, or disconnect it. */
        slowPolicy: z.enum(['drop', 'disconnect']).default('drop'),
      })
      .strict()
      .default({}),
    comet: z
      .object({
        /** Worker processes sharing the client ports (node:cluster); each is a comet of its own. */
        workers: z.number().int().min(1).max(64).default(1),
        /** How often local room counts are reported to logic (goim: 10 s). */
        renewOnline: duration('10s'),
        /** How often each connection's routing TTL is refreshed in logic (must stay below redis.expire). */
        routingRefresh: duration('10m'),
      })
      .strict()
      .default({}),
    /** gRPC listener of a distributed comet (default :3109) or logic (default :3119). */
    rpcServer: z
      .object({ addr: listen.optional() })
      .strict()
      .default({}),
    rpcClient: z
      .object({
        /** Deadline of one comet→logic or job→comet call. */
        timeout: duration('5s'),
      })
      .strict()
      .default({}),
    registry: z
      .object({
        /** Metadata refresh interval (goim: 10 s). */
        refresh: duration('10s'),
        /** An instance not refreshed for this long is considered gone. */
        ttl: duration('30s'),
      })
      .strict()
      .default({}),
    redis: z
      .object({
        /** Overridden by the REDIS_URL environment variable. */
        url: z.string().default('redis://127.0.0.1:6379'),
        /** TTL of routing and online keys (goim redis.expire). */
        expire: duration('30m'),
      })
      .strict()
      .default({}),
    nats: z
      .object({
        /** Overridden by the NATS_URL environment variable. */
        url: z.string().default('nats://127.0.0.1:4222'),
        stream: z.string().default('GOIM_PUSH'),
        subject: z.string().default('goim.push'),
        /** Durable consumer shared by all jobs. */
        durable: z.string().default('goim-push-job'),
        /** Stream retention: workqueue (deleted once acked) or limits (kept until maxAge). */
        retention: z.enum(['workqueue', 'limits']).default('workqueue'),
        /** Oldest message the stream keeps. */
        maxAge: duration('24h'),
        /** Redelivery wait for an unacknowledged message. */
        ackWait: duration('30s'),
      })
      .strict()
      .default({}),
    httpServer: z
      .object({ addr: listen.default(':3111') })
      .strict()
      .default({}),
    logic: z
      .object({
        /** How often the global room → count map is rebuilt (goim: 10 s). */
        onlineReload: duration('10s'),
        /** A comet's room snapshot older than this is discarded (goim: 5 min). */
        onlineStale: duration('5m'),
      })
      .strict()
      .default({}),
    node: z
      .object({
        defaultDomain: z.string().default('conn.goim.io'),
        hostDomain: z.string().default('.goim.io'),
        heartbeat: duration('4m'),
        heartbeatMax: z.number().int().min(1).default(2),
        tcpPort: port.default(3101),
        wsPort: port.default(3102),
        wssPort: port.default(0),
        regionWeight: z.number().positive().default(1.6),
      })
      .strict()
      .default({}),
    backoff: z
      .object({
        maxDelay: z.number().int().default(300),
        baseDelay: z.number().int().default(3),
        factor: z.number().default(1.8),
        jitter: z.number().default(0.3),
      })
      .strict()
      .default({}),
    /** region → provinces (goim [regions]); informational, as in goim. */
    regions: z.record(z.array(z.string())).default({}),
    room: z
      .object({
        /** Most messages merged into one room batch (goim 20). */
        batch: z.number().int().min(1).default(20),
        /** Longest a room message waits for companions (goim 1 s). */
        signal: duration('1s'),
        /** A room batcher with nothing to do for this long is removed (goim 15 min). */
        idle: duration('15m'),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
