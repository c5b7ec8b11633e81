/**
 * `artifact-gateway upload`: sends files and directory trees to a build through the client
 * (src/client: uploadFiles). Exit 0 when every file is there (uploaded, or already there with
 * identical bytes), 1 when any is not, 2 for a bad command line.
 */
import { BUILD_ID, PROJECT_ID } from '../ids';
import { buildRootUrl, collectFiles, formatBytes, formatDuration, plural, Progress, retryLine, UploadFailure, uploadFiles } from '../client';
import { gatewayOptions, id, wholeNumber } from './args';
import { defineCommand, OPTIONS, UsageError } from './command';

export const upload = defineCommand(
  {
    name: 'upload',
    usage: '--project P --build N [options] PATH...',
    about: `Uploads files and directory trees to a build. A directory's files keep their path relative to it;
a file keeps its base name; both go under --prefix when given. Symbolic links inside directories
are skipped with a warning (a link named as a PATH is followed). Files already in the build with
identical bytes count as done ("unchanged"); different bytes under the same path are refused
(artifacts are write-once). Network errors, 429 and 5xx are retried with backoff; other errors are
not.`,
    options: {
      url: OPTIONS.url,
      token: OPTIONS.token('artifacts:write'),
      project: OPTIONS.project,
      build: { type: 'string', value: 'N', help: 'build id (required)' },
      prefix: { type: 'string', value: 'DIR', help: 'directory inside the build to upload under' },
      'include-hidden': {
        type: 'boolean',
        help: "also upload hidden files and directories inside trees (names starting with '.'; left out by default: .git/config, .env and .npmrc hold secrets)",
      },
      concurrency: { type: 'string', value: 'N', help: 'files in flight at once, 1 to 64 (default: 4)' },
      retries: OPTIONS.retries('file'),
      verbose: { type: 'boolean', help: "print every file's browse URL" },
      help: OPTIONS.help,
    },
    positionals: true,
    after: `Progress and the summary go to stderr; stdout gets only URLs (every file's with --verbose, then
the build's), so \`URL=$(artifact-gateway upload …)\` captures the build's URL.
Exit status: 0 every file is in the build, 1 some are not, 2 bad command line.`,
  },
  async ({ values, positionals }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const build = id(values.build, 'build', BUILD_ID);
    const concurrency = wholeNumber(values.concurrency, 'concurrency', 4, 1, 64);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const prefix = checkPrefix(values.prefix ?? '');
    const { baseUrl, token, redact } = await gatewayOptions(values, env);
    if (positionals.length === 0) throw new UsageError('name at least one file or directory to upload');

    const { files, skipped } = await collectFiles(positionals, prefix, { includeHidden: values['include-hidden'] });
    const progress = new Progress(process.stderr, { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) }, redact);
    for (const s of skipped) progress.message(`warning: skipped ${s}`);
    if (files.length === 0) {
      progress.message('nothing to upload');
      return 0;
    }

    const summary = await uploadFiles(files, {
      baseUrl,
      token,
      project,
      build,
      concurrency,
      retries,
      onBytes: (delta) => progress.bytes(delta),
      onRetry: (path, reason, delayMs) => progress.message(retryLine(path, reason, delayMs)),
      onFileDone: (file, result) => {
        if (result instanceof UploadFailure) progress.fileDone(`FAILED    ${file.path}: ${result.message}`, true);
        else progress.fileDone(`${result.kind === 'created' ? 'uploaded ' : 'unchanged'} ${file.path} (${formatBytes(result.item.size)})`);
      },
    });

    const { ms, bytes } = progress.finish();
    const parts = [`${summary.created} uploaded`, `${summary.unchanged} unchanged`, `${summary.failed} failed`];
    if (summary.notAttempted > 0) parts.push(`${summary.notAttempted} not attempted`);
    if (skipped.length > 0) parts.push(`${skipped.length} skipped`);
    const rate = `${formatBytes(Math.round(bytes / Math.max(ms / 1000, 0.001)))}/s`;
    const sent = `sent ${formatBytes(bytes)} in ${formatDuration(ms)} (${rate})`;
    process.stderr.write(redact(`${project} build ${build}: ${plural(files.length, 'file')}: ${parts.join(', ')}; ${sent}\n`));
    if (values.verbose) for (const item of summary.items) process.stdout.write(`${item.url}\n`);
    const root = buildRootUrl(summary.items[0]);
    if (root !== undefined) process.stdout.write(`${root}\n`);
    return summary.failed + summary.notAttempted === 0 ? 0 : 1;
  },
);

function checkPrefix(raw: string): string {
  const prefix = raw.replace(/\/+$/, '');
  if (prefix === '') return '';
  if (prefix.startsWith('/') || prefix.includes('\\') || prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`the option '--prefix' expects a relative directory such as reports/coverage, got ${JSON.stringify(raw)}`);
  }
  return prefix;
}
