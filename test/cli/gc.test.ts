import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { deriveKey } from '../../src/auth/keys';
import { FsStorage } from '../../src/storage/fs/driver';
import { toKeyPrefix, toStorageKey } from '../../src/storage/keys';
import { runCli } from '../support/cli';

describe('artifact-gateway gc', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agw-gc-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('runs one retention pass on the configured storage and reports it', async () => {
    const secret = 's'.repeat(40);
    const fs = new FsStorage({ root: dir, blobBaseUrl: 'http://localhost:8080/_blob', signingSecret: deriveKey(Buffer.from(secret), 'blob-url') });
    // an unreferenced object, as a failed upload leaves: younger than a day, so it stays
    const orphan = toStorageKey(`p/acme%2Fweb/o/${randomUUID()}`);
    await fs.write('artifacts', orphan, Readable.from([Buffer.from('x')]));
    const out = await runCli(['gc'], { DATA_DIR: dir, SIGNING_SECRET: secret });
    expect(out.code).toBe(0);
    const last = JSON.parse(out.stdout.trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ msg: 'gc finished', report: { orphansRemoved: 0, cacheExpired: 0, artifactsExpired: 0 } });
    expect((await fs.list('artifacts', toKeyPrefix('p/'))).items.map((i) => i.key)).toEqual([orphan]);
  });

  it('exits 2 on an unknown option or a bad configuration', async () => {
    expect((await runCli(['gc', '--now'], { DATA_DIR: dir })).code).toBe(2);
    const bad = await runCli(['gc'], { DATA_DIR: dir, CACHE_TTL_DAYS: 'soon' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CACHE_TTL_DAYS: expected a whole number/);
  });
});
