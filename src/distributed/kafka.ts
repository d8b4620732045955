// Builds the Kafka push queue of a distributed role from its configuration: the `kafka`
// section, with KAFKA_BROKERS (when set, comma-separated) overriding kafka.brokers.
import { KafkaPushQueue } from '../adapters/kafka/push-queue.js';
import { ConfigError } from '../config/load.js';
import { pushMaxBytes } from '../config/push-limits.js';
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

/**
 * The largest record value Kafka takes by default (sarama's Producer.MaxMessageBytes, which
 * goim's logic keeps; a broker's message.max.bytes is 1,048,588): a push, its PushMsg fields
 * and a batch's framing must fit.
 */
const KAFKA_MAX_RECORD_BYTES = 1_000_000;
/** PushMsg fields besides the body, at most (keys of a large keys push aside: those are bounded apart). */
const PUSH_MSG_OVERHEAD = 64 * 1024;

/** A queue from the `kafka` section. */
export function kafkaPushQueue(config: Config, log: Logger): KafkaPushQueue {
  const k = config.kafka;
  const maxPush = pushMaxBytes(config);
  if (maxPush + PUSH_MSG_OVERHEAD > KAFKA_MAX_RECORD_BYTES) {
    throw new ConfigError(
      `push.maxBytes ${maxPush} is too large for Kafka: a record holds at most ${KAFKA_MAX_RECORD_BYTES} bytes by default; set push.maxBytes to ${KAFKA_MAX_RECORD_BYTES - PUSH_MSG_OVERHEAD} or less`,
    );
  }
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
    // One fetch: enough for many records, bounded by what maxInFlight records of the largest push weigh.
    fetchMaxBytes: Math.max(1 << 20, Math.min(k.maxInFlight * maxPush, 16 << 20)),
    retryDelayMs: k.retryDelay,
    retryMaxDelayMs: k.retryMaxDelay,
    clientId: `tsim-${config.env.host}`,
    log,
  });
}
