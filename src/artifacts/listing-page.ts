/**
 * The generated directory page for a directory without index.html: name, size, type and upload
 * time, with relative links, so it works under any origin and path. Sorted on the server
 * (`?sort=name|size|time&order=asc|desc`, links in the column heads), so it needs no script; each
 * file has a download link (`?download=1`, which origin.ts answers with
 * `Content-Disposition: attachment`). A subdirectory shows the total size and newest time of the
 * files below it.
 */
import escapeHtml from 'escape-html';
import { contentTypeFor, essence } from '../content-policy';
import { BadRequestError } from '../errors';
import { htmlPage, humanSize } from './html-page';
import { encodePath } from './paths';

export interface ListingRow {
  /** Name relative to the directory; directories end with '/'. */
  name: string;
  size?: number;
  contentType?: string;
  /** ISO time: the file's upload, or the newest upload below a directory. */
  createdAt?: string;
}

export type ListingSort = { by: 'name' | 'size' | 'time'; order: 'asc' | 'desc' };

/** `?sort=` and `?order=` of a listing request; 400 for anything else. */
export function listingSort(query: Record<string, string | string[] | undefined>): ListingSort {
  const by = query.sort ?? 'name';
  if (by !== 'name' && by !== 'size' && by !== 'time') throw new BadRequestError('sort must be name, size or time');
  const order = query.order ?? (by === 'name' ? 'asc' : 'desc');
  if (order !== 'asc' && order !== 'desc') throw new BadRequestError('order must be asc or desc');
  return { by, order };
}

/** Groups entry paths (relative to the directory) into its immediate children. */
export function childrenOf(entries: Array<{ rel: string; size: number; contentType: string; createdAt: string }>): ListingRow[] {
  const rows = new Map<string, ListingRow>();
  for (const e of entries) {
    const slash = e.rel.indexOf('/');
    if (slash === -1) {
      rows.set(e.rel, { name: e.rel, size: e.size, contentType: e.contentType, createdAt: e.createdAt });
      continue;
    }
    const name = e.rel.slice(0, slash + 1);
    const dir = rows.get(name) ?? { name, size: 0, createdAt: e.createdAt };
    dir.size! += e.size;
    if (e.createdAt > dir.createdAt!) dir.createdAt = e.createdAt;
    rows.set(name, dir);
  }
  return sortRows([...rows.values()], { by: 'name', order: 'asc' });
}

const byName = (a: ListingRow, b: ListingRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Directories first, then files; within each, by the key asked for (ties by name). */
export function sortRows(rows: ListingRow[], sort: ListingSort): ListingRow[] {
  const sign = sort.order === 'asc' ? 1 : -1;
  const key = (r: ListingRow): number | string => (sort.by === 'size' ? (r.size ?? 0) : sort.by === 'time' ? (r.createdAt ?? '') : r.name);
  return [...rows].sort((a, b) => {
    const dirs = Number(b.name.endsWith('/')) - Number(a.name.endsWith('/'));
    if (dirs !== 0) return dirs;
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -sign : ka > kb ? sign : byName(a, b);
  });
}

const STYLE =
  'body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}' +
  'td,th{padding:.2rem 1rem;text-align:left}td:nth-child(2){text-align:right}th a{color:inherit}';

const HEADS: Array<[ListingSort['by'], string]> = [
  ['name', 'Name'],
  ['size', 'Size'],
];

function head(by: ListingSort['by'], label: string, sort: ListingSort): string {
  // a second click on the sorted column turns the order round
  const order = sort.by === by ? (sort.order === 'asc' ? 'desc' : 'asc') : by === 'name' ? 'asc' : 'desc';
  const mark = sort.by === by ? (sort.order === 'asc' ? ' ▲' : ' ▼') : '';
  const aria = sort.by === by ? ` aria-sort="${sort.order === 'asc' ? 'ascending' : 'descending'}"` : '';
  return `<th${aria}><a href="?sort=${by}&amp;order=${order}">${label}${mark}</a></th>`;
}

const formatTime = (iso: string) => iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');

export function renderListing(title: string, rows: ListingRow[], truncated: boolean, sort: ListingSort = { by: 'name', order: 'asc' }): string {
  const body = sortRows(rows, sort)
    .map((r) => {
      const isDir = r.name.endsWith('/');
      const href = isDir ? `${encodePath(r.name.slice(0, -1))}/` : encodePath(r.name);
      const type = r.contentType ? essence(r.contentType) : isDir ? 'directory' : essence(contentTypeFor(r.name));
      const size = r.size === undefined ? '' : humanSize(r.size);
      const time = r.createdAt ? `<time datetime="${escapeHtml(r.createdAt)}">${escapeHtml(formatTime(r.createdAt))}</time>` : '';
      const download = isDir ? '' : `<a href="./${escapeHtml(href)}?download=1" download>download</a>`;
      return `<tr><td><a href="./${escapeHtml(href)}">${escapeHtml(r.name)}</a></td><td>${size}</td><td>${escapeHtml(type)}</td><td>${time}</td><td>${download}</td></tr>`;
    })
    .join('\n');
  return htmlPage(
    title,
    STYLE,
    `<table><thead><tr>${HEADS.map(([by, label]) => head(by, label, sort)).join('')}<th>Type</th>${head('time', 'Uploaded', sort)}<th></th></tr></thead><tbody>
${rows.length === 0 ? '' : '<tr><td><a href="../">../</a></td><td></td><td>directory</td><td></td><td></td></tr>\n'}${body}
</tbody></table>
${truncated ? '<p>This directory has more entries than one page shows; use the API to list them all.</p>' : ''}`,
  );
}
