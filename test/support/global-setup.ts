/**
 * Starts ONE real S3 server (Ceph radosgw, scripts/ceph-rgw.sh) for the whole jest run, on free
 * ports and a temp dir of its own, unless S3_ENDPOINT already points at one. The S3 suites never
 * skip: if the server cannot start, the run fails here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports';

export const CEPH_SCRIPT = resolve(__dirname, '../../scripts/ceph-rgw.sh');

export default async function globalSetup(): Promise<void> {
  // the CLI tests run the built command, exactly as a user would, and the runner client bundle
  // that the gateway serves (both are `npm run build`)
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: resolve(__dirname, '../..'), stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/build-client.mjs'], { cwd: resolve(__dirname, '../..'), stdio: 'inherit' });
  if (process.env.S3_ENDPOINT) return; // an S3 server given from outside (CI matrix, developer)
  const cephDir = mkdtempSync(join(tmpdir(), 'agw-ceph-'));
  const rgwPort = await freePort();
  const monPort = await freePort(2);
  const env = { ...process.env, CEPH_DIR: cephDir, RGW_PORT: String(rgwPort), MON_PORT: String(monPort) };
  // recorded first, so teardown can stop a half-started cluster too
  process.env.AGW_TEST_CEPH_DIR = cephDir;
  process.env.AGW_TEST_CEPH_ENV = JSON.stringify({ CEPH_DIR: cephDir, RGW_PORT: String(rgwPort), MON_PORT: String(monPort) });
  execFileSync('bash', [CEPH_SCRIPT, 'start'], { env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 180_000 });
  process.env.S3_ENDPOINT = `http://127.0.0.1:${rgwPort}`;
  process.env.S3_ACCESS_KEY_ID = process.env.S3_ACCESS_KEY ?? 'test-access-key';
  process.env.S3_SECRET_ACCESS_KEY = process.env.S3_SECRET_KEY ?? 'test-secret-key';
  process.env.S3_REGION = 'us-east-1';
}
