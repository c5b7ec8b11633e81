/**
 * Reading a cache archive file: its sha256, its gzip magic, and its tar stream decompressed into
 * node-tar's Parser (the checks) or Unpack (the extraction), counted and cut off at a limit.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Unpack, type Parser } from 'tar';
import { ArchiveRefused } from './rules';

export async function sha256File(file: string, onBytes?: (delta: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}

export async function checkMagic(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    if (bytesRead < 2 || head[0] !== 0x1f || head[1] !== 0x8b) throw new ArchiveRefused('the archive is not a gzip-compressed tar');
  } finally {
    await handle.close();
  }
}

interface ReadTarOptions {
  onBytes?: (delta: number) => void;
  /** The most uncompressed tar bytes to read: past it, the read stops and fails with tooBig's message. */
  max: number;
  tooBig(read: number): string;
}

/**
 * Streams the file, decompressed, into a tar Parser or Unpack, and waits for it to finish;
 * resolves to the uncompressed tar bytes read.
 */
export function readTar(file: string, sink: Parser, options: ReadTarOptions): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let failed = false;
    let tarBytes = 0;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      source.destroy();
      gunzip.destroy();
      reject(err instanceof ArchiveRefused || sink instanceof Unpack ? err : new ArchiveRefused(`the archive is damaged: ${err.message}`));
      // no more entries: an Unpack stops writing (the error it emits for it is ignored: failed already)
      sink.abort(new Error('stopped'));
    };
    const source = createReadStream(file);
    const gunzip = createGunzip();
    const count = tap((n) => {
      tarBytes += n;
      if (tarBytes > options.max) fail(new ArchiveRefused(options.tooBig(tarBytes)));
    });
    source.on('error', fail);
    gunzip.on('error', (err) => fail(new ArchiveRefused(`the archive is damaged: ${err.message}`)));
    sink.on('error', fail);
    sink.on('close', () => {
      if (!failed) resolve(tarBytes);
    });
    source
      .pipe(tap((n) => options.onBytes?.(n)))
      .pipe(gunzip)
      .pipe(count);
    count.pipe(sink);
  });
}

export function tap(fn: (n: number, chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      fn(chunk.length, chunk);
      cb(null, chunk);
    },
  });
}
