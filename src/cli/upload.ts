/**
 * `artifact-gateway upload`: sends files and directory trees to a build through the artifacts
 * API, a few at a time, each streamed from disk. Exit 0 when every file is there (uploaded, or
 * already there with identical bytes), 1 when any is not, 2 for a bad command line.
 */
import { parseArgs } from 'node:util';
import { encodePath } from '../artifacts/paths';
import { BUILD_ID, PROJECT_ID } from '../ids';
import { gatewayOptions, id, parseOrUsage, runCommand, UsageError, wholeNumber } from './args';
import { createUploader, UploadFailure, type UploadedItem } from './upload-client';
import { collectFiles, type LocalFile } from './upload-files';
import { formatBytes, formatDuration, Progress } from './upload-progress';

export const UPLOAD_HELP = `Usage: artifact-gateway upload --project P --build N [options] PATH...

Uploads files and directory trees to a build. A directory's files keep their path relative to it;
a file keeps its base name; both go under --prefix when given. Symbolic links inside directories
are skipped with a warning (a link named as a PATH is followed). Files already in the build with
identical bytes count as done ("unchanged"); different bytes under the same path are refused
(artifacts are write-once). Network errors, 429 and 5xx are retried with backoff; other errors are
not.

Options:
  --url URL            gateway API URL (default: $ARTIFACT_GATEWAY_URL, else $PUBLIC_URL,
                       else http://localhost:8080)
  --token TOKEN        job token with artifacts:write (default: $ARTIFACT_GATEWAY_TOKEN; prefer
                       the variable: a command line is visible to other users of the machine)
  --project P          project id (required)
  --build N            build id (required)
  --prefix DIR         directory inside the build to upload under
  --include-hidden     also upload hidden files and directories inside trees (names starting
                       with '.'; left out by default: .git/config, .env and .npmrc hold secrets)
  --concurrency N      files in flight at once, 1 to 64 (default: 4)
  --retries N          retries per file after the first attempt, 0 to 10 (default: 3)
  --verbose            print every file's browse URL
  -h, --help           this help

Progress and the summary go to stderr; stdout gets only URLs (every file's with --verbose, then
the build's), so \`URL=$(artifact-gateway upload …)\` captures the build's URL.
Exit status: 0 every file is in the build, 1 some are not, 2 bad command line.
`;


export async function upload(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand('upload', UPLOAD_HELP, args, async () => {
    const { values, positionals } = parseOrUsage(() =>
      parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: {
          url: { type: 'string' },
          token: { type: 'string' },
          project: { type: 'string' },
          build: { type: 'string' },
          prefix: { type: 'string' },
          concurrency: { type: 'string' },
          retries: { type: 'string' },
          verbose: { type: 'boolean' },
          'include-hidden': { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    );
    const project = id(values.project, 'project', PROJECT_ID);
    const build = id(values.build, 'build', BUILD_ID);
    const concurrency = wholeNumber(values.concurrency, 'concurrency', 4, 1, 64);
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const prefix = checkPrefix(values.prefix ?? '');
    const { baseUrl, token, redact } = gatewayOptions(values, env);
    if (positionals.length === 0) throw new UsageError('name at least one file or directory to upload');

    const { files, skipped } = await collectFiles(positionals, prefix, { includeHidden: values['include-hidden'] });
    const progress = new Progress(process.stderr, { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) }, redact);
    for (const s of skipped) progress.message(`warning: skipped ${s}`);
    if (files.length === 0) {
      progress.message('nothing to upload');
      return 0;
    }

    const uploader = createUploader({
      baseUrl,
      token,
      project,
      build,
      concurrency,
      retries,
      onBytes: (delta) => progress.bytes(delta),
      onRetry: (file, reason, delayMs) => progress.message(`retrying ${file.path} in ${formatDuration(delayMs)}: ${reason}`),
    });
    const counts = { created: 0, unchanged: 0, failed: 0, notAttempted: 0 };
    const items: UploadedItem[] = [];
    let stop = false; // a refused token fails every file alike: do not send the rest
    let next = 0;

    const worker = async () => {
      while (next < files.length) {
        const file: LocalFile = files[next++]!;
        if (stop) {
          counts.notAttempted++;
          continue;
        }
        try {
          const { kind, item } = await uploader.put(file);
          counts[kind]++;
          items.push(item);
          progress.fileDone(`${kind === 'created' ? 'uploaded ' : 'unchanged'} ${file.path} (${formatBytes(item.size)})`);
        } catch (err) {
          if (!(err instanceof UploadFailure)) throw err;
          counts.failed++;
          if (err.fatal) stop = true;
          progress.fileDone(`FAILED    ${file.path}: ${err.message}`, true);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
    } finally {
      uploader.close();
    }

    const { ms, bytes } = progress.finish();
    const parts = [`${counts.created} uploaded`, `${counts.unchanged} unchanged`, `${counts.failed} failed`];
    if (counts.notAttempted > 0) parts.push(`${counts.notAttempted} not attempted`);
    if (skipped.length > 0) parts.push(`${skipped.length} skipped`);
    const rate = `${formatBytes(Math.round(bytes / Math.max(ms / 1000, 0.001)))}/s`;
    process.stderr.write(
      redact(`${project} build ${build}: ${files.length} files: ${parts.join(', ')}; sent ${formatBytes(bytes)} in ${formatDuration(ms)} (${rate})\n`),
    );
    if (values.verbose) for (const item of items) process.stdout.write(`${item.url}\n`);
    const root = buildRoot(items[0]);
    if (root !== undefined) process.stdout.write(`${root}\n`);
    return counts.failed + counts.notAttempted === 0 ? 0 : 1;
  });
}

/** The build's URL: a file's browse URL without the file's path. */
function buildRoot(item: UploadedItem | undefined): string | undefined {
  if (!item) return undefined;
  const encoded = encodePath(item.path);
  return item.url.endsWith(`/${encoded}`) ? item.url.slice(0, -encoded.length) : undefined;
}

function checkPrefix(raw: string): string {
  const prefix = raw.replace(/\/+$/, '');
  if (prefix === '') return '';
  if (prefix.startsWith('/') || prefix.includes('\\') || prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`the option '--prefix' expects a relative directory such as reports/coverage, got ${JSON.stringify(raw)}`);
  }
  return prefix;
}
