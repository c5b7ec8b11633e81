/**
 * `artifact-gateway cache save`: archives paths (relative to the current directory) into a temp
 * .tar.gz, then stores it under a key: streamed through the gateway, or, above
 * --direct-threshold, straight to storage through presigned part URLs. A key that already
 * exists in the job's scope is a normal outcome (entries are write-once): exit 0, as actions/cache.
 */
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ID } from '../ids';
import { gatewayOptions, id, parseOrUsage, runCommand, UsageError, wholeNumber } from './args';
import { CannotArchive, collectEntries, createArchive, type Collected, type Created } from './cache-archive';
import { CacheFailure, createCacheClient, type CacheClient, type CacheEntry, type Saved } from './cache-client';
import { cacheKey, cachePaths, describePath, linkedAncestor, rootDirectory } from './cache-options';
import { formatBytes, Steps, type Step } from './cache-progress';

const MiB = 1024 * 1024;
const PART_CONCURRENCY = 4;

export const CACHE_SAVE_HELP = `Usage: artifact-gateway cache save --project P --key K [options] PATH...

Archives PATHs (files and directories, relative to the current directory or --directory) into
a gzip-compressed tar and saves it under key K in the job's cache scope. Symbolic links are kept
as links (those pointing outside the directory are left out with a warning), and so are modes,
modification times and empty directories. A name over 255 bytes or a path over 4,095 bytes fails
the save (exit 1): no restore could write it. The size the archive expands to is saved with it,
and restores hold it to that. Entries are write-once: when K already exists in the scope,
nothing is saved and the exit status is 0.

Options:
  --key K                  cache key (required; up to 512 characters, no commas)
  --project P              project id (required)
  --url URL                gateway API URL (default: $ARTIFACT_GATEWAY_URL, else $PUBLIC_URL,
                           else http://localhost:8080)
  --token TOKEN            job token with cache:write (default: $ARTIFACT_GATEWAY_TOKEN; prefer
                           the variable: a command line is visible to other users of the machine)
  -C, --directory DIR      the directory PATHs are relative to (default: the current one)
  --direct-threshold N     archives larger than N bytes go straight to storage through presigned
                           URLs instead of through the gateway (default: ${64 * MiB}, 64 MiB)
  --retries N              retries per request after the first attempt, 0 to 10 (default: 3)
  -h, --help               this help

Exit status: 0 saved, or the key already exists; 1 failed; 2 bad command line.
`;

