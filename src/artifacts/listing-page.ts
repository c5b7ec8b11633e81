/**
 * The generated directory page for a directory without index.html: name, size, type, with
 * relative links, so it works under any origin and path. Plain HTML, no script.
 */
import escapeHtml from 'escape-html';
import { contentTypeFor, essence } from '../content-policy';
import { encodePath } from './paths';

export interface ListingRow {
  /** Name relative to the directory; directories end with '/'. */
  name: string;
  size?: number;
  contentType?: string;
}

export function humanSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Groups entry paths (relative to the directory) into its immediate children. */
export function childrenOf(entries: Array<{ rel: string; size: number; contentType: string }>): ListingRow[] {
  const rows = new Map<string, ListingRow>();
  for (const e of entries) {
    const slash = e.rel.indexOf('/');
    if (slash === -1) rows.set(e.rel, { name: e.rel, size: e.size, contentType: e.contentType });
    else rows.set(e.rel.slice(0, slash + 1), { name: e.rel.slice(0, slash + 1) });
  }
  return [...rows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const STYLE =
  'body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}' +
  'td,th{padding:.2rem 1rem;text-align:left}td:nth-child(2){text-align:right}';

export function renderListing(title: string, rows: ListingRow[], truncated: boolean): string {
  const body = rows
    .map((r) => {
      const href = r.name.endsWith('/') ? `${encodePath(r.name.slice(0, -1))}/` : encodePath(r.name);
      const type = r.contentType ? essence(r.contentType) : r.name.endsWith('/') ? 'directory' : essence(contentTypeFor(r.name));
      const size = r.size === undefined ? '' : humanSize(r.size);
      return `<tr><td><a href="./${escapeHtml(href)}">${escapeHtml(r.name)}</a></td><td>${size}</td><td>${escapeHtml(type)}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<table><thead><tr><th>Name</th><th>Size</th><th>Type</th></tr></thead><tbody>
${rows.length === 0 ? '' : '<tr><td><a href="../">../</a></td><td></td><td>directory</td></tr>\n'}${body}
</tbody></table>
${truncated ? '<p>This directory has more entries than one page shows; use the API to list them all.</p>' : ''}
</body></html>
`;
}
