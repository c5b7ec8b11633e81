/**
 * The runner client: the `artifact-gateway` commands a CI job needs (upload, download, cache save|restore|list|delete|usage)
 * and nothing that administers a gateway (serve, gc, token, ticket need its configuration, its
 * signing secret or the storage SDK). scripts/build-client.mjs bundles this file alone into one
 * self-contained file, dist/bundle/artifact-gateway.cjs, which the gateway serves at
 * /client/artifact-gateway.cjs (src/http/client-bundle.ts) so that a runner with only node can
 * fetch the client that matches its server.
 */
import { dispatch, listCommands, runMain, type Commands } from './dispatch';
import { JOB_COMMANDS } from './job-commands';

// set by the bundler (package.json version, plus the git commit when the tree has one); the
// fallback only shows when this file runs unbundled
declare const AGW_CLIENT_VERSION: string | undefined;
export const CLIENT_VERSION = typeof AGW_CLIENT_VERSION === 'string' ? AGW_CLIENT_VERSION : 'unbundled';

const COMMANDS: Commands = JOB_COMMANDS;

const HELP = `Usage: artifact-gateway <command> [options]

The runner client (${CLIENT_VERSION}): the commands a CI job needs. The gateway's own commands
(serve, gc, token, ticket) come with the full installation.

Commands:
${listCommands(COMMANDS)}

Run 'artifact-gateway <command> --help' for a command's options, --version for the version.
`;

export function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return dispatch(argv, env, {
    commands: COMMANDS,
    help: HELP,
    unknownHint: ' (this is the runner client)',
    flags: { '--version': () => `artifact-gateway ${CLIENT_VERSION}\n`, '-V': () => `artifact-gateway ${CLIENT_VERSION}\n` },
  });
}

/** Runs the command line and sets the exit code, as the full command's run() does. */
export function run(argv: string[]): void {
  runMain(main, argv);
}

if (require.main === module) run(process.argv.slice(2));
