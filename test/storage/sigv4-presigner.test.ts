/**
 * The s3 driver signs URLs with its own SigV4 presigner (src/storage/s3/sigv4-presigner.ts) because
 * the SDK's getSignedUrl is the redirect path's bottleneck. Its URLs must be the SDK's, byte for
 * byte: same client, credentials, time and expiry in, same string out, for every operation the
 * gateway presigns, awkward keys, response overrides, session tokens, path-style and
 * virtual-hosted endpoints. Offline: presigning needs no server.
 */
import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { dispositionFor } from '../../src/content-policy';
import { toStorageKey } from '../../src/storage/keys';
import { createS3Client } from '../../src/storage/s3/client';
import { S3Storage } from '../../src/storage/s3/driver';
import { SigV4Presigner, type PresignOperation } from '../../src/storage/s3/sigv4-presigner';
import { quietLogger } from './s3-support';

// the real exports object, so a spy sees every call the presigner makes (an `import *` is a copy)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdkPresigner = require('@aws-sdk/s3-request-presigner') as typeof import('@aws-sdk/s3-request-presigner');
const { getSignedUrl } = sdkPresigner;

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const TOKEN = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with=odd+chars';

interface Endpoint {
  name: string;
  endpoint?: string;
  forcePathStyle: boolean;
  region: string;
  bucket: string;
}

const ENDPOINTS: Endpoint[] = [
  { name: 'radosgw, path-style', endpoint: 'http://127.0.0.1:7480', forcePathStyle: true, region: 'us-east-1', bucket: 'agw-artifacts' },
  { name: 'a public https endpoint, path-style', endpoint: 'https://s3.example.com', forcePathStyle: true, region: 'us-east-1', bucket: 'agw-cache' },
  { name: 'an endpoint with a port and a path', endpoint: 'https://storage.example.com:8443/s3', forcePathStyle: true, region: 'eu-west-1', bucket: 'b' },
  { name: 'a custom endpoint, virtual-hosted', endpoint: 'https://s3.example.com', forcePathStyle: false, region: 'us-east-1', bucket: 'artifacts' },
  { name: 'AWS, virtual-hosted', forcePathStyle: false, region: 'eu-central-1', bucket: 'acme-artifacts' },
  { name: 'AWS, path-style', forcePathStyle: true, region: 'ap-southeast-2', bucket: 'acme-cache' },
  { name: 'AWS us-east-1, a bucket name with dots', forcePathStyle: false, region: 'us-east-1', bucket: 'acme.example.artifacts' },
];

// what artifact paths and cache keys really contain (keys.ts accepts all of these)
const KEYS = [
  'p/acme%2Fweb/o/0b9d2d7e-6a49-4d6b-9d0b-6c1f9b0f2d1e',
  'p/acme/b/42/f/coverage/index.html',
  'dir/a file with spaces.png',
  'ünïcødé/日本語/файл.txt',
  'emoji/😀 party.gif',
  'plus+hash#question?percent%tilde~star*.txt',
  "bang!quote'(parens).html",
  'brackets[0]{1}/semi;colon=equals&amp.txt',
  'dollar$comma,at@colon:.txt',
  '\\agw-staging\\0b9d2d7e',
  'NFD-e\u0301.txt',
  'trailing-dot.',
];

const TIMES = ['2024-05-01T12:34:56.789Z', '2024-12-31T23:59:59.999Z', '2025-01-01T00:00:00.000Z', '2026-02-28T08:00:01.000Z'];

function client(e: Endpoint, sessionToken?: string): S3Client {
  return createS3Client({
    endpoint: e.endpoint,
    region: e.region,
    forcePathStyle: e.forcePathStyle,
    accessKeyId: KEY_ID,
    secretAccessKey: SECRET,
    sessionToken,
    logger: quietLogger,
  });
}

