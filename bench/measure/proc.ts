// Per-process measurements from /proc (Linux): CPU time, resident memory and write
// syscalls of any process by pid, whatever runs in it. Server CPU% and socket writes/s come
// from deltas of these samples, so the server under test needs no instrumentation.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK); 100 on Linux). */
const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  pid: number;
  /** performance.now() when read, ms. */
  at: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
  /** Resident set size, bytes. */
  rss: number;
  /** Peak resident set size, bytes. */
  rssPeak: number;
  /** write/writev syscalls so far (/proc/<pid>/io syscw). */
  writes: number;
  /** Bytes passed to write syscalls so far (wchar). */
  writeBytes: number;
}

/** CPU time in ms from the text of /proc/<pid>/stat (fields 14 utime and 15 stime). */
export function parseStatCpuMs(stat: string): number {
  // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so utime (14) is rest[11] and stime (15) rest[12].
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
}

function statusKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

function ioField(io: string, key: string): number {
  const m = new RegExp(`^${key}: (\\d+)`, 'm').exec(io);
  return m ? Number(m[1]) : 0;
}

/** One sample of a live process; undefined when it has exited. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const at = performance.now();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    let io = '';
    try {
      io = readFileSync(`/proc/${pid}/io`, 'utf8');
    } catch {
      // io accounting may be unavailable (kernel option, permissions): writes read as 0.
    }
    return {
      pid,
      at,
      cpuMs: parseStatCpuMs(stat),
      rss: statusKb(status, 'VmRSS'),
      rssPeak: statusKb(status, 'VmHWM'),
      writes: ioField(io, 'syscw'),
      writeBytes: ioField(io, 'wchar'),
    };
  } catch {
    return undefined;
  }
}

export interface ProcDelta {
  pid: number;
  /** What the process is in the server under test (e.g. "logic", "comet-w0"), when known. */
  role?: string;
  /** CPU used over the interval, in % of one core. */
  cpuPct: number;
  /** write syscalls per second over the interval. */
  writesPerSec: number;
  /** MB/s passed to write syscalls. */
  writeMBps: number;
  /** RSS at the end of the interval, bytes. */
  rss: number;
  rssPeak: number;
}

export function procDelta(a: ProcSample, b: ProcSample): ProcDelta {
  const s = Math.max(1e-3, (b.at - a.at) / 1000);
  return {
    pid: b.pid,
    cpuPct: (b.cpuMs - a.cpuMs) / 10 / s,
    writesPerSec: (b.writes - a.writes) / s,
    writeMBps: (b.writeBytes - a.writeBytes) / 1048576 / s,
    rss: b.rss,
    rssPeak: b.rssPeak,
  };
}

export interface MachineCpu {
  /** Busy jiffies, all CPUs (everything but idle and iowait). */
  busy: number;
  /** Of which interrupt and softirq time: on loopback, most of the kernel's network work. */
  irq: number;
  total: number;
}

/** Whole-machine CPU counters (/proc/stat "cpu" line). */
export function sampleMachineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  // user nice system idle iowait irq softirq steal …
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((x, y) => x + (y || 0), 0);
  return { busy: total - idle, irq: (v[5] ?? 0) + (v[6] ?? 0), total };
}

/** Machine CPU busy over an interval, in % of all cores. */
export function machineBusyPct(a: MachineCpu, b: MachineCpu): number {
  const t = b.total - a.total;
  return t > 0 ? ((b.busy - a.busy) / t) * 100 : 0;
}

/**
 * Interrupt + softirq time over an interval, in % of one core. The kernel does not charge it
 * to any process, so it shows in no process's CPU%.
 */
export function machineIrqPct(a: MachineCpu, b: MachineCpu): number {
  const t = b.total - a.total;
  return t > 0 ? ((b.irq - a.irq) / t) * 100 * availableParallelism() : 0;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGB: number;
  node: string;
  kernel: string;
  openFileLimit: string;
}

export function machineInfo(): MachineInfo {
  let kernel: string;
  let limit: string;
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    kernel = 'unknown';
  }
  try {
    limit = statusLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    limit = 'unknown';
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGB: Math.round(totalmem() / 1e9),
    node: process.version,
    kernel,
    openFileLimit: limit,
  };
}

function statusLimit(limits: string): string {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  return m ? m[1] : 'unknown';
}

/** The soft open-file limit of this process (as inherited by the children it starts). */
export function openFileLimit(): number {
  try {
    const n = Number(statusLimit(readFileSync('/proc/self/limits', 'utf8')));
    return Number.isFinite(n) ? n : 20_000;
  } catch {
    return 20_000;
  }
}

/**
 * CPU time (ms) of each kind of thread of a node process, by the name the thread gives itself
 * (/proc/<pid>/task/<tid>/comm): `MainThread` (the event loop), `WorkerThread` (worker_threads,
 * e.g. the SQLite history thread), `V8Worker` (GC and compiler helpers), `libuv-worker`, …
 * Empty when the process has exited.
 */
export function sampleThreads(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const ms = parseStatCpuMs(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      out.set(comm, (out.get(comm) ?? 0) + ms);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** % of one core each kind of thread used between two samples `seconds` apart. */
export function threadsDelta(a: Map<string, number>, b: Map<string, number>, seconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, ms] of b) out[name] = (ms - (a.get(name) ?? 0)) / 10 / Math.max(1e-3, seconds);
  return out;
}
