/**
 * A build, or a directory of it, as one zip streamed while it is read from storage (`GET
 * …/artifacts?archive=zip`), with yazl (zip64 where sizes or offsets pass 4 GiB, so multi-GiB
 * builds work). Memory stays flat whatever the build holds: entries are listed a page at a time,
 * as the zip needs them; files are read in order, at most READ_AHEAD at once (the one being
 * written and the next few, so small files do not each wait a storage round trip); yazl keeps only
 * each file's central directory record (about 100 bytes) until the end.
 *
 * Files are stored, not deflated, except text-like types (HTML, JSON, JS, CSS, XML, SVG, plain
 * text), which shrink several times: most artifacts are archives, images or binaries already
 * compressed, and deflating those costs the gateway's CPU for nothing. So the size is not known
 * in advance: the answer is chunked, without Content-Length.
 *
 * A client that hangs up destroys the zip stream (Koa's pipeline); that aborts the storage reads
 * in flight and destroys the ones read ahead, so no storage stream or socket is left open.
 */
import { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { NotFoundError } from '../errors';
import type { Storage, ReadResult } from '../storage/storage';
import type { ArtifactEntry, ArtifactStore } from './store';

/** Storage reads open at once: the file being written and the next ones. */
export const READ_AHEAD = 4;
const PAGE = 200;
const COMPRESSIBLE = /^(text\/|application\/(json|javascript|xml|xhtml\+xml|x-ndjson|ld\+json|manifest\+json)|image\/svg\+xml)|\+json|\+xml/i;

interface Queued {
  entry: ArtifactEntry;
  read?: Promise<ReadResult>;
}

/**
 * The zip of every visible file below `dir` ('' or ending in '/'), as a stream; NotFoundError
 * before anything is sent when there is none.
 */
export async function zipBuild(store: ArtifactStore, storage: Storage, project: string, build: string, dir: string): Promise<Readable> {
  let pageToken: string | undefined;
  let first: ArtifactEntry[];
  // a page can be empty and not the last (deleted or expired files): look on until one is not
  do {
    const page = await store.list(project, build, { dir, limit: PAGE, pageToken, remember: false });
    first = page.items;
    pageToken = page.nextPageToken;
  } while (first.length === 0 && pageToken);
  if (first.length === 0) throw new NotFoundError(dir === '' ? `build ${build} holds no files` : `no files under ${dir} in build ${build}`);

  const zip = new ZipFile();
  const output = zip.outputStream as unknown as Readable;
  const controller = new AbortController();
  const waiting: Queued[] = [];
  const open = new Set<Readable>();
  let listing: Promise<void> | undefined;
  let done = false;

  const fail = (err: Error) => {
    if (!output.destroyed) output.destroy(err);
  };
  // the end of the stream, however it came: stop listing and reading, release what is open
  output.once('close', () => {
    done = true;
    controller.abort();
    for (const body of open) body.destroy();
    open.clear();
    for (const q of waiting)
      void q.read?.then(
        (r) => r.body.destroy(),
        () => undefined,
      );
    waiting.length = 0;
  });
  zip.on('error', fail);

  const start = (q: Queued) => {
    q.read ??= storage.read('artifacts', store.objectKey(project, q.entry), { signal: controller.signal }).then((r) => {
      // a body read ahead has no reader yet: its failure must not go unheard
      r.body.once('error', fail);
      if (done) r.body.destroy();
      else {
        open.add(r.body);
        r.body.once('close', () => open.delete(r.body));
      }
      return r;
    });
    q.read.catch(() => undefined);
  };

  const add = (entries: ArtifactEntry[]) => {
    for (const entry of entries) {
      const q: Queued = { entry };
      waiting.push(q);
      zip.addReadStreamLazy(
        entry.path,
        { size: entry.size, mtime: new Date(entry.createdAt), compress: COMPRESSIBLE.test(entry.contentType) },
        // yazl asks for each file's stream in the order they were added, when it reaches it
        (cb) => {
          const head = waiting.shift()!;
          start(head);
          for (let i = 0; i < READ_AHEAD - 1 && i < waiting.length; i++) start(waiting[i]);
          if (waiting.length < READ_AHEAD && pageToken !== undefined) more();
          head.read!.then(
            (r) => cb(null, r.body),
            (err: Error) => cb(err, output), // yazl ignores the stream when err is set
          );
        },
      );
    }
  };

  const more = () => {
    listing ??= store
      .list(project, build, { dir, limit: PAGE, pageToken, remember: false })
      .then((page) => {
        listing = undefined;
        if (done) return;
        pageToken = page.nextPageToken;
        add(page.items);
        // a page of only deleted files adds nothing that would ask for the next: ask here
        if (waiting.length < READ_AHEAD && pageToken !== undefined) more();
        else if (pageToken === undefined) zip.end();
      })
      .catch(fail);
  };

  add(first);
  if (pageToken === undefined) zip.end();
  return output;
}

/** The file name a zip is offered under: project, build and directory, safe as one name. */
export function zipName(project: string, build: string, dir: string): string {
  const parts = [project, build, dir].filter((p) => p !== '').join('-');
  return `${parts.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-+$/, '')}.zip`;
}
