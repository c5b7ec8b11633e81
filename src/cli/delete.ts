/**
 * `artifact-gateway delete`: deletes a build, or with --path a file or directory of it, through
 * the client (src/client/builds.ts). Needs a token with artifacts:delete. Exit 0 when deleted, 1
 * when the gateway refused (nothing there, no scope) or could not be reached, 2 for a bad command line.
 */
import { BUILD_ID, PROJECT_ID } from '../ids';
import { BuildFailure, deleteArtifacts, formatBytes, plural, retryLine } from '../client';
import { gatewayOptions, id, wholeNumber } from './args';
import { defineCommand, OPTIONS, UsageError } from './command';

export const deleteCommand = defineCommand(
  {
    name: 'delete',
    usage: '--project P --build N [--path PATH] [options]',
    about: `Deletes a build, or with --path one file of it or a directory (a PATH ending in '/', or a path
where no file is but files are below). What is deleted disappears at once from downloads, listings,
the project's home page and latest links, and its bytes are freed. Artifacts are write-once: a
deleted path is never uploaded again into that build, and a deleted build takes no more uploads.`,
    options: {
      url: OPTIONS.url,
      token: OPTIONS.token('artifacts:delete'),
      project: OPTIONS.project,
      build: { type: 'string', value: 'N', help: 'build id (required)' },
      path: { type: 'string', value: 'PATH', help: "a file or directory of the build (default: the whole build); 'dir/' is always a directory" },
      retries: OPTIONS.retries('request'),
      help: OPTIONS.help,
    },
    after: `Prints what was deleted to stderr.
Exit status: 0 deleted, 1 refused or failed (404: nothing there), 2 bad command line.`,
  },
  async ({ values }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const build = id(values.build, 'build', BUILD_ID);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const path = values.path;
    if (path !== undefined) {
      const segments = (path.endsWith('/') ? path.slice(0, -1) : path).split('/');
      if (path.startsWith('/') || path.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..')) {
        throw new UsageError(`the option '--path' expects a file or directory of the build such as reports/coverage/, got ${JSON.stringify(path)}`);
      }
    }
    const { baseUrl, token, redact } = await gatewayOptions(values, env);
    try {
      const deleted = await deleteArtifacts(
        { baseUrl, token, project, build, retries, onRetry: (what, reason, ms) => process.stderr.write(redact(`${retryLine(what, reason, ms)}\n`)) },
        path,
      );
      const what = deleted.path === null ? `build ${build}` : `${deleted.path} of build ${build}`;
      process.stderr.write(redact(`${project}: deleted ${what}: ${plural(deleted.files, 'file')}, ${formatBytes(deleted.bytes)} freed\n`));
      return 0;
    } catch (err) {
      if (!(err instanceof BuildFailure)) throw err;
      process.stderr.write(redact(`${project} build ${build}: FAILED to delete ${path ?? 'the build'}: ${err.message}\n`));
      return 1;
    }
  },
);
