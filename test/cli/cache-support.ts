/**
 * What the cache tests share: a snapshot of a tree to compare two trees exactly, and archives
 * made header by header, so that they can hold what `cache save` never would.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

export interface Node {
  type: 'dir' | 'file' | 'link' | 'other';
  mode?: number;
  sha256?: string;
  target?: string;
  mtime?: number;
}

/** Everything under `root` (links not followed): type, permission bits, content hash, link target. */
export async function snapshot(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const path = relative(root, full).split(sep).join('/');
    const st = await lstat(full);
    if (st.isSymbolicLink()) out.set(path, { type: 'link', target: await readlink(full) });
    else if (st.isDirectory()) out.set(path, { type: 'dir', mode: st.mode & 0o7777 });
    else if (!st.isFile()) out.set(path, { type: 'other' }); // never read a FIFO: it blocks
    else {
      const sha256 = createHash('sha256').update(await readFile(full)).digest('hex');
      out.set(path, { type: 'file', mode: st.mode & 0o7777, sha256, mtime: Math.floor(st.mtimeMs / 1000) });
    }
  }
  return out;
}

export async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

export type Crafted = { path: string; type?: string; linkpath?: string; body?: string; mode?: number };

/** A .tar.gz written header by header, so that it can hold what `cache save` never would. */
export function craft(entries: Crafted[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const body = Buffer.from(e.body ?? '');
    const header = Buffer.alloc(512);
    new Header({
      path: e.path,
      type,
      size: type === 'File' ? body.length : 0,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      linkpath: e.linkpath,
      mtime: new Date(),
      uid: 0,
      gid: 0,
    } as ConstructorParameters<typeof Header>[0]).encode(header, 0);
    blocks.push(header);
    if (type === 'File') blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

