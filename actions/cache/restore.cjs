/**
 * The cache action's main step: `cache restore`. A miss, or a restore that fails, lets the job go
 * on without the cache (a warning, as actions/cache does) unless fail-on-cache-miss is set; the
 * post step (save.cjs) then saves under the key.
 */
'use strict';

const {
  booleanInput,
  cacheLocation,
  fetchClient,
  gatewaySettings,
  info,
  input,
  multilineInput,
  run,
  runClient,
  saveState,
  setOutput,
  warning,
  ActionError,
} = require('../lib/runner.cjs');

run(async () => {
  const key = input('key', { required: true });
  const project = input('project', { required: true });
  const { directory, paths } = cacheLocation(multilineInput('path', { required: true }), process.env.GITHUB_WORKSPACE || process.cwd());
  const restoreKeys = multilineInput('restore-keys');
  const { url, env } = gatewaySettings();
  // the post step saves under the key unless it was hit: it needs what this step was given
  saveState('key', key);
  const args = ['cache', 'restore', '--project', project, '--key', key, '--directory', directory];
  if (restoreKeys.length > 0) args.push('--restore-keys', restoreKeys.join(','));
  const client = await fetchClient(url);
  const { code, stdout } = await runClient(client, [...args, '--', ...paths], env, directory);
  const matched = stdout.trim();
  // 0 exact hit, 3 miss, 4 a restore key's entry; 2 a bad command line (our inputs); 1 an error
  if (code === 2) throw new ActionError('the cache inputs were refused: the log above says which');
  if (code === 0 || code === 4) {
    saveState('hit', code === 0 ? 'true' : 'false');
    setOutput('cache-hit', code === 0 ? 'true' : 'false');
    setOutput('cache-matched-key', matched);
    info(code === 0 ? `cache restored from key ${matched}` : `cache restored from restore key ${matched}`);
    return;
  }
  setOutput('cache-hit', 'false');
  setOutput('cache-matched-key', '');
  saveState('hit', 'false');
  if (code === 3) {
    if (booleanInput('fail-on-cache-miss'))
      throw new ActionError(`no cache entry for ${key}${restoreKeys.length ? ' or its restore keys' : ''}, and fail-on-cache-miss is set`);
    info(`cache not found for ${key}${restoreKeys.length ? ` or ${restoreKeys.join(', ')}` : ''}`);
    return;
  }
  if (booleanInput('fail-on-cache-miss')) throw new ActionError(`the cache could not be restored (exit status ${code}), and fail-on-cache-miss is set`);
  warning(`the cache could not be restored (exit status ${code}): the job goes on without it; the log above says why`);
});
