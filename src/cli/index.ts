#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * The `artifact-gateway` command. One file per subcommand; this one only dispatches. serve, gc,
 * token and ticket administer a gateway; upload and cache are thin wrappers around the client
 * library (src/client), which a program can import instead.
 */
import { dispatch, listCommands, runMain, type Commands } from './dispatch';
import { gc } from './gc';
import { JOB_COMMANDS } from './job-commands';
import { serve } from './serve';
import { ticket } from './ticket';
import { token } from './token';

const COMMANDS: Commands = {
  serve: { run: serve, summary: 'start the gateway (configured by environment variables)' },
  token: { run: token, summary: 'print a job token for a project and build (development, tests)' },
  ticket: { run: ticket, summary: "print a sign-in link to a private project's artifacts" },
  ...JOB_COMMANDS,
  gc: { run: gc, summary: 'delete expired caches and artifacts once (retention)' },
};

const HELP = `Usage: artifact-gateway <command> [options]

Commands:
${listCommands(COMMANDS)}

Run 'artifact-gateway <command> --help' for a command's options.
`;

export function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return dispatch(argv, env, { commands: COMMANDS, help: HELP });
}

/** Runs the command line and sets the exit code; the process entry points call only this. */
export function run(argv: string[]): void {
  runMain(main, argv);
}

if (require.main === module) run(process.argv.slice(2));
