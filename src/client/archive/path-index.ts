/**
 * The set of paths an archive has shown so far, with their entry types: what the archive rules
 * look a parent or an earlier entry up in, for archives of hundreds of thousands of entries.
 */
/**
 * The paths of an archive with their entry types, in 12 bytes a path: a 64-bit hash (two
 * independent 32-bit ones) in an open-addressing table, instead of a string and a Map entry each
 * (about 300 bytes). Two paths of one archive sharing a 64-bit hash is as likely as a run of
 * 2^32 entries, and even then the extraction runs into a fresh staging directory with node-tar's
 * own checks behind these.
 */
export class PathIndex {
  private hashes = new Uint32Array(2 * 1024);
  private codes = new Uint8Array(1024);
  private count = 0;
  /** Type names by code; code 0 is an empty slot. */
  private readonly names: string[] = [''];
  private readonly byName = new Map<string, number>();

  get size(): number {
    return this.count;
  }

  has(path: string): boolean {
    return this.get(path) !== undefined;
  }

  get(path: string): string | undefined {
    const [a, b] = hash(path);
    const i = this.slot(a, b);
    const code = this.codes[i];
    return code === 0 ? undefined : this.names[code];
  }

  /** Records `path` with `type`, replacing an earlier type. */
  set(path: string, type: string): void {
    if ((this.count + 1) * 4 > this.codes.length * 3) this.grow();
    const [a, b] = hash(path);
    const i = this.slot(a, b);
    if (this.codes[i] === 0) this.count++;
    this.hashes[2 * i] = a;
    this.hashes[2 * i + 1] = b;
    this.codes[i] = this.code(type);
  }

  /** The slot holding (a, b), or the empty slot where it would go (linear probing). */
  private slot(a: number, b: number): number {
    const mask = this.codes.length - 1;
    for (let i = a & mask; ; i = (i + 1) & mask) {
      if (this.codes[i] === 0 || (this.hashes[2 * i] === a && this.hashes[2 * i + 1] === b)) return i;
    }
  }

  private code(type: string): number {
    let c = this.byName.get(type);
    if (c === undefined) {
      // a handful in practice (every type node-tar hands on); past 255, the rest share the last
      c = Math.min(this.names.length, 255);
      if (c === this.names.length) this.names.push(type);
      this.byName.set(type, c);
    }
    return c;
  }

  private grow(): void {
    const { hashes, codes } = this;
    this.hashes = new Uint32Array(hashes.length * 2);
    this.codes = new Uint8Array(codes.length * 2);
    for (let i = 0; i < codes.length; i++) {
      if (codes[i] === 0) continue;
      const j = this.slot(hashes[2 * i], hashes[2 * i + 1]);
      this.hashes[2 * j] = hashes[2 * i]!;
      this.hashes[2 * j + 1] = hashes[2 * i + 1]!;
      this.codes[j] = codes[i]!;
    }
  }
}

/** Two independent 32-bit hashes of a string's UTF-16 code units: FNV-1a, and a multiply-rotate one. */
function hash(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b = (b << 13) | (b >>> 19);
  }
  // finalisers, so that the low bits (the table index) depend on every character
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b ^= b >>> 15;
  b = Math.imul(b, 0xc2b2ae35);
  b ^= b >>> 16;
  return [a >>> 0, b >>> 0];
}
