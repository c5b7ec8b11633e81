/**
 * The variable table in words: the lines of `serve --help` and docs/configuration.md, both made
 * from variables.ts so neither can drift from what loadConfig does.
 */
import { VARIABLES, type Variable, type VariableName } from './variables';

interface Described {
  name: VariableName;
  /** A literal default is code; a computed one is words. */
  default: { literal: boolean; text: string };
  accepts: string;
  meaning: string;
}

function describe(name: VariableName, v: Variable<unknown>): Described {
  let text = v.default ?? v.defaultDoc;
  if (text === undefined) text = v.required ? `required${v.driver ? ` for ${v.driver}` : ''}` : 'none';
  return {
    name,
    default: { literal: v.default !== undefined, text },
    accepts: v.parse.accepts,
    meaning: `${v.driver ? `${v.driver} driver: ` : ''}${v.doc}${v.secret ? ' (secret: never logged)' : ''}`,
  };
}

export function describeVariables(): Described[] {
  return (Object.entries(VARIABLES) as Array<[VariableName, Variable<unknown>]>).map(([name, v]) => describe(name, v));
}

/** One line per variable, for `serve --help`. */
export function helpLines(): string {
  return describeVariables()
    .map((d) => `  ${d.name.padEnd(24)} ${d.meaning} (default: ${d.default.text}${d.accepts === 'text' ? '' : `; ${d.accepts}`})`)
    .join('\n');
}

const cell = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\|/g, '\\|');
const code = (s: string) => `\`${s.replace(/\|/g, '\\|')}\``;

/** docs/configuration.md, whole. */
export function configurationMarkdown(): string {
  const rows = describeVariables().map((d) => {
    const def = d.default.literal ? code(d.default.text) : cell(d.default.text);
    return `| ${code(d.name)} | ${def} | ${cell(d.accepts)} | ${cell(d.meaning)} |`;
  });
  return `<!-- Made from src/config/variables.ts by \`npm run docs:config\`; edit the table there, not this file. -->
# Configuration

Environment variables only, read once at start by \`loadConfig(env)\`. A bad or missing value stops
\`serve\` with exit code 2 and one message that names every problem. The effective configuration is
logged at start with secrets redacted. Variables of one storage driver are ignored with the other.
\`artifact-gateway serve --help\` prints the same list.

The commands that sign or check what the gateway signs (\`token\`, \`ticket\`, \`gc\`) read the same
variables as \`serve\`, and must be given the same values: run them with the server's environment.
Two of them are easy to get wrong:

- **\`DATA_DIR\` is relative to the current directory** (\`./data\` by default). Run from another
  directory, \`token\` finds no secret there, makes a new one (with a warning on stderr), and the
  gateway answers its tokens with \`401\`. Run the commands from the directory \`serve\` runs in, or
  give every process the same absolute \`DATA_DIR\`.
- **\`SIGNING_SECRET\` is required with \`STORAGE_DRIVER=s3\`**: without it \`serve\` exits with code 2.
  Make one with \`openssl rand -hex 32\` and give every instance, and every \`token\`, \`ticket\` and
  \`gc\` run, the same value.

| variable | default | accepts | meaning |
| --- | --- | --- | --- |
${rows.join('\n')}
`;
}
