/**
 * Looks at a gateway's store from outside, without the gateway's storage code: the fs driver's
 * directory tree read as files (layout in src/storage/fs/layout.ts), the s3 buckets through plain
 * S3 calls. What the gateway cases count with it: the committed entries (artifacts and caches),
 * and every kind of leftover a crashed or cut upload can leave, sorted by who removes it.
 *
 * Object kinds (src/artifacts/layout.ts, src/caches/layout.ts):
 *   p/<project>/o/<uuid>                bytes; an orphan when no entry or reservation names it
 *   p/<project>/b/<build>/f/<path>      artifact entry (JSON); one naming a bundle is visible
 *                                       only once that bundle's record says committed
 *   p/<project>/b/<build>/u/<bundle>    a bundle's record: committed or aborted (JSON)
 *   p/<project>/s/<scope>/k/<key>       cache entry (JSON)
 *   p/<project>/r/<uploadId>            direct cache upload reserved, not committed (JSON)
 *   p/<project>/n/<scope>/<h>/<t>/<key> restore-prefix index name; stale when its entry is
 *                                       missing or has another creation time
 *   .multipart/<id>/…                   fs: parts of an emulated multipart upload
 */
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Dirent } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { s3Client, type Store } from './gw-process';

export type Bucket = 'artifacts' | 'cache';
const BUCKETS: Bucket[] = ['artifacts', 'cache'];

export interface RawObject {
  bucket: Bucket;
  key: string;
  size: number;
  lastModified: Date;
}

export interface StoreSnapshot {
  /** Every object with a key the gateway can address. */
  objects: RawObject[];
  /** fs: `\tmp-…` files (writes that never reached their rename). */
  fsTempFiles: string[];
  /** s3: keys holding a backslash (the driver's staging prefix). */
  s3Staging: string[];
  /** s3: multipart uploads started and neither completed nor aborted. */
  s3PendingUploads: Array<{ bucket: Bucket; key: string; uploadId: string }>;
}

async function walkFs(dir: string, keyBase: string, out: StoreSnapshot, bucket: Bucket): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory() && e.name.endsWith('\\')) {
      await walkFs(path, `${keyBase}${e.name.slice(0, -1)}/`, out, bucket);
    } else if (e.name.includes('\\')) {
      out.fsTempFiles.push(`${bucket}/${keyBase}${e.name}`);
    } else if (e.isFile()) {
      const st = await stat(path).catch(() => null);
      if (!st) continue; // removed while we looked
      const bodyAt = await fsBodyOffset(path).catch(() => 0);
      out.objects.push({ bucket, key: keyBase + e.name, size: st.size - bodyAt, lastModified: new Date(st.mtimeMs) });
    }
  }
}

/** fs object file: "AGW\x01", md5 (16 bytes), uint32 BE JSON length, JSON, body. */
async function fsBodyOffset(path: string): Promise<number> {
  const handle = await open(path, 'r');
  const head = Buffer.alloc(24);
  try {
    await handle.read(head, 0, 24, 0);
  } finally {
    await handle.close();
  }
  if (head.length < 24 || head.subarray(0, 4).toString('latin1') !== 'AGW\x01') throw new Error(`${path} is not an fs-driver object`);
  return 24 + head.readUInt32BE(20);
}

function fsObjectFile(store: Store, bucket: Bucket, key: string): string {
  const segments = key.split('/');
  return join(store.dataDir!, bucket, ...segments.slice(0, -1).map((s) => `${s}\\`), segments[segments.length - 1]);
}

