/**
 * A path in a build is a file or a directory, never both, as on a filesystem: `report` and
 * `report/x` in one build would make `GET /report` ambiguous and a download of the build
 * impossible to lay out. Checked before an upload's bytes are stored and again after its entry
 * lands (store.ts), for races.
 */
import { ConflictError } from '../errors';
import type { Storage } from '../storage/storage';
import * as layout from './layout';

const BOTH = 'a path cannot be both a file and a directory';

/** Throws ConflictError naming the file above `path`, or the directory `path` already is. */
export async function refuseFileDirConflict(storage: Storage, project: string, build: string, path: string): Promise<void> {
  const segments = path.split('/');
  const ancestors = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
  const [files, below] = await Promise.all([
    Promise.all(ancestors.map((a) => storage.stat('artifacts', layout.entryKey(project, build, a)))),
    storage.list('artifacts', layout.entryPrefix(project, build, `${path}/`), { limit: 1 }),
  ]);
  const file = files.findIndex((info) => info !== null);
  if (file !== -1) {
    const why = `${ancestors[file]} is a file there, and ${BOTH}`;
    throw new ConflictError(`${path} cannot be stored in build ${build}: ${why}`, { path, file: ancestors[file] });
  }
  if (below.items.length > 0) {
    const why = `it is a directory there (it holds other files), and ${BOTH}`;
    throw new ConflictError(`${path} cannot be stored in build ${build}: ${why}`, { path, directory: `${path}/` });
  }
}
