// Top functions by self time in a V8 .cpuprofile (node --cpu-prof).
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { fmtNum, formatTable } from './table.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface SelfTime {
  name: string;
  /** file:line, relative to the package when inside it. */
  where: string;
  ms: number;
  /** Share of all samples, %. */
  pct: number;
  /** Share of the samples where the process was not idle, %. */
  busyPct: number;
}

export async function readProfile(file: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
}

function location(f: CallFrame): string {
  if (!f.url) return '';
  let path = f.url.startsWith('file://') ? f.url.slice(7) : f.url;
  try {
    const rel = relative(packageRoot(), path);
    if (!rel.startsWith('..')) path = rel;
  } catch {
    // no package root: keep the URL
  }
  return `${path}:${f.lineNumber + 1}`;
}

/** Functions with the most self time (same name and location merged). */
export function topSelfTime(p: CpuProfile, n: number): SelfTime[] {
  const hits = new Map<string, { name: string; where: string; hits: number }>();
  let total = 0;
  let idle = 0;
  for (const node of p.nodes) {
    const h = node.hitCount ?? 0;
    if (h === 0) continue;
    total += h;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') idle += h;
    const where = location(node.callFrame);
    const key = `${name}@${where}`;
    const e = hits.get(key);
    if (e) e.hits += h;
    else hits.set(key, { name, where, hits: h });
  }
  const msPerHit = total > 0 ? (p.endTime - p.startTime) / 1000 / total : 0;
  return [...hits.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, n)
    .map((e) => ({
      name: e.name,
      where: e.where,
      ms: e.hits * msPerHit,
      pct: total > 0 ? (e.hits / total) * 100 : 0,
      busyPct: total - idle > 0 && e.name !== '(idle)' ? (e.hits / (total - idle)) * 100 : Number.NaN,
    }));
}

export function profileTable(rows: readonly SelfTime[]): string {
  return formatTable(
    ['function', 'self ms', '% all', '% busy', 'where'],
    rows.map((r) => [r.name, fmtNum(r.ms, 0), fmtNum(r.pct), fmtNum(r.busyPct), r.where]),
  );
}
