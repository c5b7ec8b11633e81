/**
 * One way to define a subcommand: its options are declared once, with their help, and both the
 * strict parser (node's util.parseArgs) and the `--help` text come from that declaration, so that
 * an option cannot be parsed without being documented, or documented as it is not parsed. Options
 * that several commands share (the gateway, the token, the project, retries) are declared once
 * here too.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidInput } from '../client/errors';
import { ConfigError } from '../config/error';

/** A bad command line: the command prints the message and a pointer to --help, and exits 2. */
export class UsageError extends InvalidInput {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's name in the help (`--url URL`); string options only. */
  value?: string;
  /** What the option does, as one sentence or two; wrapped to the help's width. */
  help: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface CommandSpec<O extends OptionSpecs> {
  /** As typed after `artifact-gateway`: 'upload', 'cache save'. */
  name: string;
  /** The synopsis after the name: '--project P --build N [options] PATH...'. */
  usage: string;
  /** What the command does: the paragraphs before the options. */
  about: string;
  options: O;
  /** Whether the command takes positional arguments (paths). */
  positionals?: boolean;
  /** Paragraphs after the options: output, exit statuses, examples. */
  after?: string;
}

export type Command = (args: string[], env: NodeJS.ProcessEnv) => Promise<number>;

type Values<O extends OptionSpecs> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? (O[K]['multiple'] extends true ? boolean[] : boolean) : O[K]['multiple'] extends true ? string[] : string;
};

export interface Parsed<O extends OptionSpecs> {
  values: Values<O>;
  positionals: string[];
}

const WIDTH = 98;

/** The command's --help text, made from its declaration. */
export function helpOf(spec: CommandSpec<OptionSpecs>): string {
  const flags = Object.entries(spec.options).map(([name, o]) => `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`);
  const column = Math.max(...flags.map((f) => f.length)) + 4;
  const lines = Object.values(spec.options).map((o, i) =>
    wrap(o.help, WIDTH - column - 2).map((l, j) => `  ${(j === 0 ? flags[i] : '').padEnd(column - 1)} ${l}`),
  );
  const options = lines.length > 0 ? `\nOptions:\n${lines.flat().join('\n')}\n` : '';
  const usage = `Usage: artifact-gateway ${spec.name}${spec.usage ? ` ${spec.usage}` : ''}`;
  return `${usage}\n\n${spec.about.trim()}\n${options}${spec.after ? `\n${spec.after.trim()}\n` : ''}`;
}

/**
 * A subcommand: --help prints the help (exit 0) even next to an otherwise bad command line; the
 * options are parsed strictly; a UsageError, an InvalidInput from the client or a ConfigError
 * prints its message (exit 2). Anything else propagates to the dispatcher (exit 1 with the stack).
 */
export function defineCommand<const O extends OptionSpecs>(
  spec: CommandSpec<O>,
  body: (parsed: Parsed<O>, env: NodeJS.ProcessEnv) => Promise<number>,
): Command {
  const help = helpOf(spec);
  return (args, env) => runCommand(spec.name, help, args, () => body(parseCommand(spec, args), env));
}

/** The command line parsed strictly by the declaration; a UsageError naming the option otherwise. */
export function parseCommand<const O extends OptionSpecs>(spec: CommandSpec<O>, args: string[]): Parsed<O> {
  const options: ParseArgsConfig['options'] = {};
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  return parseOrUsage(() => parseArgs({ args, strict: true, allowPositionals: spec.positionals === true, options })) as unknown as Parsed<O>;
}

/** Runs util.parseArgs, turning its errors (which name the option) into UsageErrors. */
function parseOrUsage<R>(parse: () => R): R {
  try {
    return parse();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((err as Error).message);
    throw err;
  }
}

/** Runs a command body as defineCommand does, for a command that must go on after it (serve). */
export async function runCommand(name: string, help: string, args: string[], body: () => Promise<number>): Promise<number> {
  // checked before parsing, so `--help` works even next to an otherwise bad command line
  const end = args.indexOf('--');
  const options = end === -1 ? args : args.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  try {
    return await body();
  } catch (err) {
    if (err instanceof InvalidInput) {
      process.stderr.write(`artifact-gateway ${name}: ${err.message}\nRun 'artifact-gateway ${name} --help' for usage.\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`artifact-gateway: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...out, line];
}

/** The options of the commands that talk to a gateway, declared once. */
export const OPTIONS = {
  url: { type: 'string', value: 'URL', help: 'gateway API URL (default: $ARTIFACT_GATEWAY_URL, else $PUBLIC_URL, else http://localhost:8080)' },
  token: (scope: string) =>
    ({
      type: 'string',
      value: 'TOKEN',
      help:
        `job token with ${scope} (default: $ARTIFACT_GATEWAY_TOKEN, else the CI's OIDC ID token: $ARTIFACT_GATEWAY_ID_TOKEN, ` +
        "GitHub Actions' token for $ARTIFACT_GATEWAY_AUDIENCE or the gateway's origin, $CIRCLE_OIDC_TOKEN_V2; " +
        'prefer a variable: a command line is visible to other users of the machine)',
    }) as const,
  project: { type: 'string', value: 'P', help: 'project id (required)' },
  directory: { type: 'string', short: 'C', value: 'DIR', help: 'the directory PATHs are relative to (default: the current one)' },
  retries: (per: string) => ({ type: 'string', value: 'N', help: `retries per ${per} after the first attempt, 0 to 10 (default: 3)` }) as const,
  help: { type: 'boolean', short: 'h', help: 'this help' },
} as const;
