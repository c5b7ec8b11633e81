/**
 * What CI jobs and people do, as the campaign's clients: artifact uploads, inline HTML reads on
 * the artifact origin, API redirects, cache saves (streamed PUT), direct cache uploads (reserve,
 * parts straight to storage, commit) and restores. Every logical operation retries as a good
 * client does (503 with Retry-After, a reset, a cut body) until it succeeds or its deadline
 * passes, and every attempt is classified, so a case can say exactly what clients saw. A ledger
 * remembers what was sent and what the gateway said it stored, and verify() reads every entry
 * back afterwards.
 */
import { mintJobToken } from '../../src/auth/job-token';
import { deriveKey } from '../../src/auth/keys';
import { originLabel } from '../../src/artifacts/labels';
import type { Scope } from '../../src/ids';
import { bytesOf, fetchUrl, request, sha256, sleep, type Outcome, type SendOptions, type Target } from './http';
import type { Gateway } from './services';

export type OpKind = 'upload' | 'inline' | 'save' | 'direct' | 'redirect' | 'restore';

/** How one attempt ended, from the client's side. */
export type AttemptClass =
  | 'ok'
  /** 503 with Retry-After: the clear answer a client can act on. */
  | '503'
  /** 503 without Retry-After. */
  | '503-no-retry-after'
  /** 500 or any 5xx other than 503: the gateway did not know what happened. */
  | '5xx'
  /** A status arrived, then the body was cut (detectable: short of Content-Length). */
  | 'cut'
  /** No status at all: reset, refused or timed out. */
  | 'no-status'
  /** A 4xx the client did not expect (what it was is in `unexpected`). */
  | '4xx'
  /** Direct upload: a part PUT straight to storage failed (storage's answer, not the gateway's). */
  | 'part-failed';

export interface Tally {
  ops: number;
  succeeded: number;
  retried: number;
  gaveUp: number;
  attempts: Record<AttemptClass, number>;
  /** A complete 2xx whose bytes or sha256 were not what was sent: corruption seen by a client. */
  corrupt: number;
  /** Milliseconds of every attempt (status or not). */
  latencies: number[];
  /** Attempts that took longer than `slowMs` to answer at all. */
  slow: number;
  unexpected: string[];
}

export function newTally(): Tally {
  return {
    ops: 0,
    succeeded: 0,
    retried: 0,
    gaveUp: 0,
    attempts: { ok: 0, '503': 0, '503-no-retry-after': 0, '5xx': 0, cut: 0, 'no-status': 0, '4xx': 0, 'part-failed': 0 },
    corrupt: 0,
    latencies: [],
    slow: 0,
    unexpected: [],
  };
}

export function classify(o: Outcome, okStatuses: number[]): AttemptClass {
  if (o.status === 0) return 'no-status';
  if (o.status === 503) return o.headers['retry-after'] ? '503' : '503-no-retry-after';
  if (o.status >= 500) return '5xx';
  if (o.cut) return 'cut';
  if (okStatuses.includes(o.status)) return 'ok';
  return '4xx';
}

/** What one logical operation left behind, for verify(). */
interface Sent {
  kind: 'upload' | 'save' | 'direct';
  name: string;
  sha256: string;
  size: number;
  /** The gateway said it stored it (2xx, or 409 naming our own bytes). */
  committed: boolean;
}

export interface ClientOptions {
  gateway: Gateway;
  secret: string;
  project: string;
  build: string;
  /** Give up on an operation after this long (bounded retries). */
  opDeadlineMs: number;
  /** Per-attempt deadline. */
  attemptTimeoutMs: number;
  /** Wait after a 503, whatever Retry-After says (kept short so a case stays short). */
  retryWaitMs: number;
  /** An attempt slower than this counts as `slow`. */
  slowMs: number;
}

export class Clients {
  readonly tallies: Record<OpKind, Tally> = {
    upload: newTally(),
    inline: newTally(),
    save: newTally(),
    direct: newTally(),
    redirect: newTally(),
    restore: newTally(),
  };
  private readonly sent: Sent[] = [];

