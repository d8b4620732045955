// Runs `npm run bench -- …` (dist/bench/main.js) as a child process for the bench's end-to-end
// tests, with a mark in its environment that every process it starts inherits, so that a test
// can find anything left running afterwards.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

const main = join(packageRoot(), 'dist', 'bench', 'main.js');

export interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface BenchChild {
  /** Runs the bench with `args`, killed past the runner's timeout. */
  run: (args: string[]) => Promise<BenchRun>;
  /** Processes started by this runner's bench runs that are still alive. */
  leftovers: () => Promise<number>;
}

export function benchChild(markName: string, timeoutMs: number): BenchChild {
  const value = `${process.pid}-${Date.now()}`;
  const mark = `${markName}=${value}`;
  return {
    run: (args) => {
      const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [markName]: value } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      return new Promise((resolve) =>
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        }),
      );
    },
    leftovers: async () => {
      let n = 0;
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          if ((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').includes(mark)) n++;
        } catch {
          // exited meanwhile, or not ours to read
        }
      }
      return n;
    },
  };
}
