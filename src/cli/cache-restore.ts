/**
 * `artifact-gateway cache restore`: parses the command line and calls the client's restoreCache
 * (src/client/cache-restore.ts). The exit status tells a CI script what happened: 0 exact hit,
 * 3 miss, 4 prefix hit, 1 error, 2 bad command line.
 */
import { PROJECT_ID } from '../ids';
import { ArchiveRefused, CacheFailure, cachePaths, DEFAULT_MAX_EXPANDED_SIZE, ExtractFailed, restoreCache, Steps } from '../client';
import { gatewayOptions, id, wholeNumber } from './args';
import { byteSize, cacheKey, rootDirectory } from './cache-options';
import { defineCommand, OPTIONS, UsageError } from './command';

export const EXIT = { hit: 0, error: 1, usage: 2, miss: 3, prefixHit: 4 } as const;
/** The gateway answers 400 to more keys than this in one look-up (src/caches/routes.ts). */
const MAX_KEYS = 10;

export const cacheRestore = defineCommand(
  {
    name: 'cache restore',
    usage: '--project P --key K [--restore-keys A,B] [options] PATH...',
    about: `Looks up key K in the caches this job may read (its own branch's, then its base branch's, then
the default branch's), else the newest entry whose key starts with one of the restore keys, in
order; downloads the archive, checks its sha256 against the one recorded when it was saved, and
extracts it into the current directory (or --directory). PATHs are the paths the cache was saved
with: an archive holding anything outside them is refused, as is one with absolute or '..' paths,
links leading outside the directory, entries written through a link, entries other than files,
directories and links, names or paths too long for the system, or more bytes than it expanded
to when saved, than --max-expanded-size or than the free space. The archive is extracted into a
staging directory next to the PATHs and moved into place only once complete: a restore that
fails for any reason leaves the target as it was (or says what it left where). Files already
there are replaced; files the archive does not hold are left.`,
    options: {
      key: { type: 'string', value: 'K', help: 'cache key (required)' },
      'restore-keys': { type: 'string', value: 'A,B', multiple: true, help: 'key prefixes to fall back on, in order (comma-separated, or repeat the option)' },
      project: OPTIONS.project,
      url: OPTIONS.url,
      token: OPTIONS.token('cache:read'),
      directory: OPTIONS.directory,
      'max-expanded-size': {
        type: 'string',
        value: 'N',
        help: 'refuse an archive that expands to more than N bytes (K, M, G, T suffixes: powers of 1024; default: 10G)',
      },
      retries: OPTIONS.retries('request'),
      help: OPTIONS.help,
    },
    positionals: true,
    after: `Stdout gets the key of the entry restored (nothing on a miss); progress goes to stderr.
Exit status:
  0  exact hit: the entry of K was restored
  1  error: nothing was restored (unless the message says what was left where)
  2  bad command line
  3  miss: no entry for K or any restore key
  4  prefix hit: an entry for a restore key (or a longer key starting with K) was restored
A script that goes on without a cache: artifact-gateway cache restore … || [ $? -ge 3 ]`,
  },
  async ({ values, positionals }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const key = cacheKey(values.key, 'key');
    const restoreKeys = (values['restore-keys'] ?? [])
      .flatMap((v) => v.split(','))
      .map((k) => k.trim())
      .filter((k) => k !== '')
      .map((k) => cacheKey(k, 'restore-keys', true));
    if (new Set([key, ...restoreKeys]).size > MAX_KEYS) {
      throw new UsageError(`at most ${MAX_KEYS - 1} restore keys may be given (the gateway takes ${MAX_KEYS} keys in all)`);
    }
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const maxExpandedSize = byteSize(values['max-expanded-size'], 'max-expanded-size', DEFAULT_MAX_EXPANDED_SIZE);
    const gateway = await gatewayOptions(values, env);
    const root = await rootDirectory(values.directory);
    const paths = cachePaths(positionals, root);

    const progress = new Steps(process.stderr, gateway.redact);
    const fail = (message: string) => {
      progress.message(`artifact-gateway cache restore: ${message}`);
      return EXIT.error;
    };
    try {
      const result = await restoreCache({ ...gateway, project, key, restoreKeys, root, paths, maxExpandedSize, retries, progress });
      if (result.kind === 'miss') return EXIT.miss;
      process.stdout.write(`${result.entry.key}\n`);
      return result.kind === 'hit' ? EXIT.hit : EXIT.prefixHit;
    } catch (err) {
      if (err instanceof ArchiveRefused) return fail(`refused the archive, nothing was restored: ${err.message}`);
      // every entry had passed the checks: a disk or permission problem; the message says what is left
      if (err instanceof ExtractFailed) return fail(err.message);
      if (err instanceof CacheFailure) return fail(err.message);
      throw err;
    }
  },
);
