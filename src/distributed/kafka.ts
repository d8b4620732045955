// Builds the Kafka push queue of a distributed role from its configuration: the `kafka`
// section, with KAFKA_BROKERS (when set, comma-separated) overriding kafka.brokers.
import { KafkaPushQueue } from '../adapters/kafka/push-queue.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';

function kafkaBrokers(config: Config): string[] {
  const env = process.env.KAFKA_BROKERS?.trim();
  return env
    ? env
        .split(',')
        .map((b) => b.trim())
        .filter((b) => b !== '')
    : config.kafka.brokers;
}

/** A queue from the `kafka` section. */
export function kafkaPushQueue(config: Config, log: Logger): KafkaPushQueue {
  const k = config.kafka;
  return new KafkaPushQueue({
    brokers: kafkaBrokers(config),
    topic: k.topic,
    group: k.group,
    initialOffset: k.initialOffset,
    sessionTimeoutMs: k.sessionTimeout,
    heartbeatIntervalMs: k.heartbeatInterval,
    requestTimeoutMs: k.requestTimeout,
    retries: k.retries,
    maxInFlight: k.maxInFlight,
    retryDelayMs: k.retryDelay,
    retryMaxDelayMs: k.retryMaxDelay,
    clientId: `tsim-${config.env.host}`,
    log,
  });
}
