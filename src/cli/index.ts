#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * The `artifact-gateway` command. One file per subcommand; this one only dispatches. serve, gc,
 * token and ticket administer a gateway; upload and cache are thin wrappers around the client
 * library (src/client), which a program can import instead.
 */
import { cache } from './cache';
import type { Command } from './command';
import { gc } from './gc';
import { serve } from './serve';
import { ticket } from './ticket';
import { token } from './token';
import { upload } from './upload';
import { download } from './download';

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: { run: serve, summary: 'start the gateway (configured by environment variables)' },
  token: { run: token, summary: 'print a job token for a project and build (development, tests)' },
  ticket: { run: ticket, summary: "print a sign-in link to a private project's artifacts" },
  upload: { run: upload, summary: 'upload files and directories to a build' },
  download: { run: download, summary: 'download a build, or a directory of it, verified' },
  cache: { run: cache, summary: 'save or restore a dependency cache (cache save|restore)' },
  gc: { run: gc, summary: 'delete expired caches and artifacts once (retention)' },
};

const HELP = `Usage: artifact-gateway <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run 'artifact-gateway <command> --help' for a command's options.
`;

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`artifact-gateway: unknown command ${JSON.stringify(name)}\n\n${HELP}`);
    return 2;
  }
  return command.run(args, env);
}

/** Runs the command line and sets the exit code; the process entry points call only this. */
export function run(argv: string[]): void {
  // until the command says otherwise it has failed: a promise that never settles (a stream that
  // hangs and empties the event loop) must not exit 0
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
