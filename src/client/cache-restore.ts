/**
 * Restoring a cache: the entry of a key (exactly, else the newest whose key starts with one of
 * the restore keys) is downloaded to a temp file and extracted into the root only after its
 * sha256 matched the entry's and every archive entry passed the rules in archive/rules.ts,
 * through a staging directory: a restore that fails leaves the target as it was.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkExpandedSize, DEFAULT_MAX_EXPANDED_SIZE, extractArchive, freeBytes, type Phase } from './archive/extract';
import type { Inspected } from './archive/rules';
import { describePath } from './cache-paths';
import { describeWriter } from './cache-save';
import { createCacheClient, type CacheHit } from './caches';
import { entryCounts, formatBytes, retryLine, SILENT, Steps, type Step } from './progress';

export interface RestoreCacheOptions {
  baseUrl: URL;
  token: string;
  project: string;
  /** The key to restore exactly. */
  key: string;
  /** Key prefixes to fall back on, in order. */
  restoreKeys?: readonly string[];
  /** The directory `paths` are relative to. */
  root: string;
  /** The paths the cache was saved with (from cachePaths()): an archive holding anything else is refused. */
  paths: readonly string[];
  /** Refuse an archive that expands to more bytes than this (default DEFAULT_MAX_EXPANDED_SIZE). */
  maxExpandedSize?: number;
  /** Retries per request after the first attempt (default 3). */
  retries?: number;
  /** Where the steps are told (default: nowhere). */
  progress?: Steps;
}

export type RestoreResult = { kind: 'miss' } | { kind: 'hit' | 'prefixHit'; entry: CacheHit; restored: Inspected };

/**
 * Restores the cache. A miss is a result, not an error. Throws CacheFailure when the gateway or
 * the download failed, ArchiveRefused when the archive breaks a rule (nothing is written), and
 * ExtractFailed when writing failed (its message says what, if anything, was left where).
 */
export async function restoreCache(options: RestoreCacheOptions): Promise<RestoreResult> {
  const { key, root, paths } = options;
  const restoreKeys = options.restoreKeys ?? [];
  const maxExpandedSize = options.maxExpandedSize ?? DEFAULT_MAX_EXPANDED_SIZE;
  const steps = options.progress ?? new Steps(SILENT, (s) => s);
  const client = createCacheClient({ ...options, onRetry: (what, reason, ms) => steps.message(retryLine(what, reason, ms)) });
  const tmp = await mkdtemp(join(tmpdir(), 'agw-cache-'));
  try {
    const hit = await client.lookup([...new Set([key, ...restoreKeys])]);
    if (hit === null) {
      const prefixes = restoreKeys.map((k) => JSON.stringify(k)).join(', ');
      steps.message(`cache miss: no entry for ${JSON.stringify(key)}${restoreKeys.length > 0 ? ` nor any key starting with ${prefixes}` : ''}`);
      return { kind: 'miss' };
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
    const restored = await extractArchive(file, {
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
    const counts = entryCounts(restored.files, restored.entries - restored.files);
    step?.done(`restored ${counts} (${formatBytes(restored.bytes)}) into ${paths.map(describePath).join(', ')} in {ms}`);
    return { kind: exact ? 'hit' : 'prefixHit', entry: hit, restored };
  } finally {
    client.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

const PHASE_LABEL: Record<Phase, string> = { verify: 'verifying sha256', check: 'checking entries', extract: 'extracting' };
/** What a phase established, printed when it ends. */
const PHASE_PASSED: Record<Exclude<Phase, 'extract'>, string> = {
  verify: 'sha256 matches the entry ({ms})',
  check: 'every entry is safe to restore ({ms})',
};
