// RenewOnline loop (docs/internal-protocol.md#room-counts): report local room counts to logic now and every period,
// keep the global counts it answers for heartbeat replies; retry after 1 s on failure.
import type { Logger } from '../log.js';
import type { LogicService } from '../ports/index.js';
import type { RoomTable } from './room.js';

const RETRY_MS = 1000;

export class OnlineReporter {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly rooms: RoomTable,
    private readonly logic: LogicService,
    private readonly serverId: string,
    /** comet.renewOnline; 0 disables reporting. */
    private readonly periodMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.running || this.periodMs <= 0) return;
    this.running = true;
    void this.report();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async report(): Promise<void> {
    let next = this.periodMs;
    try {
      const global = await this.logic.renewOnline(this.serverId, this.rooms.localCounts());
      if (this.running) this.rooms.applyGlobal(global ?? {});
    } catch (err) {
      next = Math.min(RETRY_MS, this.periodMs);
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'comet: renew online failed');
    }
    if (this.running) this.timer = setTimeout(() => void this.report(), next);
  }
}
