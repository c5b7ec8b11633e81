/**
 * Tar archives built entry by entry, including the ones no honest tool makes ('..', absolute
 * paths, links, devices): what the bundle tests send.
 */
import { Header } from 'tar';

type EntryTypeName = 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';

export interface TarEntry {
  path: string;
  type?: EntryTypeName;
  body?: Buffer | string;
  /** Declared size, when it should differ from the body's (a lying header). */
  size?: number;
  linkpath?: string;
}

function block(e: TarEntry): Buffer {
  const body = Buffer.from(e.body ?? '');
  const header = new Header({
    path: e.path,
    type: (e.type ?? 'File') as never,
    size: e.size ?? (e.type === undefined || e.type === 'File' ? body.length : 0),
    mode: 0o644,
    mtime: new Date(0),
    linkpath: e.linkpath,
  });
  const h = Buffer.alloc(512);
  header.encode(h);
  const pad = (512 - (body.length % 512)) % 512;
  return Buffer.concat([h, body, Buffer.alloc(pad)]);
}

/** An uncompressed tar of `entries`, with its two end-of-archive blocks. */
export function makeTar(entries: readonly TarEntry[]): Buffer {
  return Buffer.concat([...entries.map(block), Buffer.alloc(1024)]);
}
