// Bundles the browser client and the demo page into dist/web/ (served by logic's HTTP server):
//   tsim-client (the workspace package, its browser entry) → dist/web/tsim-client.js
//                                     IIFE, global `Tsim`, minified, source map
//   web/demo.ts → dist/web/demo.js    IIFE (imports tsim-client)
//   web/admin/admin.ts → dist/web/admin/admin.js   IIFE (imports uPlot), and uPlot's CSS beside it:
//                                     the operations console, served only behind the admin credential
// Both resolve `tsim-client` as a web app's bundler would: the package's browser export, built
// into packages/client/dist/ by `npm run build` before this script runs. The demo is
// type-checked first (web/tsconfig.json, DOM types only), since the project's tsc does not
// compile web/. Exits non-zero on any error.

import { execFile } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'web');
const require = createRequire(import.meta.url);

async function typecheckWeb() {
  const tsc = require.resolve('typescript/bin/tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(root, 'web', 'tsconfig.json')], { cwd: root });
  } catch (err) {
    process.stderr.write(String(err.stdout ?? '') + String(err.stderr ?? ''));
    throw new Error('web/ does not type-check', { cause: err });
  }
}

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  logLevel: 'warning',
  absWorkingDir: root,
  legalComments: 'none',
};

async function main() {
  await mkdir(join(outdir, 'admin'), { recursive: true });
  await typecheckWeb();
  await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: ['tsim-client'],
      outfile: join(outdir, 'tsim-client.js'),
      globalName: 'Tsim',
      minify: true,
      sourcemap: true,
    }),
    esbuild.build({
      ...common,
      entryPoints: [join(root, 'web', 'demo.ts')],
      outfile: join(outdir, 'demo.js'),
      sourcemap: true,
    }),
    esbuild.build({
      ...common,
      entryPoints: [join(root, 'web', 'admin', 'admin.ts')],
      outfile: join(outdir, 'admin', 'admin.js'),
      minify: true,
      sourcemap: true,
    }),
    copyFile(require.resolve('uplot/dist/uPlot.min.css'), join(outdir, 'admin', 'uPlot.min.css')),
  ]);
  process.stdout.write(`build-client: wrote ${join('dist', 'web')}/tsim-client.js, demo.js, admin/admin.js, admin/uPlot.min.css\n`);
}

main().catch((err) => {
  process.stderr.write(`build-client: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
