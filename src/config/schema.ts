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

/** The moderation webhook of a room type (docs/history.md#moderation). */
const moderation = z
  .object({
    /** POSTed every danmaku before it is accepted; empty = no moderation. */
    url: z.string().default(''),
    /** Longest wait for its answer. */
    timeout: duration('500ms'),
    /** On timeout or error: true accepts the danmaku unmoderated, false refuses it. */
    failOpen: z.boolean().default(true),
    /** Webhook calls in flight at once per logic; past it the failOpen rule applies. */
    maxInflight: z.number().int().min(1).default(256),
  })
  .strict()
  .default({});

/** What one room type (the `live` of `live://1000`) allows (docs/history.md, docs/configuration.md#roomtypes). */
const roomType = z
  .object({
    /** Clients may send danmaku with op 4 (answered with op 5); false = goim's echo. */
    send: z.boolean().default(false),
    /** Every room message is stored with an offset; joiners may ask for history. */
    history: z.boolean().default(false),
    /** Operation of the room message a danmaku becomes. */
    op: z
      .number()
      .int()
      .min(0)
      .max(2147483647)
      .refine((op) => op !== 18, 'op 18 is reserved for room history state (docs/history.md)')
      .refine((op) => op < 19 || op > 23, 'ops 19 to 23 are reserved for joining rooms (docs/protocol.md#several-rooms)')
      .refine((op) => op < 24 || op > 29, 'ops 24 to 29 are reserved for the durable inbox (docs/protocol.md#durable-inbox)')
      .default(1000),
    /** Users with mid ≤ 0 may send. */
    anonymous: z.boolean().default(false),
    /** Longest text in characters (Unicode code points; bilibili: 100). */
    maxText: z.number().int().min(1).default(100),
    /** Largest `data` payload (application JSON) in bytes. */
    maxData: z.number().int().min(1).default(2048),
    /** Danmaku per second one user may send (token bucket refill), and the bucket's size. */
    rate: z.number().positive().default(1),
    burst: z.number().int().min(1).default(5),
    /** Slow mode: least time between two danmaku of one user in one room; 0 = off. */
    slowMode: duration('0s'),
    /** A repeated nonce from the same user within this window gets the first answer again. */
    nonceWindow: duration('2m'),
    /** Retention: most records kept per room, and their greatest age. */
    keep: z.number().int().min(1).default(10_000),
    maxAge: duration('168h'),
    /** Most history records sent on one join (bilibili sends 20 on a live join). */
    replayMax: z.number().int().min(0).default(100),
    moderation,
  })
  .strict();

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
        /** SO_KEEPALIVE on client sockets (TCP and plain WebSocket), as goim. */
        keepalive: z.boolean().default(false),
        /** The goim TCP protocol over TLS (beyond goim); empty = none. */
        tlsBind: z.array(listen).default([]),
        /** PEM certificate chain(s) for tlsBind, comma-separated; unset = websocket.certFile. */
        certFile: z.string().default(''),
        /** PEM private key(s) paired by position with certFile; unset = websocket.privateFile. */
        privateFile: z.string().default(''),
      })
      .strict()
      .default({}),
    websocket: z
      .object({
        bind: z.array(listen).default([':3102']),
        /** Serve WebSocket over TLS (wss) on tlsBind as well (goim tlsOpen). */
        tlsOpen: z.boolean().default(false),
        /** wss listen addresses, used when tlsOpen (goim tlsBind, :3103). */
        tlsBind: z.array(listen).default([':3103']),
        /** PEM certificate chain(s), comma-separated; with several, the client's SNI name picks (goim certFile). */
        certFile: z.string().default(''),
        /** PEM private key(s), comma-separated, paired by position with certFile (goim privateFile). */
        privateFile: z.string().default(''),
      })
      .strict()
      .default({}),
    protocol: z
      .object({
        handshakeTimeout: duration('5s'),
        /** Client frames that may await their reply; more closes the connection (goim 5, rounded up to 8). */
        cliProto: z.number().int().min(1).max(1024).default(5),
        /** Largest client→server body (goim 4096). */
        maxBody: z
          .number()
          .int()
          .min(0)
          .max(1 << 24)
          .default(4096),
        /** Bytes that may wait in one connection's send buffer before the slow policy applies. */
        sendQueueBytes: z
          .number()
          .int()
          .min(1024)
          .default(1 << 20),
        /** What happens to a connection whose send buffer is full: drop the push, or disconnect it. */
        slowPolicy: z.enum(['drop', 'disconnect']).default('drop'),
      })
      .strict()
      .default({}),
    /** Admission and flood limits of a comet (beyond goim); 0 = unlimited. Hits are logged and counted. */
    limits: z
      .object({
        /**
         * Client sockets open at once on one comet (authenticated or not); more are refused at
         * accept. Unset: the process's open-file limit minus reservedFds (see file-descriptors.ts).
         */
        maxConnections: z.number().int().min(0).optional(),
        /** Client sockets open at once from one IP address. Unset: a quarter of the fd limit minus reservedFds. */
        maxConnectionsPerIp: z.number().int().min(0).optional(),
        /** File descriptors the derived maxConnections leaves for everything else (HTTP API, gRPC, Redis/NATS, logs). */
        reservedFds: z.number().int().min(0).default(384),
        /** Plain WebSocket sockets refused by a limit that may wait at once (per listener) for the request their 503 answers. */
        maxRefusedWaiting: z.number().int().min(0).default(32),
        /** New client sockets accepted per second (token bucket, burst of one second's worth). */
        newConnectionsPerSecond: z.number().int().min(0).default(0),
        /** Frames one connection may send per second on average; a connection sending faster is closed. */
        upstreamFramesPerSecond: z.number().int().min(0).default(50),
        /** Frames a connection may send at once above that rate (token bucket size). */
        upstreamFramesBurst: z.number().int().min(1).default(100),
        /** Ops one connection may watch (auth accepts plus op-14 subs); a connection going past it is closed. */
        maxAccepts: z.number().int().min(1).max(65536).default(256),
        /** Rooms one connection may be in at once (op 19 joins extra rooms); a join past it is refused. */
        maxRooms: z.number().int().min(1).max(65536).default(128),
        /** Rooms with a multi-room member one comet process may hold; a join seating another is refused, joins of those rooms go on. */
        maxCometRooms: z.number().int().min(1).default(250_000),
        /** Connect, Disconnect and routing-refresh calls one comet process has in flight to logic at once; more wait in a queue. */
        logicCalls: z.number().int().min(0).default(64),
        /** Handshakes that may wait for a logicCalls slot; a handshake past it is closed (limit connect_queue). */
        connectQueue: z.number().int().min(0).default(10_000),
        /** Disconnect calls and routing refreshes that may wait for a slot; a Disconnect past it is not made (limit disconnect_queue). */
        disconnectQueue: z.number().int().min(0).default(100_000),
      })
      .strict()
      .default({}),
    comet: z
      .object({
        /** Worker processes sharing the client ports (node:cluster); each is a comet of its own. */
        workers: z.number().int().min(1).max(64).default(1),
        /**
         * Connections the kernel may complete on a client listener before the comet accepts them
         * (capped by net.core.somaxconn, as goim's Go listeners are); node's own default is 511.
         */
        listenBacklog: z.number().int().min(1).max(65535).default(65535),
        /** How often local room counts are reported to logic (goim: 10 s). */
        renewOnline: duration('10s'),
        /** How often each connection's routing TTL is refreshed in logic (must stay below redis.expire). */
        routingRefresh: duration('10m'),
        /** How often one sweep checks handshake and heartbeat deadlines of all connections (their granularity). */
        sweepInterval: duration('1s'),
        /** Longest stop() waits for the Disconnect calls of the connections it closes. */
        shutdownWait: duration('5s'),
        /**
         * Bytes of recent numbered room records kept for joiners (all rooms together; one room holds
         * at most what one replay may send). 0 = none: every join reads the history.
         */
        replayCache: z
          .number()
          .int()
          .min(0)
          .default(64 << 20),
      })
      .strict()
      .default({}),
    /** gRPC listener of a distributed comet (default :3109) or logic (default :3119). */
    rpcServer: z
      .object({
        addr: listen.optional(),
        /** A connection with no call for this long is closed (goim idleTimeout). */
        idleTimeout: duration('60s'),
        /** Connections are recycled after this age so clients rebalance (goim maxLifeTime). */
        maxLifeTime: duration('2h'),
        /** Calls in flight may finish this long after maxLifeTime (goim forceCloseWait). */
        forceCloseWait: duration('20s'),
        /** Server keepalive ping interval on an idle connection (goim keepAliveInterval). */
        keepAliveInterval: duration('60s'),
        /** A keepalive ping unanswered this long drops the connection (goim keepAliveTimeout). */
        keepAliveTimeout: duration('20s'),
        /** PEM certificate chain: serve gRPC over TLS when set, with privateFile (beyond goim). */
        certFile: z.string().default(''),
        /** PEM private key of certFile. */
        privateFile: z.string().default(''),
        /** PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS). */
        clientCaFile: z.string().default(''),
      })
      .strict()
      .default({}),
    rpcClient: z
      .object({
        /** Deadline of one comet→logic or job→comet call. */
        timeout: duration('5s'),
        /** Logic gRPC addresses ("host:port") a comet uses besides those in the registry (e.g. a goim logic). */
        logicAddrs: z.array(z.string()).default([]),
        /** PEM CA bundle: call gRPC servers over TLS, trusting these CAs (beyond goim); unset = plaintext. */
        caFile: z.string().default(''),
        /** PEM client certificate for servers that require one (rpcServer.clientCaFile), with privateFile. */
        certFile: z.string().default(''),
        /** PEM private key of certFile. */
        privateFile: z.string().default(''),
        /** Name checked against the server certificate instead of the dialed host (e.g. dialing by IP). */
        serverName: z.string().default(''),
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
        /** Connect timeout of one attempt; reconnects continue in the background (goim redis.dialTimeout, example 200ms). */
        dialTimeout: duration('200ms'),
        /** A command unanswered this long fails, so callers never hang on a stuck server (goim redis.readTimeout, example 500ms). */
        readTimeout: duration('500ms'),
      })
      .strict()
      .default({}),
    nats: z
      .object({
        /** Overridden by the NATS_URL environment variable. */
        url: z.string().default('nats://127.0.0.1:4222'),
        stream: z.string().default('GOIM_PUSH'),
        subject: z.string().default('goim.push'),
        /** Durable consumer name prefix: one durable per partition (<durable>-<p>), shared by all jobs. */
        durable: z.string().default('goim-push-job'),
        /** Stream retention: workqueue (deleted once acked) or limits (kept until maxAge). */
        retention: z.enum(['workqueue', 'limits']).default('workqueue'),
        /** Oldest message the stream keeps. */
        maxAge: duration('24h'),
        /**
         * Redelivery wait for an unacknowledged message whose job stopped answering (a job still
         * working on one reports it in progress every quarter of this; a crashed job's messages
         * come back at once with workqueue retention: docs/deployment.md, failures).
         */
        ackWait: duration('10s'),
        /**
         * Subject partitions (<subject>.<p>, p from the record key as goim's Kafka partitioner picks
         * it); each is consumed by one job at a time, which keeps per-room and per-key order.
         */
        partitions: z.number().int().min(1).max(1024).default(8),
        /** Messages one job holds unacknowledged per partition (the consumer's max_ack_pending). */
        maxAckPending: z.number().int().min(1).default(1024),
        /**
         * A job that stops renewing its partition leases (crash) loses them after this long, and
         * the others take its partitions; renewed every third of it.
         */
        leaseTtl: duration('3s'),
        /** How long publish waits for the stream's acknowledgement before failing. */
        publishTimeout: duration('2s'),
        /** First redelivery delay after the job could not deliver a message (doubles per attempt). */
        retryDelay: duration('1s'),
        /** Longest redelivery delay. */
        retryMaxDelay: duration('30s'),
      })
      .strict()
      .default({}),
    queue: z
      .object({
        /** The push queue of distributed mode: NATS JetStream or Kafka (goim's). Embedded mode keeps its in-memory queue. */
        engine: z.enum(['nats', 'kafka']).default('nats'),
      })
      .strict()
      .default({}),
    kafka: z
      .object({
        /** Bootstrap brokers, host:port (goim kafka.brokers); overridden by KAFKA_BROKERS (comma-separated). */
        brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
        /** The topic logic writes and job reads (goim kafka.topic). */
        topic: z.string().min(1).default('goim-push-topic'),
        /** The jobs' consumer group (goim kafka.group). */
        group: z.string().min(1).default('goim-push-group-job'),
        /** Where a group with no committed offset starts: goim's "newest", or "oldest". */
        initialOffset: z.enum(['newest', 'oldest']).default('newest'),
        /** A job whose heartbeats stop this long leaves the group; its partitions go to the others. */
        sessionTimeout: duration('10s'),
        heartbeatInterval: duration('3s'),
        /** One request to a broker; a produce is retried `retries` times after it. */
        requestTimeout: duration('5s'),
        /** Produce retries (goim: 10). */
        retries: z.number().int().min(0).max(100).default(10),
        /** Records one job holds received and not committed; past it, fetching pauses. */
        maxInFlight: z.number().int().min(1).default(1024),
        /** First re-delivery delay after the job could not deliver a record (doubles per attempt). */
        retryDelay: duration('1s'),
        /** Longest re-delivery delay. */
        retryMaxDelay: duration('30s'),
      })
      .strict()
      .default({}),
    httpServer: z
      .object({
        /** Loopback by default: the push API is for your servers; expose it deliberately (with api.keys). */
        addr: listen.default('127.0.0.1:3111'),
        /** Largest push body in bytes; larger requests get 413 (goim has no limit, its Kafka producer fails near 1 MB). */
        maxBody: z
          .number()
          .int()
          .min(1)
          .default(1 << 20),
        /** Connections open at once; more are closed at accept (keep it inside limits.reservedFds when embedded). */
        maxConnections: z.number().int().min(1).default(256),
        /** Connections one client IP may hold at once; more are closed at accept. Unset: half of maxConnections; 0 = unlimited. */
        maxConnectionsPerIp: z.number().int().min(0).optional(),
        /** Requests one connection may have received and not yet answered (pipelined); past it the connection is closed. */
        maxPipelined: z.number().int().min(1).default(8),
        /** A request's headers must arrive within this long of its first byte (of the connection, for the first request). */
        headersTimeout: duration('10s'),
        /** A whole request, body included, must arrive within this long; also the longest a connection may stay silent. */
        requestTimeout: duration('30s'),
        /** An idle keep-alive connection is closed after this long. */
        keepAliveTimeout: duration('5s'),
        /** Host names, besides loopback names and IP addresses, that a keyless API answers on (DNS-rebinding guard). */
        allowedHosts: z.array(z.string()).default([]),
        /** Origins ("https://admin.example.com") besides the API's own whose pages may call a keyless API. */
        allowedOrigins: z.array(z.string()).default([]),
      })
      .strict()
      .default({}),
    /** How logic authenticates client connections (op 7); beyond goim, which trusts any token. */
    auth: z
      .object({
        /** goim: trust the JSON token (goim's behaviour); jwt: verify a signed JWT; webhook: ask a business server. */
        mode: z.enum(['goim', 'jwt', 'webhook']).default('goim'),
        jwt: z
          .object({
            /** Accepted JWS algorithms; unset = every supported one that has a key configured. */
            algorithms: z
              .array(z.enum(['HS256', 'RS256', 'ES256']))
              .min(1)
              .optional(),
            /** HS256 shared secret (at least 32 bytes), or "@/path/to/file" holding it. */
            secret: z.string().default(''),
            /** RS256 / ES256 public key: PEM text, or "@/path/to/key.pem". */
            publicKey: z.string().default(''),
            /** JSON Web Key Set URL (keys cached, refetched for an unknown kid). */
            jwksUrl: z.string().default(''),
            /** Required "iss" when set. */
            issuer: z.string().default(''),
            /** Required "aud" (any of these) when set. */
            audience: z.union([z.string(), z.array(z.string())]).default(''),
            /** Clock skew allowed on "exp" and "nbf". */
            clockTolerance: duration('5s'),
            /** Claim holding the user id; "sub" is used when it is absent and numeric. */
            midClaim: z.string().min(1).default('mid'),
            /** Tokens without "exp" are refused (a token that never expires cannot be revoked). */
            requireExp: z.boolean().default(true),
            /** Let room_id / accepts of the JSON auth body fill claims the token lacks (rooms become client-chosen). */
            trustBody: z.boolean().default(false),
          })
          .strict()
          .default({}),
        webhook: z
          .object({
            /** Business endpoint that answers allow/deny for each connection. */
            url: z.string().default(''),
            /** A webhook call taking longer is a denial (it also bounds waiting for a free slot). */
            timeout: duration('2s'),
            /** Extra request headers, e.g. Authorization for the business server. */
            headers: z.record(z.string()).default({}),
            /** Webhook calls in flight at once; more connections wait for a slot (within timeout). */
            maxConcurrent: z.number().int().min(1).default(64),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** Bearer API keys on logic's push and admin endpoints; beyond goim, which has none. */
    api: z
      .object({
        /** auto: off only for an embedded server bound to loopback with no keys set, on otherwise. */
        auth: z.enum(['auto', 'on', 'off']).default('auto'),
        /** Accepted keys (`Authorization: Bearer <key>`), each at least 16 characters. */
        keys: z.array(z.string()).default([]),
        /** Require a key on /metrics as well (otherwise protect it at the network level). */
        protectMetrics: z.boolean().default(false),
        /** Serve the history API (/tsim/history/*) without a key: room history that is public anyway (docs/security.md#http-api). */
        publicHistory: z.boolean().default(false),
        /**
         * Most body bytes one history API page holds (docs/http-api.md#history): a page ends before
         * the record that would pass it, and always holds one record. 1 MiB: four records of the
         * largest default push, and far above 1000 danmaku of a few hundred bytes.
         */
        historyPageBytes: z
          .number()
          .int()
          .min(1)
          .max(Number.MAX_SAFE_INTEGER)
          .default(1 << 20),
      })
      .strict()
      .default({}),
    /** The operations console on logic (/admin, docs/operations.md#operations-console): its own credential, separate from api.keys. */
    admin: z
      .object({
        /** auto: off only for an embedded server bound to loopback with no keys set, on otherwise (as api.auth). */
        auth: z.enum(['auto', 'on', 'off']).default('auto'),
        /** Accepted admin keys (Bearer, or the password of HTTP Basic), each at least 16 characters; "name:key" names its holder in the log. */
        keys: z.array(z.string()).max(64).default([]),
        /** How often every role publishes its node snapshot, and logic's console samples them. */
        statsInterval: duration('1s'),
      })
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
    /** Push limits (beyond goim), read by logic, job and comet: keep them equal in every process's file. */
    push: z
      .object({
        /**
         * Largest push message in bytes; logic answers 413 to bigger ones, and job builds no room
         * batch bigger than this. Unset: 262144, or less when protocol.sendQueueBytes holds less.
         */
        maxBytes: z.number().int().min(1).optional(),
        /** Throttled broadcasts (speed > 0) one comet walks at once; further ones are sent unthrottled. */
        maxThrottled: z.number().int().min(1).default(16),
      })
      .strict()
      .default({}),
    room: z
      .object({
        /** Most messages merged into one room batch (goim 20). */
        batch: z.number().int().min(1).default(20),
        /** Longest a room message waits for companions (goim 1 s). */
        signal: duration('1s'),
        /**
         * A message reaching a quiet room (nothing sent for `signal`) is sent at once instead of
         * waiting for companions; false = goim's fixed window.
         */
        adaptive: z.boolean().default(true),
        /** A room batcher with nothing to do for this long is removed (goim 15 min; 0 means 1 min, as in goim). */
        idle: duration('15m'),
        /**
         * Messages held over all rooms before every held batch is sent early. A held message is
         * acknowledged to the queue only once sent, so keep this below the queue's in-flight
         * window (job.queueInflight, NATS max ack pending) or quiet rooms stall consumption.
         */
        maxHeld: z.number().int().min(1).default(512),
      })
      .strict()
      .default({}),
    job: z
      .object({
        /** Calls one comet may have in flight at once (goim job comet.routineSize 32). */
        routineSize: z.number().int().min(1).default(32),
        /**
         * Messages the job holds without the comets' acknowledgement yet; further messages wait,
         * which slows the queue down instead of growing the heap (goim: comet.routineChan 1024 per routine).
         */
        maxPending: z.number().int().min(1).default(8192),
        /** How long start-up waits for the first comet list before running with none (goim 10 s). */
        cometWait: duration('10s'),
        /** Embedded queue: messages accepted and not yet acknowledged; past it a push fails with "queue full". */
        queueSize: z.number().int().min(1).default(100_000),
        /** Embedded queue: messages handed to the job at once. */
        queueInflight: z.number().int().min(1).default(1024),
        /** Embedded queue: first wait before redelivering a message the job could not deliver (doubles per attempt). */
        retryDelay: duration('50ms'),
        /** Embedded queue: longest wait between redeliveries. */
        retryMaxDelay: duration('5s'),
        /** Failed calls in a row after which a comet is marked down: its calls are held and it is probed. */
        cometFailures: z.number().int().min(2).default(3),
        /** First wait before a failed call to a comet is retried, or a down comet probed (doubles per failure). */
        cometRetryDelay: duration('100ms'),
        /** Longest wait between those retries and probes. */
        cometRetryMaxDelay: duration('5s'),
        /** Bytes of calls held for one down comet (message bytes + 256 per call); past it calls for it are dropped and counted. */
        cometBacklogBytes: z
          .number()
          .int()
          .min(0)
          .default(16 << 20),
      })
      .strict()
      .default({}),
    /** Per room type: danmaku sending and history (beyond goim; none by default, so goim clients see goim's behaviour). */
    roomTypes: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a room type is letters, digits, "_", "." or "-"'), roomType).default({}),
    /** Room history storage (beyond goim; docs/history.md). */
    history: z
      .object({
        /** Where history is kept: embedded mode defaults to sqlite, distributed mode to postgres; memory keeps it in the process only. */
        engine: z.enum(['sqlite', 'postgres', 'memory']).optional(),
        /** Directory of the SQLite file (history.db). */
        dataDir: z.string().default('./data'),
        /** PostgreSQL connection string; DATABASE_URL overrides it. */
        postgresUrl: z.string().default('postgres://postgres@127.0.0.1:5432/postgres'),
        /** Connections each logic or job keeps to PostgreSQL at most (its pool). */
        postgresMaxConnections: z.number().int().min(1).default(4),
        /** Longest a PostgreSQL call waits to connect, or for a free pooled connection, before it fails; at least 100ms. */
        postgresConnectTimeout: duration('5s').refine((ms) => ms >= 100, 'history.postgresConnectTimeout must be at least 100ms'),
        /** Most records written in one transaction. */
        writeBatch: z.number().int().min(1).default(1000),
        /** Records a job holds unwritten while the store is slow or down; past it the oldest are dropped and their rooms get a new epoch. */
        writeBuffer: z.number().int().min(1).default(100_000),
        /** Longest a record waits for the store before the job acknowledges its message anyway (keeping the record to write later); at least 100ms. */
        writeWait: duration('2s').refine((ms) => ms >= 100, 'history.writeWait must be at least 100ms'),
        /**
         * Longest a record waits for companions before an append starts with fewer than 64: each
         * store call costs a fixed ~0.1–0.5 ms of CPU (a thread wake-up, a round trip), which at
         * low rates was most of what history costs. Below writeWait; 0 = every record at once.
         */
        writeLinger: duration('50ms'),
        /** How often retention runs; "0" = never. At most 24 days: a longer interval is not a timer Node can keep. */
        pruneEvery: duration('1m').refine((ms) => ms <= 24 * 86_400_000, 'history.pruneEvery must be at most 24 days ("576h")'),
        /** Ids of a room's newest records read when a job opens it, to recognise redelivered messages. */
        recentIds: z.number().int().min(0).default(1000),
      })
      .strict()
      .default({}),
    /** Durable per-user inbox (beyond goim; docs/inbox.md, docs/protocol.md#durable-inbox): storage, retention, delivery. */
    inbox: z
      .object({
        /** Where inboxes are kept: unset, the engine history uses (by mode); memory keeps them in the process only. */
        engine: z.enum(['sqlite', 'postgres', 'memory']).optional(),
        /** Directory of the SQLite file (inbox.db); unset, history.dataDir. */
        dataDir: z.string().optional(),
        /** PostgreSQL connection string; unset, the history's (DATABASE_URL, else history.postgresUrl). */
        postgresUrl: z.string().optional(),
        /** Retention: most messages kept per user (the newest). */
        keep: z.number().int().min(1).default(1000),
        /** Retention: no message older than this; at least 1s. */
        maxAge: duration('168h').refine((ms) => ms >= 1000, 'inbox.maxAge must be at least 1s'),
        /** Retention: also remove what every device of the user acknowledged. */
        dropAcked: z.boolean().default(true),
        /** A device not seen for this long is forgotten (its watermark then holds back nothing); at least 1m. */
        deviceTtl: duration('720h').refine((ms) => ms >= 60_000, 'inbox.deviceTtl must be at least 1m'),
        /** How often retention runs; "0" = never. At most 24 days: a longer interval is not a timer Node can keep. */
        pruneEvery: duration('1m')
          .refine((ms) => ms === 0 || ms >= 1000, 'inbox.pruneEvery must be "0" or at least 1s')
          .refine((ms) => ms <= 24 * 86_400_000, 'inbox.pruneEvery must be at most 24 days ("576h")'),
        /** Devices kept per user; registering one more forgets the least recently seen. */
        maxDevices: z.number().int().min(1).max(10_000).default(32),
        // delivery
        /** Operations whose pushes to mids are durable unless the request says durable=0. */
        durableOps: z
          .array(
            z
              .number()
              .int()
              .min(-2147483648)
              .max(2147483647)
              .refine((op) => op < 24 || op > 29, 'ops 24 to 29 are reserved for the durable inbox (docs/protocol.md#durable-inbox)'),
          )
          .max(256)
          .default([]),
        /** A device (connection key) the inbox has never seen receives this many of the newest messages first; 0 = from now on. */
        newDeviceRecent: z.number().int().min(0).max(10_000).default(0),
        /** Most messages in one backlog or fetch page (one read and one write to the socket). */
        pageMessages: z.number().int().min(1).max(1000).default(100),
        /** Most body bytes in one backlog or fetch page (the first message whatever its size); at most half of protocol.sendQueueBytes is used. */
        pageBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 << 10),
        /** Live messages held for one connection while comet reads its inbox; past it they are dropped and read back. */
        holdMessages: z.number().int().min(0).max(100_000).default(256),
        /** Bytes of those held messages for one connection. */
        holdBytes: z
          .number()
          .int()
          .min(0)
          .default(256 << 10),
      })
      .strict()
      .default({}),
    /** Prometheus metrics (beyond goim). */
    metrics: z
      .object({
        /** Serve GET /metrics (embedded and logic: on httpServer.addr; comet and job: on metrics.addr). */
        enabled: z.boolean().default(true),
        /** Metrics listener of a distributed comet (default :3190; worker i uses port + i) or job (default :3128). */
        addr: listen.optional(),
        /** Connections the metrics listener of a distributed comet or job holds at once; more are closed at accept. */
        maxConnections: z.number().int().min(1).default(16),
        /** /metrics is rendered at most once per this long; scrapes meanwhile get that text ("0": only concurrent scrapes share). */
        renderInterval: duration('1s'),
      })
      .strict()
      .default({}),
    /** Giving memory back after bursts of connections (beyond goim; docs/operations.md#memory-after-connect-storms). */
    memory: z
      .object({
        /**
         * Connections accepted (comet) or Connect calls made (distributed logic) since the last
         * settle that make the process give memory back once they stop arriving (a last-resort GC); 0 = never.
         */
        settleAfter: z.number().int().min(0).default(1000),
        /** How long the burst must have been over first (a tenth of its busiest second; each process draws between this and 3×). */
        settleQuiet: duration('5s').refine((ms) => ms >= 1000, 'memory.settleQuiet must be at least 1s'),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
