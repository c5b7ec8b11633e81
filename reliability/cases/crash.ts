/**
 * Case: the gateway is killed (SIGKILL) in the middle of 100 concurrent uploads, then restarted
 * on the same store. On each driver (fs in a temp dir, s3 on radosgw), with the built command
 * (`node --max-semi-space-size=16 dist/cli/index.js serve`) as a child process:
 *
 *  1. 100 uploads start at once, each body streamed at its own pace (so that at any moment some
 *     are mid-body, some committing, some answered): artifact PUTs into four builds, bundles (a
 *     tar of many files in one POST, whose entries are written as it arrives), cache saves
 *     streamed through the API, and direct cache uploads (reserve, presigned part PUTs, commit).
 *     Job tokens come from `artifact-gateway token`.
 *  2. When a random 30-50% of them have been answered 2xx, the gateway gets SIGKILL.
 *  3. It is started again on the same store and port, and:
 *     - every upload answered 2xx must be listed and read back with the sha256 the client
 *       computed (downloaded through the gateway's own 302 or restore URL, hashed);
 *     - every listed artifact (API listing of each build) and every cache entry in the bucket
 *       must read back complete and be byte for byte what some client sent: nothing partial,
 *       torn or mixed is visible (uploads cut by the kill may be there only if complete), and a
 *       bundle shows all of its files or none;
 *     - leftovers are counted (orphan bytes, stale prefix-index names, direct-upload
 *       reservations and their parts, temp/staging files), `artifact-gateway gc` is run with a
 *       clock two days ahead (it spares anything younger than its grace periods), leftovers are
 *       counted again, and every entry is read back again (gc must not touch committed data).
 *
 * Pass per driver: 0 lost, 0 partial visible, every 2xx verified before and after gc, gc exits 0,
 * and nothing is left after it: not what it removes by listing (orphan bytes, stale index names,
 * reservations and their parts), nor what writes cut by the kill left where no listing shows it
 * (fs temp files and emulated multipart uploads, s3 staging objects and incomplete multipart
 * uploads, including those of a direct upload cut between its start and its reservation).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import type { CaseContext, CaseRow, ReliabilityCase } from '../lib/types';
import { makeTar } from '../../test/support/tar-builder';
import { drained, fetchHash, json, mapLimit, request, target } from '../lib/gw-http';
import {
  gatewayEnv,
  makeStore,
  mintToken,
  resolveS3,
  runGcCommand,
  sleep,
  startGatewayProcess,
  type DriverName,
  type GatewayProcess,
  type S3Endpoint,
  type Store,
} from '../lib/gw-process';
import { audit, collectable, describeLeftovers } from '../lib/gw-store-audit';

const MiB = 1024 * 1024;
const PROJECT = 'reliability/crash';
const BUILDS = ['b1', 'b2', 'b3', 'b4'];
const PART_BYTES = 5 * MiB; // the smallest CACHE_PART_BYTES: direct uploads of 2-3 parts stay small
const GC_SHIFT_MS = 2 * 86_400_000; // past the orphan grace (1 day) and CACHE_UPLOAD_TTL + 1 day
const CHUNK = 64 * 1024;

interface Scale {
  artifacts: number;
  /** Bundle uploads, and the files in each (bodies of 1 byte to 64 KiB). */
  bundles: number;
  bundleFiles: number;
  caches: number;
  direct: number;
  /** Streamed bodies: smallest and largest. */
  minBytes: number;
  maxBytes: number;
  /** Direct uploads: bytes past the first part (so 2-3 parts). */
  directExtra: [number, number];
  /** How long a streamed body takes to send, at most (each op a random 40-100% of it). */
  paceMs: number;
  /**
   * When the answers lag (s3 on a loaded machine): after paceMs + lagMs the kill comes as soon as
   * a tenth have been answered, and after paceMs + maxLagMs whatever has been (uploads answered
   * or not, every entry committed by then is verified all the same).
   */
  lagMs: number;
  maxLagMs: number;
}