function sdkUrl(c: S3Client, op: PresignOperation, expiresIn: number, at: Date): Promise<string> {
  const options = { expiresIn, signingDate: at };
  const { command, ...input } = op;
  switch (command) {
    case 'GetObject':
      return getSignedUrl(c, new GetObjectCommand(input), options);
    case 'PutObject':
      return getSignedUrl(c, new PutObjectCommand(input), options);
    case 'UploadPart':
      return getSignedUrl(c, new UploadPartCommand(input as Extract<PresignOperation, { command: 'UploadPart' }>), options);
  }
}

function operations(bucket: string, key: string): PresignOperation[] {
  const file = key.slice(key.lastIndexOf('/') + 1);
  return [
    { command: 'GetObject', Bucket: bucket, Key: key },
    {
      command: 'GetObject',
      Bucket: bucket,
      Key: key,
      ResponseContentType: 'text/plain; charset=utf-8',
      ResponseContentDisposition: dispositionFor('attachment', file),
    },
    { command: 'GetObject', Bucket: bucket, Key: key, ResponseContentType: 'image/svg+xml', ResponseContentDisposition: dispositionFor('inline', file) },
    { command: 'PutObject', Bucket: bucket, Key: key },
    { command: 'UploadPart', Bucket: bucket, Key: key, UploadId: '2~zV3yVq+Jb/8Ab=Cd', PartNumber: 1 },
    { command: 'UploadPart', Bucket: bucket, Key: key, UploadId: 'VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA', PartNumber: 10000 },
  ];
}

describe('SigV4Presigner', () => {
  let sdkCalls: jest.SpyInstance;
  beforeEach(() => {
    sdkCalls = jest.spyOn(sdkPresigner, 'getSignedUrl');
  });
  afterEach(() => sdkCalls.mockRestore());

  /** Our URL at `at`, asserting that it was signed here and not handed to the SDK. */
  async function ours(p: SigV4Presigner, op: PresignOperation, expiresIn: number): Promise<string> {
    const before = sdkCalls.mock.calls.length;
    const url = await p.presign(op, expiresIn);
    expect(sdkCalls.mock.calls.length).toBe(before);
    return url;
  }

  describe.each(ENDPOINTS)('against $name', (e) => {
    it.each([
      ['long-term keys', undefined],
      ['a session token', TOKEN],
    ])('makes the SDK getSignedUrl URLs byte for byte, with %s', async (_what, sessionToken) => {
      const c = client(e, sessionToken);
      let now = Date.parse(TIMES[0]);
      const p = new SigV4Presigner(c, () => now);
      await p.presign({ command: 'GetObject', Bucket: e.bucket, Key: 'warm-up' }, 60); // the one-time probe
      let compared = 0;
      for (const at of TIMES) {
        now = Date.parse(at);
        for (const key of KEYS) {
          for (const op of operations(e.bucket, key)) {
            for (const expiresIn of [1, 60, 3600, 604800]) {
              expect(await ours(p, op, expiresIn)).toBe(await sdkUrl(c, op, expiresIn, new Date(now)));
              compared++;
            }
          }
        }
      }
      expect(compared).toBe(TIMES.length * KEYS.length * 6 * 4);
      c.destroy();
    });
  });

  it('follows rotated credentials: a new secret signs with a new key, a new token is in the URL', async () => {
    const creds = { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: 'first-token' };
    const e = ENDPOINTS[0];
    // credentials that are always about to expire, so the SDK asks the provider every time
    const c = new S3Client({
      endpoint: e.endpoint,
      region: e.region,
      forcePathStyle: true,
      credentials: async () => ({ ...creds, expiration: new Date(Date.now() + 1000) }),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      logger: quietLogger,
    });
    const at = new Date(TIMES[1]);
    const p = new SigV4Presigner(c, () => at.getTime());
    const op: PresignOperation = { command: 'GetObject', Bucket: e.bucket, Key: 'report/index.png' };
    await p.presign(op, 60); // the one-time probe
    const first = await ours(p, op, 60);
    expect(first).toBe(await sdkUrl(c, op, 60, at));
    Object.assign(creds, { accessKeyId: 'ASIAROTATED', secretAccessKey: 'rotated/secret+key', sessionToken: 'second-token' });
    const second = await ours(p, op, 60);
    expect(second).toBe(await sdkUrl(c, op, 60, at));
    expect(second).not.toBe(first);
    expect(new URL(second).searchParams.get('X-Amz-Security-Token')).toBe('second-token');
    c.destroy();
  });

  it('leaves a bucket to getSignedUrl when a client option changes the URLs (here: checksum mode on GETs)', async () => {
    // the SDK's default responseChecksumValidation adds x-amz-checksum-mode=ENABLED to every GET;
    // createS3Client turns it off, and this signer does not know it: the probe's self-check must
    // notice and hand that bucket to the SDK rather than sign URLs that S3 would refuse
    const c = new S3Client({
      endpoint: 'http://127.0.0.1:7480',
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
      logger: quietLogger,
    });
    const at = new Date(TIMES[0]);
    const p = new SigV4Presigner(c, () => at.getTime());
    const op: PresignOperation = { command: 'GetObject', Bucket: 'b', Key: 'x.png', ResponseContentType: 'image/png' };
    await p.presign(op, 60);
    const before = sdkCalls.mock.calls.length;
    const url = await p.presign(op, 60);
    expect(sdkCalls.mock.calls.length).toBe(before + 1);
    expect(url).toContain('x-amz-checksum-mode=ENABLED');
    expect(url).toBe(await sdkUrl(c, op, 60, at));
    c.destroy();
  });

  it.each([0, -1, 1.5, 604801])('refuses an expiry of %p seconds, as SigV4 does past a week', async (expiresIn) => {
    const c = client(ENDPOINTS[0]);
    await expect(new SigV4Presigner(c).presign({ command: 'GetObject', Bucket: 'b', Key: 'k' }, expiresIn)).rejects.toThrow(RangeError);
    c.destroy();
  });
});

