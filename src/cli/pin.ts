/**
 * `artifact-gateway pin` and `unpin`: keep a build from retention (ARTIFACT_RETENTION_DAYS and
 * expire_in alike), or let retention have it again, through the client (src/client/builds.ts).
 * Exit 0 done, 1 refused or failed, 2 bad command line.
 */
import { BUILD_ID, PROJECT_ID } from '../ids';
import { BuildFailure, retryLine, setPinned } from '../client';
import { gatewayOptions, id, wholeNumber } from './args';
import { defineCommand, OPTIONS, type Command } from './command';

function pinCommand(pinned: boolean): Command {
  return defineCommand(
    {
      name: pinned ? 'pin' : 'unpin',
      usage: '--project P --build N [options]',
      about: pinned
        ? `Pins a build: retention keeps every file of it, whatever its age or its upload's expire_in,
until it is unpinned. A job may pin its own build with artifacts:write; any other build needs
artifacts:delete.`
        : `Unpins a build: retention (ARTIFACT_RETENTION_DAYS, expire_in) applies to it again on gc's next
pass. Needs artifacts:delete.`,
      options: {
        url: OPTIONS.url,
        token: OPTIONS.token(pinned ? 'artifacts:write for its own build, or artifacts:delete' : 'artifacts:delete'),
        project: OPTIONS.project,
        build: { type: 'string', value: 'N', help: 'build id (required)' },
        retries: OPTIONS.retries('request'),
        help: OPTIONS.help,
      },
      after: `Exit status: 0 done (also when it already was), 1 refused or failed, 2 bad command line.`,
    },
    async ({ values }, env) => {
      const project = id(values.project, 'project', PROJECT_ID);
      const build = id(values.build, 'build', BUILD_ID);
      const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
      const { baseUrl, token, redact } = await gatewayOptions(values, env);
      try {
        await setPinned(
          { baseUrl, token, project, build, retries, onRetry: (what, reason, ms) => process.stderr.write(redact(`${retryLine(what, reason, ms)}\n`)) },
          pinned,
        );
        process.stderr.write(redact(`${project} build ${build}: ${pinned ? 'pinned (retention keeps it)' : 'unpinned (retention applies again)'}\n`));
        return 0;
      } catch (err) {
        if (!(err instanceof BuildFailure)) throw err;
        process.stderr.write(redact(`${project} build ${build}: FAILED to ${pinned ? 'pin' : 'unpin'}: ${err.message}\n`));
        return 1;
      }
    },
  );
}

export const pin = pinCommand(true);
export const unpin = pinCommand(false);
