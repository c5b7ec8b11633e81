/**
 * `artifact-gateway cache restore`: asks the gateway for the entry of a key (exactly, else the
 * newest whose key starts with one of --restore-keys), downloads its archive to a temp file,
 * and extracts it into the current directory only after its sha256 matched the entry's and
 * every archive entry passed the rules in cache-archive-rules.ts, through a staging directory:
 * a restore that fails leaves the target as it was. The exit status tells a CI script what
 * happened: 0 exact hit, 3 miss, 4 prefix hit, 1 error, 2 bad command line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ID } from '../ids';
import { gatewayOptions, id, parseOrUsage, runCommand, UsageError, wholeNumber } from './args';
import { ArchiveRefused, checkExpandedSize, DEFAULT_MAX_EXPANDED_SIZE, ExtractFailed, extractArchive, freeBytes, type Inspected, type Phase } from './cache-archive';
import { CacheFailure, createCacheClient } from './cache-client';
import { byteSize, cacheKey, cachePaths, describePath, rootDirectory } from './cache-options';
import { formatBytes, Steps, type Step } from './cache-progress';
import { describeWriter } from './cache-save';

export const EXIT = { hit: 0, error: 1, usage: 2, miss: 3, prefixHit: 4 } as const;
/** The gateway answers 400 to more keys than this in one look-up (src/caches/routes.ts). */
const MAX_KEYS = 10;

export const CACHE_RESTORE_HELP = `Usage: artifact-gateway cache restore --project P --key K [--restore-keys A,B] [options] PATH...

Looks up key K in the caches this job may read (its own branch's, then its base branch's, then
the default branch's), else the newest entry whose key starts with one of the restore keys, in
order; downloads the archive, checks its sha256 against the one recorded when it was saved, and
extracts it into the current directory (or --directory). PATHs are the paths the cache was saved
with: an archive holding anything outside them is refused, as is one with absolute or '..' paths,
links leading outside the directory, entries written through a link, entries other than files,
directories and links, names or paths too long for the system, or more bytes than it expanded
to when saved, than --max-expanded-size or than the free space. The archive is extracted into a
staging directory next to the PATHs and moved into place only once complete: a restore that
fails for any reason leaves the target as it was (or says what it left where). Files already
there are replaced; files the archive does not hold are left.

Options:
  --key K                  cache key (required)
  --restore-keys A,B       key prefixes to fall back on, in order (comma-separated, or repeat
                           the option)
  --project P              project id (required)
  --url URL                gateway API URL (default: $ARTIFACT_GATEWAY_URL, else $PUBLIC_URL,
                           else http://localhost:8080)
  --token TOKEN            job token with cache:read (default: $ARTIFACT_GATEWAY_TOKEN)
  -C, --directory DIR      the directory PATHs are relative to (default: the current one)
  --max-expanded-size N    refuse an archive that expands to more than N bytes (K, M, G, T
                           suffixes: powers of 1024; default: 10G)
  --retries N              retries per request after the first attempt, 0 to 10 (default: 3)
  -h, --help               this help

Stdout gets the key of the entry restored (nothing on a miss); progress goes to stderr.
Exit status:
  0  exact hit: the entry of K was restored
  1  error: nothing was restored (unless the message says what was left where)
  2  bad command line
  3  miss: no entry for K or any restore key
  4  prefix hit: an entry for a restore key (or a longer key starting with K) was restored
A script that goes on without a cache: artifact-gateway cache restore … || [ $? -ge 3 ]
`;

