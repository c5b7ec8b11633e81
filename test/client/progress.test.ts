/**
 * What the client tells a person while it works: redrawn lines on a terminal, one line per item
 * elsewhere, the token never shown, counts said in words that agree with them.
 */
import { plural, Progress, Steps } from '../../src/client';

describe('Progress (files)', () => {
  function capture(isTTY: boolean) {
    let text = '';
    return { out: { isTTY, columns: 200, write: (s: string) => (text += s) }, text: () => text };
  }

  it('on a terminal, redraws one line in place and prints only what matters above it', () => {
    const { out, text } = capture(true);
    const p = new Progress(out, { files: 2, bytes: 2048 }, (s) => s.replace('SECRET', '[redacted]'));
    p.bytes(1024);
    p.fileDone('uploaded  a.txt (1.0 KiB)');
    p.fileDone('FAILED    b.txt: 401 SECRET', true);
    p.finish();
    expect(text()).not.toContain('uploaded  a.txt');
    expect(text()).toContain('FAILED    b.txt: 401 [redacted]\n');
    expect(text()).toMatch(/\r\x1b\[K0\/2 files, 1\.0 KiB of 2\.0 KiB, /);
    expect(text().endsWith('\r\x1b[K')).toBe(true); // the line is cleared for the summary
  });

  it('elsewhere, prints one line per file and no control characters', () => {
    const { out, text } = capture(false);
    const p = new Progress(out, { files: 1, bytes: 1 }, (s) => s);
    p.bytes(1);
    p.fileDone('uploaded  a.txt (1 B)');
    p.finish();
    expect(text()).toBe('uploaded  a.txt (1 B)\n');
  });
});

describe("Steps (a cache's steps)", () => {
  function capture(isTTY: boolean) {
    let text = '';
    return { out: { isTTY, columns: 200, write: (s: string) => (text += s) }, text: () => text };
  }

  it('off a terminal, prints one line per finished step with its duration, and no bar', () => {
    const { out, text } = capture(false);
    const steps = new Steps(out, (s) => s.replace('SECRET', '[redacted]'));
    const step = steps.start('uploading', 2048);
    step.add(1024);
    step.done('uploaded with SECRET in {ms}');
    expect(text()).toMatch(/^uploaded with \[redacted\] in \d+ ms\n$/);
  });

  it('on a terminal, draws a bar per step and clears it for the line that stays', () => {
    const { out, text } = capture(true);
    const steps = new Steps(out, (s) => s);
    const step = steps.start('downloading', 2048);
    step.done('downloaded in {ms}');
    expect(text()).toMatch(/^\r\x1b\[Kdownloading 0% 0 B of 2\.0 KiB, 0 B\/s\r\x1b\[Kdownloaded in \d+ ms\n$/);
  });
});

describe('plural', () => {
  it.each([
    [0, 'file', undefined, '0 files'],
    [1, 'file', undefined, '1 file'],
    [2, 'file', undefined, '2 files'],
    [1, 'directory or link', 'directories and links', '1 directory or link'],
    [3, 'directory or link', 'directories and links', '3 directories and links'],
  ])('says %d %s as %j', (n, one, many, text) => {
    expect(plural(n, one, many)).toBe(text);
  });
});
