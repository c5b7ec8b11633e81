/**
 * `artifact-gateway cache list`: the project's cache entries, as `gh cache list` shows a
 * repository's, through the client's listEntries (src/client/caches.ts). Exit 0 when listed (also
 * when none match), 1 when the gateway refuses or fails, 2 for a bad command line.
 */
import { defaultOrder, ORDERS, SORTS } from '../caches/admin-query';
import { SCOPE_PATTERN } from '../caches/scopes';
import { PROJECT_ID } from '../ids';
import { formatBytes, plural } from '../client';
import { id, wholeNumber } from './args';
import { cacheKey } from './cache-options';
import { withCacheClient } from './cache-admin';
import { defineCommand, OPTIONS, UsageError } from './command';
import { table, when } from './table';

export const cacheList = defineCommand(
  {
    name: 'cache list',
    usage: '--project P [--key PREFIX] [--scope S] [--sort FIELD] [--order asc|desc] [--limit N] [--json]',
    about: `Lists the project's cache entries: key, scope, size, when each was created and last restored.
Entries of every kind are listed: those of 'cache save' and the caches API, and the build tools'
(turbo, Nx, Bazel, ccache, Gradle, the Actions cache), whose keys start with their protocol
('turbo/<hash>', 'actions/<version>/<key>'). A trusted job's token lists every scope; a
pull-request job's only the scopes it restores from.`,
    options: {
      project: OPTIONS.project,
      key: { type: 'string', short: 'k', value: 'PREFIX', help: 'only keys starting with PREFIX' },
      scope: { type: 'string', value: 'S', help: 'only scope S (branch:<branch>, untrusted:<branch> or content-addressed)' },
      sort: { type: 'string', short: 'S', value: 'FIELD', help: `sort by ${SORTS.join(', ')} (default: last-used)` },
      order: { type: 'string', short: 'O', value: 'ORDER', help: 'desc or asc (default: desc; asc when sorting by key)' },
      limit: { type: 'string', short: 'L', value: 'N', help: 'list at most N entries, 1 to 100000 (default: 30)' },
      json: { type: 'boolean', help: 'print the entries as a JSON array (every field the API answers) instead of a table' },
      url: OPTIONS.url,
      token: OPTIONS.token('cache:read'),
      retries: OPTIONS.retries('request'),
      help: OPTIONS.help,
    },
    after: `On a terminal: a table under a header, times as "3 hours ago"; to a pipe: one tab-separated
line per entry (key, scope, size, created, last used; times in ISO 8601), as gh does.
Exit status: 0 listed (also when nothing matches), 1 failed, 2 bad command line.`,
  },
  async ({ values }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const prefix = values.key === undefined ? undefined : cacheKey(values.key, 'key', true);
    const scope = scopeOption(values.scope);
    const sort = choice(values.sort, 'sort', SORTS) ?? 'last-used';
    const order = choice(values.order, 'order', ORDERS) ?? defaultOrder(sort);
    const limit = wholeNumber(values.limit, 'limit', 30, 1, 100_000);
    return withCacheClient('cache list', values, env, project, async (client) => {
      const { entries, totalCount } = await client.listEntries({ prefix, scope, sort, order }, limit);
      if (values.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        return 0;
      }
      const tty = process.stdout.isTTY === true;
      if (entries.length === 0) {
        process.stderr.write(`No cache entries${prefix || scope ? ' match' : ''} in ${project}\n`);
        return 0;
      }
      if (tty) process.stdout.write(`\nShowing ${entries.length} of ${plural(totalCount, 'cache entry', 'cache entries')} in ${project}\n\n`);
      const rows = entries.map((e) => [e.key, e.scope, formatBytes(e.size), when(e.createdAt, tty), when(e.lastUsedAt, tty)]);
      process.stdout.write(table(['KEY', 'SCOPE', 'SIZE', 'CREATED', 'LAST USED'], rows, tty));
      return 0;
    });
  },
);

/** `--scope`, checked as the gateway checks it. */
export function scopeOption(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!SCOPE_PATTERN.test(raw)) {
    throw new UsageError(`the option '--scope' expects branch:<branch>, untrusted:<branch> or content-addressed, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

function choice<T extends string>(raw: string | undefined, option: string, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`the option '--${option}' expects one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}
