/**
 * `artifact-gateway cache save|restore`: dependency caches, client side. This file only
 * dispatches; each subcommand has its own file.
 */
import { cacheRestore } from './cache-restore';
import { cacheSave } from './cache-save';

export const CACHE_HELP = `Usage: artifact-gateway cache <save|restore> [options] PATH...

  save      archive PATHs and save them under a key (write-once per scope)
  restore   restore the entry of a key, or of the newest key starting with a restore key

Paths are relative to the current directory (or --directory) and are restored to the same
relative paths. Run 'artifact-gateway cache save --help' or 'cache restore --help' for options.
`;

export async function cache(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // the dispatcher sets the exit code when the command settles; should a stream bug ever leave
  // it pending while the event loop drains, the process must not exit 0 ("restored") with nothing done
  process.exitCode = 1;
  const [sub, ...rest] = args;
  if (sub === 'save') return cacheSave(rest, env);
  if (sub === 'restore') return cacheRestore(rest, env);
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(CACHE_HELP);
    return 0;
  }
  process.stderr.write(
    `${sub === undefined ? 'artifact-gateway cache: name a subcommand' : `artifact-gateway cache: unknown subcommand ${JSON.stringify(sub)}`}\n\n${CACHE_HELP}`,
  );
  return 2;
}
