/**
 * `artifact-gateway cache usage`: a project's cache size against its quota, per scope, as GitHub's
 * cache usage answers it, through the client's usage (src/client/caches.ts). Exit 0 when answered,
 * 1 when the gateway refuses or fails, 2 for a bad command line.
 */
import { PROJECT_ID } from '../ids';
import { formatBytes, plural } from '../client';
import { id } from './args';
import { withCacheClient } from './cache-admin';
import { defineCommand, OPTIONS } from './command';
import { table } from './table';

export const cacheUsage = defineCommand(
  {
    name: 'cache usage',
    usage: '--project P [--json]',
    about: `Shows how much of the project's cache quota its entries use, and the size and count of each scope
the token may list. Above the quota, gc evicts the least recently used entries; entries not
restored for the TTL are deleted.`,
    options: {
      project: OPTIONS.project,
      json: { type: 'boolean', help: 'print the usage as JSON (quotaBytes, ttlDays, size, count, scopes)' },
      url: OPTIONS.url,
      token: OPTIONS.token('cache:read'),
      retries: OPTIONS.retries('request'),
      help: OPTIONS.help,
    },
    after: 'Exit status: 0 answered, 1 failed, 2 bad command line.',
  },
  async ({ values }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    return withCacheClient('cache usage', values, env, project, async (client) => {
      const u = await client.usage();
      if (values.json) {
        process.stdout.write(`${JSON.stringify(u, null, 2)}\n`);
        return 0;
      }
      const share = u.quotaBytes > 0 ? ` (${((100 * u.size) / u.quotaBytes).toFixed(1)}%)` : '';
      process.stdout.write(
        `${project}: ${plural(u.count, 'cache entry', 'cache entries')}, ${formatBytes(u.size)} of the ${formatBytes(u.quotaBytes)} quota${share}; ` +
          `entries not restored for ${plural(u.ttlDays, 'day')} expire\n`,
      );
      if (u.scopes.length > 0) {
        const tty = process.stdout.isTTY === true;
        process.stdout.write(
          table(
            ['SCOPE', 'ENTRIES', 'SIZE'],
            u.scopes.map((s) => [s.scope, String(s.count), formatBytes(s.size)]),
            tty,
          ),
        );
      }
      return 0;
    });
  },
);
