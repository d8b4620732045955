// The comet's metrics, read from Comet.stats() and Comet.counters() when scraped.
import type { Registry } from 'prom-client';
import type { Comet } from '../comet/comet.js';
import { lazyCounter, lazyGauge, lazyHistogram } from './lazy-metrics.js';

export type CometMetricsSource = Pick<Comet, 'stats' | 'counters'>;

export function registerCometMetrics(registry: Registry, comet: CometMetricsSource): void {
  lazyGauge(registry, {
    name: 'tsim_comet_connections',
    help: 'Authenticated client connections.',
    read: () => comet.stats().connections,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_sockets',
    help: 'Accepted client sockets, authenticated or still in the handshake.',
    read: () => comet.counters().sockets,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_tls_handshakes',
    help: 'Admitted client sockets on TLS listeners whose TLS handshake has not finished (cut at protocol.handshakeTimeout); not in tsim_comet_sockets yet.',
    read: () => comet.counters().tlsHandshakes ?? 0,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_replay_cache_bytes',
    help: 'Bytes of recent room records kept for joiners (comet.replayCache, docs/history.md#replay-cache).',
    read: () => comet.counters().replayCache?.bytes ?? 0,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_ips',
    help: 'Distinct client IPs among authenticated connections.',
    read: () => comet.stats().ips,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_rooms',
    help: 'Rooms with at least one local member.',
    read: () => comet.stats().rooms,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_connections_accepted_total',
    help: 'Client sockets accepted, by transport.',
    label: 'transport',
    read: () => {
      const c = comet.counters();
      return { tcp: c.tcpAccepted, ws: c.wsAccepted };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_comet_connections_closed_total',
    help: 'Client sockets closed, for any reason.',
    read: () => {
      const c = comet.counters();
      return c.tcpAccepted + c.wsAccepted - c.sockets;
    },
  });
  lazyCounter(registry, {
    name: 'tsim_comet_auth_total',
    help: 'Auth frames (op 7) by result: ok (registered) or failed (refused by logic).',
    label: 'result',
    read: () => {
      const c = comet.counters();
      return { ok: c.authOk, failed: c.authFailed };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_comet_frames_rejected_total',
    help: 'Connections closed for a malformed frame (bad goim header; on WebSocket also bad WebSocket framing), by transport.',
    label: 'transport',
    read: () => {
      const c = comet.counters();
      return { tcp: c.tcpFramesRejected, ws: c.wsFramesRejected };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_comet_replays_total',
    help: 'History replays to connections joining a room (docs/history.md#replay), by result: recovered, no_history, or the reason of recovered:false.',
    label: 'result',
    read: () => comet.counters().replays ?? {},
  });
  lazyCounter(registry, {
    name: 'tsim_comet_replay_reads_total',
    help: 'Where joins got their history records (docs/history.md#replay-cache), by source: cache (the room tail, no history read), store (history reads), completed (a read behind what was delivered, completed from the tail).',
    label: 'source',
    read: () => comet.counters().replayReads ?? {},
  });
  lazyCounter(registry, {
    name: 'tsim_comet_inbox_total',
    help: 'Durable inbox delivery (docs/protocol.md#durable-inbox), by event: sent (op-27 frames written), duplicates (live seqs already delivered), reread (live messages left to the inbox), reads, read_failures, acks.',
    label: 'event',
    read: (): Record<string, number> => {
      const i = comet.counters().inbox;
      if (i === undefined) return {};
      return { sent: i.sent, duplicates: i.duplicates, reread: i.reread, reads: i.reads, read_failures: i.readFailures, acks: i.acks };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_comet_pushes_total',
    help: 'Push calls received from job, by kind (keys: PushMsg, room: BroadcastRoom, broadcast: Broadcast).',
    label: 'kind',
    read: () => comet.counters().pushesReceived,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_pushes_delivered_total',
    help: 'Pushes written to a client socket, by kind (one per recipient).',
    label: 'kind',
    read: () => comet.counters().pushesDelivered,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_pushes_dropped_total',
    help: 'Pushes not written because the recipient had protocol.sendQueueBytes unsent (slowPolicy drop), by kind.',
    label: 'kind',
    read: () => comet.counters().pushesDropped,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_slow_disconnects_total',
    help: 'Connections closed for not reading fast enough (slowPolicy disconnect, or replies over the cap).',
    read: () => comet.counters().slowDisconnects,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_socket_writes_total',
    help: 'Write calls on client sockets: one per socket per event-loop turn with output (a write, or one writev for several batches). Pushes delivered per socket write show how well batching works.',
    read: () => comet.counters().socketWrites,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_pushes_too_large_total',
    help: 'Pushes bigger than protocol.sendQueueBytes on their own, not written even to a socket with nothing queued (a logic or job with a larger push.maxBytes than this comet fits); also counted as dropped.',
    read: () => comet.counters().pushesTooLarge ?? 0,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_room_batches_repeated_total',
    help: 'Room batches not written again: a call the job retried carried them, and the room had them from the first call (its answer came too late).',
    read: () => comet.counters().roomBatchesRepeated ?? 0,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_room_calls_unnumbered_total',
    help: 'BroadcastRoom calls whose batch numbers (tsim-batch-parts metadata) could not be read or did not match the body: written whole, as without numbers.',
    read: () => comet.counters().roomCallsUnnumbered ?? 0,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_throttled_broadcasts',
    help: 'Throttled broadcasts (speed > 0) walking now; at most push.maxThrottled.',
    read: () => comet.counters().throttledWalks ?? 0,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_logic_calls_in_flight',
    help: 'Connect, Disconnect and routing-refresh calls to logic in flight (at most limits.logicCalls).',
    read: () => comet.counters().logicCalls?.inFlight ?? 0,
  });
  lazyGauge(registry, {
    name: 'tsim_comet_logic_calls_waiting',
    help: 'Calls to logic waiting for a limits.logicCalls slot, by queue: connect (handshakes, limits.connectQueue) or background (Disconnect calls and routing refreshes, limits.disconnectQueue).',
    label: 'queue',
    read: () => {
      const l = comet.counters().logicCalls;
      return { connect: l?.connectsWaiting ?? 0, background: l?.backgroundWaiting ?? 0 };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_comet_logic_calls_waited_total',
    help: 'Calls to logic that waited for a limits.logicCalls slot before being made, by call: connect, disconnect, refresh.',
    label: 'call',
    read: () => comet.counters().logicCalls?.waited ?? {},
  });
  lazyCounter(registry, {
    name: 'tsim_comet_logic_calls_shed_total',
    help: 'Calls to logic never made, by reason: connect_queue_full (connection closed), connect_gone (the connection closed while waiting), disconnect_queue_full (routing left to expire), refresh_queue_full (retried later), refresh_gone.',
    label: 'reason',
    read: () => comet.counters().logicCalls?.shed ?? {},
  });
  lazyCounter(registry, {
    name: 'tsim_comet_memory_settles_total',
    help: 'Last-resort collections run after a burst of connections to give memory back (memory.settleAfter, docs/operations.md#memory-after-connect-storms).',
    read: () => comet.counters().memorySettles?.settles ?? 0,
  });
  lazyCounter(registry, {
    name: 'tsim_comet_memory_settle_pause_seconds_total',
    help: 'Time the comet process was stopped by those collections.',
    read: () => (comet.counters().memorySettles?.pauseMs ?? 0) / 1000,
  });
  lazyHistogram(registry, {
    name: 'tsim_fanout_latency_seconds',
    help: 'Time comet spends on one push call from job: from the call to the end of its fan-out loop (encoding and queueing to every recipient), by kind.',
    label: 'kind',
    read: () => comet.counters().fanoutLatency,
  });
}
