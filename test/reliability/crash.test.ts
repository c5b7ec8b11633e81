/**
 * The crash case of the reliability campaign at its quick scale, against the real parts: the
 * built gateway as a child process, killed with SIGKILL in the middle of 100 concurrent uploads
 * and restarted, on the fs driver and on the run's radosgw. Each row must pass: nothing answered
 * 2xx is lost, nothing partial is visible, and gc removes what the crash left.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crashCase } from '../../reliability/cases/crash';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agw-reliability-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a gateway killed mid-upload loses nothing acknowledged, shows nothing partial, and gc removes what the crash left', async () => {
  const lines: string[] = [];
  const rows = await crashCase.run({ dir, scale: 'quick', log: (m) => lines.push(m) });
  // the figures, for the run's log
  console.log([...rows.map((r) => `${r.outcome}: ${r.case}: ${r.measured} [${r.baseline}]`), ...lines].join('\n'));
  expect(rows.map((r) => r.case)).toEqual([expect.stringContaining('(fs)'), expect.stringContaining('(s3)')]);
  const failed = rows.filter((r) => r.outcome !== 'pass');
  if (failed.length) {
    const summary = failed.map((r) => `row failed: ${r.case} (${String(r.figures?.failedChecks ?? 'did not complete')})`).join('\n');
    throw new Error(`${summary}\n${JSON.stringify(rows, null, 2)}\nlog:\n${lines.join('\n')}`);
  }
  for (const row of rows) {
    // what a pass claims must be in its figures: a crash was tested, and what was acked was read back
    expect(row.figures).toMatchObject({ lost: 0, partialVisible: 0, leftoversAfterGc: 0 });
    expect(Number(row.figures!.inFlightAtKill)).toBeGreaterThan(0);
    expect(Number(row.figures!.verified)).toBeGreaterThanOrEqual(Number(row.figures!.acked));
    expect(row.figures!.verifiedAfterGc).toBe(row.figures!.verified);
  }
}, 300_000);
