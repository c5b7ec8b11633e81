/**
 * The commit point of artifacts and caches: a create-only entry. Its answer can be lost on the way
 * back from S3 after the entry was stored; the SDK's retry then meets the entry it wrote itself.
 */
import { Readable } from 'node:stream';
import { createEntry, readEntry } from '../src/write-once';
import { toStorageKey } from '../src/storage/keys';
import { createMetrics } from '../src/http/metrics';
import { DRIVERS, makeDriver, type DriverHarness } from './support/drivers';

describe.each(DRIVERS)('createEntry on the %s driver', (driver) => {
  let h: DriverHarness;
  beforeAll(async () => {
    h = await makeDriver(driver, createMetrics());
  });
  afterAll(() => h.cleanup());

  const entry = { object: 'p/acme/o/0f8e1c1e-5b7a-4a53-9f0c-1d2e3f405162', sha256: 'a'.repeat(64), createdAt: '2026-12-01T00:00:00.000Z' };

  it('creates an entry once, and says false to a different one for the same key', async () => {
    const key = toStorageKey(`t-${driver}/first`);
    expect(await createEntry(h.storage, 'artifacts', key, entry)).toBe(true);
    expect(await createEntry(h.storage, 'artifacts', key, { ...entry, object: 'p/acme/o/other' })).toBe(false);
    expect(await readEntry(h.storage, 'artifacts', key)).toEqual(entry);
  });

  it('takes its own entry, stored by an attempt whose answer was lost, for a success', async () => {
    const key = toStorageKey(`t-${driver}/retried`);
    // the first attempt's PutObject landed; only its answer did not come back
    await h.storage.write('artifacts', key, Readable.from([Buffer.from(JSON.stringify(entry))]), { contentType: 'application/json' });
    expect(await createEntry(h.storage, 'artifacts', key, entry)).toBe(true);
    expect(await createEntry(h.storage, 'artifacts', key, { ...entry, createdAt: '2026-12-01T00:00:00.001Z' })).toBe(false);
  });
});
