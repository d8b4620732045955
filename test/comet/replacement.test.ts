// Same-key replacement (docs/protocol.md#same-key-replacement): the newer connection wins, the older one is
// closed without a Disconnect (goim's deleted the new routing), counts stay right.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { innerFrame, rawProto, SERVER_ID, startComet, type Harness } from './harness.js';
import { eventually } from '../support/eventually.js';

describe('same-key replacement', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  for (const [first, second] of [
    ['tcp', 'ws'],
    ['ws', 'tcp'],
  ] as const) {
    it(`a new ${second} connection with the key of a ${first} one replaces it`, async () => {
      const key = `dev-${first}-${second}`;
      const before = h.comet.stats();
      const old = await h.client(first, { mid: 1, key, room_id: `${key}://old`, accepts: [1000] });
      const fresh = await h.client(second, { mid: 1, key, room_id: `${key}://new`, accepts: [1000] });
      await old.closed;

      h.comet.pushMsg([key], 1000, rawProto(innerFrame(1000, 'to the new one')));
      assert.equal((await fresh.next()).body.toString(), 'to the new one');
      assert.deepEqual(
        h.comet.rooms().filter((r) => r.startsWith(key)),
        [`${key}://new`],
      );
      const after = h.comet.stats();
      assert.equal(after.connections, before.connections + 1);
      assert.equal(after.ips, 1);
      // A round trip on the new connection: the old close has long been handled by now.
      fresh.send(2, '', 1, 1);
      assert.equal((await fresh.next()).body.readInt32BE(0), 1);
      assert.equal(h.logic.calls.disconnect.filter((r) => r.key === key).length, 0, 'no Disconnect for the old one');

      fresh.close();
      const d = await h.logic.waitFor('disconnect', (r) => r.key === key);
      assert.deepEqual(d, { mid: 1n, key, server: SERVER_ID });
      await eventually(() => h.comet.stats().connections === before.connections, 'the new one to be gone');
      assert.equal(h.logic.calls.disconnect.filter((r) => r.key === key).length, 1);
    });
  }

  it('different keys from one IP are counted as one IP', async () => {
    const a = await h.client('tcp', { key: 'ip-a' });
    await h.client('ws', { key: 'ip-b' });
    assert.equal(h.comet.stats().ips, 1);
    a.close();
    await h.logic.waitFor('disconnect', (r) => r.key === 'ip-a');
    assert.equal(h.comet.stats().ips, 1);
  });
});
