// The scale curve as an SVG (docs/img/): per-connection memory and CPU per million delivered
// messages against the number of connections, from one or more `scale` result files (TCP and
// WebSocket runs side by side).
import { readFileSync } from 'node:fs';
import type { FanoutRow } from '../scenarios/fanout.js';
import type { ScaleStep } from '../scenarios/scale.js';
import { cpuMicrosPerWrite, cpuPerMillion } from '../scenarios/scale.js';
import type { MachineInfo } from './proc.js';
import { chartSvg, type Series } from './svg-chart.js';

interface ScaleFile {
  at: string;
  machine: Partial<MachineInfo>;
  results: { steps: ScaleStep[] };
}

const KB = 1024;

export function scaleChart(files: readonly string[]): string {
  const docs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as ScaleFile);
  const byTransport = new Map<string, ScaleStep[]>();
  for (const d of docs) {
    for (const s of d.results.steps) byTransport.set(s.transport, [...(byTransport.get(s.transport) ?? []), s]);
  }
  const memory: Series[] = [];
  const cpu: Series[] = [];
  const perWrite: Series[] = [];
  // CPU is compared at one push rate that every count ran (the first of the list): at a
  // rate a count cannot keep up with, the job merges batches and CPU per message falls.
  const rate = Math.min(...docs.flatMap((d) => d.results.steps.map((s) => s.rows[0]?.rate ?? Infinity)));
  for (const [t, steps] of byTransport) {
    const name = t === 'ws' ? 'WebSocket' : 'TCP';
    memory.push({ name: `${name}, idle, no GC`, points: steps.map((s) => [s.clients, s.cometBytesPerConn / KB]) });
    memory.push({ name: `${name}, after GC`, points: steps.map((s) => [s.clients, s.cometBytesPerConnGc / KB]), dashed: true });
    const row = (s: ScaleStep): FanoutRow | undefined => s.rows.find((r) => r.rate === rate);
    const at = (f: (r: FanoutRow) => number): Array<[number, number]> =>
      steps.map((s) => {
        const r = row(s);
        return [s.clients, r ? f(r) : Number.NaN];
      });
    cpu.push({ name: `${name}, comet processes`, points: at((r) => cpuPerMillion(r).comet) });
    cpu.push({ name: `${name}, whole cluster`, points: at((r) => cpuPerMillion(r).all), dashed: true });
    perWrite.push({ name: `${name}, comet processes`, points: at((r) => cpuMicrosPerWrite(r)) });
  }
  const m = docs[0]?.machine ?? {};
  const dates = [...new Set(docs.map((d) => d.at.slice(0, 10)))].join(', ');
  return chartSvg(
    [
      {
        title: 'Comet RSS per connection',
        xLabel: 'connections in one room',
        yLabel: 'KB per connection',
        logX: true,
        series: memory,
        target: { y: 8, label: 'goal 8 KB' },
      },
      {
        title: `CPU per million delivered messages, ${rate} pushes/s`,
        xLabel: 'connections in one room',
        yLabel: 'CPU-seconds per million messages',
        logX: true,
        series: cpu,
      },
      {
        title: `Comet CPU per socket write, ${rate} pushes/s`,
        xLabel: 'connections in one room',
        yLabel: 'CPU microseconds per write',
        logX: true,
        series: perWrite,
      },
    ],
    `npm run bench -- scale; ${m.cores ?? '?'} vCPUs (${m.cpuModel ?? 'unknown CPU'}), Node ${m.node ?? '?'}, loopback; ${dates}`,
  );
}
