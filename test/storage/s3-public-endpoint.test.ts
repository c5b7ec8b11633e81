/**
 * S3_PUBLIC_ENDPOINT: the gateway talks to S3 at S3_ENDPOINT but presigns URLs for the endpoint
 * that browsers and CI jobs use (in production: nginx with TLS in front of radosgw, keeping Host).
 * A TCP relay on another port stands in for that proxy, in front of the run's real radosgw.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { createMetrics } from '../../src/http/metrics';
import { toStorageKey } from '../../src/storage/keys';
import { makeDriver, s3Env, type DriverHarness } from '../support/drivers';

describe('s3 storage with S3_PUBLIC_ENDPOINT', () => {
  let relay: Server;
  let publicOrigin: string;
  let relayed = 0;
  const sockets = new Set<Socket>();
  let harness: DriverHarness;

  beforeAll(async () => {
    const rgw = new URL(s3Env().S3_ENDPOINT);
    relay = createServer((client) => {
      relayed++;
      const upstream = connect(Number(rgw.port), rgw.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    publicOrigin = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
    harness = await makeDriver('s3', createMetrics(), { S3_PUBLIC_ENDPOINT: publicOrigin });
  });
  afterAll(async () => {
    await harness?.cleanup();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => relay.close(resolve));
  });

  it('presigns URLs on the public endpoint, reports its origin for the CSP, and the URLs work through it', async () => {
    const key = toStorageKey('public/endpoint.txt');
    await harness.storage.write('artifacts', key, Readable.from([Buffer.from('through the front door')]), { contentLength: 22 });
    // the gateway's own calls went to S3_ENDPOINT, not through the public endpoint
    expect(relayed).toBe(0);

    const url = await harness.storage.presignGet('artifacts', key, { expiresIn: 60, responseContentType: 'text/plain; charset=utf-8' });
    expect(new URL(url).origin).toBe(publicOrigin);
    expect(harness.storageOrigin).toBe(publicOrigin);

    // SigV4 signed the public host; a proxy that keeps Host makes the signature check out
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('through the front door');
    expect(relayed).toBeGreaterThan(0);
  });
});
