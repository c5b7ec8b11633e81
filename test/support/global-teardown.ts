import { execFileSync } from 'node:child_process';
import { CEPH_SCRIPT } from './global-setup';

/** Stops the radosgw that global-setup started (if it started one) and removes its temp dir. */
export default async function globalTeardown(): Promise<void> {
  const recorded = process.env.AGW_TEST_CEPH_ENV;
  if (!recorded) return;
  const env = { ...process.env, ...(JSON.parse(recorded) as Record<string, string>) };
  execFileSync('bash', [CEPH_SCRIPT, 'stop'], { env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 120_000 });
  delete process.env.AGW_TEST_CEPH_ENV;
}
