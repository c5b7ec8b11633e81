/** The upload action's one step: fetch the gateway's client and run `upload` with the inputs. */
'use strict';

const { booleanInput, fetchClient, gatewaySettings, info, input, multilineInput, run, runClient, setOutput, ActionError } = require('../lib/runner.cjs');

run(async () => {
  const paths = multilineInput('path', { required: true });
  const args = ['upload', '--project', input('project', { required: true }), '--build', input('build', { required: true })];
  const prefix = input('prefix');
  if (prefix !== '') args.push('--prefix', prefix);
  if (booleanInput('include-hidden')) args.push('--include-hidden');
  const { url, env } = gatewaySettings();
  const client = await fetchClient(url);
  const { code, stdout } = await runClient(client, [...args, '--', ...paths], env, process.env.GITHUB_WORKSPACE || process.cwd());
  if (code !== 0) throw new ActionError(`upload failed (exit status ${code}): the log above says which files and why`);
  // stdout holds URLs only, the build's last
  const buildUrl = stdout.trim().split('\n').pop() ?? '';
  setOutput('url', buildUrl);
  info(`build: ${buildUrl}`);
});
