/**
 * What a write cut off by a crash leaves in an S3 bucket where no listing of the gateway shows it,
 * and how a retried multipart completion is recognised. Kept out of the driver: gc calls the
 * first, the driver's completeMultipartUpload the second.
 */
import { createHash } from 'node:crypto';
import { AbortMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { codeOf, s3Error, statusOf } from './errors';
import type { BucketName, UploadedPart } from '../storage';

/**
 * Deletes the staging objects of create-only writes and aborts the multipart uploads (streamed
 * writes, direct cache uploads) started before `startedBefore`, in both buckets.
 */
export async function removeAbandonedWrites(
  client: S3Client,
  names: Record<BucketName, string>,
  stagingPrefix: string,
  startedBefore: Date,
): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  for (const bucket of Object.keys(names) as BucketName[]) {
    const name = names[bucket];
    let token: string | undefined;
    do {
      let out;
      try {
        out = await client.send(new ListObjectsV2Command({ Bucket: name, Prefix: stagingPrefix, ContinuationToken: token }));
      } catch (e) {
        throw s3Error(e, 'ListObjectsV2', `${bucket}/${stagingPrefix}`);
      }
      for (const o of out.Contents ?? []) {
        if (!o.Key || !o.LastModified || o.LastModified >= startedBefore) continue;
        await client.send(new DeleteObjectCommand({ Bucket: name, Key: o.Key })).catch(() => undefined);
        count++;
        bytes += o.Size ?? 0;
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let out;
      try {
        out = await client.send(new ListMultipartUploadsCommand({ Bucket: name, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (e) {
        throw s3Error(e, 'ListMultipartUploads', bucket);
      }
      for (const u of out.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= startedBefore) continue;
        try {
          await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key, UploadId: u.UploadId }));
          count++;
        } catch (e) {
          if (!(codeOf(e) === 'NoSuchUpload' || statusOf(e) === 404)) throw s3Error(e, 'AbortMultipartUpload', `${bucket}/${u.Key}`);
        }
      }
      if (!out.IsTruncated) break;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
    }
  }
  return { count, bytes };
}

/** The ETag S3 gives an object completed from these parts: md5 of the parts' md5s, then -count. */
export function multipartEtag(parts: UploadedPart[]): string | undefined {
  const digests = parts.map((p) => p.etag.replace(/^W\//, '').replace(/"/g, ''));
  if (!digests.every((d) => /^[0-9a-f]{32}$/i.test(d))) return undefined;
  return `${createHash('md5')
    .update(Buffer.from(digests.join(''), 'hex'))
    .digest('hex')}-${parts.length}`;
}
