// Plain-text result tables (stdout) and the number formats they use.

export type Cell = string | number | null | undefined;

/** Integer with thousands separators; "-" for missing values. */
export function fmtInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

/** Fixed decimals; "-" for missing values. */
export function fmtNum(n: number | null | undefined, decimals = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n.toFixed(decimals);
}

/** Milliseconds with a precision that suits their size. */
export function fmtMs(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

/** Bytes as KB (1024) with one decimal. */
export function fmtKb(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  return (bytes / 1024).toFixed(1);
}

/** Bytes as MB (1024²) with one decimal. */
export function fmtMb(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  return (bytes / 1048576).toFixed(1);
}

function text(c: Cell): string {
  if (c === null || c === undefined) return '-';
  return typeof c === 'number' ? fmtInt(c) : c;
}

/**
 * Aligned columns: the first column left-aligned, the others right-aligned (they hold
 * numbers), a rule under the header.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [headers.map((h) => h), ...rows.map((r) => headers.map((_, i) => text(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}
