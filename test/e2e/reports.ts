/**
 * The artifacts the end-to-end suite publishes: a multi-file report (HTML, CSS, JS, images, a JSON
 * file it fetches), pages that write and read every kind of browser storage, an SVG with a script,
 * and a page that tries to overwrite another origin's session cookie.
 */
import { crc32, deflateSync } from 'node:zlib';

/** A real PNG of one colour (no image library needed). */
export function png(width: number, height: number, rgb: [number, number, number]): Buffer {
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const HEADING_COLOR = 'rgb(12, 34, 56)';

/** A coverage-style report: every part must arrive for it to render completely. */
export const MULTI_FILE_REPORT: Record<string, string | Buffer> = {
  'report/index.html': `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test report</title>
<link rel="stylesheet" href="css/report.css">
<script src="js/report.js" defer></script>
</head><body>
<h1 id="title">Test report</h1>
<img id="logo" src="img/logo.png" alt="logo" width="64" height="32">
<img id="badge" src="img/badge.svg" alt="badge">
<div id="swatch" class="swatch"></div>
<p id="status">loading…</p>
<table id="suites"><tbody></tbody></table>
</body></html>
`,
  'report/css/report.css': `h1 { color: ${HEADING_COLOR}; font-family: sans-serif; }
.swatch { width: 24px; height: 24px; background-image: url("../img/swatch.png"); }
table td { border: 1px solid #999; padding: 2px 6px; }
`,
  'report/js/report.js': `'use strict';
fetch('data/results.json')
  .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
  .then((data) => {
    const body = document.querySelector('#suites tbody');
    for (const s of data.suites) {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td></td><td></td>';
      tr.children[0].textContent = s.name;
      tr.children[1].textContent = s.passed + ' passed';
      body.appendChild(tr);
    }
    document.getElementById('status').textContent = 'loaded ' + data.suites.length + ' suites';
  })
  .catch((e) => { document.getElementById('status').textContent = 'failed: ' + e.message; });
`,
  'report/data/results.json': JSON.stringify({
    suites: [
      { name: 'storage', passed: 41 },
      { name: 'http', passed: 77 },
      { name: 'e2e', passed: 6 },
    ],
  }),
  'report/img/logo.png': png(64, 32, [30, 120, 200]),
  'report/img/swatch.png': png(24, 24, [200, 60, 30]),
  'report/img/badge.svg':
    '<svg xmlns="http://www.w3.org/2000/svg" width="90" height="20">' +
    '<rect width="90" height="20" fill="#4c1"/><text x="8" y="14" font-size="11" fill="#fff">passing</text></svg>',
  'report/links.html': `<!doctype html><meta charset="utf-8"><title>links</title>
<a id="chart" href="img/chart.png">the chart</a> <a id="drawing" href="img/drawing.svg">the drawing</a>`,
  'report/img/chart.png': png(120, 80, [20, 160, 90]),
  // an SVG opened as a document runs its script: it must run on the project's origin
  'report/img/drawing.svg': `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40">
<text id="where" x="4" y="24" font-size="14">script did not run</text>
<script>document.getElementById('where').textContent = location.origin;</script>
</svg>`,
};

/** Writes localStorage, IndexedDB and a cookie on the origin it is served from. */
export const STORAGE_WRITER = `<!doctype html><meta charset="utf-8"><title>writer</title><pre id="out">pending</pre>
<script>
(async () => {
  localStorage.setItem('agw-secret', 'local-' + location.hostname);
  document.cookie = 'agw_secret=cookie-' + location.hostname.split('.')[0] + '; Path=/; Secure; SameSite=Lax; Max-Age=3600';
  await new Promise((resolve, reject) => {
    const open = indexedDB.open('agw-e2e', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('secrets');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('secrets', 'readwrite');
      tx.objectStore('secrets').put('idb-' + location.hostname, 'secret');
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
  document.getElementById('out').textContent = 'written';
})().catch((e) => { document.getElementById('out').textContent = 'error: ' + e; });
</script>`;

/** Reports what localStorage, IndexedDB and document.cookie hold on its origin, as JSON. */
export const STORAGE_READER = `<!doctype html><meta charset="utf-8"><title>reader</title><pre id="out">pending</pre>
<script>
(async () => {
  const local = localStorage.getItem('agw-secret');
  const cookie = document.cookie;
  const databases = (await indexedDB.databases()).map((d) => d.name);
  let idb = null;
  if (databases.includes('agw-e2e')) {
    idb = await new Promise((resolve, reject) => {
      const open = indexedDB.open('agw-e2e');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction('secrets').objectStore('secrets').get('secret');
        get.onsuccess = () => { open.result.close(); resolve(get.result ?? null); };
        get.onerror = () => reject(get.error);
      };
    });
  }
  document.getElementById('out').textContent = JSON.stringify({ local, cookie, databases, idb });
})().catch((e) => { document.getElementById('out').textContent = JSON.stringify({ error: String(e) }); });
</script>`;

/**
 * Cookie tossing: a page on one artifact origin tries to plant its own session cookie for every
 * origin under the artifact domain, and on its own origin. Reports what document.cookie allowed.
 */
export const COOKIE_TOSSER = (artifactDomain: string) => `<!doctype html><meta charset="utf-8"><title>tosser</title><pre id="out">pending</pre>
<script>
const attempts = [
  '__Host-agw_session=forged-domain; Domain=${artifactDomain}; Path=/; Secure',
  '__host-agw_session=forged-lowercase; Domain=${artifactDomain}; Path=/; Secure',
  '__Host-agw_session=forged-here; Path=/; Secure',
];
for (const a of attempts) document.cookie = a;
document.getElementById('out').textContent = JSON.stringify({ cookie: document.cookie });
</script>`;
