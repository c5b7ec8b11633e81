/**
 * Properties of the cache archive rules (src/client/archive/rules.ts): random tar headers
 * (paths, link targets, types), written as a real tar and read back by node-tar's parser as a
 * restore reads them, are either refused or would write nothing outside the restore paths, and
 * leave no symbolic link pointing outside the target directory. "Would write" is worked out by
 * replaying the accepted entries on a model of the target directory that follows the links the
 * archive itself creates, as the kernel would during extraction.
 */
import fc from 'fast-check';
import { posix } from 'node:path';
import { Header, Parser, Pax, type ReadEntry } from 'tar';
import { ArchiveRefused, ArchiveRules } from '../../src/client/archive/rules';

const RUNS = 1000;
const ROOT = '/r';

interface Entry {
  path: string;
  type: string;
  linkpath?: string;
}

const TYPES = ['File', 'Directory', 'SymbolicLink', 'Link', 'OldFile', 'ContiguousFile', 'CharacterDevice', 'BlockDevice', 'FIFO', 'GNUDumpDir', 'SparseFile'];
const SEGMENTS = ['node_modules', 'a', 'b', '.bin', 'l', 'm', '..', '.', '', 'x\\..', '..\\..', 'C:', 'é', '...', ' ', 'n'.repeat(120), 'é'.repeat(140)];
const LINK_SEGMENTS = ['..', '.', '', 'a', 'b', 'l', 'm', 'node_modules', '.bin', '..\\..', 'x\\..'];

const segmentsOf = (pool: string[], max: number) =>
  fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool.slice(0, 8)) }, { weight: 1, arbitrary: fc.constantFrom(...pool) }), {
    minLength: 1,
    maxLength: max,
  });

const entryPath = fc
  .tuple(fc.constantFrom('', '', '', './', '/', 'C:/'), segmentsOf(SEGMENTS, 5), fc.constantFrom('', '', '/'))
  .map(([lead, segs, trail]) => `${lead}${segs.join('/')}${trail}`);
const linkTarget = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(fc.constantFrom('', '', '/', './'), segmentsOf(LINK_SEGMENTS, 6), fc.constantFrom('/', '\\'))
      .map(([lead, segs, sep]) => lead + segs.join(sep)),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '/etc', '/etc/passwd', 'C:\\Windows', '..', '../..', '.') },
);
const rawEntry: fc.Arbitrary<Entry> = fc
  .record({ path: entryPath, type: fc.constantFrom(...TYPES), linkpath: linkTarget })
  // node-tar's parser refuses a link path on anything but a link, and a link without one
  .map((e) => (e.type === 'SymbolicLink' || e.type === 'Link' ? e : { path: e.path, type: e.type }));

/**
 * Archives shaped as `cache save` makes them (each entry in a directory made before it), with
 * random names, types and link targets, plus the odd raw entry anywhere: so that a good share
 * is accepted and the rules are tested where they matter, on links and what comes after them.
 */
const archive = fc
  .tuple(
    fc.constantFrom(['node_modules'], [''], ['node_modules/a'], ['node_modules', 'a']),
    fc.array(
      fc.record({
        parent: fc.nat(),
        name: fc.oneof(
          { weight: 20, arbitrary: fc.constantFrom('a', 'b', 'l', 'm', '.bin', 'x', 'node_modules') },
          { weight: 1, arbitrary: fc.constantFrom('n'.repeat(120), 'é'.repeat(140)) },
        ),
        type: fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom('Directory', 'File', 'SymbolicLink', 'SymbolicLink', 'Link') },
          { weight: 1, arbitrary: fc.constantFrom(...TYPES) },
        ),
        linkpath: fc.oneof(
          // what save keeps: '../'s, then names (which may themselves be links of the archive)
          {
            weight: 4,
            arbitrary: fc
              .tuple(fc.nat(3), fc.array(fc.constantFrom('a', 'b', 'l', 'm', '.bin', 'x', 'node_modules'), { maxLength: 3 }))
              .map(([ups, names]) => [...Array(ups).fill('..'), ...names].join('/') || '.'),
          },
          { weight: 1, arbitrary: linkTarget },
        ),
        hardTarget: fc.nat(),
        raw: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: rawEntry }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
  )
  .map(([paths, ops]) => {
    const dirs = paths.filter((p) => p !== '');
    const entries: Entry[] = dirs.map((d) => ({ path: d, type: 'Directory' }));
    if (paths.includes('')) dirs.push('');
    const files: string[] = [];
    const used = new Set(dirs);
    for (const op of ops) {
      if (op.raw) {
        entries.push(op.raw);
        continue;
      }
      const parent = dirs[op.parent % dirs.length];
      const path = parent === '' ? op.name : `${parent}/${op.name}`;
      if (used.has(path)) continue;
      used.add(path);
      const linkpath = op.type === 'SymbolicLink' ? op.linkpath : op.type === 'Link' ? (files[op.hardTarget % (files.length || 1)] ?? op.linkpath) : undefined;
      entries.push({ path, type: op.type, linkpath });
      if (op.type === 'Directory') dirs.push(path);
      if (op.type === 'File') files.push(path);
    }
    return [paths, entries] as const;
  });

