/**
 * How the cache administration commands print for people (as `gh cache list` does): aligned
 * columns under a header on a terminal, tab-separated lines without a header for a pipe, and
 * times as "3 hours ago" on a terminal, ISO 8601 for a pipe.
 */

/** Rows as aligned columns (terminal) or tab-separated values (pipe, no header). */
export function table(header: string[], rows: string[][], tty: boolean): string {
  if (!tty) return rows.map((r) => `${r.join('\t')}\n`).join('');
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`).join('');
}

const UNITS: Array<[number, string]> = [
  [365 * 24 * 3600, 'year'],
  [30 * 24 * 3600, 'month'],
  [7 * 24 * 3600, 'week'],
  [24 * 3600, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
];

/** A time as a person reads it on a terminal ("3 hours ago"), or as is (ISO 8601) for a pipe. */
export function when(iso: string, tty: boolean, now = Date.now()): string {
  if (!tty) return iso;
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s < 60) return 'just now';
  for (const [size, unit] of UNITS) {
    const n = Math.floor(s / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return iso;
}
