/**
 * `artifact-gateway download`: a build, or one directory of it, into a local directory, through
 * the client (src/client/download.ts): files in parallel, each verified against its sha256, files
 * already identical on disk skipped, so a re-run resumes. Exit 0 when every file is on disk and
 * verified, 1 when any is not (or the build cannot be listed, or holds nothing there), 2 for a bad
 * command line.
 */
import { BUILD_ID, PROJECT_ID } from '../ids';
import { formatBytes, formatDuration, plural, Progress, retryLine } from '../client';
import { downloadBuild, DownloadFailure } from '../client/download';
import { gatewayOptions, id, wholeNumber } from './args';
import { defineCommand, OPTIONS, UsageError } from './command';

export const download = defineCommand(
  {
    name: 'download',
    usage: '--project P --build N [--prefix DIR] [options] [DEST]',
    about: `Downloads a build's files into DEST (default: the current directory), or with --prefix only
the files below that directory of the build, placed relative to it. Each file is verified against
the sha256 the gateway stored; a file already in DEST with that sha256 is skipped, so running the
command again after an interruption resumes it, and a file changed on disk is downloaded again.
Nothing is written outside DEST: a symbolic link inside DEST on the way to a file refuses that file.`,
    options: {
      url: OPTIONS.url,
      token: OPTIONS.token('artifacts:read'),
      project: OPTIONS.project,
      build: { type: 'string', value: 'N', help: 'build id (required)' },
      prefix: { type: 'string', value: 'DIR', help: 'only the files below this directory of the build' },
      concurrency: { type: 'string', value: 'N', help: 'files in flight at once, 1 to 64 (default: 4)' },
      retries: OPTIONS.retries('file'),
      help: OPTIONS.help,
    },
    positionals: true,
    after: `Progress and the summary go to stderr.
Exit status: 0 every file is in DEST and verified, 1 some file is not (or the build cannot be
listed, or holds no file there), 2 bad command line.`,
  },
  async ({ values, positionals }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const build = id(values.build, 'build', BUILD_ID);
    const concurrency = wholeNumber(values.concurrency, 'concurrency', 4, 1, 64);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const prefix = (values.prefix ?? '').replace(/\/+$/, '');
    if (prefix.startsWith('/') || prefix.split('/').some((s) => s === '.' || s === '..' || (s === '' && prefix !== ''))) {
      throw new UsageError(`the option '--prefix' expects a directory of the build such as reports/coverage, got ${JSON.stringify(values.prefix)}`);
    }
    if (positionals.length > 1) throw new UsageError('name at most one destination directory');
    const dest = positionals[0] ?? '.';
    const { baseUrl, token, redact } = await gatewayOptions(values, env);

    let progress: Progress | undefined;
    let summary;
    try {
      summary = await downloadBuild({
        baseUrl,
        token,
        project,
        build,
        prefix,
        dest,
        concurrency,
        retries,
        onListed: (files) => (progress = new Progress(process.stderr, { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) }, redact)),
        onBytes: (delta) => progress?.bytes(delta),
        onRetry: (what, reason, delayMs) => progress?.message(retryLine(what, reason, delayMs)),
        onFileDone: (file, outcome) => {
          if (outcome instanceof Error) progress?.fileDone(`FAILED     ${file.path}: ${outcome.message}`, true);
          else progress?.fileDone(`${outcome === 'downloaded' ? 'downloaded' : 'unchanged '} ${file.path} (${formatBytes(file.size)})`);
        },
      });
    } catch (err) {
      if (!(err instanceof DownloadFailure)) throw err;
      process.stderr.write(redact(`${project} build ${build}: ${err.message}\n`));
      return 1;
    }
    const where = prefix === '' ? '' : ` under ${prefix}/`;
    const { ms } = progress ? progress.finish() : { ms: 0 };
    const total = summary.downloaded + summary.unchanged + summary.failed;
    if (total === 0) {
      process.stderr.write(redact(`${project} build ${build}: no files${where}\n`));
      return 1;
    }
    const rate = `${formatBytes(Math.round(summary.bytes / Math.max(ms / 1000, 0.001)))}/s`;
    const parts = [`${summary.downloaded} downloaded`, `${summary.unchanged} unchanged`, `${summary.failed} failed`];
    process.stderr.write(
      redact(
        `${project} build ${build}${where}: ${plural(total, 'file')}: ${parts.join(', ')}; got ${formatBytes(summary.bytes)} in ${formatDuration(ms)} (${rate})\n`,
      ),
    );
    return summary.failed === 0 ? 0 : 1;
  },
);
