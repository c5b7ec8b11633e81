/**
 * The client as a program imports it (src/client), against a real gateway (fs driver): uploads
 * and a cache restore with nothing printed, results as values, failures as typed errors.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRootUrl, CacheFailure, collectFiles, restoreCache, UploadFailure, uploadFiles, type PutOutcome } from '../../src/client';
import { runCli, startGateway, type Gateway } from '../support/cli';

const SECRET = 'library-test-secret-0123456789abcdef0123456789';
const PROJECT = 'acme/lib';

describe('the client library', () => {
  let gw: Gateway;
  let work: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
    for (const build of ['1', '2']) {
      const r = await runCli(['token', '--project', PROJECT, '--build', build], gw.env);
      expect(r.code).toBe(0);
      tokens[build] = r.stdout.trim();
    }
    work = await mkdtemp(join(tmpdir(), 'agw-client-lib-'));
    await mkdir(join(work, 'report', 'css'), { recursive: true });
    await writeFile(join(work, 'report', 'index.html'), '<!doctype html><title>report</title>');
    await writeFile(join(work, 'report', 'css', 'site.css'), 'body { color: #333 }');
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('uploads a tree with uploadFiles, telling each file as it is done, and says so again on a second run', async () => {
    const { files, skipped } = await collectFiles([join(work, 'report')], 'r');
    expect(skipped).toEqual([]);
    const done: string[] = [];
    const options = {
      baseUrl: new URL(gw.url),
      token: tokens['1'],
      project: PROJECT,
      build: '1',
      onFileDone: (file: { path: string }, result: PutOutcome | UploadFailure) => done.push(`${file.path} ${'kind' in result ? result.kind : 'failed'}`),
    };
    const first = await uploadFiles(files, options);
    expect(first).toMatchObject({ created: 2, unchanged: 0, failed: 0, notAttempted: 0 });
    expect(done.sort()).toEqual(['r/css/site.css created', 'r/index.html created']);
    expect(buildRootUrl(first.items[0])).toMatch(/\/1\/$/);

    const second = await uploadFiles(files, options);
    expect(second).toMatchObject({ created: 0, unchanged: 2, failed: 0 });
  });

  it('counts a refused token as one failure and does not send the rest', async () => {
    const { files } = await collectFiles([join(work, 'report')], '');
    const failures: UploadFailure[] = [];
    const summary = await uploadFiles(files, {
      baseUrl: new URL(gw.url),
      token: tokens['1'],
      project: PROJECT,
      build: '2',
      concurrency: 1,
      onFileDone: (_file, result) => result instanceof UploadFailure && failures.push(result),
    });
    expect(summary).toMatchObject({ created: 0, failed: 1, notAttempted: 1 });
    expect(failures[0].fatal).toBe(true);
    expect(failures[0].message).toMatch(/^403 forbidden: /);
  });

  it('restores a cache saved by the command, and reports a miss as a result', async () => {
    const src = join(work, 'ws');
    await mkdir(join(src, 'node_modules', 'tool'), { recursive: true });
    await writeFile(join(src, 'node_modules', 'tool', 'index.js'), 'module.exports = 1;\n');
    const env = { ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: tokens['1'] };
    const saved = await runCli(['cache', 'save', '--project', PROJECT, '--key', 'npm-1', 'node_modules'], env, src);
    expect(saved.code).toBe(0);

    const target = await mkdtemp(join(work, 'target-'));
    const options = { baseUrl: new URL(gw.url), token: tokens['1'], project: PROJECT, root: target, paths: ['node_modules'] };
    const hit = await restoreCache({ ...options, key: 'npm-1' });
    expect(hit).toMatchObject({ kind: 'hit', entry: { key: 'npm-1' }, restored: { files: 1, entries: 3 } });
    expect(await readFile(join(target, 'node_modules', 'tool', 'index.js'), 'utf8')).toBe('module.exports = 1;\n');

    expect(await restoreCache({ ...options, key: 'pip-1', restoreKeys: ['pip-'] })).toEqual({ kind: 'miss' });
    await expect(restoreCache({ ...options, key: 'npm-1', token: `${tokens['1'].slice(0, -4)}AAAA` })).rejects.toThrow(CacheFailure);
  });
});
