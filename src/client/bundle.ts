/**
 * Uploading many files as one bundle: an uncompressed tar, streamed from disk straight into one
 * POST (…/artifacts?bundle=tar), never written to a temp file nor held in memory. Its length is
 * known before the first byte (tar headers are computed, file sizes are listed), so the request
 * declares Content-Length as the gateway requires; a file that changes size while it is read fails
 * the upload (the gateway then stores nothing: bundles are all or nothing), and it is retried like
 * any request. The gateway answers with the sha256 of the archive it received, compared with what
 * was sent.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Header, Pax } from 'tar';
import { createHttp, describeStatus, HttpFailure } from './http';
import type { ArtifactsClientOptions } from './artifacts';
import { expiryQuery, UploadFailure } from './artifacts';
import type { LocalFile } from './local-files';

const BLOCK = 512;
const END = Buffer.alloc(2 * BLOCK);

export interface BundleResult {
  files: number;
  created: number;
  unchanged: number;
  bytes: number;
  /** The build's browse URL. */
  url: string;
}

/** The tar header (with a pax header before it when the path is too long for ustar) of one file. */
function headerOf(file: LocalFile): Buffer {
  const fields = { path: file.path, type: 'File' as const, size: file.size, mode: 0o644, mtime: new Date(0) };
  const header = new Header(fields);
  const block = Buffer.alloc(BLOCK);
  header.encode(block);
  return header.needPax ? Buffer.concat([new Pax(fields).encode(), block]) : block;
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/** The archive's length: computed from the headers and the listed sizes, before anything is read. */
export function bundleLength(files: readonly LocalFile[]): number {
  return files.reduce((n, f) => n + headerOf(f).length + f.size + padding(f.size), END.length);
}

async function* archive(files: readonly LocalFile[]): AsyncGenerator<Buffer> {
  for (const f of files) {
    yield headerOf(f);
    // O_NOFOLLOW: a file swapped for a link since it was listed is not followed
    const handle = await open(f.source, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot read ${f.source}: ${err.code ?? String(err)}`, { cause: err });
    });
    try {
      let read = 0;
      if (f.size > 0) {
        for await (const chunk of handle.createReadStream({ start: 0, end: f.size - 1, autoClose: false })) {
          read += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      }
      if (read !== f.size) throw new Error(`${f.source} changed while it was being uploaded (${read} of ${f.size} bytes)`);
    } finally {
      await handle.close();
    }
    const pad = padding(f.size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield END;
}

/** Sends `files` as one bundle; throws UploadFailure when the gateway does not hold them all afterwards. */
export async function uploadBundle(files: readonly LocalFile[], options: ArtifactsClientOptions): Promise<BundleResult> {
  const http = createHttp({ baseUrl: options.baseUrl, token: options.token, retries: options.retries ?? 3, maxSockets: 1, onRetry: options.onRetry });
  const base = options.baseUrl.href.replace(/\/+$/, '');
  const url = new URL(
    `${base}/api/v1/projects/${encodeURIComponent(options.project)}/builds/${encodeURIComponent(options.build)}/artifacts?bundle=tar${expiryQuery(options.expireIn, '&')}`,
  );
  const length = bundleLength(files);
  try {
    const r = await http.send(`bundle of ${files.length} files`, {
      method: 'POST',
      url,
      auth: true,
      body: {
        name: `the bundle of ${files.length} files`,
        contentType: 'application/x-tar',
        open: () => Promise.resolve({ length, stream: Readable.from(archive(files)) }),
      },
      sha256: true,
      onSent: options.onBytes,
    });
    const json = r.json as Partial<BundleResult & { sha256: string }> | undefined;
    if (r.status === 201 && json && typeof json.url === 'string' && typeof json.files === 'number') {
      if (json.sha256 !== r.sentSha256) {
        throw new UploadFailure(`the gateway received an archive with sha256 ${json.sha256}, but what was sent has ${r.sentSha256 ?? 'not been sent in full'}`);
      }
      return { files: json.files, created: json.created ?? 0, unchanged: json.unchanged ?? 0, bytes: json.bytes ?? 0, url: json.url };
    }
    throw new UploadFailure(describeStatus(r.status, r.json, r.statusMessage), r.status === 401 || r.status === 403);
  } catch (err) {
    if (err instanceof HttpFailure) throw new UploadFailure(err.message);
    throw err;
  } finally {
    http.close();
  }
}
