/**
 * The aborts case of the reliability campaign at its quick scale, against the real parts: ~1,000
 * uploads and downloads cut mid-body by their clients, on the fs driver and on the run's
 * radosgw. Each row must pass: the gateway's sockets, file descriptors and RSS return to their
 * baseline, and nothing of a cut upload is visible or left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abortsCase } from '../../reliability/cases/aborts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agw-reliability-aborts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('transfers cut mid-body leak no sockets, descriptors or memory and leave nothing partial', async () => {
  const lines: string[] = [];
  const rows = await abortsCase.run({ dir, scale: 'quick', log: (m) => lines.push(m) });
  expect(rows.map((r) => r.case)).toEqual([expect.stringContaining('(fs)'), expect.stringContaining('(s3)')]);
  // the figures, for the run's log
  console.log([...rows.map((r) => `${r.outcome}: ${r.case}: ${r.measured} [${r.baseline}]`), ...lines].join('\n'));
  const failed = rows.filter((r) => r.outcome !== 'pass');
  if (failed.length) {
    throw new Error(`${failed.map((r) => `row failed: ${r.case}`).join('\n')}\n${JSON.stringify(rows, null, 2)}\nlog:\n${lines.join('\n')}`);
  }
  for (const row of rows) {
    // a pass must also say so in its figures: the transfers were cut, and the gateway came back
    expect(Number(row.figures!.cut)).toBeGreaterThanOrEqual(800);
    expect(row.figures!['settled.clientSockets']).toBe(row.figures!['baseline.clientSockets']);
    expect(row.figures).toMatchObject({ listedCutArtifacts: 0, cutCacheEntries: 0, leftovers: 0 });
  }
}, 300_000);
