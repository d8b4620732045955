// The scale curve as an SVG (docs/img/): per-connection memory and CPU per million delivered
// messages against the number of connections, from one or more `scale` result files (TCP and
// WebSocket runs side by side).
import { readFileSync } from 'node:fs';
import type { FanoutRow } from '../scenarios/fanout.js';
import type { ScaleStep } from '../scenarios/scale.js';
import { bestRow, cpuPerMillion } from '../scenarios/scale.js';
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
  for (const [t, steps] of byTransport) {
    const name = t === 'ws' ? 'WebSocket' : 'TCP';
    memory.push({ name: `${name}, idle, no GC`, points: steps.map((s) => [s.clients, s.cometBytesPerConn / KB]) });
    memory.push({ name: `${name}, after GC`, points: steps.map((s) => [s.clients, s.cometBytesPerConnGc / KB]), dashed: true });
    const at = (pick: (s: ScaleStep) => FanoutRow | undefined, part: 'all' | 'comet'): Array<[number, number]> =>
      steps.map((s) => {
        const r = pick(s);
        return [s.clients, r ? cpuPerMillion(r)[part] : Number.NaN];
      });
    const at40 = (s: ScaleStep) => s.rows.find((r) => r.rate === 40 && r.sustained);
    cpu.push({ name: `${name}, comets, 40 pushes/s`, points: at(at40, 'comet') });
    cpu.push({ name: `${name}, comets, highest rate kept up`, points: at((s) => bestRow(s.rows), 'comet'), dashed: true });
    cpu.push({ name: `${name}, whole cluster, highest rate`, points: at((s) => bestRow(s.rows), 'all'), dashed: true });
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
        title: 'CPU per million delivered messages',
        xLabel: 'connections in one room',
        yLabel: 'CPU-seconds per million messages',
        logX: true,
        series: cpu,
      },
    ],
    `npm run bench -- scale; ${m.cores ?? '?'} vCPUs (${m.cpuModel ?? 'unknown CPU'}), Node ${m.node ?? '?'}, loopback; ${dates}`,
  );
}
