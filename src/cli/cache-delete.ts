/**
 * `artifact-gateway cache delete`: deletes cache entries by key, by key prefix or all, as
 * `gh cache delete` does, through the client's deleteEntries (src/client/caches.ts). The gateway
 * decides what the token may delete (a pull-request job only its own scope). Exit 0 when deleted
 * (a prefix or --all that matches nothing too), 1 when the key is found in no scope or the
 * gateway refuses or fails, 2 for a bad command line.
 */
import { PROJECT_ID } from '../ids';
import { formatBytes, plural, type CacheDeleteTarget } from '../client';
import { id } from './args';
import { scopeOption } from './cache-list';
import { cacheKey } from './cache-options';
import { withCacheClient } from './cache-admin';
import { defineCommand, OPTIONS, UsageError } from './command';

export const cacheDelete = defineCommand(
  {
    name: 'cache delete',
    usage: '--project P (KEY | --prefix PREFIX | --all) [--scope S] [--json]',
    about: `Deletes cache entries: the entry of KEY, every entry whose key starts with PREFIX, or all of
them; in scope S, or in every scope the token may delete in. A deleted entry is gone at once for
every restore, on every gateway instance. Needs a token with cache:delete. A trusted job's token
may delete in any scope of its project; a pull-request job's only in its own scope (naming
another is refused), so a pull request can never make the default branch miss its cache.`,
    options: {
      project: OPTIONS.project,
      prefix: { type: 'string', value: 'PREFIX', help: 'delete every entry whose key starts with PREFIX' },
      all: { type: 'boolean', help: 'delete every entry' },
      scope: { type: 'string', value: 'S', help: 'only in scope S (branch:<branch>, untrusted:<branch> or content-addressed)' },
      json: { type: 'boolean', help: 'print what was deleted as JSON (deleted, count, bytes)' },
      url: OPTIONS.url,
      token: OPTIONS.token('cache:delete'),
      retries: OPTIONS.retries('request'),
      help: OPTIONS.help,
    },
    positionals: true,
    after: `Prints one line per deleted entry (key, scope, size) and a summary.
Exit status: 0 deleted (also a PREFIX or --all that matches nothing), 1 KEY found in no scope
the token may delete in, refused or failed, 2 bad command line.`,
  },
  async ({ values, positionals }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const named = [positionals.length > 0, values.prefix !== undefined, values.all === true].filter(Boolean).length;
    if (named !== 1 || positionals.length > 1) throw new UsageError('name what to delete: one KEY, or --prefix PREFIX, or --all');
    const target: CacheDeleteTarget =
      positionals.length === 1
        ? { key: cacheKey(positionals[0], 'KEY') }
        : values.prefix !== undefined
          ? { prefix: cacheKey(values.prefix, 'prefix', true) }
          : { all: true };
    const scope = scopeOption(values.scope);
    return withCacheClient('cache delete', values, env, project, async (client, gateway) => {
      const result = await client.deleteEntries(target, scope);
      if (result === null) {
        process.stderr.write(
          gateway.redact(`artifact-gateway cache delete: no cache entry with key ${JSON.stringify(positionals[0])} in ${scope ?? project}\n`),
        );
        return 1;
      }
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ deleted: result.deleted, count: result.count, bytes: result.bytes }, null, 2)}\n`);
        return 0;
      }
      for (const d of result.deleted) process.stdout.write(`deleted ${d.key} (${d.scope}, ${formatBytes(d.size)})\n`);
      process.stderr.write(`Deleted ${plural(result.count, 'cache entry', 'cache entries')} (${formatBytes(result.bytes)}) from ${project}\n`);
      return 0;
    });
  },
);
