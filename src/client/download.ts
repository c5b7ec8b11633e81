/**
 * Downloading a build (or one directory of it) into a local directory: the list API gives every
 * file's path, size and sha256; each file is fetched through the gateway's 302 to a presigned URL
 * (the token never goes to storage), a few at a time, into a temp file beside its place, verified
 * against its sha256, then renamed into place. A file already on disk with the same sha256 is
 * skipped, so a run cut off halfway resumes where it stopped, and a damaged file is fetched again.
 *
 * Writes stay inside the destination: paths are checked segment by segment (no '..', no absolute
 * paths), and every directory on the way is created or checked with lstat, so a symbolic link
 * planted in the destination is never followed (the file is refused instead). A file's own name
 * being a link is replaced by the rename, never written through.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePath } from '../artifacts/paths';
import { createHttp, describeStatus, HttpFailure, type Http } from './http';

export interface RemoteFile {
  path: string;
  size: number;
  sha256: string;
}

export interface DownloadOptions {
  baseUrl: URL;
  token: string;
  project: string;
  build: string;
  /** Only files below this directory of the build, placed relative to it. */
  prefix?: string;
  dest: string;
  concurrency?: number;
  retries?: number;
  onBytes?(delta: number): void;
  onRetry?(what: string, reason: string, delayMs: number): void;
  /** The list is known: how many files, how many bytes. */
  onListed?(files: readonly RemoteFile[]): void;
  onFileDone?(file: RemoteFile, outcome: 'downloaded' | 'unchanged' | Error): void;
}

export interface DownloadSummary {
  downloaded: number;
  unchanged: number;
  failed: number;
  bytes: number;
}

/** The build cannot be listed (refused token, unknown gateway): nothing was downloaded. */
export class DownloadFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadFailure';
  }
}

export async function downloadBuild(options: DownloadOptions): Promise<DownloadSummary> {
  const concurrency = options.concurrency ?? 4;
  const http = createHttp({ baseUrl: options.baseUrl, token: options.token, retries: options.retries ?? 3, maxSockets: concurrency, onRetry: options.onRetry });
  const base = `${options.baseUrl.href.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(options.project)}/builds/${encodeURIComponent(options.build)}/artifacts`;
  const summary: DownloadSummary = { downloaded: 0, unchanged: 0, failed: 0, bytes: 0 };
  try {
    const prefix = options.prefix ? `${options.prefix.replace(/\/+$/, '')}/` : '';
    const files = (await listAll(http, base)).filter((f) => f.path.startsWith(prefix));
    options.onListed?.(files);
    // DEST itself is the user's choice: created with its parents, and followed if it is a link
    if (files.length > 0) await mkdir(options.dest, { recursive: true });
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const f = files[next++];
        try {
          const outcome = await fetchOne(http, base, f, f.path.slice(prefix.length), options);
          summary[outcome]++;
          if (outcome === 'downloaded') summary.bytes += f.size;
          options.onFileDone?.(f, outcome);
        } catch (err) {
          summary.failed++;
          options.onFileDone?.(f, err instanceof Error ? err : new Error(String(err)));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  } finally {
    http.close();
  }
  return summary;
}

async function listAll(http: Http, base: string): Promise<RemoteFile[]> {
  const out: RemoteFile[] = [];
  let pageToken: string | null = null;
  do {
    const url = new URL(`${base}?pageSize=1000${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`);
    let r;
    try {
      r = await http.send('listing the build', { method: 'GET', url, auth: true });
    } catch (err) {
      if (err instanceof HttpFailure) throw new DownloadFailure(`listing the build: ${err.message}`);
      throw err;
    }
    const page = r.json as { items?: RemoteFile[]; nextPageToken?: string | null } | undefined;
    if (r.status !== 200 || !Array.isArray(page?.items)) throw new DownloadFailure(`listing the build: ${describeStatus(r.status, r.json, r.statusMessage)}`);
    out.push(...page.items.map(({ path, size, sha256 }) => ({ path, size, sha256 })));
    pageToken = page.nextPageToken ?? null;
  } while (pageToken);
  return out;
}

async function fetchOne(http: Http, base: string, f: RemoteFile, rel: string, o: DownloadOptions): Promise<'downloaded' | 'unchanged'> {
  const segments = rel.split('/');
  if (rel === '' || segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) {
    throw new Error(`refused to write ${JSON.stringify(f.path)}: not a plain relative path`);
  }
  // every directory on the way: created, or a real directory (never a link followed out of dest)
  let dir = o.dest;
  for (const s of segments.slice(0, -1)) {
    dir = join(dir, s);
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new Error(`refused to write ${rel}: ${dir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`);
  }
  const target = join(dir, segments[segments.length - 1]);
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isFile() && existing.size === f.size && (await sha256File(target)) === f.sha256) return 'unchanged';
  if (existing?.isDirectory()) throw new Error(`refused to write ${rel}: a directory of that name is in the way`);

  const partial = `${target}.agw-partial`;
  await rm(partial, { force: true });
  try {
    const r = await http.send(f.path, { method: 'GET', url: new URL(`${base}/${encodePath(f.path)}`), auth: true });
    const location = r.headers.location;
    if (r.status !== 302 || typeof location !== 'string') throw new Error(describeStatus(r.status, r.json, r.statusMessage));
    const blob = new URL(location, `${o.baseUrl.origin}/`);
    if (blob.protocol !== 'http:' && blob.protocol !== 'https:') throw new Error(`the gateway redirected to a URL of scheme ${blob.protocol}`);
    const got = await http.send(f.path, { method: 'GET', url: blob, auth: false, saveTo: { path: partial, length: f.size, onBytes: o.onBytes } });
    if (got.status !== 200) throw new Error(describeStatus(got.status, got.json, got.statusMessage));
    const sha = await sha256File(partial);
    if (sha !== f.sha256) throw new Error(`the bytes received have sha256 ${sha}, the build says ${f.sha256}`);
    await rename(partial, target);
    return 'downloaded';
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof HttpFailure) throw new Error(err.message, { cause: err });
    throw err;
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
