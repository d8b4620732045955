// The client SDK as the workspace package `tsim-client` (packages/client): what its exports
// resolve to under Node and for browsers, and that the server reads its op codes from it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import * as client from 'tsim-client';
import * as codec from 'tsim-client/codec';
import { Op } from '../../src/protocol/ops.js';

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('tsim-client/package.json'));

interface Manifest {
  name: string;
  type: string;
  exports: Record<string, Record<string, { types: string; default: string }> | { types: string; default: string } | string>;
  files: string[];
  dependencies?: Record<string, string>;
}

/** The modules a file reaches through relative imports, checked to import nothing else. */
async function imports(file: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(file)) return [];
  seen.add(file);
  const foreign: string[] = [];
  const source = await readFile(file, 'utf8');
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'/g)) {
    const spec = m[1];
    if (spec.startsWith('./') || spec.startsWith('../')) foreign.push(...(await imports(join(dirname(file), spec), seen)));
    else foreign.push(spec);
  }
  return foreign;
}

describe('tsim-client package', () => {
  it('is an ESM package with no runtime dependencies, exporting Node and browser entries with types', async () => {
    const manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as Manifest;
    assert.equal(manifest.name, 'tsim-client');
    assert.equal(manifest.type, 'module');
    assert.equal(manifest.dependencies, undefined);
    assert.deepEqual(manifest.files, ['dist', 'src']);
    const root = manifest.exports['.'] as Record<string, { types: string; default: string }>;
    assert.deepEqual(root.node, { types: './dist/node.d.ts', default: './dist/node.js' });
    assert.deepEqual(root.browser, { types: './dist/browser.d.ts', default: './dist/browser.js' });
    assert.deepEqual(root.default, root.browser);
  });

  it('under Node, `tsim-client` is the Node entry (WebSocket and TCP clients, codec)', () => {
    for (const name of ['TsimClient', 'TcpClient', 'parseTcpAddress', 'encodeFrame', 'decodeFrame', 'fetchNodes', 'stringifyToken', 'Op']) {
      assert.ok(name in client, `${name} missing`);
    }
  });

  it('the browser entry reaches no module outside the package (no Node API)', async () => {
    assert.deepEqual(await imports(join(pkgDir, 'dist', 'browser.js')), []);
    const node = await imports(join(pkgDir, 'dist', 'node.js'));
    assert.deepEqual(node, ['node:net'], 'only the TCP client needs Node');
  });

  it("the server uses the package's op codes", () => {
    assert.equal(Op, codec.Op);
    assert.equal(codec.Op, client.Op);
    assert.equal(Op.Auth, 7);
    assert.equal(Op.Raw, 9);
  });
});
