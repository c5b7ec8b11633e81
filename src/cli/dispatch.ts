/**
 * What both entry points of the command line share (the full `artifact-gateway`, index.ts, and
 * the runner client, client.ts): picking the subcommand, help, and turning its outcome into the
 * process's exit code. Imports nothing else, so the runner client's bundle stays small.
 */
import type { Command } from './command';

export interface Commands {
  [name: string]: { run: Command; summary: string };
}

/** The command list as help prints it. */
export function listCommands(commands: Commands): string {
  return Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
    .join('\n');
}

/**
 * Runs the subcommand `argv` names. No command prints help and exits 2; `--help` prints it and
 * exits 0; `flags` answers options of the command line itself (--version); an unknown command
 * exits 2 naming it.
 */
export async function dispatch(
  argv: string[],
  env: NodeJS.ProcessEnv,
  o: { commands: Commands; help: string; unknownHint?: string; flags?: Record<string, () => string> },
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(o.help);
    return name === undefined ? 2 : 0;
  }
  const flag = o.flags?.[name];
  if (flag) {
    process.stdout.write(flag());
    return 0;
  }
  const command = o.commands[name];
  if (!command) {
    process.stderr.write(`artifact-gateway: unknown command ${JSON.stringify(name)}${o.unknownHint ?? ''}\n\n${o.help}`);
    return 2;
  }
  return command.run(args, env);
}

/** Runs `main` and sets the exit code; the process entry points call only this. */
export function runMain(main: (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>, argv: string[]): void {
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
