/**
 * The artifacts API as a program uses it: files streamed from disk to a build, each PUT with its
 * declared length, a few at a time, through the one HTTP layer (http.ts: retries, timeouts).
 * A file is done when the gateway holds it with the sha256 of what was sent: uploaded (201), or
 * already there with identical bytes (200). Any other answer fails that file; a refused token
 * (401, 403) fails them all, so the rest are not sent.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { encodePath } from '../artifacts/paths';
import { createHttp, describeStatus, HttpFailure, type HttpResponse } from './http';
import type { LocalFile } from './local-files';

export interface UploadedItem {
  path: string;
  size: number;
  sha256: string;
  /** Browse URL on the artifact origin. */
  url: string;
}

export type PutOutcome = { kind: 'created' | 'unchanged'; item: UploadedItem };

/** A failed upload; `fatal` when no other file can succeed either (the token is refused). */
export class UploadFailure extends Error {
  constructor(
    message: string,
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'UploadFailure';
  }
}

export interface ArtifactsClientOptions {
  baseUrl: URL;
  token: string;
  project: string;
  build: string;
  /** Files in flight at once (default 4). */
  concurrency?: number;
  /** Retries per file after the first attempt (default 3). */
  retries?: number;
  /** Bytes handed to the socket (negative when an attempt is rolled back for a retry). */
  onBytes?(delta: number): void;
  /** A file's upload is retried: its path in the build, why, and in how long. */
  onRetry?(path: string, reason: string, delayMs: number): void;
  /** When the files expire, in GitLab's syntax (`3 days`, `never`); the gateway's retention when absent. */
  expireIn?: string;
}

/** The query an upload carries for `expireIn` ('' without one). */
export function expiryQuery(expireIn: string | undefined, first: '?' | '&'): string {
  return expireIn === undefined ? '' : `${first}expire_in=${encodeURIComponent(expireIn)}`;
}

export interface ArtifactsClient {
  /** Uploads one file; throws UploadFailure when the gateway does not hold it afterwards. */
  put(file: LocalFile): Promise<PutOutcome>;
  close(): void;
}

export function createArtifactsClient(options: ArtifactsClientOptions): ArtifactsClient {
  const http = createHttp({
    baseUrl: options.baseUrl,
    token: options.token,
    retries: options.retries ?? 3,
    maxSockets: options.concurrency ?? 4,
    onRetry: options.onRetry,
  });
  const base = options.baseUrl.href.replace(/\/+$/, '');
  const buildUrl = `${base}/api/v1/projects/${encodeURIComponent(options.project)}/builds/${encodeURIComponent(options.build)}/artifacts/`;

  return {
    async put(file) {
      let response: HttpResponse;
      try {
        response = await http.send(file.path, {
          method: 'PUT',
          url: new URL(`${buildUrl}${encodePath(file.path)}${expiryQuery(options.expireIn, '?')}`),
          auth: true,
          body: { name: file.source, open: () => openFile(file.source) },
          sha256: true,
          onSent: options.onBytes,
        });
      } catch (err) {
        if (err instanceof HttpFailure) throw new UploadFailure(err.message);
        throw err;
      }
      return interpret(response);
    },
    close: () => http.close(),
  };
}

export interface UploadOptions extends ArtifactsClientOptions {
  /** A file is done: uploaded, unchanged, or failed. */
  onFileDone?(file: LocalFile, result: PutOutcome | UploadFailure): void;
}

export interface UploadSummary {
  created: number;
  unchanged: number;
  failed: number;
  /** Not sent because the token was refused for an earlier one. */
  notAttempted: number;
  /** What the build now holds of `files`, in the order they finished. */
  items: UploadedItem[];
}

/**
 * Uploads `files` with `concurrency` in flight. Never throws for a file that fails (it is counted,
 * and told to onFileDone); once the token is refused, the files not yet started are not sent.
 */
export async function uploadFiles(files: readonly LocalFile[], options: UploadOptions): Promise<UploadSummary> {
  const concurrency = options.concurrency ?? 4;
  const client = createArtifactsClient(options);
  const summary: UploadSummary = { created: 0, unchanged: 0, failed: 0, notAttempted: 0, items: [] };
  let stop = false; // a refused token fails every file alike: do not send the rest
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      if (stop) {
        summary.notAttempted++;
        continue;
      }
      try {
        const outcome = await client.put(file);
        summary[outcome.kind]++;
        summary.items.push(outcome.item);
        options.onFileDone?.(file, outcome);
      } catch (err) {
        if (!(err instanceof UploadFailure)) throw err;
        summary.failed++;
        if (err.fatal) stop = true;
        options.onFileDone?.(file, err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  } finally {
    client.close();
  }
  return summary;
}

/** The build's URL: a file's browse URL without the file's path. */
export function buildRootUrl(item: UploadedItem | undefined): string | undefined {
  if (!item) return undefined;
  const encoded = encodePath(item.path);
  return item.url.endsWith(`/${encoded}`) ? item.url.slice(0, -encoded.length) : undefined;
}

async function openFile(source: string) {
  let handle;
  try {
    // O_NOFOLLOW: a file swapped for a link since it was listed is not followed either
    handle = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new Error(`cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  // the length declared is the file's when opened: a file that changes after that fails the upload
  const { size } = await handle.stat().catch(async (err: Error) => {
    await handle.close();
    throw err;
  });
  if (size === 0) {
    await handle.close();
    return { length: 0 };
  }
  return { length: size, stream: handle.createReadStream({ start: 0, end: size - 1 }) };
}

function interpret(r: HttpResponse): PutOutcome {
  const json = r.json;
  if ((r.status === 200 || r.status === 201) && isItem(json)) {
    // the server hashed what it stored: a difference means the bytes were damaged on the way
    if (json.sha256 !== r.sentSha256) {
      throw new UploadFailure(`the gateway stored sha256 ${json.sha256}, but what was sent has ${r.sentSha256 ?? 'not been sent in full'}`);
    }
    return { kind: r.status === 201 ? 'created' : 'unchanged', item: json };
  }
  throw new UploadFailure(describeStatus(r.status, json, r.statusMessage), r.status === 401 || r.status === 403);
}

function isItem(v: unknown): v is UploadedItem {
  const o = v as Partial<UploadedItem> | undefined;
  return typeof o === 'object' && o !== null && typeof o.path === 'string' && typeof o.url === 'string' && typeof o.sha256 === 'string';
}
