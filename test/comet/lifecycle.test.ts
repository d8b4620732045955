// Start and stop, registry entry (docs/internal-protocol.md#registry-entries), and routing
// refresh (docs/protocol.md#differs-routing-expiry).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { AppId, type Instance, type Registry } from '../../src/ports/index.js';
import { ManualClock } from '../support/manual-clock.js';
import { StubLogic } from '../support/stub-logic.js';
import { SERVER_ID, startComet } from './harness.js';
import { eventually } from '../support/eventually.js';

/** Records what a comet does to its registry. */
class RecordingRegistry implements Registry {
  readonly registered: Instance[] = [];
  readonly deregistered: Array<[string, string]> = [];
  async register(instance: Instance): Promise<void> {
    this.registered.push(structuredClone(instance));
  }
  async deregister(appid: string, hostname: string): Promise<void> {
    this.deregistered.push([appid, hostname]);
  }
  async list(): Promise<Instance[]> {
    return [];
  }
  watch(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('comet lifecycle', () => {
  it('registers at start with goim metadata, refreshes counts, deregisters at stop', async () => {
    const registry = new RecordingRegistry();
    const h = await startComet(
      {
        env: { region: 'sh', zone: 'sh001', deployEnv: 'dev', weight: 7, offline: false, addrs: ['1.2.3.4', '5.6.7.8'] },
        registry: { refresh: '30ms' },
      },
      new StubLogic(),
      { registry, rpcAddr: 'grpc://127.0.0.1:3109' },
    );
    try {
      const first = registry.registered[0];
      assert.ok(first, 'registered before start() resolved');
      assert.ok(first.latestTimestamp > Date.parse('2024-01-01') * 1e6);
      assert.deepEqual(
        { ...first, latestTimestamp: 0 },
        {
          region: 'sh',
          zone: 'sh001',
          env: 'dev',
          appid: AppId.Comet,
          hostname: SERVER_ID,
          addrs: ['grpc://127.0.0.1:3109'],
          version: '',
          latestTimestamp: 0,
          metadata: { weight: '7', offline: 'false', addrs: '1.2.3.4,5.6.7.8', conn_count: '0', ip_count: '0' },
        },
      );
      await h.client('tcp', { key: 'r1' });
      await h.client('ws', { key: 'r2' });
      await eventually(() => registry.registered.at(-1)!.metadata.conn_count === '2', 'conn_count 2');
      assert.equal(registry.registered.at(-1)!.metadata.ip_count, '1');
    } finally {
      await h.stop();
    }
    assert.deepEqual(registry.deregistered, [[AppId.Comet, SERVER_ID]]);
    const n = registry.registered.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(registry.registered.length, n, 'no refresh after stop');
  });

  it('stop closes every connection, tells logic about each, and stops listening', async () => {
    const logic = new StubLogic();
    const h = await startComet({ tcp: { bind: ['127.0.0.1:0', '127.0.0.1:0'] } }, logic);
    assert.equal(h.comet.tcpAddresses().length, 2);
    const a = await h.client('tcp', { mid: 1, key: 's-a' });
    const b = await h.client('ws', { mid: 2, key: 's-b', room_id: 'stop://1' });
    const pending = await h.tcp(); // not authenticated: nothing to tell logic
    const release = logic.hold('disconnect'); // stop() waits for them, but only so long
    const stopping = h.comet.stop();
    await Promise.all([a.closed, b.closed, pending.closed]);
    assert.deepEqual(logic.calls.disconnect.map((d) => d.key).sort(), ['s-a', 's-b']);
    release();
    await stopping;
    assert.deepEqual(h.comet.stats(), { connections: 0, ips: 0, rooms: 0, pushesDropped: 0, slowDisconnects: 0 });
    for (const port of [...h.comet.tcpAddresses(), ...h.comet.wsAddresses()].map((a) => a.port)) {
      assert.equal(await refused(port), true, `port ${port} closed`);
    }
    await h.comet.stop(); // idempotent
  });

  it('stop does not wait for logic longer than comet.shutdownWait', async () => {
    const logic = new StubLogic();
    const h = await startComet({ comet: { shutdownWait: '50ms' } }, logic);
    await h.client('tcp', { key: 'stuck' });
    logic.hold('disconnect'); // never released
    await h.comet.stop();
    assert.equal(logic.calls.disconnect.length, 1);
  });

  it('listens with comet.listenBacklog as the accept queue of every client listener', async () => {
    // The listening socket's Send-Q in `ss -ltn` is its backlog (as the kernel capped it).
    const backlogs = (ports: number[]): number[] => {
      const out = execFileSync('ss', ['-Hltn'], { encoding: 'utf8' });
      return ports.map((port) => {
        const line = out.split('\n').find((l) => l.trim().split(/\s+/)[3]?.endsWith(`:${port}`));
        assert.ok(line, `port ${port} listed by ss`);
        return Number(line.trim().split(/\s+/)[2]);
      });
    };
    const h = await startComet({ comet: { listenBacklog: 77 } });
    try {
      assert.deepEqual(backlogs([h.tcpPort, h.wsPort]), [77, 77]);
    } finally {
      await h.stop();
    }
    const d = await startComet();
    try {
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      assert.deepEqual(backlogs([d.tcpPort, d.wsPort]), [Math.min(65535, somaxconn), Math.min(65535, somaxconn)]);
    } finally {
      await d.stop();
    }
  });

  it('fails to start with a clear error when a port is taken', async () => {
    const first = await startComet();
    try {
      await assert.rejects(
        startComet({ websocket: { bind: [`127.0.0.1:${first.wsPort}`] } }),
        /comet: cannot listen for websocket on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
      );
    } finally {
      await first.stop();
    }
  });

  it('refreshes each connection routing in logic without client heartbeats', async () => {
    const logic = new StubLogic();
    // A manual clock: each refresh is due once the test has moved time a period on.
    const clock = new ManualClock();
    const h = await startComet({ comet: { routingRefresh: '100ms' } }, logic, { clock });
    try {
      await h.client('tcp', { mid: 5, key: 'route-a' });
      await h.client('ws', { mid: 6, key: 'route-b' });
      clock.advance(100);
      const a = await logic.waitFor('heartbeat', (r) => r.key === 'route-a');
      assert.deepEqual(a, { mid: 5n, key: 'route-a', server: SERVER_ID });
      await logic.waitFor('heartbeat', (r) => r.key === 'route-b');
      // And again, periodically: time moves a sweep interval per check.
      await eventually(() => {
        if (logic.calls.heartbeat.filter((r) => r.key === 'route-a').length >= 3) return true;
        clock.advance(20);
        return false;
      }, 'repeated refresh');
    } finally {
      await h.stop();
    }
  });
});
