/**
 * `artifact-gateway serve` as a user runs it: the built command, a real port, real signals.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { deriveKey } from '../../src/auth/keys';
import { FsStorage } from '../../src/storage/fs/driver';
import { toStorageKey } from '../../src/storage/keys';
import { spawnCli, waitFor } from '../support/cli';
import { freePort } from '../support/ports';

const SECRET = 'serve-test-secret-0123456789abcdef0123456789';
const run = spawnCli;

describe('artifact-gateway serve', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agw-serve-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('starts with no configuration on the fs driver, says where it serves, answers /healthz, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const gw = run(['serve'], { PORT: String(port) }, dir);
    try {
      await waitFor(() => gw.stdout().includes('artifact-gateway serving'), 'the start-up line');
      expect(gw.stdout()).toContain(`API on http://localhost:${port}`);
      expect(gw.stdout()).toContain(`artifact origins on http://<label>.localhost:${port}`);
      expect(gw.stdout()).toContain(`fs at ${join(dir, 'data')}`);
      // the secret for signed URLs is made once, private to the owner
      expect((await stat(join(dir, 'data', '.signing-secret'))).mode & 0o777).toBe(0o600);
      // fetch cannot set Host; localhost resolves to the loopback address the server binds
      const res = await fetch(`http://localhost:${port}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`http://localhost:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      gw.child.kill('SIGTERM');
    }
    expect(await gw.exit).toBe(0);
    expect(gw.stdout()).toContain('"msg":"stopped"');
  });

  it('finishes an in-flight download before exiting on SIGTERM', async () => {
    const port = await freePort();
    const dataDir = join(dir, 'data');
    const gw = run(['serve'], { PORT: String(port), DATA_DIR: dataDir, SIGNING_SECRET: SECRET, SHUTDOWN_TIMEOUT: '30' }, dir);
    try {
      await waitFor(() => gw.stdout().includes('artifact-gateway serving'), 'the start-up line');
      // an object written through the same driver and secret the server uses
      const fs = new FsStorage({ root: dataDir, blobBaseUrl: `http://localhost:${port}/_blob`, signingSecret: deriveKey(Buffer.from(SECRET), 'blob-url') });
      const size = 32 * 1024 * 1024;
      const key = toStorageKey('slow/big.bin');
      await fs.write('artifacts', key, Readable.from([Buffer.alloc(size, 1)]));
      const url = new URL(await fs.presignGet('artifacts', key, { expiresIn: 60 }));

      const received = await new Promise<number>((resolvePromise, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: url.pathname + url.search, headers: { host: url.host } }, (res) => {
          expect(res.statusCode).toBe(200);
          let n = 0;
          res.once('data', (chunk: Buffer) => {
            n += chunk.length;
            // the download is under way: now ask the server to stop, then read the rest slowly
            res.pause();
            gw.child.kill('SIGTERM');
            setTimeout(() => {
              res.on('data', (c: Buffer) => (n += c.length));
              res.resume();
            }, 500);
          });
          res.on('end', () => resolvePromise(n));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(received).toBe(size);
    } catch (err) {
      gw.child.kill('SIGKILL');
      throw err;
    }
    expect(await gw.exit).toBe(0);
    expect(gw.stdout()).toContain('shutting down: finishing in-flight requests');
  });

  it('refuses to start on a bad configuration, naming every variable, with exit code 2', async () => {
    const gw = run(['serve'], { STORAGE_DRIVER: 'gcs', PORT: 'eighty', S3_ENDPOINT: '::' }, dir);
    expect(await gw.exit).toBe(2);
    expect(gw.stderr()).toMatch(/invalid configuration/);
    expect(gw.stderr()).toMatch(/STORAGE_DRIVER: expected fs or s3, got "gcs"/);
    expect(gw.stderr()).toMatch(/PORT: expected a whole number/);
  });

  it('refuses an s3 configuration without buckets or with a malformed endpoint', async () => {
    const gw = run(['serve'], { STORAGE_DRIVER: 's3', S3_ENDPOINT: 'not a url' }, dir);
    expect(await gw.exit).toBe(2);
    for (const name of ['S3_ENDPOINT', 'ARTIFACTS_BUCKET', 'CACHE_BUCKET']) expect(gw.stderr()).toContain(`${name}:`);
  });

  it('prints help for the command and for serve', async () => {
    const top = run(['--help'], {}, dir);
    expect(await top.exit).toBe(0);
    expect(top.stdout()).toMatch(/serve\s+start the gateway/);
    for (const name of ['token', 'ticket', 'upload']) expect(top.stdout()).toMatch(new RegExp(`\\n  ${name}\\s+\\S`));
    const serveHelp = run(['serve', '--help'], {}, dir);
    expect(await serveHelp.exit).toBe(0);
    expect(serveHelp.stdout()).toMatch(/STORAGE_DRIVER/);
  });

  it('rejects an option with exit code 2, naming it (serve is configured by the environment only)', async () => {
    const gw = run(['serve', '--port', '8080'], {}, dir);
    expect(await gw.exit).toBe(2);
    expect(gw.stderr()).toMatch(/Unknown option '--port'/);
  });

  it('rejects an unknown command with exit code 2', async () => {
    const gw = run(['frobnicate'], {}, dir);
    expect(await gw.exit).toBe(2);
    expect(gw.stderr()).toMatch(/unknown command "frobnicate"/);
  });
});
