/**
 * `artifact-gateway upload`: sends files and directory trees to a build through the client: a
 * directory's files as one bundle (src/client/bundle.ts: one streamed tar, stored all or nothing),
 * or one request per file (uploadFiles) for loose files and with --no-bundle. Exit 0 when every
 * file is there (uploaded, or already there with identical bytes), 1 when any is not, 2 for a bad
 * command line.
 */
import { stat } from 'node:fs/promises';
import { parseExpireIn } from '../artifacts/expire-in';
import { encodePath } from '../artifacts/paths';
import { BUILD_ID, PROJECT_ID } from '../ids';
import {
  buildRootUrl,
  bundleLength,
  collectFiles,
  formatBytes,
  formatDuration,
  plural,
  Progress,
  retryLine,
  uploadBundle,
  UploadFailure,
  uploadFiles,
  type LocalFile,
} from '../client';
import { gatewayOptions, id, wholeNumber } from './args';
import { defineCommand, OPTIONS, UsageError } from './command';

export const upload = defineCommand(
  {
    name: 'upload',
    usage: '--project P --build N [options] PATH...',
    about: `Uploads files and directory trees to a build. A directory's files keep their path relative to it;
a file keeps its base name; both go under --prefix when given. Symbolic links inside directories
are skipped with a warning (a link named as a PATH is followed). When a PATH is a directory, all
the files go up as one bundle: one request, streamed, and none of them visible in the build until
all are stored (--no-bundle sends one request per file instead). Files already in the build with
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
      'no-bundle': { type: 'boolean', help: 'send one request per file, even for directories (default: a directory goes up as one bundle)' },
      'expire-in': {
        type: 'string',
        value: 'DURATION',
        help: "when the files expire, in GitLab's syntax: '30 mins', '3 days', '1 week', 'never' (default: the gateway's ARTIFACT_RETENTION_DAYS)",
      },
      concurrency: { type: 'string', value: 'N', help: 'files in flight at once without a bundle, 1 to 64 (default: 4)' },
      retries: OPTIONS.retries('file'),
      verbose: { type: 'boolean', help: "print every file's browse URL" },
      help: OPTIONS.help,
    },
    positionals: true,
    after: `Progress and the summary go to stderr; stdout gets only URLs (every file's with --verbose, then
the build's), so \`URL=$(artifact-gateway upload …)\` captures the build's URL.
A bundle is all or nothing: when it fails, none of its files is in the build.
Exit status: 0 every file is in the build, 1 some are not, 2 bad command line.`,
  },
  async ({ values, positionals }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const build = id(values.build, 'build', BUILD_ID);
    const concurrency = wholeNumber(values.concurrency, 'concurrency', 4, 1, 64);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const prefix = checkPrefix(values.prefix ?? '');
    const expireIn = checkExpireIn(values['expire-in']);
    const { baseUrl, token, redact } = await gatewayOptions(values, env);
    if (positionals.length === 0) throw new UsageError('name at least one file or directory to upload');

    const { files, skipped } = await collectFiles(positionals, prefix, { includeHidden: values['include-hidden'] });
    const hasDirectory = (await Promise.all(positionals.map((p) => stat(p).then((st) => st.isDirectory())))).some(Boolean);
    const asBundle = hasDirectory && !values['no-bundle'] && files.length > 1;
    // a bundle's progress counts the archive's bytes: what is sent
    const total = asBundle ? bundleLength(files) : files.reduce((n, f) => n + f.size, 0);
    const progress = new Progress(process.stderr, { files: files.length, bytes: total }, redact);
    for (const s of skipped) progress.message(`warning: skipped ${s}`);
    if (files.length === 0) {
      progress.message('nothing to upload');
      return 0;
    }

    if (asBundle) {
      return sendBundle(files, progress, {
        project,
        build,
        baseUrl,
        token,
        retries,
        expireIn,
        redact,
        verbose: values.verbose === true,
        skipped: skipped.length,
      });
    }

    const summary = await uploadFiles(files, {
      baseUrl,
      token,
      project,
      build,
      concurrency,
      retries,
      expireIn,
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

/** Sends `files` as one bundle and prints what became of it; the exit status. */
async function sendBundle(
  files: readonly LocalFile[],
  progress: Progress,
  o: {
    project: string;
    build: string;
    baseUrl: URL;
    token: string;
    retries: number;
    expireIn?: string;
    redact: (s: string) => string;
    verbose: boolean;
    skipped: number;
  },
): Promise<number> {
  const size = files.reduce((n, f) => n + f.size, 0);
  const what = `${plural(files.length, 'file')} (${formatBytes(size)})`;
  let outcome;
  try {
    outcome = await uploadBundle(files, {
      baseUrl: o.baseUrl,
      token: o.token,
      project: o.project,
      build: o.build,
      retries: o.retries,
      expireIn: o.expireIn,
      onBytes: (delta) => progress.bytes(delta),
      onRetry: (path, reason, delayMs) => progress.message(retryLine(path, reason, delayMs)),
    });
  } catch (err) {
    if (!(err instanceof UploadFailure)) throw err;
    progress.finish();
    process.stderr.write(o.redact(`${o.project} build ${o.build}: FAILED to upload ${what} in one bundle, and none of them is in the build: ${err.message}\n`));
    return 1;
  }
  const { ms, bytes } = progress.finish();
  const rate = `${formatBytes(Math.round(bytes / Math.max(ms / 1000, 0.001)))}/s`;
  const parts = [`${outcome.created} new`, `${outcome.unchanged} unchanged`];
  if (o.skipped > 0) parts.push(`${o.skipped} skipped`);
  process.stderr.write(
    o.redact(
      `${o.project} build ${o.build}: uploaded ${what} in one bundle (${parts.join(', ')}); sent ${formatBytes(bytes)} in ${formatDuration(ms)} (${rate})\n`,
    ),
  );
  if (o.verbose) for (const f of files) process.stdout.write(`${outcome.url}${encodePath(f.path)}\n`);
  process.stdout.write(`${outcome.url}\n`);
  return 0;
}

/** The gateway checks it too; checked here so a typo is a usage error before anything is sent. */
function checkExpireIn(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    parseExpireIn(raw);
  } catch (err) {
    throw new UsageError(`the option '--expire-in' ${(err as Error).message.replace(/^expire_in /, 'got ')}`);
  }
  return raw;
}

function checkPrefix(raw: string): string {
  const prefix = raw.replace(/\/+$/, '');
  if (prefix === '') return '';
  if (prefix.startsWith('/') || prefix.includes('\\') || prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`the option '--prefix' expects a relative directory such as reports/coverage, got ${JSON.stringify(raw)}`);
  }
  return prefix;
}
