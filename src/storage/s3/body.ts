/**
 * Request-body plumbing for the s3 driver's write(): checking the length of the caller's body,
 * and looking at its first part before deciding how to upload it.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { BadRequestError, PayloadTooLargeError } from '../../errors';

/**
 * Counts bytes: fails when the body runs past `declared` or `max`, or ends short of `declared`.
 * With a declared length the last byte is held back until the source has ended, so a streamed
 * PutObject never receives a complete body that then turns out to be too long. `failure` keeps
 * the first error (the body's own, or the length mismatch) for write() to report as it is.
 *
 * Fed by pipe() rather than by iterating the body: when S3 fails first, unpipe() stops reading at
 * once, where an iterator's return() would wait for the body's next chunk (and a stalled client
 * may never send one); the body itself is the caller's and is never destroyed.
 */
export class LengthGuard extends Transform {
  failure: Error | undefined;
  private bytes = 0;
  private held: Buffer | undefined;

  constructor(
    private readonly declared: number | undefined,
    private readonly max: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.declared !== undefined && this.bytes > this.declared) {
      return done(new BadRequestError(`the body is longer than ${this.declared} bytes`, 'length_mismatch'));
    }
    if (this.bytes > this.max) return done(new PayloadTooLargeError(`the body is over the limit of ${this.max} bytes`));
    if (this.bytes === this.declared && chunk.length > 0) {
      this.held = chunk.subarray(chunk.length - 1);
      return done(null, chunk.subarray(0, chunk.length - 1));
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.declared !== undefined && this.bytes < this.declared) {
      return done(new BadRequestError(`the body ended after ${this.bytes} of ${this.declared} bytes`, 'length_mismatch'));
    }
    done(null, this.held);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.failure ??= err ?? undefined;
    done(err);
  }
}

/** Pipes `body` through a new LengthGuard; undo with `detach`. */
export function guard(body: Readable, declared: number | undefined, max: number): { guard: LengthGuard; detach(): void } {
  const g = new LengthGuard(declared, max);
  // stays attached: a body that fails after write() gave up has nobody else to tell
  body.on('error', (e) => g.destroy(e));
  body.pipe(g);
  return {
    guard: g,
    detach() {
      body.unpipe(g);
      g.destroy();
    },
  };
}

/** Reads until more than `limit` bytes arrived (`rest` continues from there) or the body ended. */
export async function readHead(source: Readable, limit: number): Promise<{ chunks: Buffer[]; rest: AsyncIterator<Buffer> | null }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  for (let bytes = 0; bytes <= limit;) {
    const next = await it.next();
    if (next.done) return { chunks, rest: null };
    chunks.push(next.value);
    bytes += next.value.length;
  }
  return { chunks, rest: it };
}

/** The head that readHead() took, followed by the rest, as one stream again. */
export function rejoin(head: Buffer[], rest: AsyncIterator<Buffer>): Readable {
  return Readable.from(
    (async function* () {
      yield* head;
      for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
    })(),
    { objectMode: false }, // byte mode: buffers 16 KiB ahead, not 16 chunks of any size
  );
}
