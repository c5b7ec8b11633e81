/**
 * The cache action's post step, run when the job succeeded: `cache save` under the key, unless the
 * main step restored exactly that key (entries are write-once). A save that fails is a warning:
 * the job's own work succeeded.
 */
'use strict';

const { cacheLocation, fetchClient, gatewaySettings, getState, info, input, multilineInput, run, runClient, warning } = require('../lib/runner.cjs');

run(async () => {
  const key = getState('key');
  if (key === '') {
    info('the restore step did not get as far as the key: nothing to save');
    return;
  }
  if (getState('hit') === 'true') {
    info(`cache hit on the key ${key}: not saving`);
    return;
  }
  const { directory, paths } = cacheLocation(multilineInput('path', { required: true }), process.env.GITHUB_WORKSPACE || process.cwd());
  const { url, env } = gatewaySettings();
  const client = await fetchClient(url);
  const args = ['cache', 'save', '--project', input('project', { required: true }), '--key', key, '--directory', directory, '--', ...paths];
  const { code } = await runClient(client, args, env, directory);
  if (code !== 0) warning(`the cache was not saved (exit status ${code}): the log above says why`);
});
