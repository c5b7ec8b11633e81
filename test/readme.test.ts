import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const read = (file: string) => readFileSync(resolve(ROOT, file), 'utf8');
const readme = read('README.md');
const ciRun = read('.ci/run');
const DOCS = [
  'README.md',
  ...readdirSync(resolve(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
const anchors = (markdown: string) => new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));

describe('README and docs/', () => {
  it('give the test command that CI runs, in the README', () => {
    expect(readme).toMatch(/^npm test\b/m);
    expect(readme).toMatch(/^npm start\b/m);
    expect(ciRun).toMatch(/^npm test$/m);
  });

  it.each(DOCS)('%s links only to files and headings that exist', (file) => {
    const text = read(file).replace(/^```[\s\S]*?^```/gm, '');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // an absolute URL
      const [path, anchor] = target.split('#');
      const linked = path ? resolve(ROOT, dirname(file), path) : resolve(ROOT, file);
      let content: string;
      try {
        content = readFileSync(linked, 'utf8');
      } catch {
        broken.push(target);
        continue;
      }
      if (anchor && linked.endsWith('.md') && !anchors(content).has(anchor)) broken.push(target);
    }
    expect(broken).toEqual([]);
  });
});
