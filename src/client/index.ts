/**
 * The artifact gateway's client, for CI jobs and any program: uploads to a build, and dependency
 * caches saved and restored. It prints nothing and never exits: progress goes to the output a
 * caller passes (Progress, Steps), failures are typed errors, and every request goes through one
 * HTTP layer (http.ts) with retries, backoff and Retry-After. The `artifact-gateway` command's
 * `upload` and `cache save|restore` are thin wrappers around it.
 */
export { buildRootUrl, createArtifactsClient, expiryQuery, uploadFiles, UploadFailure } from './artifacts';
export type { ArtifactsClient, ArtifactsClientOptions, PutOutcome, UploadedItem, UploadOptions, UploadSummary } from './artifacts';
export { bundleLength, uploadBundle } from './bundle';
export { BuildFailure, deleteArtifacts, setPinned } from './builds';
export type { BuildTarget, DeleteResult } from './builds';
export type { BundleResult } from './bundle';
export { downloadBuild, DownloadFailure } from './download';
export type { DownloadOptions, DownloadSummary, RemoteFile } from './download';
export { collectFiles } from './local-files';
export type { CollectedFiles, LocalFile } from './local-files';
export { CacheFailure, createCacheClient } from './caches';
export type {
  CacheClient,
  CacheClientOptions,
  CacheDeleteTarget,
  CacheDeletion,
  CacheEntry,
  CacheHit,
  CacheListQuery,
  CacheUsage,
  ListedCacheEntry,
  Reservation,
  Saved,
} from './caches';
export { DEFAULT_DIRECT_THRESHOLD, describeWriter, saveCache } from './cache-save';
export type { SaveCacheOptions, SaveResult } from './cache-save';
export { restoreCache } from './cache-restore';
export type { RestoreCacheOptions, RestoreResult } from './cache-restore';
export { cachePaths, describePath, linkedAncestor } from './cache-paths';
export { CannotArchive, collectEntries, createArchive } from './archive/create';
export type { CollectedEntries, Created } from './archive/create';
export { checkExpandedSize, DEFAULT_MAX_EXPANDED_SIZE, extractArchive, freeBytes } from './archive/extract';
export type { ExtractOptions, Phase } from './archive/extract';
export { ExtractFailed } from './archive/place';
export { ArchiveRefused } from './archive/rules';
export type { Inspected } from './archive/rules';
export { findCiToken } from './ci-token';
export type { FindTokenOptions, FoundToken } from './ci-token';
export { InvalidInput } from './errors';
export { createHttp, describeNetworkError, describeStatus, HttpFailure, retryAfter } from './http';
export type { Body, Http, HttpOptions, HttpRequest, HttpResponse } from './http';
export { entryCounts, formatBytes, formatDuration, plural, Progress, retryLine, SILENT, Step, Steps } from './progress';
export type { ProgressOutput } from './progress';
