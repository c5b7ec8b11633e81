/**
 * The commands a CI job runs: in the full `artifact-gateway` command (index.ts) and in the runner
 * client (client.ts), which bundles this file and nothing that administers a gateway.
 */
import { cache } from './cache';
import { deleteCommand } from './delete';
import type { Commands } from './dispatch';
import { download } from './download';
import { pin, unpin } from './pin';
import { upload } from './upload';

export const JOB_COMMANDS: Commands = {
  upload: { run: upload, summary: 'upload files and directories to a build' },
  download: { run: download, summary: 'download a build, or a directory of it, verified' },
  delete: { run: deleteCommand, summary: 'delete a build, or a file or directory of it' },
  pin: { run: pin, summary: 'keep a build from retention' },
  unpin: { run: unpin, summary: 'let retention remove a pinned build again' },
  cache: { run: cache, summary: 'dependency caches: save, restore, list, delete, usage' },
};
