// Inbox retention in the background (docs/inbox.md#retention): every `every` ms one run of
// store.prune with the configured rule. A run still going when the next is due makes that one
// skip, so runs never overlap; each engine bounds the work of one transaction and gives other
// calls their turn between them. stop() ends the schedule and waits for a run in progress.
import type { Clock, ClockTimer } from '../lib/clock.js';
import { systemClock } from '../lib/clock.js';
import type { Logger } from '../log.js';
import type { InboxPruneRule, InboxStore } from '../ports/index.js';

export interface InboxPrunerOptions {
  store: InboxStore;
  rule: InboxPruneRule;
  /** Between runs, ms; 0 = no runs. */
  every: number;
  log: Logger;
  clock?: Clock;
  /** Unix ms for the rule's ages (Date.now). */
  now?: () => number;
}

export class InboxPruner {
  private timer: ClockTimer | null = null;
  private running: Promise<void> | null = null;
  private readonly clock: Clock;
  private readonly now: () => number;
  /** Runs that failed, for metrics. */
  failures = 0;

  constructor(private readonly options: InboxPrunerOptions) {
    this.clock = options.clock ?? systemClock;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer !== null || !(this.options.every > 0)) return;
    this.timer = this.clock.setInterval(() => void this.run(), this.options.every);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** One run now, unless one is going (then that one's end). Never rejects: a failure is logged and counted. */
  run(): Promise<void> {
    this.running ??= this.prune().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async prune(): Promise<void> {
    const { store, rule, log } = this.options;
    const started = this.clock.now();
    try {
      const removed = await store.prune(rule, this.now());
      const ms = Math.round(this.clock.now() - started);
      if (removed > 0) log.info({ removed, ms }, 'inbox: retention removed messages');
      else log.debug({ removed, ms }, 'inbox: retention ran');
    } catch (e) {
      this.failures++;
      log.warn({ err: (e as Error).message }, 'inbox: retention failed');
    }
  }

  /** Ends the schedule; resolves once a run in progress has ended (before the store is closed). */
  async stop(): Promise<void> {
    if (this.timer !== null) this.clock.clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