describe('the s3 driver presigns through SigV4Presigner', () => {
  it('signs for the presign client (S3_PUBLIC_ENDPOINT), the same URLs as the SDK with that client', async () => {
    const internal = client(ENDPOINTS[0]);
    const publicClient = client({ ...ENDPOINTS[1], bucket: 'unused' }, TOKEN);
    const storage = new S3Storage({ client: internal, presignClient: publicClient, buckets: { artifacts: 'agw-artifacts', cache: 'agw-cache' } });
    const sdkCalls = jest.spyOn(sdkPresigner, 'getSignedUrl');
    try {
      const key = toStorageKey('p/acme/o/ünïcødé report+1.png');
      const cases: Array<[() => Promise<string>, PresignOperation]> = [
        [
          () => storage.presignGet('artifacts', key, { expiresIn: 60, responseContentType: 'image/png', responseContentDisposition: 'inline' }),
          { command: 'GetObject', Bucket: 'agw-artifacts', Key: key, ResponseContentType: 'image/png', ResponseContentDisposition: 'inline' },
        ],
        [() => storage.presignPut('cache', key, { expiresIn: 300 }), { command: 'PutObject', Bucket: 'agw-cache', Key: key }],
        [
          () => storage.presignUploadPart('cache', key, '2~upload', 7, { expiresIn: 3600 }),
          { command: 'UploadPart', Bucket: 'agw-cache', Key: key, UploadId: '2~upload', PartNumber: 7 },
        ],
      ];
      for (const [presign, op] of cases) {
        await presign(); // first use of a bucket probes it through the SDK
        const before = sdkCalls.mock.calls.length;
        const url = await presign();
        expect(sdkCalls.mock.calls.length).toBe(before);
        expect(new URL(url).origin).toBe('https://s3.example.com');
        // the same second, from the URL itself: the driver runs on the real clock
        const date = new URL(url).searchParams.get('X-Amz-Date')!;
        const at = new Date(date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
        const expiresIn = Number(new URL(url).searchParams.get('X-Amz-Expires'));
        expect(url).toBe(await sdkUrl(publicClient, op, expiresIn, at));
      }
    } finally {
      sdkCalls.mockRestore();
      await storage.close();
    }
  });
});
