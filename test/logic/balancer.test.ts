import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WeightedBalancer } from '../../src/logic/balancer.js';
import type { Instance } from '../../src/ports/index.js';
import { comet } from './fixtures.js';

/** docs/goim-test-vectors.md#balancer-worked-example: three comets of weight 10 with their connection counts. */
function worked(ts = 1): Instance[] {
  return [
    comet('01', { weight: '10', conn_count: '240590', addrs: 'ip_bj' }, { region: 'bj', latestTimestamp: ts }),
    comet('02', { weight: '10', conn_count: '375420', addrs: 'ip_sh' }, { region: 'sh', latestTimestamp: ts }),
    comet('03', { weight: '10', conn_count: '293430', addrs: 'ip_gz' }, { region: 'gz', latestTimestamp: ts }),
  ];
}

function weights(b: WeightedBalancer): Record<string, number> {
  return Object.fromEntries(b.snapshot().map((n) => [n.hostname, n.currentWeight]));
}

function conns(b: WeightedBalancer): Record<string, number> {
  return Object.fromEntries(b.snapshot().map((n) => [n.hostname, n.currentConns]));
}

describe("balancer: goim's worked example", () => {
  test('client region sh, regionWeight 1.6: first and second call', () => {
    const b = new WeightedBalancer();
    assert.equal(b.update(worked()), true);
    assert.deepEqual(b.totals, { conns: 909440, weight: 30 });

    const first = b.nodeAddrs('sh', '.test', 1.6);
    assert.deepEqual(first.domains, ['02.test', '01.test', '03.test']);
    assert.deepEqual(first.addrs, ['ip_sh', 'ip_bj', 'ip_gz']);
    assert.deepEqual(weights(b), { '01': 182862, '02': 216502, '03': 156442 });
    assert.equal(conns(b)['02'], 375421);
    assert.equal(b.totals.conns, 909441);

    // m = 216485.49999999997 in doubles: floor − m ≥ −0.5, so the floor is used.
    const second = b.nodeAddrs('sh', '.test', 1.6);
    assert.equal(weights(b)['02'], 216501);
    assert.deepEqual(second.domains, ['02.test', '01.test', '03.test']);
    assert.equal(conns(b)['02'], 375422);
  });

  test('client region "" (what logic uses): 01, 03, 02', () => {
    const b = new WeightedBalancer();
    b.update(worked());
    const r = b.nodeAddrs('', '.goim.io', 1.6);
    assert.deepEqual(weights(b), { '01': 182862, '02': 115447, '03': 156442 });
    assert.deepEqual(r.domains, ['01.goim.io', '03.goim.io', '02.goim.io']);
    assert.deepEqual(r.addrs, ['ip_bj', 'ip_gz', 'ip_sh']);
    assert.equal(conns(b)['01'], 240591);
  });

  test('region weighting boosts comets registered without a region for "" clients', () => {
    const b = new WeightedBalancer();
    b.update([
      comet('a', { weight: '10', conn_count: '100', addrs: 'ip_a' }, { region: 'sh' }),
      comet('b', { weight: '10', conn_count: '100', addrs: 'ip_b' }, { region: '' }),
    ]);
    assert.deepEqual(b.nodeAddrs('', '', 2).addrs, ['ip_b', 'ip_a']);
  });
});

describe('balancer: weights', () => {
  test('no connections anywhere: every weight is 0, the first node is still counted', () => {
    const b = new WeightedBalancer();
    b.update([comet('a', { weight: '10', conn_count: '0' }), comet('b', { weight: '20', conn_count: '0' })]);
    const r = b.nodeAddrs('', '.d', 1);
    assert.deepEqual(weights(b), { a: 0, b: 0 });
    assert.deepEqual(r.domains, ['a.d', 'b.d']);
    assert.equal(b.totals.conns, 1);
  });

  test('an overloaded node is clamped to weight 1, a heavy one to 2^20', () => {
    const b = new WeightedBalancer();
    b.update([comet('busy', { weight: '1', conn_count: '1000000' }), comet('idle', { weight: '100000000', conn_count: '0' })]);
    b.nodeAddrs('', '', 1);
    assert.deepEqual(weights(b), { busy: 1, idle: 1 << 20 });
  });

  test('at most five nodes are returned; addrs of each are concatenated', () => {
    const b = new WeightedBalancer();
    b.update(Array.from({ length: 7 }, (_, i) => comet(`c${i}`, { weight: '10', conn_count: String(i * 10), addrs: `x${i},y${i}` })));
    const r = b.nodeAddrs('', '.d', 1);
    assert.deepEqual(r.domains, ['c0.d', 'c1.d', 'c2.d', 'c3.d', 'c4.d']);
    assert.deepEqual(r.addrs, ['x0', 'y0', 'x1', 'y1', 'x2', 'y2', 'x3', 'y3', 'x4', 'y4']);
  });

  test('a comet registered without addrs contributes "" (goim quirk)', () => {
    const b = new WeightedBalancer();
    b.update([comet('a', { weight: '10', conn_count: '1' })]);
    assert.deepEqual(b.nodeAddrs('', '', 1).addrs, ['']);
  });
});

describe('balancer: updates', () => {
  test('an empty list is ignored', () => {
    const b = new WeightedBalancer();
    assert.equal(b.update([]), false);
    b.update(worked());
    assert.equal(b.update([]), false);
    assert.equal(b.size, 3);
  });

  test('fewer than half the current nodes is ignored; exactly half is applied', () => {
    const b = new WeightedBalancer();
    const four = ['a', 'b', 'c', 'd'].map((h) => comet(h, { weight: '1', conn_count: '1' }));
    b.update(four);
    assert.equal(b.update(four.slice(0, 1)), false);
    assert.equal(b.size, 4);
    assert.equal(b.update(four.slice(0, 2)), true);
    assert.equal(b.size, 2);
  });

  test('an unchanged latestTimestamp keeps the node state; a new one rebuilds it from metadata', () => {
    const b = new WeightedBalancer();
    b.update(worked(1));
    b.nodeAddrs('', '', 1); // counts one client on 01
    b.update(worked(1));
    assert.equal(conns(b)['01'], 240591);
    assert.equal(b.totals.conns, 909441);
    b.update(worked(2));
    assert.equal(conns(b)['01'], 240590);
    assert.equal(b.totals.conns, 909440);
  });

  test('nodes whose weight or conn_count is not an int32 are left out', () => {
    const b = new WeightedBalancer();
    b.update([
      comet('ok', { weight: '10', conn_count: '5' }),
      comet('noweight', { conn_count: '5' }),
      comet('badweight', { weight: '1.5', conn_count: '5' }),
      comet('bigweight', { weight: '2147483648', conn_count: '5' }),
      comet('badconns', { weight: '10', conn_count: 'x' }),
    ]);
    assert.deepEqual(
      b.snapshot().map((n) => n.hostname),
      ['ok'],
    );
    assert.deepEqual(b.totals, { conns: 5, weight: 10 });
  });
});
