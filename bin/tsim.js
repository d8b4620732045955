#!/usr/bin/env node
// Entry point of the `tsim` command; the compiled CLI lives in dist/ (built by `npm install`).
import('../dist/src/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli.js')) {
    console.error('tsim is not built yet: run `npm install` (or `npm run build`) in the tsim folder first.');
  } else {
    console.error(err);
  }
  process.exit(1);
});