  /** The tallies so far, and fresh ones from now on (one phase's figures at a time). */
  takeTallies(): Record<OpKind, Tally> {
    const t = { ...this.tallies };
    for (const k of Object.keys(this.tallies) as OpKind[]) this.tallies[k] = newTally();
    return t;
  }
  private readonly seeded = new Map<string, string>();
  private readonly tokens = new Map<string, Promise<string>>();
  private seq = 0;

  constructor(readonly o: ClientOptions) {}

  get label(): string {
    return originLabel(this.o.project);
  }

  token(scopes: Scope[]): Promise<string> {
    const id = scopes.join(' ');
    let t = this.tokens.get(id);
    if (!t) {
      t = mintJobToken(
        deriveKey(Buffer.from(this.o.secret), 'job-token'),
        { project: this.o.project, build: this.o.build, branch: 'main', default_branch: 'main', trusted: true, scope: id },
        { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds: 3 * 3600 },
      );
      this.tokens.set(id, t);
    }
    return t;
  }

  private api(path: string): Target {
    return { port: this.o.gateway.port, host: this.o.gateway.apiHost, path, timeoutMs: this.o.attemptTimeoutMs };
  }
  artifactPath(path: string): string {
    return `/api/v1/projects/${encodeURIComponent(this.o.project)}/builds/${encodeURIComponent(this.o.build)}/artifacts/${path}`;
  }
  cachePath(key: string): string {
    return `/api/v1/projects/${encodeURIComponent(this.o.project)}/caches/${encodeURIComponent(key)}`;
  }

  /**
   * Runs `attempt` until it reports done or the deadline passes; classifies every try.
   * attempt() returns the outcome and whether the operation is finished.
   */
  private async retrying(kind: OpKind, attempt: () => Promise<{ o: Outcome; cls: AttemptClass; done: boolean; corrupt?: boolean }>): Promise<boolean> {
    const t = this.tallies[kind];
    t.ops++;
    const deadline = Date.now() + this.o.opDeadlineMs;
    for (let n = 0; n < 200; n++) {
      const { o, cls, done, corrupt } = await attempt();
      t.attempts[cls]++;
      t.latencies.push(o.ms);
      if (o.ms > this.o.slowMs) t.slow++;
      if (corrupt) t.corrupt++;
      if (cls === '4xx' || cls === '5xx') {
        if (t.unexpected.length < 20) t.unexpected.push(`${kind}: HTTP ${o.status} ${o.body.toString('utf8').slice(0, 160)}`);
      }
      if (done) {
        t.succeeded++;
        if (n > 0) t.retried++;
        return true;
      }
      if (Date.now() > deadline) break;
      await sleep(cls === '503' || cls === '503-no-retry-after' ? this.o.retryWaitMs : 200);
    }
    t.gaveUp++;
    return false;
  }

