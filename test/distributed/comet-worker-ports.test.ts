// The ports comet workers take one each (rpcServer.addr + i, metrics.addr + i) are checked
// before any worker is forked: a collision names the setting, the range and the worker.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { checkWorkerPorts } from '../../src/distributed/comet-cluster.js';

/** A run of `n` consecutive free loopback ports (its first), found by trying. */
async function freeRun(n: number): Promise<number> {
  for (let base = 41000 + Math.floor(Math.random() * 20000); ; base += n) {
    const held: Server[] = [];
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const s = createServer();
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen({ host: '127.0.0.1', port: base + i, exclusive: true }, () => resolve(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
}

const range = (base: number, n: number): string[] => Array.from({ length: n }, (_, i) => `127.0.0.1:${base + i}`);

describe('comet worker ports', () => {
  it('passes when every worker port is free and no other setting uses it', async () => {
    const base = await freeRun(6);
    await checkWorkerPorts(
      [
        { key: 'rpcServer.addr', addrs: range(base, 3) },
        { key: 'metrics.addr', addrs: range(base + 3, 3) },
      ],
      [{ key: 'tcp.bind', addrs: [':3101'] }],
    );
  });

  it('names a port another setting of the comet uses', async () => {
    const base = await freeRun(4);
    await assert.rejects(
      checkWorkerPorts([{ key: 'rpcServer.addr', addrs: range(base, 4) }], [{ key: 'websocket.bind', addrs: [`:${base + 2}`] }]),
      new RegExp(
        `^ConfigError: comet.workers = 4 takes ports ${base}..${base + 3} for rpcServer.addr: worker 2's port ${base + 2} is also websocket.bind's`,
      ),
    );
    await assert.rejects(
      checkWorkerPorts(
        [
          { key: 'rpcServer.addr', addrs: range(base, 2) },
          { key: 'metrics.addr', addrs: range(base + 1, 2) },
        ],
        [],
      ),
      /worker 0's port \d+ is also rpcServer\.addr \(worker 1\)'s/,
    );
  });

  it('names a port taken on this host, e.g. by logic beside the comet', async () => {
    const base = await freeRun(3);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: base + 2 }, r));
    try {
      await assert.rejects(
        checkWorkerPorts([{ key: 'rpcServer.addr', addrs: range(base, 3) }], []),
        new RegExp(`worker 2's port ${base + 2} is already in use on this host; choose a rpcServer.addr whose 3 ports are free`),
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
