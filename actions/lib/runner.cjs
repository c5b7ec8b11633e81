/**
 * What the GitHub Actions of this repository (upload, download, cache) share: the runner's side
 * of a JavaScript action (inputs, outputs, state between the main and post steps, workflow
 * commands), and running the gateway's own runner client.
 *
 * The actions carry no copy of the client: they fetch `/client/artifact-gateway.cjs` from the
 * gateway they talk to, so a job always runs the client that matches its server, and run it with
 * the runner's node. Nothing here needs a package: a JavaScript action runs from the checked-out
 * repository, with no `npm install`.
 *
 * The runner's contract (https://docs.github.com/actions/creating-actions/metadata-syntax-for-github-actions
 * and the toolkit's @actions/core): input `foo-bar` arrives as INPUT_FOO-BAR; outputs and state are
 * appended to the files named by GITHUB_OUTPUT and GITHUB_STATE as `name<<delimiter` blocks; the
 * post step gets state back as STATE_name; `::error::`, `::warning::` and `::add-mask::` lines on
 * stdout are workflow commands; a non-zero exit status fails the step.
 */
'use strict';

const { spawn } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const { appendFileSync, existsSync, mkdirSync, renameSync, writeFileSync } = require('node:fs');
const { homedir, tmpdir } = require('node:os');
const { join } = require('node:path');

/** A failure the step reports as one `::error::` line (no stack: the message says what to fix). */
class ActionError extends Error {}

/** An input's value, trimmed; '' when not given. `required` fails the step when it is empty. */
function input(name, { required = false } = {}) {
  const value = (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
  if (required && value === '') throw new ActionError(`the input "${name}" is required`);
  return value;
}

/** A multi-line input (one item per line, as actions/cache takes `path`), without blank lines. */
function multilineInput(name, options) {
  return input(name, options)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** A boolean input as YAML 1.2's core schema spells one, as @actions/core's getBooleanInput reads it. */
function booleanInput(name) {
  const value = input(name);
  if (value === '') return false;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw new ActionError(`the input "${name}" must be true or false, not ${JSON.stringify(value)}`);
}

/** Appends `name` = `value` to a runner file command (GITHUB_OUTPUT, GITHUB_STATE). */
function fileCommand(variable, name, value) {
  const file = process.env[variable];
  if (!file) throw new ActionError(`${variable} is not set: this runs as a step of a GitHub Actions job`);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  const text = String(value);
  if (text.includes(delimiter) || name.includes(delimiter)) throw new ActionError(`the ${name} value holds its own delimiter`);
  appendFileSync(file, `${name}<<${delimiter}\n${text}\n${delimiter}\n`);
}

const setOutput = (name, value) => fileCommand('GITHUB_OUTPUT', name, value);
const saveState = (name, value) => fileCommand('GITHUB_STATE', name, value);
const getState = (name) => process.env[`STATE_${name}`] ?? '';

/** Workflow command properties and messages are escaped as @actions/core escapes them. */
const escapeData = (s) => String(s).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const error = (message) => process.stdout.write(`::error::${escapeData(message)}\n`);
const warning = (message) => process.stdout.write(`::warning::${escapeData(message)}\n`);
const info = (message) => process.stdout.write(`${message}\n`);
/** Asks the runner to replace `secret` with *** wherever the log would show it. */
const mask = (secret) => process.stdout.write(`::add-mask::${escapeData(secret)}\n`);

/**
 * The gateway's URL, and the environment the client runs with: the token input (when given) goes
 * in ARTIFACT_GATEWAY_TOKEN, never on a command line; without it the client asks GitHub for an ID
 * token itself (the job needs `permissions: id-token: write`).
 */
function gatewaySettings() {
  const url = (input('url') || process.env.ARTIFACT_GATEWAY_URL || '').replace(/\/+$/, '');
  if (url === '') throw new ActionError('say which gateway: the input "url", or ARTIFACT_GATEWAY_URL in the job\'s env');
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new ActionError(`the gateway URL ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ActionError(`the gateway URL ${JSON.stringify(url)} is not http(s)`);
  const env = { ...process.env, ARTIFACT_GATEWAY_URL: url };
  const token = input('token');
  if (token !== '') {
    mask(token);
    env.ARTIFACT_GATEWAY_TOKEN = token;
  }
  const audience = input('audience');
  if (audience !== '') env.ARTIFACT_GATEWAY_AUDIENCE = audience;
  // the client reads its own INPUT_-free configuration: drop the inputs, one of which is the token
  for (const name of Object.keys(env)) if (name.startsWith('INPUT_')) delete env[name];
  return { url, env };
}

const CLIENT_PATH = '/client/artifact-gateway.cjs';

/**
 * Fetches the gateway's runner client into RUNNER_TEMP, once per job (the cache action's post
 * step reuses what its main step fetched). Network errors and 5xx are retried, a few times.
 */
async function fetchClient(url) {
  const dir = join(process.env.RUNNER_TEMP || tmpdir(), 'artifact-gateway');
  const file = join(dir, `client-${Buffer.from(url).toString('base64url').slice(0, 64)}.cjs`);
  if (existsSync(file)) return file;
  let lastProblem = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    let res;
    try {
      res = await fetch(`${url}${CLIENT_PATH}`, { signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      lastProblem = err && err.cause ? `${err.message}: ${err.cause.message ?? err.cause}` : String(err);
      continue;
    }
    if (res.status >= 500 || res.status === 429) {
      lastProblem = `HTTP ${res.status}`;
      await res.body?.cancel();
      continue;
    }
    if (res.status !== 200) {
      const body = await res.text().catch(() => '');
      throw new ActionError(`${url}${CLIENT_PATH} answered ${res.status}: ${body.slice(0, 300)}`);
    }
    const code = Buffer.from(await res.arrayBuffer());
    mkdirSync(dir, { recursive: true });
    // written whole under a temporary name, then renamed: a half-written client is never run
    writeFileSync(`${file}.partial`, code);
    renameSync(`${file}.partial`, file);
    info(`artifact-gateway client ${res.headers.get('x-client-version') ?? '(version unknown)'} from ${url}`);
    return file;
  }
  throw new ActionError(`could not fetch the client from ${url}${CLIENT_PATH}: ${lastProblem}`);
}

/**
 * Runs the client with `args`; its stderr (progress, summaries, errors) goes to the job's log as
 * it comes, its stdout is returned. Resolves to the exit status.
 */
function runClient(client, args, env, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [client, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout }));
  });
}

/**
 * Paths as actions/cache takes them, relative to the workspace, or all under the home directory
 * as `~/…`. The client keeps paths relative to one directory, so a mix of both is refused.
 */
function cacheLocation(paths, workspace) {
  const home = paths.filter((p) => p === '~' || p.startsWith('~/'));
  if (home.length === 0) return { directory: workspace, paths };
  if (home.length !== paths.length) {
    throw new ActionError('the paths are either all under ~/ or all in the workspace: a cache archive holds paths relative to one directory');
  }
  return { directory: homedir(), paths: paths.map((p) => (p === '~' ? '.' : p.slice(2))) };
}

/** Runs a step's body; an ActionError (or anything else) fails the step with one error line. */
function run(body) {
  body().catch((err) => {
    error(err instanceof ActionError ? err.message : err && err.stack ? err.stack : String(err));
    process.exitCode = 1;
  });
}

module.exports = {
  ActionError,
  booleanInput,
  cacheLocation,
  fetchClient,
  gatewaySettings,
  getState,
  info,
  input,
  multilineInput,
  run,
  runClient,
  saveState,
  setOutput,
  warning,
};
