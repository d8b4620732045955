// Registry entry of this comet (docs/internal-protocol.md#registry-entries): registered at
// start, refreshed with the connection and IP counts every registry.refresh (1 s after a
// failure), removed at stop.
import type { Logger } from '../log.js';
import { AppId, type Instance, type Registry } from '../ports/index.js';

const RETRY_MS = 1000;

/** What the entry says about this comet besides its counts (config env section), and how often it is renewed. */
export interface RegistrationSettings {
  region: string;
  zone: string;
  /** env.deployEnv */
  env: string;
  weight: number;
  offline: boolean;
  /** Public client addresses (env.addrs). */
  addrs: string[];
  /** registry.refresh (ms); 0 registers once. */
  refreshMs: number;
}

export interface RegistrationOptions {
  registry: Registry;
  settings: RegistrationSettings;
  serverId: string;
  rpcAddr?: string;
  log: Logger;
  counts: () => { connections: number; ips: number };
}

export class Registration {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inflight: Promise<void> | undefined;

  constructor(private readonly opts: RegistrationOptions) {}

  instance(): Instance {
    const { settings, serverId, rpcAddr, counts } = this.opts;
    const { connections, ips } = counts();
    return {
      region: settings.region,
      zone: settings.zone,
      env: settings.env,
      appid: AppId.Comet,
      hostname: serverId,
      addrs: rpcAddr ? [rpcAddr] : [],
      version: '',
      latestTimestamp: Date.now() * 1e6,
      metadata: {
        weight: String(settings.weight),
        offline: String(settings.offline),
        addrs: settings.addrs.join(','),
        conn_count: String(connections),
        ip_count: String(ips),
      },
    };
  }

  /** Registers once (awaited, failure logged) and keeps refreshing. */
  async start(): Promise<void> {
    this.running = true;
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    let next = this.opts.settings.refreshMs;
    this.inflight = this.opts.registry.register(this.instance()).catch((err: unknown) => {
      next = RETRY_MS;
      this.opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'comet: registry update failed');
    });
    await this.inflight;
    this.inflight = undefined;
    if (this.running && next > 0) this.timer = setTimeout(() => void this.refresh(), next);
  }

  /** Stops refreshing and deregisters (failure logged). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.inflight; // so a late register cannot follow the deregister
    try {
      await this.opts.registry.deregister(AppId.Comet, this.opts.serverId);
    } catch (err) {
      this.opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'comet: deregister failed');
    }
  }
}
