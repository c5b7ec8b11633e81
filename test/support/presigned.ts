/**
 * Follows a presigned URL the way a client would: straight to the real S3 server, or, for the fs
 * driver, to the gateway's own blob route (the app under test, on a test port).
 */
import type { DriverName } from './drivers';
import { raw } from './raw-http';

export interface Fetched {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export async function fetchPresigned(
  driver: DriverName,
  gatewayPort: number,
  location: string,
  init: { method?: string; body?: Buffer } = {},
): Promise<Fetched> {
  const url = new URL(location);
  if (driver === 's3') {
    const r = await fetch(url, { method: init.method ?? 'GET', body: init.body });
    return { status: r.status, headers: Object.fromEntries(r.headers), body: Buffer.from(await r.arrayBuffer()) };
  }
  const r = await raw(gatewayPort, {
    method: init.method ?? 'GET',
    path: url.pathname + url.search,
    headers: { host: url.host, ...(init.body ? { 'content-length': init.body.length } : {}) },
    body: init.body,
  });
  return { status: r.status, headers: r.headers as Record<string, string>, body: r.body };
}
