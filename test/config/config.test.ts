import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { parseDuration } from '../../src/config/duration.js';
import { parseListen } from '../../src/config/listen.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { packageRoot } from '../../src/package-root.js';

describe('durations', () => {
  it('parses Go duration strings', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('8s'), 8000);
    assert.equal(parseDuration('4m'), 240_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('5'), /invalid duration/);
    assert.throws(() => parseDuration('soon'), /invalid duration/);
  });
});

describe('listen addresses', () => {
  it('accepts goim forms', () => {
    assert.deepEqual(parseListen(':3101'), { host: undefined, port: 3101 });
    assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('[::1]:3102'), { host: '::1', port: 3102 });
    assert.throws(() => parseListen('3111'), /invalid listen address/); // goim's own broken default
    assert.throws(() => parseListen(':70000'), /invalid port/);
  });
});

describe('config', () => {
  it("fills goim's defaults", () => {
    const c = buildConfig({});
    assert.deepEqual(c.tcp.bind, [':3101']);
    assert.deepEqual(c.websocket.bind, [':3102']);
    assert.equal(c.httpServer.addr, '127.0.0.1:3111'); // the push API is not exposed by default
    assert.equal(c.protocol.handshakeTimeout, 5000);
    assert.equal(c.protocol.maxBody, 4096);
    assert.equal(c.node.heartbeat, 240_000);
    assert.equal(c.node.heartbeatMax, 2);
    assert.equal(c.room.batch, 20);
    assert.equal(c.room.signal, 1000);
    assert.equal(c.room.idle, 900_000);
    assert.equal(c.backoff.jitter, 0.3);
  });

  it('names every unknown key and bad value', () => {
    assert.throws(
      () => buildConfig({ tcp: { bindd: [] }, room: { signal: 'x', batch: 0 }, nope: 1 }, 'test.toml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /test\.toml/);
        assert.match(err.message, /tcp\.bindd: unknown key/);
        assert.match(err.message, /room\.signal: invalid duration/);
        assert.match(err.message, /room\.batch:/);
        assert.match(err.message, /nope: unknown key/);
        return true;
      },
    );
  });

  it("refuses goim's [regions] table saying it is unused and can be deleted", () => {
    assert.throws(
      () => buildConfig({ regions: { bj: ['北京', '天津'] }, nope: 1 }, 'logic.toml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /logic\.toml/);
        assert.match(err.message, /^ {2}regions: goim's province → region table is not used: .*delete the \[regions\] table/m);
        assert.match(err.message, /^ {2}nope: unknown key$/m);
        return true;
      },
    );
  });

  it('documents every key in docs/configuration.md', () => {
    const doc = readFileSync(join(packageRoot(), 'docs', 'configuration.md'), 'utf8');
    const missing: string[] = [];
    const unwrap = (t: z.ZodTypeAny): z.ZodTypeAny => {
      for (;;) {
        if (t instanceof z.ZodDefault) t = (t as z.ZodDefault<z.ZodTypeAny>)._def.innerType;
        else if (t instanceof z.ZodOptional) t = (t as z.ZodOptional<z.ZodTypeAny>)._def.innerType;
        else if (t instanceof z.ZodEffects) t = (t as z.ZodEffects<z.ZodTypeAny>)._def.schema;
        else return t;
      }
    };
    for (const [section, sectionType] of Object.entries(configSchema.shape)) {
      const inner = unwrap(sectionType as z.ZodTypeAny);
      if (inner instanceof z.ZodObject) {
        for (const key of Object.keys(inner.shape as z.ZodRawShape)) {
          if (!doc.includes(`\`${section}.${key}\``)) missing.push(`${section}.${key}`);
        }
      } else if (!doc.includes(`[${section}]`)) missing.push(section);
    }
    assert.deepEqual(missing, [], 'undocumented configuration keys');
  });
});
