/**
 * What the cache tests share: a snapshot of a tree to compare two trees exactly, and archives
 * made header by header, so that they can hold what `cache save` never would.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';

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
    else if (!st.isFile())
      out.set(path, { type: 'other' }); // never read a FIFO: it blocks
    else {
      const sha256 = createHash('sha256')
        .update(await readFile(full))
        .digest('hex');
      // tar holds whole seconds of the Date node gives (st.mtime: mtimeMs rounded to the ms), so
      // a file written in the last half millisecond of a second is archived as the next second
      out.set(path, { type: 'file', mode: st.mode & 0o7777, sha256, mtime: Math.floor(st.mtime.getTime() / 1000) });
    }
  }
  return out;
}

export async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

export type Crafted = {
  path: string;
  type?: string;
  linkpath?: string;
  body?: string | Buffer;
  mode?: number;
  /** A type flag written as is (one character), for types node-tar will not encode ('Z'), with the body given. */
  flag?: string;
};

/** The tar stream (uncompressed) of `entries`, header by header; paths too long for a header get a pax header. */
export function tarOf(entries: Crafted[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const body = Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body ?? '');
    const hasBody = type === 'File' || e.flag !== undefined;
    const fields = {
      path: e.path,
      type,
      size: hasBody ? body.length : 0,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      linkpath: e.linkpath,
      mtime: new Date(),
      uid: 0,
      gid: 0,
    } as HeaderData;
    const header = Buffer.alloc(512);
    const h = new Header(fields);
    h.encode(header, 0);
    if (h.needPax) blocks.push(new Pax(fields).encode());
    if (e.flag !== undefined) {
      // the type flag is byte 156; the checksum (bytes 148-155) is the sum of the header with it blank
      header.write(e.flag, 156, 1, 'latin1');
      header.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of header) sum += b;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    }
    blocks.push(header);
    if (hasBody) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A .tar.gz written header by header, so that it can hold what `cache save` never would. */
export function craft(entries: Crafted[]): Buffer {
  return gzipSync(tarOf(entries));
}

/**
 * A node_modules as pnpm and workspaces lay it out: packages in .pnpm linked from node_modules,
 * their dependencies linked beside them, .bin entries through those links, links to links, links
 * inside linked directories, and a workspace package linked from outside node_modules.
 */
export async function pnpmTree(root: string): Promise<void> {
  const nm = join(root, 'node_modules');
  const a = join(nm, '.pnpm', 'a@1.0.0', 'node_modules', 'a');
  const b = join(nm, '.pnpm', 'b@2.0.0', 'node_modules', 'b');
  await mkdir(join(a, 'bin'), { recursive: true });
  await mkdir(join(b, 'lib'), { recursive: true });
  await mkdir(join(nm, '.bin'), { recursive: true });
  await mkdir(join(nm, '@ws'), { recursive: true });
  await mkdir(join(root, 'packages', 'app'), { recursive: true });
  await writeFile(join(a, 'index.js'), 'module.exports = "a";\n');
  await writeFile(join(a, 'bin', 'a.js'), '#!/usr/bin/env node\n', { mode: 0o755 });
  await writeFile(join(b, 'lib', 'index.js'), 'module.exports = "b";\n');
  await writeFile(join(root, 'packages', 'app', 'package.json'), '{"name":"@ws/app"}');
  // a's dependency b, beside it in .pnpm (a link to a real directory)
  await symlink('../../b@2.0.0/node_modules/b', join(nm, '.pnpm', 'a@1.0.0', 'node_modules', 'b'));
  // the top-level names: links into .pnpm
  await symlink('.pnpm/a@1.0.0/node_modules/a', join(nm, 'a'));
  await symlink('.pnpm/b@2.0.0/node_modules/b', join(nm, 'b'));
  // .bin through the link a: .bin/a -> a -> .pnpm/…/a
  await symlink('../a/bin/a.js', join(nm, '.bin', 'a'));
  // a link to a link, and a link to a file through a link to a link
  await symlink('a', join(nm, 'a-alias'));
  await symlink('a-alias/index.js', join(nm, 'a-main'));
  // a link inside a linked directory, through the sibling link b
  await symlink('../b/lib/index.js', join(a, 'node_modules-b-index.js'));
  // a workspace package, outside node_modules but inside the directory
  await symlink('../../packages/app', join(nm, '@ws', 'app'));
}

/** A directory nothing can be created in or moved out of: immutable as root, read-only otherwise. */
export function freeze(dir: string): void {
  if (process.getuid?.() === 0) execFileSync('chattr', ['+i', dir]);
  else chmodSync(dir, 0o555);
}

export function unfreeze(dir: string): void {
  if (process.getuid?.() === 0) execFileSync('chattr', ['-i', dir]);
  else chmodSync(dir, 0o755);
}
