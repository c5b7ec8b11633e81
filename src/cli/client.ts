/**
 * The runner client: the `artifact-gateway` commands a CI job needs (upload, download, cache save|restore|list|delete|usage)
 * and nothing that administers a gateway (serve, gc, token, ticket need its configuration, its
 * signing secret or the storage SDK). scripts/build-client.mjs bundles this file alone into one
 * self-contained file, dist/bundle/artifact-gateway.cjs, which the gateway serves at
 * /client/artifact-gateway.cjs (src/http/client-bundle.ts) so that a runner with only node can
 * fetch the client that matches its server.
 */
import { cache } from './cache';
import { dispatch, listCommands, runMain, type Commands } from './dispatch';
import { deleteCommand } from './delete';
import { download } from './download';
import { pin, unpin } from './pin';
import { upload } from './upload';

// set by the bundler (package.json version, plus the git commit when the tree has one); the
// fallback only shows when this file runs unbundled
declare const AGW_CLIENT_VERSION: string | undefined;
export const CLIENT_VERSION = typeof AGW_CLIENT_VERSION === 'string' ? AGW_CLIENT_VERSION : 'unbundled';

const COMMANDS: Commands = {
  upload: { run: upload, summary: 'upload files and directories to a build' },
  download: { run: download, summary: 'download a build, or a directory of it, verified' },
  delete: { run: deleteCommand, summary: 'delete a build, or a file or directory of it' },
  pin: { run: pin, summary: 'keep a build from retention' },
  unpin: { run: unpin, summary: 'let retention remove a pinned build again' },
  cache: { run: cache, summary: 'dependency caches: save, restore, list, delete, usage' },
};

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
