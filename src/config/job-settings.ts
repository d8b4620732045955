// What the job role takes from the configuration (job/job.ts JobOptions), picked out and
// resolved by the wiring (embedded.ts, distributed/job-process.ts) so the job never sees the
// whole Config.
import type { JobHistorySettings, JobOptions } from '../job/job.js';
import { pushMaxBytes } from './push-limits.js';
import type { Config } from './schema.js';

/** [job], [room], env.zone and the largest push. */
export function jobSettings(config: Config): Pick<JobOptions, 'job' | 'room' | 'zone' | 'pushMaxBytes'> {
  return { job: config.job, room: config.room, zone: config.env.zone, pushMaxBytes: pushMaxBytes(config) };
}

/**
 * The room types with `history` on and the [history] keys the job uses; undefined when no
 * room type has history (then the job needs no store and calls none).
 */
export function jobHistorySettings(config: Config): JobHistorySettings | undefined {
  const types: JobHistorySettings['types'] = {};
  for (const [type, t] of Object.entries(config.roomTypes)) if (t.history) types[type] = { keep: t.keep, maxAge: t.maxAge };
  if (Object.keys(types).length === 0) return undefined;
  const { writeBatch, writeBuffer, writeWait, writeLinger, pruneEvery, recentIds } = config.history;
  return { types, writeBatch, writeBuffer, writeWait, writeLinger: Math.min(writeLinger, writeWait / 2), pruneEvery, recentIds };
}
