/**
 * The configuration's one error type, on its own so that code which only needs to recognise it
 * (the command line's error printing, which the runner client bundles) does not pull in the
 * variable table and its parsers.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}
