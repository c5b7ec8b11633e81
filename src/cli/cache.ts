/**
 * `artifact-gateway cache save|restore|list|delete|usage`: dependency caches, client side, and
 * administering a project's caches. This file only dispatches; each subcommand has its own file.
 */
import { cacheDelete } from './cache-delete';
import { cacheList } from './cache-list';
import { cacheRestore } from './cache-restore';
import { cacheSave } from './cache-save';
import { cacheUsage } from './cache-usage';

const SUBCOMMANDS: Record<string, (args: string[], env: NodeJS.ProcessEnv) => Promise<number>> = {
  save: cacheSave,
  restore: cacheRestore,
  list: cacheList,
  delete: cacheDelete,
  usage: cacheUsage,
};

export const CACHE_HELP = `Usage: artifact-gateway cache <save|restore|list|delete|usage> [options]

  save      archive PATHs and save them under a key (write-once per scope)
  restore   restore the entry of a key, or of the newest key starting with a restore key
  list      list the project's cache entries: key, scope, size, created, last used
  delete    delete cache entries by key, by key prefix, or all (needs cache:delete)
  usage     the project's cache size against its quota, per scope

Paths are relative to the current directory (or --directory) and are restored to the same
relative paths. Run 'artifact-gateway cache <subcommand> --help' for its options.
`;

export async function cache(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // the dispatcher sets the exit code when the command settles; should a stream bug ever leave
  // it pending while the event loop drains, the process must not exit 0 ("restored") with nothing done
  process.exitCode = 1;
  const [sub, ...rest] = args;
  const run = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (run) return run(rest, env);
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(CACHE_HELP);
    return 0;
  }
  process.stderr.write(
    `${sub === undefined ? 'artifact-gateway cache: name a subcommand' : `artifact-gateway cache: unknown subcommand ${JSON.stringify(sub)}`}\n\n${CACHE_HELP}`,
  );
  return 2;
}
