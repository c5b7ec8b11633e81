/** The download action's one step: fetch the gateway's client and run `download` with the inputs. */
'use strict';

const { resolve } = require('node:path');
const { fetchClient, gatewaySettings, input, run, runClient, setOutput, ActionError } = require('../lib/runner.cjs');

run(async () => {
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd();
  const dest = resolve(workspace, input('path') || '.');
  const args = ['download', '--project', input('project', { required: true }), '--build', input('build', { required: true })];
  const prefix = input('prefix');
  if (prefix !== '') args.push('--prefix', prefix);
  const { url, env } = gatewaySettings();
  const client = await fetchClient(url);
  const { code } = await runClient(client, [...args, '--', dest], env, workspace);
  if (code !== 0) throw new ActionError(`download failed (exit status ${code}): the log above says which files and why`);
  setOutput('path', dest);
});