const SCALES: Record<CaseContext['scale'], Scale> = {
  full: {
    artifacts: 46,
    bundles: 4,
    bundleFiles: 200,
    caches: 35,
    direct: 15,
    minBytes: 64 * 1024,
    maxBytes: 6 * MiB,
    directExtra: [MiB, 7 * MiB],
    paceMs: 4000,
    lagMs: 15_000,
    maxLagMs: 60_000,
  },
  quick: {
    artifacts: 51,
    bundles: 4,
    bundleFiles: 40,
    caches: 37,
    direct: 8,
    minBytes: 16 * 1024,
    maxBytes: MiB,
    directExtra: [64 * 1024, 512 * 1024],
    paceMs: 2000,
    lagMs: 6000,
    maxLagMs: 15_000,
  },
};

type Kind = 'artifact' | 'bundle' | 'cache' | 'direct';

interface Op {
  id: number;
  kind: Kind;
  build: string;
  /** Artifact path, bundle directory or cache key. */
  name: string;
  size: number;
  /** A bundle's files (paths below `name`) and the tar that carries them. */
  files?: BundleFile[];
  tar?: Buffer;
  head: Buffer;
  poolAt: number;
  sha256: string;
  paceMs: number;
  /** 2xx answered (for direct uploads: the commit). */
  acked?: boolean;
  ackedSha256?: string;
  status?: number;
  error?: string;
  stage?: string;
  done?: boolean;
}

interface BundleFile {
  path: string;
  body: Buffer;
  sha256: string;
}

/** Random bytes the bodies are cut from; each body starts with 64 bytes of its own. */
const POOL_BYTES = 16 * MiB;

function bodyChunks(op: Op, pool: Buffer, from = 0, to = op.size): Buffer[] {
  const whole = (i: number, j: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let at = i; at < j; at += CHUNK) {
      const end = Math.min(j, at + CHUNK);
      // bytes [0, 64) are the op's own head, the rest a slice of the shared pool
      if (end <= 64) out.push(op.head.subarray(at, end));
      else if (at >= 64) out.push(pool.subarray(op.poolAt + at - 64, op.poolAt + end - 64));
      else out.push(Buffer.concat([op.head.subarray(at, 64), pool.subarray(op.poolAt, op.poolAt + end - 64)]));
    }
    return out;
  };
  return whole(from, to);
}

function makeOps(scale: Scale, pool: Buffer, tag: string): Op[] {
  const ops: Op[] = [];
  const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
  const kinds: Kind[] = [
    ...Array<Kind>(scale.artifacts).fill('artifact'),
    ...Array<Kind>(scale.bundles).fill('bundle'),
    ...Array<Kind>(scale.caches).fill('cache'),
    ...Array<Kind>(scale.direct).fill('direct'),
  ];
  kinds.forEach((kind, id) => {
    const size = kind === 'direct' ? PART_BYTES + rand(...scale.directExtra) : rand(scale.minBytes, scale.maxBytes);
    const suffix = randomBytes(3).toString('hex');
    const name =
      kind === 'artifact'
        ? `out/${String(id).padStart(3, '0')}-${suffix}.${id % 5 === 0 ? 'html' : 'bin'}`
        : kind === 'bundle'
          ? `bundle-${String(id).padStart(3, '0')}-${suffix}`
          : `crash-${tag}-${String(id).padStart(3, '0')}-${suffix}`;
    if (kind === 'bundle') {
      const files = Array.from({ length: scale.bundleFiles }, (_, i): BundleFile => {
        const body = Buffer.concat([Buffer.from(`${name} file ${i} `), randomBytes(rand(0, 64 * 1024))]);
        return {
          path: `${name}/d${i % 4}/f${String(i).padStart(3, '0')}.${i % 7 === 0 ? 'html' : 'bin'}`,
          body,
          sha256: createHash('sha256').update(body).digest('hex'),
        };
      });
      const tar = makeTar(files.map((f) => ({ path: f.path, body: f.body })));
      const head = Buffer.alloc(64);
      const sha256 = createHash('sha256').update(tar).digest('hex');
      const paceMs = rand(Math.round(scale.paceMs * 0.4), scale.paceMs);
      ops.push({ id, kind, build: BUILDS[id % BUILDS.length], name, size: tar.length, head, poolAt: 0, sha256, paceMs, files, tar });
      return;
    }
    const head = Buffer.concat([Buffer.from(`op ${id} ${name} `.padEnd(32, '.')), randomBytes(32)]).subarray(0, 64);
    const op: Op = {
      id,
      kind,
      build: BUILDS[id % BUILDS.length],
      name,
      size,
      head,
      poolAt: rand(0, POOL_BYTES - size),
      sha256: '',
      paceMs: rand(Math.round(scale.paceMs * 0.4), scale.paceMs),
    };
    const hash = createHash('sha256');
    for (const c of bodyChunks(op, pool)) hash.update(c);
    op.sha256 = hash.digest('hex');
    ops.push(op);
  });
  return ops;
}

