/**
 * One `actions/cache` step, as a runner runs it: the real @actions/cache (ESM only, so it runs
 * here, in its own node process, not inside jest) with the environment a runner gives a step.
 *   node runner.mjs save    <paths JSON> <key> [options JSON]
 *   node runner.mjs restore <paths JSON> <key> <restore keys JSON> [options JSON]
 * The working directory is the workspace. What saveCache/restoreCache returned is written as
 * JSON to $RESULT_FILE; the client's own log lines go to stdout.
 */
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import * as cache from '@actions/cache';

const [mode, paths, key, ...rest] = process.argv.slice(2);
let result;
if (mode === 'save') {
  result = await cache.saveCache(JSON.parse(paths), key, rest[0] ? JSON.parse(rest[0]) : undefined);
} else if (mode === 'restore') {
  result = await cache.restoreCache(JSON.parse(paths), key, JSON.parse(rest[0] ?? '[]'), rest[1] ? JSON.parse(rest[1]) : undefined);
} else {
  throw new Error(`unknown mode ${mode}`);
}
writeFileSync(process.env.RESULT_FILE, JSON.stringify({ result: result ?? null }));
