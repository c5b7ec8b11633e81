/**
 * The storage contract against a REAL S3 server: the Ceph radosgw that global-setup starts for the
 * run (or the one S3_ENDPOINT names). Fresh buckets per run, removed afterwards.
 */
import { S3Storage } from '../../src/storage/s3/driver';
import { describeStorageContract } from './contract';
import { createBuckets, removeBuckets, s3ClientFromEnv } from './s3-support';

describeStorageContract('s3 driver against a real Ceph radosgw', async () => {
  const client = s3ClientFromEnv();
  const buckets = await createBuckets(client, 'artifacts', 'cache');
  const storage = new S3Storage({ client, buckets: { artifacts: buckets[0], cache: buckets[1] } });
  return {
    storage,
    async cleanup() {
      try {
        await removeBuckets(client, buckets);
      } finally {
        await storage.close();
      }
    },
  };
});
