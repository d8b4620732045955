// The job's and its queue's metrics, read from Job.stats(), Job.load() and the queue's
// queueStats() when scraped.
import type { Registry } from 'prom-client';
import type { Job } from '../job/job.js';
import { lazyCounter, lazyGauge, lazyHistogram } from './lazy-metrics.js';

export type JobMetricsSource = Pick<Job, 'stats' | 'load'>;

/** Both queue adapters (memory, NATS) offer this. */
export interface QueueMetricsSource {
  queueStats(): { depth: number; redeliveries: number };
}

export function registerJobMetrics(registry: Registry, job: JobMetricsSource): void {
  lazyCounter(registry, {
    name: 'tsim_job_messages_total',
    help: 'Queued messages handled, by kind (push, room, broadcast, unknown).',
    label: 'kind',
    read: () => {
      const s = job.stats();
      return { push: s.push + s.pushUnknownServer, room: s.roomMessages, broadcast: s.broadcast + s.broadcastNoComet, unknown: s.unknownType };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_job_messages_dropped_total',
    help: 'Messages acknowledged without delivery, by reason (unknown_server: PUSH for a comet not in the table; no_comet: BROADCAST with no comet; unknown_type).',
    label: 'reason',
    read: () => {
      const s = job.stats();
      return { unknown_server: s.pushUnknownServer, no_comet: s.broadcastNoComet, unknown_type: s.unknownType };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_job_room_batches_total',
    help: 'Room batches sent to the comets (one BroadcastRoom per comet each).',
    read: () => job.stats().roomBatches,
  });
  lazyCounter(registry, {
    name: 'tsim_job_room_batches_merged_total',
    help: 'Room batches sent to a comet inside one BroadcastRoom with the batches before them, because the comet was still busy with the room (counted per comet).',
    read: () => job.stats().roomBatchesMerged,
  });
  lazyCounter(registry, {
    name: 'tsim_job_room_batches_dropped_total',
    help: 'Room batches acknowledged without any comet to send them to.',
    read: () => job.stats().roomNoComet,
  });
  lazyCounter(registry, {
    name: 'tsim_job_comet_retries_total',
    help: 'Failed comet calls retried by the job for that comet alone (not redelivered to the others).',
    read: () => job.stats().cometRetries,
  });
  lazyCounter(registry, {
    name: 'tsim_job_comet_calls_dropped_total',
    help: 'Calls a comet never got, by reason (removed: it left the registry or the job stopped while they were queued or held for it; backlog_full: held calls for a down comet reached job.cometBacklogBytes; refused: the comet refused the call job.cometFailures times while answering others).',
    label: 'reason',
    read: () => {
      const s = job.stats();
      return { removed: s.cometDroppedRemoved, backlog_full: s.cometDroppedBacklogFull, refused: s.cometDroppedRefused };
    },
  });
  lazyGauge(registry, {
    name: 'tsim_job_comets_down',
    help: 'Comets marked down: their calls failed job.cometFailures times in a row; calls are held for them and they are probed.',
    read: () => job.load().cometsDown,
  });
  lazyGauge(registry, {
    name: 'tsim_job_comet_held_calls',
    help: 'Calls held for comets that were down, not delivered yet (bounded by job.cometBacklogBytes per comet).',
    read: () => job.load().cometHeldCalls,
  });
  lazyHistogram(registry, {
    name: 'tsim_job_room_batch_size',
    help: 'Messages per room batch sent.',
    read: () => job.load().batchSizes,
  });
  lazyGauge(registry, {
    name: 'tsim_job_pending',
    help: 'Messages handled and not yet acknowledged by the comets (bounded by job.maxPending).',
    read: () => job.load().pending,
  });
  lazyGauge(registry, {
    name: 'tsim_job_held_messages',
    help: 'Room messages waiting in a batch.',
    read: () => job.load().heldMessages,
  });
  lazyGauge(registry, {
    name: 'tsim_job_rooms',
    help: 'Rooms with a live batcher.',
    read: () => job.load().rooms,
  });
  lazyGauge(registry, {
    name: 'tsim_job_comets',
    help: 'Comets the job sends to.',
    read: () => job.load().comets,
  });
  registerJobHistoryMetrics(registry, job);
}

/** Room history (docs/history.md#offsets-and-epochs): all zero while no room type has history on. */
function registerJobHistoryMetrics(registry: Registry, job: JobMetricsSource): void {
  lazyCounter(registry, {
    name: 'tsim_job_history_records_written_total',
    help: 'History records stored by the job.',
    read: () => job.stats().historyRecordsWritten,
  });
  lazyCounter(registry, {
    name: 'tsim_job_history_write_batches_total',
    help: 'Append calls that stored history records (up to history.writeBatch records each).',
    read: () => job.stats().historyWriteBatches,
  });
  lazyCounter(registry, {
    name: 'tsim_job_history_write_failures_total',
    help: 'Failed history store calls, by call (write: append or newEpoch, retried; open: the room went out without offsets; prune: a retention run).',
    label: 'call',
    read: () => {
      const s = job.stats();
      return { write: s.historyWriteFailures, open: s.historyOpenFailures, prune: s.historyPruneFailures };
    },
  });
  lazyCounter(registry, {
    name: 'tsim_job_history_records_dropped_total',
    help: 'History records dropped unwritten because history.writeBuffer was full (their messages were delivered; their rooms started a new epoch).',
    read: () => job.stats().historyRecordsDropped,
  });
  lazyCounter(registry, {
    name: 'tsim_job_history_records_released_total',
    help: 'History records whose queue messages were acknowledged before they were stored, because the store had not answered within history.writeWait (kept and written when it answers; their rooms started a new epoch).',
    read: () => job.stats().historyRecordsReleased,
  });
  lazyCounter(registry, {
    name: 'tsim_job_history_releases_total',
    help: 'Times the job started releasing history records (one per storage outage or stall longer than history.writeWait).',
    read: () => job.stats().historyReleases,
  });
  lazyCounter(registry, {
    name: 'tsim_job_history_epochs_total',
    help: 'New room epochs started by the job (store back after a failed open, records dropped, offsets past 2^32 - 1).',
    read: () => job.stats().historyEpochs,
  });
  lazyGauge(registry, {
    name: 'tsim_job_history_backlog',
    help: 'History records numbered and not yet stored (bounded by history.writeBuffer).',
    read: () => job.load().historyBacklog,
  });
}

export function registerQueueMetrics(registry: Registry, queue: QueueMetricsSource): void {
  lazyGauge(registry, {
    name: 'tsim_queue_depth',
    help: 'Push queue messages waiting: embedded, accepted and not yet acknowledged; NATS, not yet delivered to this job (as of the last delivery of each partition).',
    read: () => queue.queueStats().depth,
  });
  lazyCounter(registry, {
    name: 'tsim_queue_redeliveries_total',
    help: 'Messages delivered to the job again after a failed or unacknowledged attempt.',
    read: () => queue.queueStats().redeliveries,
  });
}
