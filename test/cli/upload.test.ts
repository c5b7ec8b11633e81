/**
 * `artifact-gateway upload`, run as built, against a real gateway (fs driver) and, for retries,
 * against a scripted HTTP server.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { originLabel } from '../../src/artifacts/labels';
import { runCli, startGateway, type Gateway } from '../support/cli';
import { listen } from '../support/raw-http';

const SECRET = 'upload-test-secret-0123456789abcdef0123456789';
const PROJECT = 'acme/web';
const UNICODE_NAME = 'name with spaces ü 日本 #1 [a]+b.txt';

interface Listed {
  path: string;
  size: number;
  sha256: string;
}

/** Every regular file under `dir` (links not followed), as the build should list it. */
async function expected(dir: string, prefix = ''): Promise<Map<string, { size: number; sha256: string }>> {
  const out = new Map<string, { size: number; sha256: string }>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const bytes = await readFile(full);
    const path = relative(dir, full).split(sep).join('/');
    out.set(prefix + path, { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  return out;
}

async function list(gw: Gateway, token: string, build: string): Promise<Listed[]> {
  const res = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/${build}/artifacts?pageSize=1000`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { items: Listed[]; nextPageToken: string | null };
  expect(body.nextPageToken).toBeNull();
  return body.items;
}

describe('artifact-gateway upload', () => {
  let gw: Gateway;
  let work: string;
  let tree: string;
  const tokens: Record<string, string> = {};
  const env = (build: string, extra: Record<string, string> = {}) => ({
    ARTIFACT_GATEWAY_URL: gw.url,
    ARTIFACT_GATEWAY_TOKEN: tokens[build],
    ...extra,
  });

  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
    for (const build of ['1', '2', '3']) {
      const r = await runCli(['token', '--project', PROJECT, '--build', build], gw.env);
      expect(r.code).toBe(0);
      tokens[build] = r.stdout.trim();
    }
    work = await mkdtemp(join(tmpdir(), 'agw-upload-'));
    tree = join(work, 'report');
    await mkdir(join(tree, 'css'), { recursive: true });
    await mkdir(join(tree, 'data', 'deep', 'er'), { recursive: true });
    await writeFile(join(tree, 'index.html'), '<!doctype html><title>report</title><link rel=stylesheet href=css/site.css>');
    await writeFile(join(tree, 'css', 'site.css'), 'body { color: #333 }');
    await writeFile(join(tree, 'data', 'deep', 'er', 'results.json'), JSON.stringify({ passed: 12 }));
    await writeFile(join(tree, 'data', UNICODE_NAME), 'unicode ✓\n');
    await writeFile(join(tree, 'empty.txt'), '');
    // random, so no layer can get away with compressing or deduplicating it
    const big = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
    await writeFile(join(tree, 'data', 'big.bin'), big);
    // links: one to a secret-looking file outside the tree, one to a directory inside it
    await writeFile(join(work, 'outside.txt'), 'must not be uploaded');
    await symlink(join(work, 'outside.txt'), join(tree, 'leak.txt'));
    await symlink(join(tree, 'css'), join(tree, 'css-again'));
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('uploads a directory tree, skipping links, and the list API then has every path with its size and sha256', async () => {
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '1', tree], env('1'));
    expect(r.stderr).toContain('6 uploaded, 0 unchanged, 0 failed, 2 skipped');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: skipped .*leak\.txt: a symbolic link/);
    expect(r.stderr).toMatch(/warning: skipped .*css-again: a symbolic link/);
    expect(r.stderr).toContain(`uploaded  data/${UNICODE_NAME} (12 B)`);
    // stdout: the build's root URL, and nothing else
    expect(r.stdout).toBe(`http://${originLabel(PROJECT)}.localhost:${gw.port}/1/\n`);

    const want = await expected(tree);
    expect(want.size).toBe(6);
    const got = await list(gw, tokens['1'], '1');
    expect(new Map(got.map((i) => [i.path, { size: i.size, sha256: i.sha256 }]))).toEqual(want);
    expect(got.map((i) => i.path)).not.toContain('leak.txt');
  });

  it('leaves hidden files out unless --include-hidden is given', async () => {
    const hidden = join(work, 'with-hidden');
    await mkdir(join(hidden, '.git'), { recursive: true });
    await writeFile(join(hidden, '.git', 'config'), '[remote] url = https://x-access-token:secret@example.com/r');
    await writeFile(join(hidden, '.env'), 'TOKEN=secret');
    await writeFile(join(hidden, 'report.html'), '<p>ok');
    const t = await runCli(['token', '--project', PROJECT, '--build', '4'], gw.env);
    const envFor4 = { ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: t.stdout.trim() };
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '4', hidden], envFor4);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: skipped .*\.git: hidden \(pass --include-hidden/);
    expect(r.stderr).toMatch(/warning: skipped .*\.env: hidden/);
    expect((await list(gw, t.stdout.trim(), '4')).map((i) => i.path)).toEqual(['report.html']);
    const all = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '4', '--include-hidden', hidden], envFor4);
    expect(all.code).toBe(0);
    expect((await list(gw, t.stdout.trim(), '4')).map((i) => i.path).sort()).toEqual(['.env', '.git/config', 'report.html']);
  });

  it('reports every file unchanged on a second run, and exits 0', async () => {
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '1', tree], env('1'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('0 uploaded, 6 unchanged, 0 failed');
    expect(r.stderr).toContain('unchanged data/big.bin (5.0 MiB)');
  });

  it('exits 1 and prints the 409 message when a file now differs from the one in the build', async () => {
    const changed = await mkdtemp(join(work, 'changed-'));
    await writeFile(join(changed, 'index.html'), '<!doctype html><title>another report</title>');
    await writeFile(join(changed, 'empty.txt'), '');
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '1', changed], env('1'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED +index\.html: 409 conflict: .*write-once/);
    expect(r.stderr).toContain('0 uploaded, 1 unchanged, 1 failed');
  });

  it('exits 1 with the 401 message for a token the gateway refuses, and never prints the token', async () => {
    const [head, body, signature] = tokens['1'].split('.');
    const forged = `${head}.${body}.${signature.slice(0, -4)}AAAA`;
    for (const how of [
      { args: ['--token', forged], env: env('1', { ARTIFACT_GATEWAY_TOKEN: '' }) },
      { args: [], env: env('1', { ARTIFACT_GATEWAY_TOKEN: forged }) },
    ]) {
      const r = await runCli(['upload', '--no-bundle', ...how.args, '--project', PROJECT, '--build', '1', tree], how.env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/401 unauthorized: job token rejected: its signature does not verify/);
      for (const secret of [forged, signature, body]) {
        expect(r.stderr).not.toContain(secret);
        expect(r.stdout).not.toContain(secret);
      }
    }
    expect(gw.logs()).not.toContain(forged);
  });

  it('stops sending once the token is refused: the rest are not attempted', async () => {
    const r = await runCli(['upload', '--no-bundle', '--concurrency', '1', '--project', PROJECT, '--build', '2', tree], env('1'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/403 forbidden: this token writes build "1" only, not "2"/);
    expect(r.stderr).toContain('0 uploaded, 0 unchanged, 1 failed, 5 not attempted');
  });

  it('uploads a file argument under its base name and everything under --prefix, and prints URLs with --verbose', async () => {
    const file = join(work, 'outside.txt');
    const r = await runCli(
      ['upload', '--no-bundle', '--verbose', '--prefix', 'reports/unit/', '--project', PROJECT, '--build', '2', file, join(tree, 'css')],
      env('2'),
    );
    expect(r.code).toBe(0);
    const origin = `http://${originLabel(PROJECT)}.localhost:${gw.port}`;
    expect(r.stdout.trim().split('\n').sort()).toEqual([`${origin}/2/reports/unit/outside.txt`, `${origin}/2/reports/unit/site.css`, `${origin}/2/`].sort());
    expect((await list(gw, tokens['2'], '2')).map((i) => i.path).sort()).toEqual(['reports/unit/outside.txt', 'reports/unit/site.css']);
  });

  it('follows a link named on the command line', async () => {
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '3', join(tree, 'css-again')], env('3'));
    expect(r.code).toBe(0);
    expect((await list(gw, tokens['3'], '3')).map((i) => i.path)).toEqual(['site.css']);
  });

  it('says there is nothing to upload for an empty directory, and exits 0', async () => {
    const empty = await mkdtemp(join(work, 'empty-'));
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '3', empty], env('3'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('nothing to upload');
    expect(r.stdout).toBe('');
  });

  it.each([
    [['--build', '1', '.'], {}, /'--project' is required/],
    [['--project', PROJECT, '.'], {}, /'--build' is required/],
    [['--project', PROJECT, '--build', '1'], {}, /name at least one file or directory/],
    [['--project', PROJECT, '--build', '1', '--bogus', '.'], {}, /Unknown option '--bogus'/],
    [['--project', PROJECT, '--build', '1', '--concurrency', '0', '.'], {}, /'--concurrency' expects a whole number from 1 to 64/],
    [['--project', PROJECT, '--build', '1', '--retries', '11', '.'], {}, /'--retries' expects a whole number from 0 to 10/],
    [['--project', PROJECT, '--build', '1', '--prefix', '../up', '.'], {}, /'--prefix' expects a relative directory/],
    [['--project', PROJECT, '--build', '1', '--prefix', '/abs', '.'], {}, /'--prefix'/],
    [['--project', PROJECT, '--build', '1', '--url', 'ftp://x', '.'], {}, /'--url' must be an http\(s\) URL/],
    [['--project', PROJECT, '--build', '1', '--url', 'http://u:pw@x', '.'], {}, /'--url' must not contain credentials/],
    [['--project', PROJECT, '--build', '1', 'no-such-dir'], {}, /cannot read "no-such-dir": no such file or directory/],
    [['--project', PROJECT, '--build', '1', '.'], { ARTIFACT_GATEWAY_TOKEN: '' }, /a job token is required: set ARTIFACT_GATEWAY_TOKEN or pass '--token'/],
    [['--project', PROJECT, '--build', '1', '.'], { ARTIFACT_GATEWAY_TOKEN: 'not a "token"' }, /the job token is malformed/],
  ])('exits 2 naming the problem for %j %j', async (args, extraEnv, message) => {
    const r = await runCli(['upload', '--no-bundle', ...args], { ...env('1'), ...extraEnv }, work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain(tokens['1']);
    expect(r.stderr).not.toContain('"token"');
  });

  it('exits 2 before sending anything when two arguments would land on the same path', async () => {
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '3', join(tree, 'css', 'site.css'), join(tree, 'css')], env('3'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/would both be uploaded as "site.css"/);
  });

  it('prints its help with exit 0', async () => {
    const r = await runCli(['upload', '--no-bundle', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ARTIFACT_GATEWAY_TOKEN/);
  });
});

