/**
 * The runner client: the `artifact-gateway` commands a CI job needs (upload, cache save|restore)
 * and nothing that administers a gateway (serve, gc, token, ticket need its configuration, its
 * signing secret or the storage SDK). scripts/build-client.mjs bundles this file alone into one
 * self-contained file, dist/bundle/artifact-gateway.cjs, which the gateway serves at
 * /client/artifact-gateway.cjs (src/http/client-bundle.ts) so that a runner with only node can
 * fetch the client that matches its server.
 */
import { cache } from './cache';
import type { Command } from './command';
import { upload } from './upload';

// set by the bundler (package.json version, plus the git commit when the tree has one); the
// fallback only shows when this file runs unbundled
declare const AGW_CLIENT_VERSION: string | undefined;
export const CLIENT_VERSION = typeof AGW_CLIENT_VERSION === 'string' ? AGW_CLIENT_VERSION : 'unbundled';

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  upload: { run: upload, summary: 'upload files and directories to a build' },
  cache: { run: cache, summary: 'save or restore a dependency cache (cache save|restore)' },
};

const HELP = `Usage: artifact-gateway <command> [options]

The runner client (${CLIENT_VERSION}): the commands a CI job needs. The gateway's own commands
(serve, gc, token, ticket) come with the full installation.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run 'artifact-gateway <command> --help' for a command's options, --version for the version.
`;

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`artifact-gateway ${CLIENT_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`artifact-gateway: unknown command ${JSON.stringify(name)} (this is the runner client)\n\n${HELP}`);
    return 2;
  }
  return command.run(args, env);
}

/** Runs the command line and sets the exit code, as the full command's run() does. */
export function run(argv: string[]): void {
  process.exitCode = 1;
  main(argv, process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`artifact-gateway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run(process.argv.slice(2));
