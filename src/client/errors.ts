/**
 * What the client refuses before it sends or writes anything: a path outside the directory, two
 * files for one path, an unreadable argument. The caller's to fix (the command exits 2 for it);
 * what fails later is each part's own error (UploadFailure, CacheFailure, ArchiveRefused…).
 */
export class InvalidInput extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInput';
  }
}