const encPath = (p: string) => p.split('/').map(encodeURIComponent).join('/');
const artifactUrl = (build: string, path: string) => `/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/${build}/artifacts/${encPath(path)}`;
const cacheUrl = (key: string) => `/api/v1/projects/${encodeURIComponent(PROJECT)}/caches/${encodeURIComponent(key)}`;

/**
 * PUTs `chunks` paced over `paceMs`, honouring backpressure; resolves with the answer, rejects
 * when the connection fails (the gateway killed) before one arrives.
 */
function pacedPut(o: {
  port: number;
  host: string;
  /** PUT unless given. */
  method?: string;
  path: string;
  headers: Record<string, string>;
  chunks: Buffer[];
  length: number;
  paceMs: number;
}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let finished = false;
    const req = http.request({
      host: '127.0.0.1',
      port: o.port,
      method: o.method ?? 'PUT',
      path: o.path,
      agent: false,
      headers: { host: o.host, 'content-length': o.length, ...o.headers },
    });
    req.on('error', (err) => {
      finished = true;
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        finished = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => {
        finished = true;
        reject(err);
      });
    });
    req.setTimeout(120_000, () => req.destroy(new Error('no progress for 120 s')));
    void (async () => {
      const delay = o.paceMs / Math.max(1, o.chunks.length);
      for (const chunk of o.chunks) {
        if (finished || req.destroyed) return;
        if (!req.write(chunk)) await drained(req);
        if (delay >= 1) await sleep(delay);
      }
      if (!finished && !req.destroyed) req.end();
    })();
  });
}

