// Results as JSON in bench/results/<scenario>-<timestamp>.json (ignored by git).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { machineInfo } from './proc.js';

function resultsDir(): string {
  return join(packageRoot(), 'bench', 'results');
}

/** Writes the results with the machine and the command line; returns the file's path. */
export function writeResults(scenario: string, options: unknown, results: unknown, dir = resultsDir()): string {
  mkdirSync(dir, { recursive: true });
  const at = new Date();
  const file = join(dir, `${scenario}-${at.toISOString().replace(/[:.]/g, '-')}.json`);
  const doc = {
    scenario,
    at: at.toISOString(),
    command: process.argv.slice(2).join(' '),
    machine: machineInfo(),
    options,
    results,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
