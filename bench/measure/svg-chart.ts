// Line charts as standalone SVG text, for the figures in docs/. Hand-written rather than a
// charting library: the bench only needs a few static panels with a log-scale x axis, and an
// SVG made of plain <path>/<text> elements renders anywhere (GitHub, browsers) without scripts
// or fonts to ship.

export interface Series {
  name: string;
  /** [x, y] pairs; points with a non-finite y are left out. */
  points: Array<[number, number]>;
  /** Dashed line (e.g. a second measurement of the same quantity). */
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  /** x on a log scale (connection counts from 1,000 to 1,000,000). */
  logX?: boolean;
  series: Series[];
  /** A horizontal reference line, e.g. a goal. */
  target?: { y: number; label: string };
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 520;
const H = 320;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** 1, 2, 5 × 10^k steps giving about `n` ticks over [0, max]. */
function niceTicks(max: number, n = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (v >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

function panelSvg(p: Panel, ox: number): string {
  const pts = p.series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)));
  const xs = pts.map(([x]) => x);
  const ymax = Math.max(...pts.map(([, y]) => y), p.target?.y ?? 0) * 1.1;
  const yTicks = niceTicks(ymax);
  const yTop = yTicks[yTicks.length - 1];
  let xLo = Math.min(...xs);
  let xHi = Math.max(...xs);
  if (!(xHi > xLo)) [xLo, xHi] = [xLo * 0.5, xHi * 2];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const fx = p.logX
    ? (x: number) => ox + M.left + ((Math.log10(x) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo))) * pw
    : (x: number) => ox + M.left + ((x - xLo) / (xHi - xLo)) * pw;
  const fy = (y: number) => M.top + ph - (y / yTop) * ph;
  const out: string[] = [];
  out.push(`<text x="${ox + W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${ox + M.left}" x2="${ox + W - M.right}" y1="${fy(t)}" y2="${fy(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${ox + M.left - 6}" y="${fy(t) + 4}" text-anchor="end" font-size="11">${fmtTick(t)}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<line x1="${fx(x)}" x2="${fx(x)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${fx(x)}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${fmtTick(x)}</text>`);
  }
  out.push(`<rect x="${ox + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${ox + M.left + pw / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`);
  out.push(
    `<text x="${ox + 16}" y="${M.top + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${ox + 16} ${M.top + ph / 2})">${esc(p.yLabel)}</text>`,
  );
  if (p.target) {
    out.push(
      `<line x1="${ox + M.left}" x2="${ox + W - M.right}" y1="${fy(p.target.y)}" y2="${fy(p.target.y)}" stroke="#555" stroke-dasharray="2 4"/>`,
    );
    out.push(
      `<text x="${ox + W - M.right - 4}" y="${fy(p.target.y) - 4}" text-anchor="end" font-size="11" fill="#555">${esc(p.target.label)}</text>`,
    );
  }
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const sp = s.points.filter(([, y]) => Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (sp.length === 0) return;
    const d = sp.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [x, y] of sp) out.push(`<circle cx="${fx(x).toFixed(1)}" cy="${fy(y).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.top + 14 + i * 16;
    out.push(
      `<line x1="${ox + M.left + 10}" x2="${ox + M.left + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${ox + M.left + 36}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** Panels side by side in one SVG document, with a caption line under them. */
export function chartSvg(panels: readonly Panel[], caption: string): string {
  const width = W * panels.length;
  const height = H + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...panels.map((p, i) => panelSvg(p, i * W)),
    `<text x="${width / 2}" y="${H + 16}" text-anchor="middle" font-size="11" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