describe('artifact-gateway upload against a flaky server', () => {
  interface Seen {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    body: Buffer;
  }
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'agw-upload-flaky-'));
    await mkdir(join(work, 'a b'));
    await writeFile(join(work, 'a b', 'c#?.txt'), 'payload');
  });
  afterAll(async () => rm(work, { recursive: true, force: true }));

  /** A server answering each request with the next status of `script` (then the last one). */
  async function scripted(script: number[]) {
    const seen: Seen[] = [];
    const server = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const status = script[Math.min(seen.length - 1, script.length - 1)];
        res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '0' } : {}) });
        const path = 'c#?.txt';
        res.end(
          JSON.stringify(
            status < 300
              ? { path, size: body.length, sha256: createHash('sha256').update(body).digest('hex'), url: `http://x.localhost/9/${encodeURIComponent(path)}` }
              : { error: { code: `status_${status}`, message: `scripted ${status}` } },
          ),
        );
      });
    });
    return { seen, server };
  }

  const run = (port: number, extra: string[] = []) =>
    runCli(['upload', '--no-bundle', '--url', `http://127.0.0.1:${port}`, '--project', 'acme/web', '--build', '9', ...extra, work], {
      ARTIFACT_GATEWAY_TOKEN: 'a.b.c',
    });

  it('retries 503 and 429 with backoff, then succeeds; each attempt sends the whole file with its length', async () => {
    const { seen, server } = await scripted([503, 429, 201]);
    try {
      const r = await run(server.port);
      expect(r.stderr).toMatch(/retrying a b\/c#\?\.txt in .*: 503 status_503: scripted 503/);
      expect(r.stderr).toMatch(/retrying a b\/c#\?\.txt in .*: 429 status_429: scripted 429/);
      expect(r.code).toBe(0);
      expect(seen).toHaveLength(3);
      for (const s of seen) {
        expect(s.method).toBe('PUT');
        expect(s.url).toBe('/api/v1/projects/acme%2Fweb/builds/9/artifacts/a%20b/c%23%3F.txt');
        expect(s.headers['content-length']).toBe('7');
        expect(s.headers['transfer-encoding']).toBeUndefined();
        expect(s.headers.authorization).toBe('Bearer a.b.c');
        expect(s.body.toString()).toBe('payload');
      }
      expect(r.stdout).toBe('http://x.localhost/9/\n');
    } finally {
      await server.close();
    }
  });

  it('does not retry a 4xx: prints the message and exits 1', async () => {
    const { seen, server } = await scripted([400]);
    try {
      const r = await run(server.port);
      expect(r.code).toBe(1);
      expect(seen).toHaveLength(1);
      expect(r.stderr).toMatch(/FAILED +a b\/c#\?\.txt: 400 status_400: scripted 400/);
    } finally {
      await server.close();
    }
  });

  it('gives up after --retries retries and exits 1', async () => {
    const { seen, server } = await scripted([502]);
    try {
      const r = await run(server.port, ['--retries', '1']);
      expect(r.code).toBe(1);
      expect(seen).toHaveLength(2);
      expect(r.stderr).toMatch(/502 status_502: scripted 502 \(gave up after 2 attempts\)/);
    } finally {
      await server.close();
    }
  });

  it('refuses a success answer whose sha256 is not that of the file', async () => {
    const server = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: 'a b/c#?.txt', size: 7, sha256: '0'.repeat(64), url: 'http://x.localhost/9/a%20b/c%23%3F.txt' }));
      });
    });
    try {
      const r = await run(server.port);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the gateway stored sha256 0{64}, but what was sent has [0-9a-f]{64}/);
    } finally {
      await server.close();
    }
  });

  it('retries when the server cannot be reached, then exits 1 naming the error', async () => {
    const { server } = await scripted([201]);
    const port = server.port;
    await server.close();
    const r = await run(port, ['--retries', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ECONNREFUSED.*\(gave up after 2 attempts\)/);
  });
});