export async function cacheRestore(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand('cache restore', CACHE_RESTORE_HELP, args, async () => {
    const { values, positionals } = parseOrUsage(() =>
      parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: {
          key: { type: 'string' },
          'restore-keys': { type: 'string', multiple: true },
          project: { type: 'string' },
          url: { type: 'string' },
          token: { type: 'string' },
          directory: { type: 'string', short: 'C' },
          'max-expanded-size': { type: 'string' },
          retries: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    );
    const project = id(values.project, 'project', PROJECT_ID);
    const key = cacheKey(values.key, 'key');
    const restoreKeys = (values['restore-keys'] ?? [])
      .flatMap((v) => v.split(','))
      .map((k) => k.trim())
      .filter((k) => k !== '')
      .map((k) => cacheKey(k, 'restore-keys', true));
    const keys = [...new Set([key, ...restoreKeys])];
    if (keys.length > MAX_KEYS) throw new UsageError(`at most ${MAX_KEYS - 1} restore keys may be given (the gateway takes ${MAX_KEYS} keys in all)`);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const maxExpandedSize = byteSize(values['max-expanded-size'], 'max-expanded-size', DEFAULT_MAX_EXPANDED_SIZE);
    const gateway = gatewayOptions(values, env);
    const root = await rootDirectory(values.directory);
    const paths = cachePaths(positionals, root);

    const steps = new Steps(process.stderr, gateway.redact);
    const fail = (message: string) => {
      steps.message(`artifact-gateway cache restore: ${message}`);
      return EXIT.error;
    };
    const client = createCacheClient({
      ...gateway,
      project,
      retries,
      onRetry: (what, reason, delayMs) => steps.message(`retrying ${what} in ${Math.round(delayMs)} ms: ${reason}`),
    });
    const tmp = await mkdtemp(join(tmpdir(), 'agw-cache-'));
    try {
      const hit = await client.lookup(keys);
      if (hit === null) {
        steps.message(`cache miss: no entry for ${JSON.stringify(key)}${restoreKeys.length > 0 ? ` nor any key starting with ${restoreKeys.map((k) => JSON.stringify(k)).join(', ')}` : ''}`);
        return EXIT.miss;
      }
      const exact = hit.key === key;
      steps.message(`${exact ? 'exact hit' : 'prefix hit'}: ${JSON.stringify(hit.key)} (${formatBytes(hit.size)}) in scope ${hit.scope}, ${describeWriter(hit)}`);

      // refused before a byte is downloaded; entries saved before it was recorded are counted while checked
      if (hit.expandedSize !== undefined) checkExpandedSize(hit.expandedSize, maxExpandedSize, await freeBytes(root));
      const file = join(tmp, 'cache.tar.gz');
      const downloading = steps.start('downloading', hit.size);
      await client.download(hit.url, file, hit.size, (d) => downloading.add(d));
      downloading.done(`downloaded ${formatBytes(hit.size)} in {ms}`);

      let phase: Phase | undefined;
      let step: Step | undefined;
      const restored: Inspected = await extractArchive(file, {
        root,
        paths,
        sha256: hit.sha256,
        expandedSize: hit.expandedSize,
        maxExpandedSize,
        onPhase: (next) => {
          if (phase && phase !== 'extract') step?.done(PHASE_PASSED[phase]);
          phase = next;
          step = steps.start(PHASE_LABEL[next], hit.size);
        },
        onBytes: (d) => step?.add(d),
      });
      step?.done(
        `restored ${restored.files} files, ${restored.entries - restored.files} directories and links (${formatBytes(restored.bytes)}) into ${paths.map(describePath).join(', ')} in {ms}`,
      );
      process.stdout.write(`${hit.key}\n`);
      return exact ? EXIT.hit : EXIT.prefixHit;
    } catch (err) {
      if (err instanceof ArchiveRefused) return fail(`refused the archive, nothing was restored: ${err.message}`);
      // every entry had passed the checks: a disk or permission problem; the message says what is left
      if (err instanceof ExtractFailed) return fail(err.message);
      if (err instanceof CacheFailure) return fail(err.message);
      throw err;
    } finally {
      client.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

const PHASE_LABEL: Record<Phase, string> = { verify: 'verifying sha256', check: 'checking entries', extract: 'extracting' };
/** What a phase established, printed when it ends. */
const PHASE_PASSED: Record<Exclude<Phase, 'extract'>, string> = {
  verify: 'sha256 matches the entry ({ms})',
  check: 'every entry is safe to restore ({ms})',
};
