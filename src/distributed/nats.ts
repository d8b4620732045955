// Builds the NATS push queue of a distributed role from its configuration: the `nats`
// section, with NATS_URL (when set) overriding nats.url (docs/configuration.md).
import { NatsPushQueue } from '../adapters/nats/push-queue.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LeaseStore } from '../ports/index.js';

/** NATS_URL when set, else nats.url. */
function natsUrl(config: Config): string {
  const url = process.env.NATS_URL?.trim();
  return url ? url : config.nats.url;
}

export interface NatsQueueDeps {
  log: Logger;
  /** Partition leases shared by the jobs (redisLeaseStore); publishers need none. */
  leases?: LeaseStore;
  /** The queue closes `leases` on close(). */
  ownsLeases?: boolean;
  owner?: string;
  /** Client name shown by the server (default "tsim <env.host>"). */
  name?: string;
  /** Overrides nats.url and NATS_URL. */
  url?: string;
}

/** A queue from the `nats` section. */
export function natsPushQueue(config: Config, deps: NatsQueueDeps): NatsPushQueue {
  const n = config.nats;
  return new NatsPushQueue({
    url: deps.url ?? natsUrl(config),
    stream: n.stream,
    subject: n.subject,
    durable: n.durable,
    retention: n.retention,
    maxAgeMs: n.maxAge,
    ackWaitMs: n.ackWait,
    partitions: n.partitions,
    maxAckPending: n.maxAckPending,
    leaseTtlMs: n.leaseTtl,
    publishTimeoutMs: n.publishTimeout,
    retryDelayMs: n.retryDelay,
    retryMaxDelayMs: n.retryMaxDelay,
    leases: deps.leases,
    ownsLeases: deps.ownsLeases,
    owner: deps.owner,
    name: deps.name ?? `tsim ${config.env.host}`,
    log: deps.log,
  });
}
