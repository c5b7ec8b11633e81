/**
 * The project's home page as HTML: its builds newest first (build, branch, commit, time, files,
 * size, uploader, links to the HTML reports each holds), a branch filter and a link to the next
 * page. Plain HTML with root-relative links; no script.
 */
import escapeHtml from 'escape-html';
import type { buildJson } from './build-list';
import { htmlPage, humanSize } from './html-page';

type BuildItem = ReturnType<typeof buildJson>;

const STYLE =
  'body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}' +
  'td,th{padding:.2rem 1rem;text-align:left;vertical-align:top}td.n{text-align:right}ul{margin:0;padding-left:1rem}';

export function renderHome(project: string, items: BuildItem[], options: { branch?: string; nextHref?: string }): string {
  const title = options.branch === undefined ? `${project} · builds` : `${project} · builds on ${options.branch}`;
  const rows = items
    .map((b) => {
      const reports =
        b.reports.length === 0 ? '' : `<ul>${b.reports.map((r) => `<li><a href="${escapeHtml(r.url)}">${escapeHtml(r.path)}</a></li>`).join('')}</ul>`;
      const counts = b.countsComplete ? '' : ' <small>(counting)</small>';
      return (
        `<tr><td><a href="${escapeHtml(b.url)}">${escapeHtml(b.build)}</a>${b.pinned ? ' <small title="kept by retention until unpinned">pinned</small>' : ''}</td>` +
        `<td><a href="/?branch=${escapeHtml(encodeURIComponent(b.branch))}">${escapeHtml(b.branch)}</a></td>` +
        `<td>${b.commit ? `<code title="${escapeHtml(b.commit)}">${escapeHtml(b.commit.slice(0, 12))}</code>` : ''}</td>` +
        `<td><time datetime="${escapeHtml(b.createdAt)}">${escapeHtml(b.createdAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</time></td>` +
        `<td class="n">${b.files ?? ''}${counts}</td><td class="n">${b.bytes === null ? '' : humanSize(b.bytes)}</td>` +
        `<td>${escapeHtml(b.uploader.subject)}</td><td>${reports}</td></tr>`
      );
    })
    .join('\n');
  return htmlPage(
    title,
    STYLE,
    `<form method="get" action="/"><label>Branch <input name="branch" value="${escapeHtml(options.branch ?? '')}"></label> <button>Filter</button>${
      options.branch === undefined ? '' : ' <a href="/">all branches</a>'
    }</form>
<table><thead><tr><th>Build</th><th>Branch</th><th>Commit</th><th>Time</th><th>Files</th><th>Size</th><th>Uploaded by</th><th>Reports</th></tr></thead><tbody>
${rows}
</tbody></table>
${items.length === 0 ? '<p>No builds on this page.</p>' : ''}${options.nextHref ? `<p><a rel="next" href="${escapeHtml(options.nextHref)}">Older builds</a></p>` : ''}`,
  );
}
