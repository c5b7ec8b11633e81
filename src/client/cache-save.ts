/**
 * Saving a cache: paths (relative to a root directory) archived into a temp .tar.gz, then stored
 * under a key: streamed through the gateway, or, above the direct threshold, straight to storage
 * through presigned part URLs. A key that already exists in the job's scope is a normal outcome
 * (entries are write-once), as it is for actions/cache.
 */
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectEntries, createArchive, type Created } from './archive/create';
import { describePath, linkedAncestor } from './cache-paths';
import { CacheFailure, createCacheClient, type CacheClient, type CacheEntry, type Saved } from './caches';
import { InvalidInput } from './errors';
import { entryCounts, formatBytes, retryLine, SILENT, Steps, type Step } from './progress';

const MiB = 1024 * 1024;
/** Archives larger than this go straight to storage (64 MiB). */
export const DEFAULT_DIRECT_THRESHOLD = 64 * MiB;
const PART_CONCURRENCY = 4;

export interface SaveCacheOptions {
  baseUrl: URL;
  token: string;
  project: string;
  /** A valid cache key (see toCacheKey). */
  key: string;
  /** The directory `paths` are relative to. */
  root: string;
  /** From cachePaths(). */
  paths: readonly string[];
  /** Archives larger than this many bytes go straight to storage (default DEFAULT_DIRECT_THRESHOLD). */
  directThreshold?: number;
  /** Retries per request after the first attempt (default 3). */
  retries?: number;
  /** Where the steps and warnings are told (default: nowhere). */
  progress?: Steps;
}

export type SaveResult =
  | { kind: 'nothing' }
  | { kind: 'created'; entry: CacheEntry; archive: Created; direct: boolean }
  | { kind: 'exists'; entry: CacheEntry | undefined; message: string };

/**
 * Saves the cache. Throws InvalidInput when a path is missing or lies behind a symbolic link
 * (before anything is read), CannotArchive for a path no restore could write, and CacheFailure
 * when archiving or storing failed; nothing is saved then.
 */
export async function saveCache(options: SaveCacheOptions): Promise<SaveResult> {
  const { root, paths, key } = options;
  const steps = options.progress ?? new Steps(SILENT, (s) => s);
  for (const p of paths) {
    const problem = await linkedAncestor(root, p);
    if (problem) throw new InvalidInput(`cannot cache ${JSON.stringify(describePath(p))}: ${problem}`);
    if (!(await lstat(join(root, p)).catch(() => undefined))) {
      throw new InvalidInput(`cannot read ${JSON.stringify(describePath(p))}: no such file or directory`);
    }
  }
  const collected = await collectEntries(root, paths);
  for (const s of collected.skipped) steps.message(`warning: skipped ${s}`);
  if (collected.entries.length === 0) {
    steps.message('nothing to save');
    return { kind: 'nothing' };
  }

  const tmp = await mkdtemp(join(tmpdir(), 'agw-cache-'));
  const client = createCacheClient({ ...options, onRetry: (what, reason, ms) => steps.message(retryLine(what, reason, ms)) });
  try {
    const file = join(tmp, 'cache.tar.gz');
    // the uncompressed tar: content, a 512-byte header per entry, padding; an estimate for the bar
    const archiving = steps.start('archiving', collected.bytes + 1024 * collected.entries.length);
    let created: Created;
    try {
      created = await createArchive(root, collected.entries, file, (n) => archiving.set(n));
    } catch (err) {
      throw new CacheFailure(`archiving failed: ${(err as Error).message}`);
    }
    const counts = entryCounts(collected.files, collected.entries.length - collected.files);
    archiving.done(`archived ${counts} (${formatBytes(collected.bytes)}) into ${formatBytes(created.size)} in {ms}`);

    const direct = created.size > (options.directThreshold ?? DEFAULT_DIRECT_THRESHOLD);
    const uploading = steps.start(direct ? 'uploading (direct)' : 'uploading', created.size);
    const outcome = direct
      ? await directUpload(client, key, file, created, uploading)
      : await client.put(key, file, created.size, created.sha256, created.expandedSize, (d) => uploading.add(d));
    if (outcome.kind === 'created') {
      const what = `${JSON.stringify(key)} (${formatBytes(created.size)}, sha256 ${created.sha256})`;
      uploading.done(`saved cache ${what} in scope ${outcome.entry.scope}${direct ? ' by direct upload' : ''} in {ms}`);
      return { kind: 'created', entry: outcome.entry, archive: created, direct };
    }
    const where = outcome.entry ? ` in scope ${outcome.entry.scope} (${describeWriter(outcome.entry)})` : ` (${outcome.message})`;
    steps.message(`cache ${JSON.stringify(key)} already exists${where}: not saved again, cache entries are write-once`);
    return outcome;
  } finally {
    client.close();
    await rm(tmp, { recursive: true, force: true });
  }
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
          etags[i] = { partNumber: i + 1, etag: await client.putPart(parts[i].url, i + 1, file, start, length, (d) => step.add(d)) };
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

/** Who saved an entry, when, from which branch and build. */
export function describeWriter(entry: CacheEntry): string {
  const by = entry.createdBy;
  return `saved ${entry.createdAt} by ${by.project} branch ${by.branch} build ${by.build}, ${by.trusted ? 'trusted' : 'untrusted'}`;
}
