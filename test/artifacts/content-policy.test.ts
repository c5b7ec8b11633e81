import { classify, contentTypeFor, dispositionFor, isSameOriginSubresource, safeInline } from '../../src/content-policy';

describe('content policy', () => {
  it.each([
    ['report/index.html', 'text/html; charset=utf-8'],
    ['page.xhtml', 'application/xhtml+xml'],
    ['logo.svg', 'image/svg+xml'],
    ['shot.PNG', 'image/png'],
    ['data.json', 'application/json; charset=utf-8'],
    ['app.js', 'text/javascript; charset=utf-8'],
    ['style.css', 'text/css; charset=utf-8'],
    ['notes.txt', 'text/plain; charset=utf-8'],
    ['archive.tar.gz', 'application/gzip'],
    ['no-extension', 'application/octet-stream'],
    ['.hidden', 'application/octet-stream'],
  ])('types %j as %j from its name', (path, type) => {
    expect(contentTypeFor(path)).toBe(type);
  });

  it.each([
    ['text/html; charset=utf-8', 'active'],
    ['TEXT/HTML', 'active'],
    ['application/xhtml+xml', 'active'],
    ['image/svg+xml', 'active'],
    ['text/xml', 'active'],
    ['application/xml', 'active'],
    ['application/vnd.custom+xml', 'active'],
    ['text/xsl', 'active'],
    ['multipart/x-mixed-replace', 'active'],
    ['image/png', 'passive'],
    ['application/json', 'passive'],
    ['text/javascript', 'passive'],
    ['application/pdf', 'passive'],
    ['application/octet-stream', 'passive'],
  ])('classifies %j as %s', (type, cls) => {
    expect(classify(type)).toBe(cls);
  });

  it.each([
    ['image/png', true],
    ['image/jpeg', true],
    ['text/plain; charset=utf-8', true],
    ['video/mp4', true],
    ['image/svg+xml', false],
    ['text/html', false],
    ['application/json', false],
    ['text/javascript', false],
    ['application/pdf', false],
  ])('lets %j render inline on the storage origin: %s', (type, safe) => {
    expect(safeInline(type)).toBe(safe);
  });

  it('writes RFC 6266 dispositions, with filename* for non-ASCII names', () => {
    expect(dispositionFor('attachment', 'dir/report.zip')).toBe('attachment; filename="report.zip"');
    expect(dispositionFor('inline', 'shot 1.png')).toBe('inline; filename="shot 1.png"');
    expect(dispositionFor('attachment', 'd/日本.pdf')).toBe(`attachment; filename="??.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf`);
  });

  it.each([
    [{ site: 'same-origin', mode: 'cors', dest: 'empty' }, true],
    [{ site: 'same-origin', mode: 'same-origin', dest: 'empty' }, true],
    [{ site: 'same-origin', mode: 'no-cors', dest: 'script' }, true],
    [{ site: 'same-origin', mode: 'no-cors', dest: 'style' }, true],
    [{ site: 'same-origin', mode: 'cors', dest: 'font' }, true],
    [{ site: 'same-origin', mode: 'same-origin', dest: 'worker' }, true],
    [{ site: 'same-origin', mode: 'no-cors', dest: 'image' }, false],
    [{ site: 'same-origin', mode: 'navigate', dest: 'document' }, false],
    [{ site: 'cross-site', mode: 'cors', dest: 'empty' }, false],
    [{ site: 'same-site', mode: 'cors', dest: 'empty' }, false],
    [{ site: 'none', mode: 'navigate', dest: 'document' }, false],
    [{}, false],
  ])('treats %j as a same-origin subresource: %s', (headers, expected) => {
    expect(isSameOriginSubresource(headers)).toBe(expected);
  });
});
