/**
 * Deleting and pinning builds through the API, as a program or the `delete`, `pin` and `unpin`
 * commands do it, through the one HTTP layer (http.ts: retries on network errors, 429 and 5xx).
 * A retried DELETE whose first attempt did delete answers 404: the result then says so rather
 * than failing, since what was asked for is done.
 */
import { encodePath } from '../artifacts/paths';
import { createHttp, describeStatus, HttpFailure } from './http';

export interface BuildTarget {
  baseUrl: URL;
  /** A job token with `artifacts:delete` (or, to pin its own build, `artifacts:write`). */
  token: string;
  project: string;
  build: string;
  retries?: number;
  onRetry?(what: string, reason: string, delayMs: number): void;
}

export interface DeleteResult {
  /** The file, the directory (ending in '/'), or null for the whole build. */
  path: string | null;
  files: number;
  bytes: number;
}

/** The gateway refused, or could not be reached; `status` when it answered. */
export class BuildFailure extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'BuildFailure';
  }
}

function buildUrl(t: BuildTarget, rest = ''): URL {
  const base = t.baseUrl.href.replace(/\/+$/, '');
  return new URL(`${base}/api/v1/projects/${encodeURIComponent(t.project)}/builds/${encodeURIComponent(t.build)}${rest}`);
}

async function call(t: BuildTarget, method: 'PUT' | 'DELETE', url: URL, what: string) {
  const http = createHttp({ baseUrl: t.baseUrl, token: t.token, retries: t.retries ?? 3, onRetry: t.onRetry });
  try {
    return await http.send(what, { method, url, auth: true });
  } catch (err) {
    if (err instanceof HttpFailure) throw new BuildFailure(err.message);
    throw err;
  } finally {
    http.close();
  }
}

/**
 * Deletes the build, or with `path` a file or directory of it (a path ending in '/' is always a
 * directory). Throws BuildFailure for any answer but 200 (404: nothing there to delete).
 */
export async function deleteArtifacts(t: BuildTarget, path?: string): Promise<DeleteResult> {
  const rest = path === undefined ? '' : `/artifacts/${path.endsWith('/') ? `${encodePath(path.slice(0, -1))}/` : encodePath(path)}`;
  const r = await call(t, 'DELETE', buildUrl(t, rest), path ?? `build ${t.build}`);
  const json = r.json as Partial<DeleteResult> | undefined;
  if (r.status === 200 && json && typeof json.files === 'number' && typeof json.bytes === 'number') {
    return { path: json.path ?? null, files: json.files, bytes: json.bytes };
  }
  throw new BuildFailure(describeStatus(r.status, r.json, r.statusMessage), r.status);
}

/** Pins (true) or unpins the build; throws BuildFailure for any answer but 200. */
export async function setPinned(t: BuildTarget, pinned: boolean): Promise<void> {
  const r = await call(t, pinned ? 'PUT' : 'DELETE', buildUrl(t, '/pin'), `${pinned ? 'pin' : 'unpin'} build ${t.build}`);
  if (r.status !== 200) throw new BuildFailure(describeStatus(r.status, r.json, r.statusMessage), r.status);
}
