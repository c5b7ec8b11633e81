/**
 * `artifact-gateway cache save`: parses the command line and calls the client's saveCache
 * (src/client/cache-save.ts), which archives the paths and stores them under the key. A key that
 * already exists in the job's scope is a normal outcome (entries are write-once): exit 0.
 */
import { PROJECT_ID } from '../ids';
import { CacheFailure, cachePaths, CannotArchive, DEFAULT_DIRECT_THRESHOLD, saveCache, Steps } from '../client';
import { gatewayOptions, id, wholeNumber } from './args';
import { cacheKey, rootDirectory } from './cache-options';
import { defineCommand, OPTIONS } from './command';

export const cacheSave = defineCommand(
  {
    name: 'cache save',
    usage: '--project P --key K [options] PATH...',
    about: `Archives PATHs (files and directories, relative to the current directory or --directory) into
a gzip-compressed tar and saves it under key K in the job's cache scope. Symbolic links are kept
as links (those pointing outside the directory are left out with a warning), and so are modes,
modification times and empty directories. A name over 255 bytes or a path over 4,095 bytes fails
the save (exit 1): no restore could write it. The size the archive expands to is saved with it,
and restores hold it to that. Entries are write-once: when K already exists in the scope,
nothing is saved and the exit status is 0.`,
    options: {
      key: { type: 'string', value: 'K', help: 'cache key (required; up to 512 characters, no commas)' },
      project: OPTIONS.project,
      url: OPTIONS.url,
      token: OPTIONS.token('cache:write'),
      directory: OPTIONS.directory,
      'direct-threshold': {
        type: 'string',
        value: 'N',
        help:
          'archives larger than N bytes go straight to storage through presigned URLs instead of through the gateway ' +
          `(default: ${DEFAULT_DIRECT_THRESHOLD}, 64 MiB)`,
      },
      retries: OPTIONS.retries('request'),
      help: OPTIONS.help,
    },
    positionals: true,
    after: 'Exit status: 0 saved, or the key already exists; 1 failed; 2 bad command line.',
  },
  async ({ values, positionals }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const key = cacheKey(values.key, 'key');
    const directThreshold = wholeNumber(values['direct-threshold'], 'direct-threshold', DEFAULT_DIRECT_THRESHOLD, 0, Number.MAX_SAFE_INTEGER);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const gateway = await gatewayOptions(values, env);
    const root = await rootDirectory(values.directory);
    const paths = cachePaths(positionals, root);
    const progress = new Steps(process.stderr, gateway.redact);
    try {
      await saveCache({ ...gateway, project, key, root, paths, directThreshold, retries, progress });
      return 0;
    } catch (err) {
      if (!(err instanceof CacheFailure || err instanceof CannotArchive)) throw err;
      progress.message(`artifact-gateway cache save: ${err.message}`);
      return 1;
    }
  },
);
