/**
 * Runs a step of one of this repository's GitHub Actions (actions/) the way the runner does, by
 * the runner's documented contract: the action.yml's input defaults and the step's `with:` as
 * INPUT_* variables (the `${{ github.* }}` expressions of the defaults evaluated from a context),
 * GITHUB_OUTPUT and GITHUB_STATE as files the step appends to, the main step's state handed to the
 * post step as STATE_*, the job's workspace as the working directory, and node running the
 * action's `main` or `post` file. Everything else the step talks to is real: the gateway, its
 * client, and a token endpoint that behaves as GitHub's.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

export const ACTIONS_DIR = resolve(__dirname, '../../actions');

export interface ActionInput {
  description: string;
  required?: boolean;
  default?: string;
}

export interface ActionMetadata {
  name: string;
  description: string;
  inputs: Record<string, ActionInput>;
  outputs?: Record<string, { description: string }>;
  runs: { using: string; main: string; post?: string; 'post-if'?: string };
}

export async function actionMetadata(action: string): Promise<ActionMetadata> {
  return parse(await readFile(join(ACTIONS_DIR, action, 'action.yml'), 'utf8')) as ActionMetadata;
}

/** Parses what a step appended to GITHUB_OUTPUT or GITHUB_STATE (`name<<delimiter` blocks). */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const m = /^([^<=]+)<<(.+)$/.exec(line);
    if (!m) throw new Error(`not a file command: ${line}`);
    const end = lines.indexOf(m[2], i + 1);
    if (end < 0) throw new Error(`no closing delimiter for ${m[1]}`);
    out[m[1]] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return out;
}

export interface Job {
  workspace: string;
  /** RUNNER_TEMP: shared by the steps of one job (the post step finds the client there). */
  temp: string;
  github: { run_id: string; run_attempt: string };
  /** The job's env (what `env:` and the runner set: ARTIFACT_GATEWAY_URL, ACTIONS_ID_TOKEN_REQUEST_*). */
  env: Record<string, string>;
}

/** Each job's directory, until removeJobs(). */
const jobRoots: string[] = [];

export async function newJob(github: Job['github'], env: Record<string, string>): Promise<Job> {
  const root = await mkdtemp(join(tmpdir(), 'agw-gha-'));
  jobRoots.push(root);
  await mkdir(join(root, 'workspace'));
  await mkdir(join(root, 'temp'));
  return { workspace: join(root, 'workspace'), temp: join(root, 'temp'), github, env };
}

/** Removes the directories of every job made so far (a suite's afterAll). */
export async function removeJobs(): Promise<void> {
  await Promise.all(jobRoots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
}

export interface StepResult {
  code: number | null;
  /** The step's log: stdout (workflow commands included) and stderr, in order of arrival. */
  log: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
}

function evaluate(value: string, job: Job): string {
  return value.replace(/\$\{\{\s*github\.(\w+)\s*\}\}/g, (_, name: string) => {
    const v = (job.github as Record<string, string>)[name];
    if (v === undefined) throw new Error(`the test runner has no github.${name}`);
    return v;
  });
}

/** Runs the action's main step (or its post step, given the main step's state). */
export async function runStep(
  action: string,
  job: Job,
  inputs: Record<string, string>,
  phase: 'main' | 'post' = 'main',
  state: Record<string, string> = {},
): Promise<StepResult> {
  const meta = await actionMetadata(action);
  for (const name of Object.keys(inputs)) if (!(name in meta.inputs)) throw new Error(`${action} has no input ${name}`);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GITHUB_ACTIONS: 'true', ...job.env };
  for (const [name, spec] of Object.entries(meta.inputs)) {
    const value = inputs[name] ?? (spec.default !== undefined ? evaluate(spec.default, job) : '');
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  }
  for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
  const files = await mkdtemp(join(job.temp, 'step-'));
  env.GITHUB_OUTPUT = join(files, 'output');
  env.GITHUB_STATE = join(files, 'state');
  env.GITHUB_WORKSPACE = job.workspace;
  env.RUNNER_TEMP = job.temp;
  await writeFile(env.GITHUB_OUTPUT, '');
  await writeFile(env.GITHUB_STATE, '');
  const file = phase === 'main' ? meta.runs.main : meta.runs.post;
  if (!file) throw new Error(`${action} has no ${phase} step`);
  const child = spawn(process.execPath, [join(ACTIONS_DIR, action, file)], { cwd: job.workspace, env });
  let log = '';
  child.stdout.on('data', (c) => (log += c));
  child.stderr.on('data', (c) => (log += c));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  return {
    code,
    log,
    outputs: parseFileCommands(await readFile(env.GITHUB_OUTPUT, 'utf8')),
    state: parseFileCommands(await readFile(env.GITHUB_STATE, 'utf8')),
  };
}