/** A tar written header by header (pax headers for long names), so it can hold anything. */
function tarOf(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = {
      path: e.path,
      type: e.type,
      size: 0,
      mode: e.type === 'Directory' ? 0o755 : 0o644,
      linkpath: e.linkpath,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
    };
    const header = Buffer.alloc(512);
    if (new Header(data as ConstructorParameters<typeof Header>[0]).encode(header, 0)) {
      blocks.push(new Pax({ path: e.path, linkpath: e.linkpath }).encode());
    }
    blocks.push(header);
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The rules' verdict on the archive, read by node-tar's parser as a restore reads it. */
async function inspect(paths: string[], tar: Buffer): Promise<{ accepted: boolean; read: Array<{ path: string; type: string; linkpath?: string }> }> {
  const rules = new ArchiveRules(paths);
  const read: Array<{ path: string; type: string; linkpath?: string }> = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (e: ReadEntry) => {
      read.push({ path: e.path, type: e.type, linkpath: e.linkpath });
      rules.check(e);
      e.resume();
    },
  });
  const parsed = await new Promise<boolean>((resolve) => {
    parser.on('error', () => resolve(false));
    parser.on('end', () => resolve(true));
    parser.end(tar);
  });
  if (!parsed) return { accepted: false, read };
  try {
    rules.result();
    return { accepted: true, read };
  } catch (err) {
    if (err instanceof ArchiveRefused) return { accepted: false, read };
    throw err;
  }
}

/**
 * Replays accepted entries on a model of the target directory: where each entry would land,
 * following the symbolic links earlier entries created, and where each link would lead.
 */
function escapes(paths: string[], entries: Array<{ path: string; type: string; linkpath?: string }>): string | undefined {
  const links = new Map<string, string>();
  const inside = (p: string) => p === ROOT || p.startsWith(`${ROOT}/`);
  const underRestorePath = (p: string) => paths.some((r) => (r === '' ? inside(p) : p === `${ROOT}/${r}` || p.startsWith(`${ROOT}/${r}/`)));
  /**
   * Where `rel` leads from the real directory `from`, as the kernel walks it: one name at a time,
   * a link replaced by where it leads before the walk goes on, '..' the parent of where the walk
   * is (not a lexical step back). undefined: a loop, which extraction fails on.
   */
  const walk = (from: string, rel: string, hops = 0): string | undefined => {
    if (hops > 40) return undefined;
    let cur = rel.startsWith('/') ? '/' : from;
    // a backslash is a character of a name to the kernel, not a separator
    for (const part of rel.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        cur = posix.dirname(cur);
        continue;
      }
      const next = posix.join(cur, part);
      const target = links.get(next);
      if (target === undefined) cur = next;
      else {
        const leads = walk(cur, target, hops + 1);
        if (leads === undefined) return undefined;
        cur = leads;
      }
    }
    return cur;
  };
  const real = (abs: string) => walk('/', abs);
  for (const e of entries) {
    const rel = e.path.replace(/^(\.\/)+/, '').replace(/\/$/, '');
    const parent = walk(ROOT, posix.dirname(rel));
    if (parent === undefined) continue; // a loop: extraction fails, writes nothing there
    const at = posix.join(parent, posix.basename(rel));
    if (!underRestorePath(at)) return `${JSON.stringify(e.path)} (${e.type}) would be written at ${at}, outside the restore paths`;
    if (e.type === 'SymbolicLink') {
      links.set(at, e.linkpath ?? '');
      const leads = real(at);
      if (leads !== undefined && !inside(leads))
        return `the link ${JSON.stringify(e.path)} -> ${JSON.stringify(e.linkpath)} leads to ${leads}, outside the target`;
    }
    if (e.type === 'Link') {
      const target = walk(ROOT, e.linkpath ?? '');
      if (target !== undefined && !inside(target))
        return `the hard link ${JSON.stringify(e.path)} -> ${JSON.stringify(e.linkpath)} names ${target}, outside the target`;
    }
  }
  // every link, followed to its end once the whole archive is written, stays inside
  for (const [at, target] of links) {
    const leads = real(at);
    if (leads !== undefined && !inside(leads)) return `the link at ${at} -> ${JSON.stringify(target)} leads to ${leads}, outside the target`;
  }
  return undefined;
}

describe('cache archive rules, for random tar headers', () => {
  it('accept no archive that would write outside the restore paths or leave a link out of the target', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(archive, async ([paths, entries]) => {
        const verdict = await inspect([...paths], tarOf(entries));
        if (!verdict.accepted) return;
        accepted++;
        expect(escapes([...paths], verdict.read)).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
    // the property says something only if a good share of archives is accepted
    expect(accepted).toBeGreaterThan(RUNS / 10);
  });
});