async function runOp(op: Op, gw: GatewayProcess, token: string, pool: Buffer): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  try {
    if (op.kind === 'bundle') {
      op.stage = 'post';
      const tar = op.tar!;
      const chunks: Buffer[] = [];
      for (let at = 0; at < tar.length; at += CHUNK) chunks.push(tar.subarray(at, at + CHUNK));
      const r = await pacedPut({
        port: gw.port,
        host: gw.apiHost,
        method: 'POST',
        path: `/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/${op.build}/artifacts?bundle=tar`,
        headers: { ...auth, 'content-type': 'application/x-tar' },
        chunks,
        length: tar.length,
        paceMs: op.paceMs,
      });
      op.status = r.status;
      if (r.status === 201) {
        op.acked = true;
        op.ackedSha256 = json<{ sha256: string }>(r).sha256;
      } else op.error = r.body.toString('utf8').slice(0, 300);
      return;
    }
    if (op.kind === 'artifact' || op.kind === 'cache') {
      op.stage = 'put';
      const r = await pacedPut({
        port: gw.port,
        host: gw.apiHost,
        path: op.kind === 'artifact' ? artifactUrl(op.build, op.name) : cacheUrl(op.name),
        headers: { ...auth, 'content-type': 'application/octet-stream' },
        chunks: bodyChunks(op, pool),
        length: op.size,
        paceMs: op.paceMs,
      });
      op.status = r.status;
      if (r.status >= 200 && r.status < 300) {
        op.acked = true;
        op.ackedSha256 = json<{ sha256: string }>(r).sha256;
      } else op.error = r.body.toString('utf8').slice(0, 300);
      return;
    }
    op.stage = 'reserve';
    const reserve = await request({
      port: gw.port,
      host: gw.apiHost,
      method: 'POST',
      path: `${cacheUrl(op.name)}/uploads`,
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ size: op.size, sha256: op.sha256 }),
    });
    if (reserve.status !== 201) {
      op.status = reserve.status;
      op.error = `reserve: ${reserve.body.toString('utf8').slice(0, 300)}`;
      return;
    }
    const { uploadId, partSize, parts } = json<{ uploadId: string; partSize: number; parts: Array<{ partNumber: number; url: string }> }>(reserve);
    op.stage = 'parts';
    const etags = await Promise.all(
      parts.map(async (p) => {
        const from = (p.partNumber - 1) * partSize;
        const to = Math.min(op.size, from + partSize);
        const t = target(p.url);
        const r = await pacedPut({ ...t, headers: {}, chunks: bodyChunks(op, pool, from, to), length: to - from, paceMs: op.paceMs / parts.length });
        if (r.status !== 200) throw new Error(`part ${p.partNumber}: HTTP ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
        return { partNumber: p.partNumber, etag: String(r.headers.etag) };
      }),
    );
    op.stage = 'commit';
    const commit = await request({
      port: gw.port,
      host: gw.apiHost,
      method: 'POST',
      path: `${cacheUrl(op.name)}/uploads/${uploadId}/commit`,
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ parts: etags }),
      timeoutMs: 120_000,
    });
    op.status = commit.status;
    if (commit.status === 201) {
      op.acked = true;
      op.ackedSha256 = json<{ sha256: string }>(commit).sha256;
    } else op.error = `commit: ${commit.body.toString('utf8').slice(0, 300)}`;
  } catch (err) {
    op.error = `${op.stage}: ${(err as Error).message}`;
  } finally {
    op.done = true;
  }
}

interface Verification {
  /** Artifacts listed by the API plus cache entries in the bucket. */
  listed: number;
  /** Of those, read back complete with the sha256 and size a client sent. */
  verified: number;
  /** Entries visible but not byte for byte what a client sent, or unreadable. */
  partial: string[];
  /** 2xx answers whose entry is missing or does not read back. */
  lost: string[];
  /** Entries of uploads that got no 2xx (cut by the kill after their commit point). */
  unacked: number;
}

/** What a client sees after the restart: listings, downloads and restores, all hashed. */
async function verify(gw: GatewayProcess, store: Store, tokens: Record<string, string>, ops: Op[]): Promise<Verification> {
  const v: Verification = { listed: 0, verified: 0, partial: [], lost: [], unacked: 0 };
  // each artifact a client sent, a single upload's or a bundle's file: its op, size and sha256
  const artifactOps = new Map<string, { op: Op; size: number; sha256: string }>();
  for (const o of ops) {
    if (o.kind === 'artifact') artifactOps.set(`${o.build}/${o.name}`, { op: o, size: o.size, sha256: o.sha256 });
    for (const f of o.files ?? []) artifactOps.set(`${o.build}/${f.path}`, { op: o, size: f.body.length, sha256: f.sha256 });
  }
  /** Files of each bundle read back complete. */
  const bundleFilesRead = new Map<Op, number>();
  const cacheOps = new Map(ops.filter((o) => o.kind === 'cache' || o.kind === 'direct').map((o) => [o.name, o]));
  const good = new Set<Op>();
  const auth = (build: string) => ({ authorization: `Bearer ${tokens[build]}` });

  // artifacts: what the API lists for each build
  const listed: Array<{ build: string; path: string; size: number; sha256: string }> = [];
  for (const build of BUILDS) {
    let pageToken: string | null = null;
    do {
      const r = await request({
        port: gw.port,
        host: gw.apiHost,
        method: 'GET',
        path: `/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/${build}/artifacts?pageSize=1000${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`,
        headers: auth(build),
      });
      if (r.status !== 200) throw new Error(`listing build ${build}: HTTP ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
      const page = json<{ items: Array<{ path: string; size: number; sha256: string }>; nextPageToken: string | null }>(r);
      for (const item of page.items) listed.push({ build, ...item });
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
  await mapLimit(listed, 8, async (item) => {
    v.listed++;
    const sent = artifactOps.get(`${item.build}/${item.path}`);
    const what = `artifact ${item.build}/${item.path}`;
    if (!sent) return void v.partial.push(`${what}: listed, but no client uploaded it`);
    const op = { size: sent.size, sha256: sent.sha256 };
    if (item.size !== op.size || item.sha256 !== op.sha256)
      return void v.partial.push(`${what}: listed as ${item.size} bytes ${item.sha256.slice(0, 12)}, sent ${op.size} bytes ${op.sha256.slice(0, 12)}`);
    const r = await request({ port: gw.port, host: gw.apiHost, method: 'GET', path: artifactUrl(item.build, item.path), headers: auth(item.build) });
    if (r.status !== 302 || typeof r.headers.location !== 'string') return void v.partial.push(`${what}: download answered HTTP ${r.status}`);
    const got = await fetchHash(r.headers.location);
    if (got.status !== 200 || got.size !== op.size || got.sha256 !== op.sha256) {
      return void v.partial.push(
        `${what}: read back HTTP ${got.status}, ${got.size} of ${op.size} bytes, sha256 ${got.sha256.slice(0, 12)} (sent ${op.sha256.slice(0, 12)})${got.error ? `, ${got.error}` : ''}`,
      );
    }
    v.verified++;
    if (sent.op.kind === 'bundle') bundleFilesRead.set(sent.op, (bundleFilesRead.get(sent.op) ?? 0) + 1);
    else good.add(sent.op);
  });
  // a bundle is all or nothing: every file of it read back, or none listed at all
  for (const [op, read] of bundleFilesRead) {
    if (read === op.files!.length) good.add(op);
    else v.partial.push(`bundle ${op.build}/${op.name}: ${read} of its ${op.files!.length} files visible`);
  }

  // caches: there is no listing API, so every entry in the bucket, each restored through the API
  const { caches } = await audit(store);
  await mapLimit(caches, 8, async (entry) => {
    v.listed++;
    const op = cacheOps.get(entry.key);
    const what = `cache ${entry.key}`;
    if (!op || entry.project !== PROJECT) return void v.partial.push(`${what}: in the bucket, but no client saved it`);
    const r = await request({
      port: gw.port,
      host: gw.apiHost,
      method: 'GET',
      path: `/api/v1/projects/${encodeURIComponent(PROJECT)}/caches?keys=${encodeURIComponent(entry.key)}`,
      headers: auth(BUILDS[0]),
    });
    if (r.status !== 200) return void v.partial.push(`${what}: restore answered HTTP ${r.status}`);
    const hit = json<{ key: string; exact: boolean; size: number; sha256: string; url: string }>(r);
    if (!hit.exact || hit.key !== entry.key || hit.size !== op.size || hit.sha256 !== op.sha256) {
      return void v.partial.push(
        `${what}: restore gave ${hit.key} (exact ${hit.exact}) ${hit.size} bytes ${hit.sha256.slice(0, 12)}, sent ${op.size} bytes ${op.sha256.slice(0, 12)}`,
      );
    }
    const got = await fetchHash(hit.url);
    if (got.status !== 200 || got.size !== op.size || got.sha256 !== op.sha256) {
      return void v.partial.push(
        `${what}: read back HTTP ${got.status}, ${got.size} of ${op.size} bytes, sha256 ${got.sha256.slice(0, 12)} (sent ${op.sha256.slice(0, 12)})${got.error ? `, ${got.error}` : ''}`,
      );
    }
    v.verified++;
    good.add(op);
  });

  for (const op of ops) {
    if (op.acked && op.ackedSha256 !== op.sha256)
      v.lost.push(`${op.kind} ${op.name}: answered 2xx with sha256 ${String(op.ackedSha256).slice(0, 12)}, sent ${op.sha256.slice(0, 12)}`);
    else if (op.acked && !good.has(op)) v.lost.push(`${op.kind} ${op.name}: answered ${op.status}, but not listed or not read back`);
    if (!op.acked && good.has(op)) v.unacked++;
  }
  return v;
}

interface DriverResult {
  row: CaseRow;
}

async function runDriver(
  ctx: CaseContext,
  driver: DriverName,
  s3: S3Endpoint | undefined,
  tokens: Record<string, string>,
  secret: string,
  pool: Buffer,
): Promise<DriverResult> {
  const scale = SCALES[ctx.scale];
  const store = await makeStore(driver, join(ctx.dir, 'crash'), s3);
  const env = gatewayEnv(store, secret, { CACHE_PART_BYTES: String(PART_BYTES) });
  const logFile = join(ctx.dir, 'crash', `gateway-${driver}.log`);
  let gw: GatewayProcess | undefined;
  try {
    gw = await startGatewayProcess({ env, logFile });
    const ops = makeOps(scale, pool, driver);
    const counts = `${scale.artifacts} artifact PUTs, ${scale.bundles} bundles of ${scale.bundleFiles} files, ${scale.caches} cache PUTs, ${scale.direct} direct cache uploads`;
    ctx.log(`crash (${driver}): ${ops.length} concurrent uploads (${counts}), gateway pid ${gw.pid}`);

    // 1-2: everything at once; SIGKILL once a random 30-50% have been answered 2xx
    const killAfter = Math.round(ops.length * (0.3 + Math.random() * 0.2));
    const running = gw;
    let killed: Promise<void> | undefined;
    let atKill = { acked: 0, inFlight: 0, stages: '' };
    const kill = () => {
      if (killed) return;
      const inFlight = ops.filter((o) => !o.done);
      const stages = new Map<string, number>();
      for (const o of inFlight) stages.set(`${o.kind}:${o.stage}`, (stages.get(`${o.kind}:${o.stage}`) ?? 0) + 1);
      atKill = { acked: ops.filter((o) => o.acked).length, inFlight: inFlight.length, stages: [...stages].map(([k, n]) => `${n} ${k}`).join(', ') };
      killed = running.kill('SIGKILL');
    };
    const started = Date.now();
    // on a loaded machine s3 answers can lag far behind the bodies (the kill then finds more of
    // them committed but unanswered): then a tenth answered is enough, and at last none is
    const watcher = setInterval(() => {
      const acks = ops.filter((o) => o.acked).length;
      const waited = Date.now() - started;
      if (acks >= killAfter || (waited > scale.paceMs + scale.lagMs && acks >= ops.length / 10)) kill();
    }, 2);
    const fallback = setTimeout(kill, scale.paceMs + scale.maxLagMs);
    await Promise.all(
      ops.map((op) => runOp(op, running, tokens[op.build], pool).then(() => (op.acked && ops.filter((o) => o.acked).length >= killAfter ? kill() : undefined))),
    );
    clearInterval(watcher);
    clearTimeout(fallback);
    kill();
    await killed;
    const acked = ops.filter((o) => o.acked);
    ctx.log(
      `crash (${driver}): killed after ${atKill.acked} acks with ${atKill.inFlight} in flight (${atKill.stages}); ${acked.length} acked in all, ${Date.now() - started} ms`,
    );

    // 3: restart on the same store and port, then look
    let t0 = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => {
      phases.push(`${name} ${Date.now() - t0} ms`);
      t0 = Date.now();
    };
    gw = await startGatewayProcess({ env, logFile, port: running.port });
    phase('restart');
    const before = await verify(gw, store, tokens, ops);
    phase('verify');
    const auditBefore = await audit(store);
    const leftBefore = auditBefore.leftovers;
    phase('count');
    const gc = await runGcCommand(env, join(ctx.dir, 'crash'), GC_SHIFT_MS);
    phase('gc');
    const auditAfter = await audit(store);
    const leftAfter = auditAfter.leftovers;
    phase('count');
    const after = await verify(gw, store, tokens, ops);
    phase('verify');
    ctx.log(`crash (${driver}): ${phases.join(', ')}`);

    // each failed check by a stable id (figures.failedChecks) and what it saw (detail)
    const failed: Array<[string, string]> = [];
    if (atKill.inFlight === 0) failed.push(['no-crash', 'nothing was in flight when the gateway was killed: the case tested no crash']);
    if (before.lost.length) failed.push(['lost', `lost after the restart: ${before.lost.slice(0, 5).join('; ')}`]);
    if (before.partial.length) failed.push(['partial-visible', `partial visible after the restart: ${before.partial.slice(0, 5).join('; ')}`]);
    if (auditBefore.brokenEntries.length) failed.push(['broken-entries', `broken entries: ${auditBefore.brokenEntries.slice(0, 5).join('; ')}`]);
    if (gc.code !== 0 || !gc.shifted)
      failed.push(['gc-failed', `gc exited ${gc.code}${gc.shifted ? '' : ' (the clock shift was not applied)'}: ${gc.stderr.slice(-500)}`]);
    if (collectable(leftAfter) > 0) failed.push(['gc-left-leftovers', `gc left ${describeLeftovers(leftAfter)}`]);
    if (after.lost.length || after.partial.length || after.verified !== before.verified) {
      failed.push([
        'gc-removed-data',
        `after gc: ${after.verified} of ${before.verified} entries read back; ${[...after.lost, ...after.partial].slice(0, 5).join('; ')}`,
      ]);
    }
    const problems = failed.map(([, what]) => what);

    const figures: Record<string, number | string> = {
      uploads: ops.length,
      ackedAtKill: atKill.acked,
      inFlightAtKill: atKill.inFlight,
      acked: acked.length,
      listed: before.listed,
      verified: before.verified,
      committedWithoutAck: before.unacked,
      lost: before.lost.length,
      partialVisible: before.partial.length,
      leftoversBeforeGc: collectable(leftBefore),
      leftoversAfterGc: collectable(leftAfter),
      verifiedAfterGc: after.verified,
      gcReport: JSON.stringify(gc.report ?? null),
      failedChecks: failed.map(([id]) => id).join(' '),
    };
    for (const [k, n] of Object.entries(leftBefore as unknown as Record<string, number>)) figures[`before.${k}`] = n;
    for (const [k, n] of Object.entries(leftAfter as unknown as Record<string, number>)) figures[`after.${k}`] = n;
    const row: CaseRow = {
      case: `gateway SIGKILLed mid-upload, restarted on the same store (${driver})`,
      measured:
        `${acked.length} of ${ops.length} uploads answered 2xx, ${before.verified} entries read back with their sha256 ` +
        `(${before.unacked} committed without an answer), ${before.lost.length} lost, ${before.partial.length} partial visible; ` +
        `leftovers ${figures.leftoversBeforeGc} -> ${figures.leftoversAfterGc} after gc`,
      baseline:
        `${ops.length} concurrent uploads (${counts}); SIGKILL after ${atKill.acked} acks with ${atKill.inFlight} in flight; ` +
        `must be 0 lost, 0 partial, 0 left after gc`,
      outcome: problems.length === 0 ? 'pass' : 'fail',
      figures,
      detail:
        (problems.length ? `${problems.join(' | ')} | ` : '') +
        `in flight at the kill: ${atKill.stages || 'none'}; before gc: ${describeLeftovers(leftBefore)}; after gc: ${describeLeftovers(leftAfter)}; ` +
        `gc report ${JSON.stringify(gc.report ?? null)}`,
    };
    return { row };
  } catch (err) {
    return {
      row: {
        case: `gateway SIGKILLed mid-upload, restarted on the same store (${driver})`,
        measured: 'did not complete',
        baseline: '-',
        outcome: 'fail',
        detail: `${(err as Error).stack ?? String(err)}\n${gw?.logTail() ?? ''}`,
      },
    };
  } finally {
    await gw?.stop().catch(() => undefined);
    await store.cleanup().catch((err: unknown) => ctx.log(`crash (${driver}): cleanup failed: ${(err as Error).message}`));
  }
}

export const crashCase: ReliabilityCase = {
  name: 'crash',
  async run(ctx: CaseContext): Promise<CaseRow[]> {
    const s3 = await resolveS3(ctx);
    try {
      const secret = randomBytes(32).toString('hex');
      // tokens depend on the secret only: mint them once with the command, for both drivers
      const tokenEnv = { SIGNING_SECRET: secret, STORAGE_DRIVER: 'fs', DATA_DIR: join(ctx.dir, 'crash', 'token-env') };
      const tokens = Object.fromEntries(await Promise.all(BUILDS.map(async (b) => [b, await mintToken(tokenEnv, PROJECT, b)] as const)));
      const pool = randomBytes(POOL_BYTES);
      const rows: CaseRow[] = [];
      for (const driver of ['fs', 's3'] as const) rows.push((await runDriver(ctx, driver, s3.s3, tokens, secret, pool)).row);
      return rows;
    } finally {
      await s3.stop();
    }
  },
};