export async function snapshot(store: Store): Promise<StoreSnapshot> {
  const out: StoreSnapshot = { objects: [], fsTempFiles: [], s3Staging: [], s3PendingUploads: [] };
  if (store.driver === 'fs') {
    for (const bucket of BUCKETS) await walkFs(join(store.dataDir!, bucket), '', out, bucket);
    return out;
  }
  const client = s3Client(store.s3!);
  try {
    for (const bucket of BUCKETS) {
      const name = store.buckets![bucket];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: name, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          if (o.Key!.includes('\\')) out.s3Staging.push(`${bucket}/${o.Key}`);
          else out.objects.push({ bucket, key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const page = await client.send(new ListMultipartUploadsCommand({ Bucket: name, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
        for (const u of page.Uploads ?? []) out.s3PendingUploads.push({ bucket, key: u.Key!, uploadId: u.UploadId! });
        if (!page.IsTruncated) break;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
      }
    }
  } finally {
    client.destroy();
  }
  return out;
}

/** The body of one (small) object. */
export async function readObject(store: Store, bucket: Bucket, key: string): Promise<Buffer> {
  if (store.driver === 'fs') {
    const file = await readFile(fsObjectFile(store, bucket, key));
    return file.subarray(24 + file.readUInt32BE(20));
  }
  const client = s3Client(store.s3!);
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: store.buckets![bucket], Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

export interface ArtifactEntryView {
  project: string;
  build: string;
  path: string;
  object: string;
  size: number;
  sha256: string;
}

export interface CacheEntryView {
  project: string;
  scope: string;
  key: string;
  object: string;
  size: number;
  sha256: string;
  createdAt: string;
}

export interface Leftovers {
  /** Bytes no entry or reservation names (gc: after a day). */
  orphanObjects: number;
  /** Restore-prefix index names without their entry (gc: after a day). */
  staleIndexNames: number;
  /** Direct cache uploads never committed (gc: after CACHE_UPLOAD_TTL and a day). */
  reservations: number;
  /** Storage-side parts of reserved uploads: fs `.multipart/` objects, s3 pending uploads (gc aborts them with the reservation). */
  reservedParts: number;
  /** Multipart state no reservation names (fs `.multipart/` objects, s3 pending uploads): a crash between starting it and recording it. */
  unreservedParts: number;
  /** fs temp files and s3 staging objects: invisible to the gateway's listings. */
  hiddenTemp: number;
  /** Entries of bundles with no commit record, or an aborted one: never visible (gc: a day after the bundle began). */
  uncommittedBundleFiles: number;
}

export interface Audit {
  artifacts: ArtifactEntryView[];
  caches: CacheEntryView[];
  leftovers: Leftovers;
  /** Entry objects that are not valid JSON or name bytes that do not exist: never acceptable. */
  brokenEntries: string[];
}

const dec = (s: string) => decodeURIComponent(s);

/** Reads every entry and reservation and sorts every other object into a leftover kind. */
export async function audit(store: Store, snap?: StoreSnapshot): Promise<Audit> {
  const s = snap ?? (await snapshot(store));
  const byKey = new Map(s.objects.map((o) => [`${o.bucket}:${o.key}`, o]));
  const artifacts: ArtifactEntryView[] = [];
  const caches: CacheEntryView[] = [];
  const brokenEntries: string[] = [];
  const named = new Set<string>(); // bucket:key of bytes an entry or reservation names
  const reservedUploads = new Set<string>(); // storage upload ids of reservations
  let reservations = 0;
  const committedBundles = new Set<string>(); // keys of commit records that say committed
  const bundleEntries: string[] = []; // for each entry of a bundle, its bundle's record key
  const readJson = async <T>(o: RawObject): Promise<T | null> => {
    try {
      return JSON.parse((await readObject(store, o.bucket, o.key)).toString('utf8')) as T;
    } catch {
      brokenEntries.push(`${o.bucket}/${o.key} (unreadable or not JSON)`);
      return null;
    }
  };
  const entryCreated = new Map<string, number>(); // cache entry key -> createdAt ms
  for (const o of s.objects) {
    const m = /^p\/([^/]+)\/([a-z])\/(.+)$/.exec(o.key);
    if (!m) continue;
    const [, project, kind, rest] = m as unknown as [string, string, string, string];
    if (o.bucket === 'artifacts' && kind === 'b') {
      // a build's files (f/); its record, summary and touched marker (m/) and bundle records (u/) name no bytes
      const um = /^([^/]+)\/u\/(.+)$/.exec(rest);
      if (um) {
        const record = await readJson<{ state: string }>(o);
        if (record?.state === 'committed') committedBundles.add(o.key);
        continue;
      }
      const fm = /^([^/]+)\/f\/(.+)$/.exec(rest);
      if (!fm) continue;
      const e = await readJson<{ path: string; object: string; size: number; sha256: string; bundle?: string }>(o);
      if (!e) continue;
      if (e.bundle !== undefined) bundleEntries.push(`p/${project}/b/${fm[1]}/u/${e.bundle}`);
      named.add(`artifacts:${e.object}`);
      if (!byKey.has(`artifacts:${e.object}`)) brokenEntries.push(`artifacts/${o.key} names missing bytes ${e.object}`);
      artifacts.push({ project: dec(project), build: dec(fm[1]), path: e.path, object: e.object, size: e.size, sha256: e.sha256 });
    } else if (o.bucket === 'cache' && kind === 's') {
      const e = await readJson<{ key: string; scope: string; object: string; size: number; sha256: string; createdAt: string }>(o);
      if (!e) continue;
      named.add(`cache:${e.object}`);
      if (!byKey.has(`cache:${e.object}`)) brokenEntries.push(`cache/${o.key} names missing bytes ${e.object}`);
      caches.push({ project: dec(project), scope: e.scope, key: e.key, object: e.object, size: e.size, sha256: e.sha256, createdAt: e.createdAt });
      entryCreated.set(o.key, Date.parse(e.createdAt));
    } else if (o.bucket === 'cache' && kind === 'r') {
      const r = await readJson<{ object: string; storageUploadId: string }>(o);
      reservations++;
      if (!r) continue;
      named.add(`cache:${r.object}`);
      reservedUploads.add(r.storageUploadId);
    }
  }
  let orphanObjects = 0;
  let staleIndexNames = 0;
  let reservedParts = 0;
  let unreservedParts = 0;
  for (const o of s.objects) {
    const m = /^p\/([^/]+)\/([a-z])\/(.+)$/.exec(o.key);
    if (m?.[2] === 'o' && !named.has(`${o.bucket}:${o.key}`)) orphanObjects++;
    if (o.bucket === 'cache' && m?.[2] === 'n') {
      const n = /^p\/([^/]+)\/n\/([^/]+)\/[0-9a-f]{32}\/(\d{15})\/(.+)$/.exec(o.key);
      const entryKey = n ? `p/${n[1]}/s/${n[2]}/k/${n[4]}` : '';
      const createdAtMs = n ? 10 ** 15 - 1 - Number(n[3]) : NaN;
      if (entryCreated.get(entryKey) !== createdAtMs) staleIndexNames++;
    }
    const mp = /^\.multipart\/([0-9a-f]{32})\//.exec(o.key);
    if (mp) {
      if (reservedUploads.has(mp[1])) reservedParts++;
      else unreservedParts++;
    }
  }
  for (const u of s.s3PendingUploads) {
    if (reservedUploads.has(u.uploadId)) reservedParts++;
    else unreservedParts++;
  }
  return {
    artifacts,
    caches,
    brokenEntries,
    leftovers: {
      orphanObjects,
      staleIndexNames,
      reservations,
      reservedParts,
      unreservedParts,
      hiddenTemp: s.fsTempFiles.length + s.s3Staging.length,
      uncommittedBundleFiles: bundleEntries.filter((record) => !committedBundles.has(record)).length,
    },
  };
}

/**
 * The leftovers `artifact-gateway gc` removes once they are old enough: orphan bytes, stale index
 * names, reservations with their parts, and what writes cut by a crash left where no listing
 * shows it (fs temp files and emulated multipart uploads; s3 staging objects and incomplete
 * multipart uploads): every kind counted here.
 */
export function collectable(l: Leftovers): number {
  return l.orphanObjects + l.staleIndexNames + l.reservations + l.reservedParts + l.unreservedParts + l.hiddenTemp + l.uncommittedBundleFiles;
}

export function describeLeftovers(l: Leftovers): string {
  return (
    `${l.orphanObjects} orphan objects, ${l.staleIndexNames} stale index names, ${l.reservations} reservations, ` +
    `${l.reservedParts} reserved parts/uploads, ${l.unreservedParts} unreserved parts/uploads, ${l.hiddenTemp} temp/staging files, ` +
    `${l.uncommittedBundleFiles} files of uncommitted bundles`
  );
}