  /** PUT of a fresh artifact, `size` bytes, sent in chunks with `pauseMs` between them. */
  async upload(size: number, send: SendOptions = {}): Promise<void> {
    const n = this.seq++;
    const name = `f/${n}.bin`;
    const body = bytesOf(size, n + 1);
    const sent: Sent = { kind: 'upload', name, sha256: sha256(body), size, committed: false };
    this.sent.push(sent);
    const token = await this.token(['artifacts:write']);
    await this.retrying('upload', async () => {
      const o = await request(
        { ...this.api(this.artifactPath(name)), method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } },
        { ...send, body, keepBody: 64 * 1024 },
      );
      const cls = classify(o, [200, 201]);
      if (cls !== 'ok') return { o, cls, done: false };
      const said = JSON.parse(o.body.toString('utf8')) as { sha256?: string; size?: number };
      const corrupt = said.sha256 !== sent.sha256 || said.size !== size;
      sent.committed = true;
      return { o, cls, done: true, corrupt };
    });
  }

  /** Seeds an HTML file for inline reads (retried until stored). */
  async seedHtml(file: string, size: number): Promise<void> {
    const head = Buffer.from('<!doctype html><title>report</title><pre>');
    const body = Buffer.concat([
      head,
      Buffer.from(
        bytesOf(size - head.length, 7 + this.seeded.size)
          .toString('base64')
          .slice(0, size - head.length),
      ),
    ]);
    const token = await this.token(['artifacts:write']);
    const o = await request(
      { ...this.api(this.artifactPath(file)), method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/html' } },
      { body },
    );
    if (o.status !== 201 && o.status !== 200) throw new Error(`seeding ${file}: HTTP ${o.status} ${o.error ?? o.body.toString('utf8').slice(0, 200)}`);
    this.seeded.set(file, sha256(body));
  }

  seededFiles(): string[] {
    return [...this.seeded.keys()];
  }

  /** One inline GET of a seeded HTML file on the project's origin, complete and unaltered. */
  inlineOnce(file: string, timeoutMs = this.o.attemptTimeoutMs): Promise<Outcome> {
    return request(
      {
        port: this.o.gateway.port,
        host: `${this.label}.localhost:${this.o.gateway.port}`,
        path: `/${encodeURIComponent(this.o.build)}/${file}`,
        headers: { accept: 'text/html' },
        timeoutMs,
      },
      { keepBody: 0 },
    );
  }

  async inline(file: string): Promise<void> {
    const want = this.seeded.get(file)!;
    await this.retrying('inline', async () => {
      const o = await this.inlineOnce(file);
      const cls = classify(o, [200]);
      if (cls !== 'ok') return { o, cls, done: false };
      return { o, cls, done: true, corrupt: o.sha256 !== want };
    });
  }

  /** API download: the 302 to a presigned URL (not followed). */
  async redirect(file: string): Promise<void> {
    const token = await this.token(['artifacts:read']);
    await this.retrying('redirect', async () => {
      const o = await request({ ...this.api(this.artifactPath(file)), headers: { authorization: `Bearer ${token}` } });
      const cls = classify(o, [302]);
      return { o, cls, done: cls === 'ok' };
    });
  }

  /** Streamed cache save of a fresh key. */
  async save(size: number, send: SendOptions = {}): Promise<void> {
    const n = this.seq++;
    const key = `deps-${this.o.build}-${n}`;
    const body = bytesOf(size, 100_000 + n);
    const sent: Sent = { kind: 'save', name: key, sha256: sha256(body), size, committed: false };
    this.sent.push(sent);
    const token = await this.token(['cache:write']);
    await this.retrying('save', async () => {
      const o = await request(
        { ...this.api(this.cachePath(key)), method: 'PUT', headers: { authorization: `Bearer ${token}` } },
        { ...send, body, keepBody: 64 * 1024 },
      );
      return this.committedAnswer(o, sent);
    });
  }

  /** 201 (ours), or 409 naming our own bytes (an earlier attempt committed): both are success. */
  private committedAnswer(o: Outcome, sent: Sent): { o: Outcome; cls: AttemptClass; done: boolean; corrupt?: boolean } {
    if (o.status === 409 && !o.cut) {
      const existing = (JSON.parse(o.body.toString('utf8')) as { error?: { existing?: { sha256?: string } } }).error?.existing;
      sent.committed = true;
      return { o, cls: 'ok', done: true, corrupt: existing?.sha256 !== sent.sha256 };
    }
    const cls = classify(o, [201]);
    if (cls !== 'ok') return { o, cls, done: false };
    const said = JSON.parse(o.body.toString('utf8')) as { sha256?: string; size?: number };
    sent.committed = true;
    return { o, cls, done: true, corrupt: said.sha256 !== sent.sha256 || said.size !== sent.size };
  }

  /** Direct cache upload: reserve, PUT each part to its presigned URL, commit. Restarts from reserve on failure. */
  async direct(size: number): Promise<void> {
    const n = this.seq++;
    const key = `direct-${this.o.build}-${n}`;
    const body = bytesOf(size, 200_000 + n);
    const sent: Sent = { kind: 'direct', name: key, sha256: sha256(body), size, committed: false };
    this.sent.push(sent);
    const token = await this.token(['cache:write']);
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    await this.retrying('direct', async () => {
      const reserve = await request(
        { ...this.api(`${this.cachePath(key)}/uploads`), method: 'POST', headers: auth },
        { body: Buffer.from(JSON.stringify({ size, sha256: sent.sha256 })) },
      );
      if (reserve.status !== 201) return this.committedAnswer(reserve, sent);
      const r = JSON.parse(reserve.body.toString('utf8')) as { uploadId: string; partSize: number; parts: Array<{ partNumber: number; url: string }> };
      const etags: Array<{ partNumber: number; etag: string }> = [];
      for (const p of r.parts) {
        const u = new URL(p.url);
        const part = body.subarray((p.partNumber - 1) * r.partSize, p.partNumber * r.partSize);
        // straight to storage, as the cache client does; the client retries a failed part
        let put: Outcome | undefined;
        for (let i = 0; i < 5; i++) {
          put = await request(
            { port: Number(u.port), host: u.host, method: 'PUT', path: `${u.pathname}${u.search}`, timeoutMs: this.o.attemptTimeoutMs },
            { body: part },
          );
          if (put.status === 200 && !put.cut) break;
          await sleep(500);
        }
        if (put!.status !== 200 || !put!.headers.etag) {
          // storage itself is down: that is not the gateway's answer; abandon and start over
          return { o: put!, cls: 'part-failed', done: false };
        }
        etags.push({ partNumber: p.partNumber, etag: String(put!.headers.etag) });
      }
      const commit = await request(
        { ...this.api(`${this.cachePath(key)}/uploads/${r.uploadId}/commit`), method: 'POST', headers: auth },
        { body: Buffer.from(JSON.stringify({ parts: etags })) },
      );
      return this.committedAnswer(commit, sent);
    });
  }

  /** Restore lookup of a key saved earlier (exact hit expected). */
  async restore(key: string): Promise<void> {
    const token = await this.token(['cache:read']);
    await this.retrying('restore', async () => {
      const o = await request({
        ...this.api(`/api/v1/projects/${encodeURIComponent(this.o.project)}/caches?keys=${encodeURIComponent(key)}`),
        headers: { authorization: `Bearer ${token}` },
      });
      const cls = classify(o, [200]);
      return { o, cls, done: cls === 'ok' };
    });
  }

  savedKeys(): string[] {
    return this.sent.filter((s) => s.kind === 'save' && s.committed).map((s) => s.name);
  }
  uploadedFiles(): string[] {
    return this.sent.filter((s) => s.kind === 'upload' && s.committed).map((s) => s.name);
  }

  /**
   * Reads back everything this client tried to store: every committed entry must be there with
   * the sha256 of what was sent (bytes fetched and hashed), and nothing an operation gave up on
   * may be visible. Uses the gateway's own API (list, 302 download, restore + presigned GET).
   */
  async verify(sample?: number): Promise<Record<'upload' | 'save' | 'direct', Verification>> {
    const all = { upload: newVerification(), save: newVerification(), direct: newVerification() };
    const readToken = await this.token(['artifacts:read']);
    const cacheToken = await this.token(['cache:read']);
    const problem = (v: Verification, s: string) => v.problems.length < 20 && v.problems.push(s);
    // everything the listing shows must be something we sent and saw committed (or seeded)
    const listed = new Set<string>();
    let pageToken: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const q: string = `?pageSize=1000${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`;
      const o = await request({
        ...this.api(`${this.artifactPath('').slice(0, -1)}${q}`),
        headers: { authorization: `Bearer ${readToken}` },
        timeoutMs: 60_000,
      });
      if (o.status !== 200) throw new Error(`listing artifacts to verify them: HTTP ${o.status} ${o.error ?? ''}`);
      const body = JSON.parse(o.body.toString('utf8')) as { items: Array<{ path: string }>; nextPageToken: string | null };
      for (const it of body.items) listed.add(it.path);
      pageToken = body.nextPageToken;
      if (!pageToken) break;
    }
    const everSent = new Set(this.sent.filter((s) => s.kind === 'upload').map((s) => s.name));
    // a random sample when asked (a long soak stores tens of thousands of entries)
    const checked = sample !== undefined && sample < this.sent.length ? [...this.sent].sort(() => Math.random() - 0.5).slice(0, sample) : this.sent;
    for (const s of checked) {
      const v = all[s.kind];
      v.checked++;
      let status: number;
      let url: string | undefined;
      if (s.kind === 'upload') {
        const o = await request({ ...this.api(this.artifactPath(s.name)), headers: { authorization: `Bearer ${readToken}` }, timeoutMs: 30_000 });
        status = o.status === 302 ? 200 : o.status;
        url = o.headers.location;
        if (listed.has(s.name) !== (status === 200)) problem(v, `${s.name}: listed ${listed.has(s.name)} but download answers ${o.status}`);
        listed.delete(s.name);
      } else {
        const o = await request({
          ...this.api(`/api/v1/projects/${encodeURIComponent(this.o.project)}/caches?keys=${encodeURIComponent(s.name)}`),
          headers: { authorization: `Bearer ${cacheToken}` },
          timeoutMs: 30_000,
        });
        status = o.status === 204 ? 404 : o.status;
        if (o.status === 200) {
          const hit = JSON.parse(o.body.toString('utf8')) as { key: string; url: string; sha256: string; exact: boolean };
          if (hit.key !== s.name) status = 404; // a prefix match of another key is not ours
          url = hit.url;
          if (hit.key === s.name && hit.sha256 !== s.sha256) {
            v.corrupt++;
            problem(v, `${s.kind} ${s.name}: entry says sha256 ${hit.sha256.slice(0, 12)}…, sent ${s.sha256.slice(0, 12)}…`);
            continue;
          }
        }
      }
      if (status !== 200 && status !== 404) {
        v.unreadable++;
        problem(v, `${s.kind} ${s.name}: HTTP ${status} while verifying`);
        continue;
      }
      if (status === 404) {
        if (s.committed) {
          v.missing++;
          problem(v, `${s.kind} ${s.name}: committed (the client was told so) but not there`);
        } else v.intact++; // never committed, and nothing visible: as it should be
        continue;
      }
      const got = await fetchUrl(url!);
      if (got.status !== 200 || got.cut) {
        v.missing++;
        problem(v, `${s.kind} ${s.name}: its entry is visible, but its bytes answer HTTP ${got.status}${got.cut ? ' (cut)' : ''}`);
      } else if (got.sha256 !== s.sha256 || got.bytes !== s.size) {
        v.corrupt++;
        problem(v, `${s.kind} ${s.name}: stored bytes differ from what was sent (${got.bytes} of ${s.size} bytes)`);
      } else if (!s.committed) {
        v.visibleAfterFailure++;
        problem(v, `${s.kind} ${s.name}: the client gave up on it, yet it is visible (intact)`);
      } else v.intact++;
    }
    for (const path of listed) {
      if (this.seeded.has(path) || (checked !== this.sent && everSent.has(path))) continue;
      all.upload.corrupt++;
      problem(all.upload, `listing shows ${path}, which this client never sent`);
    }
    return all;
  }
}

function newVerification(): Verification {
  return { checked: 0, intact: 0, missing: 0, corrupt: 0, visibleAfterFailure: 0, unreadable: 0, problems: [] };
}

export interface Verification {
  checked: number;
  intact: number;
  missing: number;
  corrupt: number;
  visibleAfterFailure: number;
  unreadable: number;
  problems: string[];
}