export async function cacheSave(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand('cache save', CACHE_SAVE_HELP, args, async () => {
    const { values, positionals } = parseOrUsage(() =>
      parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: {
          key: { type: 'string' },
          project: { type: 'string' },
          url: { type: 'string' },
          token: { type: 'string' },
          directory: { type: 'string', short: 'C' },
          'direct-threshold': { type: 'string' },
          retries: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    );
    const project = id(values.project, 'project', PROJECT_ID);
    const key = cacheKey(values.key, 'key');
    const threshold = wholeNumber(values['direct-threshold'], 'direct-threshold', 64 * MiB, 0, Number.MAX_SAFE_INTEGER);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const gateway = gatewayOptions(values, env);
    const root = await rootDirectory(values.directory);
    const paths = cachePaths(positionals, root);
    for (const p of paths) {
      const problem = await linkedAncestor(root, p);
      if (problem) throw new UsageError(`cannot cache ${JSON.stringify(describePath(p))}: ${problem}`);
      if (!(await lstat(join(root, p)).catch(() => undefined))) throw new UsageError(`cannot read ${JSON.stringify(describePath(p))}: no such file or directory`);
    }

    const steps = new Steps(process.stderr, gateway.redact);
    const fail = (message: string) => {
      steps.message(`artifact-gateway cache save: ${message}`);
      return 1;
    };
    let collected: Collected;
    try {
      collected = await collectEntries(root, paths);
    } catch (err) {
      if (err instanceof CannotArchive) return fail(err.message);
      throw err;
    }
    for (const s of collected.skipped) steps.message(`warning: skipped ${s}`);
    if (collected.entries.length === 0) {
      steps.message('nothing to save');
      return 0;
    }

    const tmp = await mkdtemp(join(tmpdir(), 'agw-cache-'));
    const client = createCacheClient({
      ...gateway,
      project,
      retries,
      onRetry: (what, reason, delayMs) => steps.message(`retrying ${what} in ${Math.round(delayMs)} ms: ${reason}`),
    });
    try {
      const file = join(tmp, 'cache.tar.gz');
      // the uncompressed tar: content, a 512-byte header per entry, padding; an estimate for the bar
      const archiving = steps.start('archiving', collected.bytes + 1024 * collected.entries.length);
      let created: Created;
      try {
        created = await createArchive(root, collected.entries, file, (n) => archiving.set(n));
      } catch (err) {
        return fail(`archiving failed: ${(err as Error).message}`);
      }
      archiving.done(
        `archived ${collected.files} files, ${collected.entries.length - collected.files} directories and links (${formatBytes(collected.bytes)}) into ${formatBytes(created.size)} in {ms}`,
      );

      const direct = created.size > threshold;
      const uploading = steps.start(direct ? 'uploading (direct)' : 'uploading', created.size);
      let outcome: Saved;
      try {
        outcome = direct
          ? await directUpload(client, key, file, created, uploading)
          : await client.put(key, file, created.size, created.sha256, created.expandedSize, (d) => uploading.add(d));
      } catch (err) {
        if (err instanceof CacheFailure) return fail(err.message);
        throw err;
      }
      if (outcome.kind === 'created') {
        uploading.done(`saved cache ${JSON.stringify(key)} (${formatBytes(created.size)}, sha256 ${created.sha256}) in scope ${outcome.entry.scope}${direct ? ' by direct upload' : ''} in {ms}`);
      } else {
        steps.message(
          `cache ${JSON.stringify(key)} already exists${outcome.entry ? ` in scope ${outcome.entry.scope} (${describeWriter(outcome.entry)})` : ` (${outcome.message})`}: not saved again, cache entries are write-once`,
        );
      }
      return 0;
    } finally {
      client.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

/** Reserve, PUT every part to its presigned URL a few at a time, commit; abort on any failure. */
async function directUpload(client: CacheClient, key: string, file: string, archive: Created, step: Step): Promise<Saved> {
  const reserved = await client.reserve(key, archive.size, archive.sha256, archive.expandedSize);
  if ('kind' in reserved) return reserved;
  try {
    const { partSize } = reserved;
    const count = Math.ceil(archive.size / partSize);
    const parts = [...reserved.parts].sort((a, b) => a.partNumber - b.partNumber);
    if (parts.length !== count || parts.some((p, i) => p.partNumber !== i + 1)) {
      throw new CacheFailure(`the gateway offered ${parts.length} part URLs of ${partSize} bytes for ${archive.size} bytes; expected parts 1 to ${count}`);
    }
    const etags: { partNumber: number; etag: string }[] = [];
    let next = 0;
    let failed = false; // one failed part fails the upload: the others stop taking new parts
    const worker = async () => {
      while (!failed && next < parts.length) {
        const i = next++;
        const start = i * partSize;
        const length = Math.min(partSize, archive.size - start);
        try {
          etags[i] = { partNumber: i + 1, etag: await client.putPart(parts[i]!.url, i + 1, file, start, length, (d) => step.add(d)) };
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, parts.length) }, worker));
    return await client.commit(key, reserved.uploadId, etags, archive.sha256);
  } catch (err) {
    await client.abort(key, reserved.uploadId);
    throw err;
  }
}

export function describeWriter(entry: CacheEntry): string {
  const by = entry.createdBy;
  return `saved ${entry.createdAt} by ${by.project} branch ${by.branch} build ${by.build}, ${by.trusted ? 'trusted' : 'untrusted'}`;
}
