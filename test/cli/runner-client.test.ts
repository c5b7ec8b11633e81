/**
 * The runner client as a CI job gets it: fetched over HTTP from a real gateway into a temp dir
 * outside the repository and run with plain `node` from there, with no NODE_PATH, so it can only
 * work if the file is self-contained. It uploads and saves/restores a cache, and the results are
 * checked through the API. Also: the route's headers (ETag, 304, HEAD, version), and the clear
 * error of a gateway that was never built.
 */
import Koa from 'koa';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { CLIENT_PATH, clientBundleRoutes } from '../../src/http/client-bundle';
import { errorHandler } from '../../src/http/error-handler';
import { createLogger } from '../../src/http/logger';
import { runCli, startGateway, type Finished, type Gateway } from '../support/cli';
import { expectMatchesSpec } from '../support/openapi';

const SECRET = 'runner-client-secret-0123456789abcdef0123456789';
const PROJECT = 'acme/runner';
const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };

/** A fetch answer in the shape the OpenAPI check reads. */
const answer = (r: Response, text: string) => ({ status: r.status, headers: Object.fromEntries(r.headers.entries()), text });

/** `node <file> args` from `cwd` with exactly `env` plus PATH (no NODE_PATH, nothing from jest). */
function runNode(file: string, args: string[], env: Record<string, string>, cwd: string): Promise<Finished> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [file, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end();
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('the runner client served at /client/artifact-gateway.cjs', () => {
  let gw: Gateway;
  let runner: string;
  let agw: string;
  let token: string;
  let body: Buffer;
  let res: Response;
  const env = () => ({ ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: token });

  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
    const t = await runCli(['token', '--project', PROJECT, '--build', '7'], gw.env);
    expect(t.code).toBe(0);
    token = t.stdout.trim();
    // a runner's workspace: outside the repository, so no node_modules above it can help
    runner = await mkdtemp(join(tmpdir(), 'agw-runner-'));
    expect(runner.startsWith(resolve(__dirname, '../..'))).toBe(false);
    res = await fetch(`${gw.url}${CLIENT_PATH}`);
    body = Buffer.from(await res.arrayBuffer());
    agw = join(runner, 'agw');
    await writeFile(agw, body);
  });
  afterAll(async () => {
    await gw?.stop();
    if (runner) await rm(runner, { recursive: true, force: true });
  });

  it('is served as JavaScript, no-cache, nosniff, with the sha256 of the file as a strong ETag and its length', async () => {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('etag')).toBe(`"${createHash('sha256').update(body).digest('hex')}"`);
    expect(Number(res.headers.get('content-length'))).toBe(body.length);
    // it is the file the build wrote, byte for byte
    expect(body.equals(await readFile(resolve(__dirname, '../../dist/bundle/artifact-gateway.cjs')))).toBe(true);
    expectMatchesSpec(answer(res, body.toString('utf8')), 'GET', CLIENT_PATH);
  });

  it('prints with --version the version in X-Client-Version: package.json version, plus the commit when built from git', async () => {
    const r = await runNode(agw, ['--version'], {}, runner);
    expect(r.code).toBe(0);
    const version = res.headers.get('x-client-version')!;
    expect(version).toMatch(new RegExp(`^${pkg.version.replace(/\./g, '\\.')}(\\+[0-9a-f]{7,40})?$`));
    expect(r.stdout).toBe(`artifact-gateway ${version}\n`);
  });

  it('answers If-None-Match with the current ETag with 304 and no body, and HEAD with the headers alone', async () => {
    const etag = res.headers.get('etag')!;
    const again = await fetch(`${gw.url}${CLIENT_PATH}`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    const empty = await again.text();
    expect(empty).toBe('');
    expectMatchesSpec(answer(again, empty), 'GET', CLIENT_PATH);
    // a list, a weak form of the same tag, and `*` match too; another tag does not
    for (const tag of [`"0000", ${etag}`, `W/${etag}`, '*']) {
      expect((await fetch(`${gw.url}${CLIENT_PATH}`, { headers: { 'if-none-match': tag } })).status).toBe(304);
    }
    const stale = await fetch(`${gw.url}${CLIENT_PATH}`, { headers: { 'if-none-match': '"0000"' } });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer()).equals(body)).toBe(true);
    const head = await fetch(`${gw.url}${CLIENT_PATH}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
    expect(Number(head.headers.get('content-length'))).toBe(body.length);
    expect(head.headers.get('x-client-version')).toBe(res.headers.get('x-client-version'));
    expect(await head.text()).toBe('');
  });

  it('holds only the client: no server code, no secret, nothing left to require from node_modules', () => {
    const text = body.toString('utf8');
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/@aws-sdk|SIGNING_SECRET|loadConfig/);
    // every require() left is a node built-in
    const required = [...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(required.length).toBeGreaterThan(0);
    for (const name of required) expect(builtinModules).toContain(name.replace(/^node:/, ''));
  });

  it('offers the job commands only, and says so for the gateway commands', async () => {
    const help = await runNode(agw, ['--help'], {}, runner);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}upload /m);
    expect(help.stdout).toMatch(/^ {2}cache /m);
    const serve = await runNode(agw, ['serve'], {}, runner);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('unknown command "serve" (this is the runner client)');
  });

  it('uploads a tree from the runner, and the build lists exactly its files', async () => {
    await mkdir(join(runner, 'report', 'css'), { recursive: true });
    await writeFile(join(runner, 'report', 'index.html'), '<!doctype html><title>r</title>');
    await writeFile(join(runner, 'report', 'css', 'site.css'), 'body{}');
    const r = await runNode(agw, ['upload', '--project', PROJECT, '--build', '7', 'report'], env(), runner);
    expect(r.stderr).not.toContain(token);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^https?:\/\//);
    const listed = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/7/artifacts`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.status).toBe(200);
    const items = ((await listed.json()) as { items: { path: string; size: number }[] }).items;
    expect(items.map((i) => [i.path, i.size]).sort()).toEqual([
      ['css/site.css', 6],
      ['index.html', 31],
    ]);
  });

  it('saves a cache from one workspace and restores it into another, exactly', async () => {
    const ws = join(runner, 'ws');
    await mkdir(join(ws, 'node_modules', 'dep'), { recursive: true });
    await writeFile(join(ws, 'node_modules', 'dep', 'index.js'), 'module.exports = 42;\n');
    const saved = await runNode(agw, ['cache', 'save', '--project', PROJECT, '--key', 'deps-v1', 'node_modules'], env(), ws);
    expect(saved.code).toBe(0);
    const lookup = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/caches?keys=deps-v1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(lookup.status).toBe(200);
    expect(((await lookup.json()) as { key: string }).key).toBe('deps-v1');

    const other = join(runner, 'other');
    await mkdir(other);
    const restored = await runNode(agw, ['cache', 'restore', '--project', PROJECT, '--key', 'deps-v1', 'node_modules'], env(), other);
    expect(restored.code).toBe(0);
    expect(await readFile(join(other, 'node_modules', 'dep', 'index.js'), 'utf8')).toBe('module.exports = 42;\n');
  });

  it('lists the caches, shows their usage and deletes one from the runner', async () => {
    const ws = join(runner, 'admin');
    await mkdir(join(ws, 'out'), { recursive: true });
    await writeFile(join(ws, 'out', 'a.txt'), 'a\n');
    expect((await runNode(agw, ['cache', 'save', '--project', PROJECT, '--key', 'admin-v1', 'out'], env(), ws)).code).toBe(0);
    const list = await runNode(agw, ['cache', 'list', '--project', PROJECT, '--key', 'admin-'], env(), ws);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^admin-v1\tbranch:main\t/);
    const usage = await runNode(agw, ['cache', 'usage', '--project', PROJECT, '--json'], env(), ws);
    expect(usage.code).toBe(0);
    expect(JSON.parse(usage.stdout)).toMatchObject({ scopes: [{ scope: 'branch:main' }] });
    const t = await runCli(['token', '--project', PROJECT, '--build', '7', '--scope', 'cache:read,cache:delete'], gw.env);
    const del = await runNode(agw, ['cache', 'delete', '--project', PROJECT, 'admin-v1'], { ...env(), ARTIFACT_GATEWAY_TOKEN: t.stdout.trim() }, ws);
    expect(del.code).toBe(0);
    expect(del.stdout).toMatch(/^deleted admin-v1 \(branch:main, /);
    expect((await runNode(agw, ['cache', 'list', '--project', PROJECT, '--key', 'admin-'], env(), ws)).stdout).toBe('');
  });
});

describe('a gateway without the built client', () => {
  it('answers 404 client_not_built, saying how to build it', async () => {
    const app = new Koa();
    app.use(errorHandler(createLogger('silent')));
    app.use(clientBundleRoutes({ file: join(tmpdir(), 'agw-no-such-dir', 'artifact-gateway.cjs') }).routes());
    for (const method of ['get', 'head'] as const) {
      const res = await request(app.callback())[method](CLIENT_PATH);
      expect(res.status).toBe(404);
      if (method === 'get') {
        expect(res.body.error.code).toBe('client_not_built');
        expect(res.body.error.message).toContain('npm run build');
        expect(res.headers['content-type']).toMatch(/^application\/json/);
      }
    }
  });
});
