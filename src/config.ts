/**
 * The gateway's configuration: the variable table, loadConfig, and what is made from the table.
 * The parts live in config/; this file (not config/index.ts) is the entry so that a dist/ built
 * before the split, which holds a config.js, cannot shadow them.
 */
export { describeConfig } from './config/describe';
export { configurationMarkdown, helpLines } from './config/docs';
export { ConfigError, loadConfig, type LoadConfigOptions } from './config/load';
export type { Config, StorageConfig } from './config/types';
export { VARIABLES, type VariableName } from './config/variables';
